"""The writes of a run go through a Writer thread (SQLite): what it writes, and a failure in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

import compliance.pipeline.evaluate as evaluate
from compliance.engine import get_backend
from compliance.loading.deployment import Deployment
from compliance.pipeline.evaluate import evaluate_run
from compliance.storage import auditlog, bulk, runs
from compliance.storage.db import Database, open_database
from tests.pipeline.evalsupport import clock_on, deployment_in, ingest, pay_rows, table_counts, written

D1 = dt.date(2023, 1, 31)
D2 = dt.date(2023, 2, 28)
PY = get_backend("python")


def _written(db: Database, run_id: str) -> dict[str, Any]:
    """A run's entries and the matrix, without the run id (it differs between two stores)."""
    with db.read() as conn:
        verified = auditlog.verify(conn)[2]
    return {**written(db, run_id), "verified": verified}


def _history(db: Database, deployment: Deployment, root: Path, month: str, figures: dict[str, int]) -> None:
    lines = "\n".join(pay_rows(agency, {month: (n, 100)}) for agency, n in figures.items())
    ingest(db, deployment, root, lines, on=D2)


def test_a_run_written_in_many_small_chunks_writes_what_a_run_in_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = deployment_in(tmp_path / "deployment")
    small, whole = (open_database(f"sqlite:///{tmp_path / name}.db") for name in ("small", "whole"))
    try:
        for db in (small, whole):
            _history(db, deployment, tmp_path, "2023-01", {"so-a": 10, "so-b": 50, "huyen-x": 20})
        written: dict[str, list[dict[str, Any]]] = {"small": [], "whole": []}
        for on, figures in ((D1, {}), (D2, {"so-a": 40, "so-b": 20})):
            for name, db in (("small", small), ("whole", whole)):
                if figures:
                    _history(db, deployment, tmp_path, "2023-02", figures)
                with monkeypatch.context() as patch:
                    if name == "small":  # every chunk handed to the Writer's thread, two rows a statement
                        patch.setattr(auditlog, "CHUNK", 2)
                        patch.setattr(evaluate, "_STATE_CHUNK", 2)
                        patch.setattr(bulk, "_SQLITE_ROWS", 2)
                    result = evaluate_run(db, deployment, PY, on, clock=clock_on(on))
                written[name].append(_written(db, result.run_id))
        assert written["small"] == written["whole"]
        first, second = written["small"]
        assert len(first["logged"]) == 7 and len(first["state"]) == 5 and first["verified"] is None
        # The second run logs the pairs whose evaluation changed, and updates their cells.
        assert {(k, rule, agency) for k, rule, agency, *_ in second["logged"]} >= {
            ("evaluation", "pay", "so-a"),
            ("evaluation", "pay", "so-b"),
            ("evaluation-run", None, None),
        }
        assert second["state"] != first["state"]
    finally:
        small.dispose()
        whole.dispose()


def _disk_full(conn: Connection, rows: object) -> None:
    raise OSError("disk I/O error")


def test_a_write_that_fails_in_the_writer_fails_the_whole_run(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = deployment_in(tmp_path / "deployment")
    _history(db, deployment, tmp_path, "2023-01", {"so-a": 10, "so-b": 50})
    before = table_counts(db)
    monkeypatch.setattr(runs, "insert_state", _disk_full)
    with pytest.raises(OSError, match="disk I/O error"):
        evaluate_run(db, deployment, PY, D1, clock=clock_on(D1))
    assert table_counts(db) == before
    with db.read() as conn:
        assert auditlog.verify(conn)[2] is None
