"""Property (Hypothesis, both databases): evaluating twice at the same D with the same data changes nothing.

Each example appends random snapshot rows and moves D forward on one store, so the store's history grows
with open, updated, resolved and re-opened tasks; after every run, a second run at the same D must be a
no-op (same result, not one row written), and a dry run must agree with the real one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.engine import get_backend
from compliance.model.period import parse_period
from compliance.pipeline.evaluate import evaluate_run
from compliance.storage.db import Database
from tests.pipeline.evalsupport import clock_on, deployment_in, ingest, table_counts

PY = get_backend("python")
AGENCIES = ("so-a", "so-b", "huyen-x")
PERIODS = ("2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06")

figures = st.tuples(st.integers(0, 60), st.sampled_from([10, 25, 100]))
batches = st.lists(
    st.tuples(st.sampled_from(AGENCIES), st.sampled_from(PERIODS), figures, st.integers(0, 40)),
    min_size=0,
    max_size=6,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches, step=st.integers(0, 20))
def test_evaluating_again_at_the_same_date_changes_nothing(
    db: Database, tmp_path: Path, batch: list[tuple[str, str, tuple[int, int], int]], step: int
) -> None:
    state = _state(db, tmp_path)
    state["on"] += dt.timedelta(days=step)
    on: dt.date = state["on"]
    lines = []
    seen = set()
    for agency, period, (numerator, denominator), lag in batch:
        if (agency, period) in seen:
            continue  # one row per key and file
        seen.add((agency, period))
        as_of = on - dt.timedelta(days=lag)
        if as_of < parse_period(period).end_on:
            continue
        lines.append(
            f"{period},{agency},online_payment,{min(numerator, denominator)},{denominator},,,{as_of}"
        )
    if lines:
        ingest(db, state["deployment"], tmp_path, "\n".join(lines), on=on)
    dry = evaluate_run(db, state["deployment"], PY, on, clock=clock_on(on), dry_run=True)
    first = evaluate_run(db, state["deployment"], PY, on, clock=clock_on(on))
    assert (dry.outcomes, dry.digest, dry.tasks) == (
        first.outcomes,
        first.digest,
        first.tasks,
    ) or first.repeat
    before = table_counts(db)
    again = evaluate_run(db, state["deployment"], PY, on, clock=clock_on(on, hour=18))
    assert again.repeat
    assert (again.run_id, again.outcomes, again.digest) == (first.run_id, first.outcomes, first.digest)
    assert again.changes == []
    assert table_counts(db) == before


_STATES: dict[str, dict] = {}  # type: ignore[type-arg]


def _state(db: Database, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    """One store per test invocation (per database), shared by the Hypothesis examples run on it."""
    key = str(db.engine.url)
    if key not in _STATES:
        _STATES[key] = {"deployment": deployment_in(tmp_path / "deployment"), "on": dt.date(2023, 1, 31)}
    return _STATES[key]
