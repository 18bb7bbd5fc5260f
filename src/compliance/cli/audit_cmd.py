"""`compliance audit list|verify`: read and check the hash-chained rule-evaluation log (SPEC §6, §7).

The `audit` group is defined here; other modules add commands to it (`audit explain`).
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from itertools import islice
from typing import Any

import click
from rich import box
from rich.table import Column, Table

from compliance.audit import ENTRY_FIELDS
from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app

__all__ = ["CSV_COLUMNS", "audit", "audit_list", "audit_verify"]

CSV_COLUMNS = ENTRY_FIELDS


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date like 2023-07-15", param=param) from None


@cli.group("audit")
def audit() -> None:
    """The rule-evaluation log: list entries, verify the hash chain, explain a task."""


@audit.command("list")
@click.option("--rule", help="Only entries about this rule.")
@click.option("--agency", help="Only entries about this agency.")
@click.option("--kind", help="Only entries of this kind (e.g. evaluation, task-opened).")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="From this local date (inclusive).")
@click.option("--until", callback=_date, metavar="YYYY-MM-DD", help="To this local date (inclusive).")
@click.option("--run", "run_id", help="Only entries of this evaluation run.")
@click.option("--json", "as_json", is_flag=True, help="The entries as a JSON list (every field).")
@click.option("--csv", "as_csv", is_flag=True, help="The entries as CSV (every field; data as JSON).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the N most recent matching entries.")
@pass_app
def audit_list(
    app: AppContext,
    rule: str | None,
    agency: str | None,
    kind: str | None,
    since: dt.date | None,
    until: dt.date | None,
    run_id: str | None,
    as_json: bool,
    as_csv: bool,
    limit: int | None,
) -> None:
    """Entries of the log in seq order, filtered; dates are local dates of the deployment."""
    from compliance.audit import KINDS, canonical_json
    from compliance.storage.auditlog import iter_entries

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if kind is not None and kind not in KINDS:
        from compliance.loading.suggest import did_you_mean

        hint = did_you_mean(kind, KINDS)
        raise click.BadParameter(
            f"'{kind}' is not a kind of entry" + (f" ({hint})" if hint else f"; one of: {', '.join(KINDS)}"),
            param_hint="'--kind'",
        )
    tz = app.config.deployment.tz
    with app.db.read() as conn:
        found = iter_entries(
            conn,
            rule=rule,
            agency=agency,
            kind=kind,
            since=since,
            until=until,
            run_id=run_id,
            tz=tz,
            newest_first=limit is not None,
        )
        if limit is not None:
            entries = list(islice(found, limit))
            entries.reverse()
            found = iter(entries)
        if as_json:
            emit_json([e.as_dict() for e in found])
            return
        if as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for e in found:
                d = e.as_dict()
                d["data"] = canonical_json(e.data)
                writer.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
            return
        _print_table(app, list(found), tz)


def _print_table(app: AppContext, entries: list[Any], tz: Any) -> None:
    from compliance.explain import OUTCOME_WORDS, fmt_int

    # The run id is left to --json/--csv (and --run): eight columns do not fit a terminal.
    table = Table(
        Column("Seq", no_wrap=True, justify="right"),
        Column("Thời điểm", no_wrap=True),
        Column("Loại", no_wrap=True),
        Column("Quy tắc", overflow="fold"),
        Column("Đơn vị", overflow="fold"),
        Column("Kỳ", no_wrap=True),
        Column("Kết quả"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for e in entries:
        instant = dt.datetime.fromisoformat(e.at.replace("Z", "+00:00")).astimezone(tz)
        table.add_row(
            str(e.seq),
            f"{instant:%d/%m/%Y %H:%M}",
            e.kind,
            e.rule or "",
            e.agency or "",
            e.period or "",
            OUTCOME_WORDS.get(e.outcome, e.outcome) if e.outcome else "",
        )
    app.out.print(table)
    app.out.print(f"{fmt_int(len(entries))} mục nhật ký.", markup=False)


@audit.command("verify")
@click.option(
    "--json", "as_json", is_flag=True, help='{"ok", "entries", "head", "broken": {seq, reason} | null}'
)
@pass_app
def audit_verify(app: AppContext, as_json: bool) -> None:
    """Recompute the hash chain from the first entry to the head.

    Exit 0 and `OK: N entries, head <hash>`; exit 1 and
    `audit chain broken at seq S: <reason>` at the first entry where the chain does not hold.
    """
    from compliance.storage.auditlog import verify

    with app.db.snapshot() as conn:
        count, head_hash, broken = verify(conn)
    if as_json:
        emit_json(
            {
                "ok": broken is None,
                "entries": count,
                "head": head_hash,
                "broken": None if broken is None else {"seq": broken.seq, "reason": broken.reason},
            }
        )
    if broken is not None:
        click.echo(f"audit chain broken at seq {broken.seq}: {broken.reason}", err=True)
        raise click.exceptions.Exit(1)
    if not as_json:
        click.echo(f"OK: {count} entries, head {head_hash}")
