"""`compliance ingest FILE…`: check and store snapshot files, each whole or not at all (SPEC §3.4, §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app
from compliance.clock import SystemClock

__all__ = ["ingest"]

STATUS_WORDS = {"ingested": "đã nhập", "duplicate": "trùng, đã nhập trước đó", "rejected": "bị từ chối"}


@cli.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@pass_app
def ingest(app: AppContext, files: tuple[Path, ...], as_json: bool) -> None:
    """Ingest snapshot files (CSV or XLSX), each on its own.

    A file with any bad row is rejected whole and every bad row is named (the rejection is logged);
    the other files go on. The same bytes ingested again are reported as a duplicate and change
    nothing. Exit status 1 when any file was rejected.
    """
    from compliance.explain import fmt_int
    from compliance.loading.deployment import load_deployment
    from compliance.loading.snapshots import SnapshotRejected, parse_snapshot
    from compliance.loading.validation import display_path
    from compliance.storage import snapshots
    from compliance.storage.auditlog import format_at

    deployment = load_deployment(app.config)
    db = app.db
    clock = SystemClock()
    results: list[dict[str, Any]] = []
    for path in files:
        display = display_path(path)
        at = format_at(clock.now())
        try:
            parsed = parse_snapshot(path, deployment.rulebook, deployment.directory, display)
        except SnapshotRejected as exc:
            with db.begin() as conn:
                snapshots.record_rejection(conn, exc.name, exc.sha256, exc.problems, at=at)
            errors = [str(p) for p in exc.problems]
            for line in errors:
                app.err.print(line, markup=False)
            results.append(
                {"file": display, "sha256": exc.sha256, "rows": 0, "status": "rejected", "errors": errors}
            )
            continue
        with db.begin() as conn:
            result = snapshots.ingest(conn, parsed, at=at)
        results.append(
            {
                "file": display,
                "sha256": result.sha256,
                "rows": result.rows,
                "status": result.status,
                "errors": [],
            }
        )
    rejected = sum(1 for r in results if r["status"] == "rejected")
    if as_json:
        emit_json(results)
    else:
        table = Table("Tệp", "Số dòng", "Kết quả", "SHA-256")
        for r in results:
            style = "bold red" if r["status"] == "rejected" else None
            table.add_row(
                r["file"],
                fmt_int(r["rows"]) if r["status"] != "rejected" else "—",
                STATUS_WORDS[r["status"]],
                (r["sha256"] or "—")[:12],
                style=style,
            )
        app.out.print(table)
        ingested = [r for r in results if r["status"] == "ingested"]
        app.out.print(
            f"Đã nhập {fmt_int(len(ingested))} tệp ({fmt_int(sum(r['rows'] for r in ingested))} dòng), "
            f"{fmt_int(sum(1 for r in results if r['status'] == 'duplicate'))} tệp trùng, "
            f"{fmt_int(rejected)} tệp bị từ chối.",
            markup=False,
        )
    if rejected:
        raise click.exceptions.Exit(1)
