"""The fast paths of an evaluation run give exactly what the plain ones give.

- An evaluation's JSON (fingerprint, digest, the `evaluation` entry's data) equals canonical_json of it,
  for arbitrary evaluations.
- A run after a day on which only D changed evaluates only what D can change and takes the rest from
  evaluation_state: on two stores fed the same history, one running incrementally and one evaluating
  everything every time, every run gives the same result and writes the same entries, matrix and tasks.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from compliance.audit import canonical_json
from compliance.engine import get_backend
from compliance.loading.config import load_config
from compliance.loading.deployment import load_deployment
from compliance.loading.snapshots import SnapshotRejected
from compliance.model.evaluation import Evaluation, Outcome
from compliance.model.task import Waiver
from compliance.pipeline.evaluate import (
    RunResult,
    add_waiver,
    evaluate_run,
    evaluation_digest,
    fingerprint,
)
from compliance.pipeline.evaluation_json import EvaluationJson, entry_json
from compliance.storage import schema
from compliance.storage.db import Database, open_database
from tests.pipeline.evalsupport import clock_on, deployment_in, ingest, written
from tests.support.deployment import AGENCIES_CSV, RULES_YAML, write_deployment

PY = get_backend("python")

# --- the JSON of an evaluation --------------------------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["\x00rows\x00", 'a"\x00rows\x00', ',"failing":', "\u2028", "Hà Nội"]
)
scalars = (
    st.none() | texts | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20)
)
json_values = st.recursive(
    scalars | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=8,
)
row_dicts = st.dictionaries(texts, scalars, max_size=8)


@st.composite
def evaluations(draw: st.DrawFn) -> Evaluation:
    inputs = draw(st.dictionaries(texts, json_values, max_size=6))
    if draw(st.booleans()):
        shared = draw(row_dicts)
        inputs["rows"] = draw(st.lists(st.sampled_from([shared, {"id": 1}]) | row_dicts, max_size=3))
    return Evaluation(
        rule=draw(texts),
        agency=draw(texts),
        outcome=draw(st.sampled_from(list(Outcome))),
        period=draw(st.none() | texts),
        value=draw(scalars | st.booleans()),
        target=draw(scalars),
        numerator=draw(st.none() | st.integers(0, 10**12) | st.booleans()),
        denominator=draw(st.none() | st.integers(0, 10**12)),
        streak=draw(st.integers(0, 30)),
        failing=draw(st.booleans()),
        meets_resolve=draw(st.booleans()),
        rows=tuple(draw(st.lists(st.integers(0, 10**9) | st.booleans(), max_size=3))),
        inputs=inputs,
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(evaluations(), min_size=1, max_size=4), st.dates(), st.sampled_from([0, 1, 4]))
def test_an_evaluations_json_is_its_canonical_json(
    batch: list[Evaluation], day: dt.date, few_rows: int
) -> None:
    # One encoder per run: rows shared between evaluations are encoded once (when more than few_rows).
    encode = EvaluationJson(few_rows=few_rows)
    for e in batch:
        text = encode(e)
        assert text == canonical_json(e.as_dict())
        assert entry_json(text, day.isoformat()) == canonical_json(
            {**e.as_dict(), "evaluated_on": day.isoformat()}
        )


def test_a_float_json_refuses_is_refused_as_canonical_json_refuses_it() -> None:
    bad = Evaluation(rule="r", agency="a", outcome=Outcome.PASS, value=float("nan"))
    with pytest.raises(ValueError):
        EvaluationJson()(bad)
    with pytest.raises(ValueError):
        canonical_json(bad.as_dict())


def test_the_digest_is_a_hash_of_the_fingerprints_in_rule_agency_order() -> None:
    import hashlib

    b = Evaluation(rule="r", agency="b", outcome=Outcome.NO_DATA)
    a = Evaluation(rule="r", agency="a", outcome=Outcome.PASS, period="2023-01", value=0.5)
    text = "".join(f"{fingerprint(e)}\n" for e in (a, b))
    assert evaluation_digest([b, a]) == hashlib.sha256(text.encode()).hexdigest()
    assert fingerprint(a) == hashlib.sha256(canonical_json(a.as_dict()).encode()).hexdigest()


# --- incremental runs against full runs -----------------------------------------------------------

# The example deployment plus what makes D matter: a reporting duty that turns stale after 20 days (and
# counts as a failure then), an agency that starts in April (xa-x3 ends on 31/03), the db-land milestones.
RULES = (
    RULES_YAML
    + """  - id: pay-report
    title: Báo cáo tỷ lệ thanh toán trực tuyến đúng kỳ
    indicator: online_payment
    scope: {levels: [department, district, commune]}
    target: {op: ">=", value: "0%"}
    max_age_days: 20
    missing_is_violation: true
  - id: pay-40
    title: Tỷ lệ thanh toán trực tuyến đạt 40%
    indicator: online_payment
    scope: {levels: [commune]}
    target: {op: ">=", value: "40%"}
    min_denominator: 10
    for: 2
    resolve: {op: ">=", value: "45%"}
    max_age_days: 45
"""
)
AGENCIES = (
    AGENCIES_CSV
    + "xa-x4,UBND xã X4,commune,huyen-x,Lý Văn Bốn,Chủ tịch UBND xã X4,chutich.xax4@example.gov.vn,,,2023-04-15,\n"
)
UNITS = ("so-a", "so-b", "huyen-x", "xa-x1", "xa-x2", "xa-x3", "xa-x4")
MONTHS = ("2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06", "2023-07")
START = dt.date(2023, 2, 10)

ratio_rows = st.tuples(
    st.sampled_from(UNITS),
    st.sampled_from(MONTHS),
    st.sampled_from(["online_payment", "full_online"]),
    st.integers(0, 50),
    st.sampled_from([5, 50]),
    st.sampled_from([0, 0, 3, 30]),  # as_of after the period's end
)
stage_rows = st.tuples(st.sampled_from(MONTHS), st.sampled_from(["planned", "built", "connected", "shared"]))
steps = st.fixed_dictionaries(
    {
        "days": st.sampled_from([0, 1, 1, 2, 5, 9, 17, 30]),
        # Most days bring no data: those are the runs that go incremental.
        "rows": st.lists(ratio_rows, max_size=6) | st.just([]) | st.just([]),
        "stages": st.lists(stage_rows, max_size=2) | st.just([]),
        "waiver": st.none()
        | st.none()
        | st.tuples(
            st.sampled_from(["pay-40", "online-payment-30", "pay-report"]),
            st.sampled_from(UNITS),
            st.integers(0, 25),
        ),
    }
)


def _snapshot_lines(step: dict[str, Any], on: dt.date) -> str:
    from compliance.model.period import parse_period

    lines: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for agency, month, indicator, numerator, denominator, lag in step["rows"]:
        if (agency, month, indicator) in seen:
            continue
        seen.add((agency, month, indicator))
        as_of = parse_period(month).end_on + dt.timedelta(days=lag)
        lines.append(f"{month},{agency},{indicator},{min(numerator, denominator)},{denominator},,,{as_of}")
    for month, stage in step["stages"]:
        if ("so-a", month, "db_land") not in seen:
            seen.add(("so-a", month, "db_land"))
            lines.append(f"{month},so-a,db_land,,,,{stage},")
    del on
    return "\n".join(lines)


def _written(db: Database, run_id: str) -> dict[str, Any]:
    """What a run wrote, without what differs between two stores by nature (run ids, file names)."""
    with db.read() as conn:
        tasks = [
            tuple(v for k, v in r._mapping.items() if k != "opened_run_id")
            for r in conn.execute(select(schema.tasks).order_by(schema.tasks.c.id))
        ]
    return {**written(db, run_id), "tasks": tasks}


def _twins(root: Path) -> tuple[Any, Database, Database]:
    deployment = load_deployment(
        load_config(write_deployment(root / "deployment", rules_yaml=RULES, agencies_csv=AGENCIES))
    )
    incremental, full = (open_database(f"sqlite:///{root}/{name}.db") for name in ("incremental", "full"))
    return deployment, incremental, full


def _same_run(deployment: Any, incremental: Database, full: Database, on: dt.date) -> RunResult:
    """Run both stores at D; the incremental one must give and write what the full one does."""
    got = evaluate_run(incremental, deployment, PY, on, clock=clock_on(on))
    want = evaluate_run(full, deployment, PY, on, clock=clock_on(on), incremental=False)
    assert not want.partial
    fields = ("at", "outcomes", "tasks", "evaluations", "logged", "digest", "repeat", "rules_revision")
    assert {f: getattr(got, f) for f in fields} == {f: getattr(want, f) for f in fields}
    assert got.details == want.details
    assert [(c.kind, c.task.rule, c.task.agency, c.data) for c in got.changes] == [
        (c.kind, c.task.rule, c.task.agency, c.data) for c in want.changes
    ]
    if not want.repeat:
        assert _written(incremental, got.run_id) == _written(full, want.run_id)
    return got


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(steps, min_size=2, max_size=7))
def test_an_incremental_run_gives_and_writes_what_a_full_run_does(
    tmp_path: Path, plan: list[dict[str, Any]]
) -> None:
    import uuid

    root = tmp_path / uuid.uuid4().hex[:8]
    deployment, incremental, full = _twins(root)
    on = START
    for step in plan:
        on += dt.timedelta(days=step["days"])
        lines = _snapshot_lines(step, on)
        for db in (incremental, full):
            if lines:
                try:
                    ingest(db, deployment, root, lines, on=on)
                except SnapshotRejected:  # e.g. a row of an agency outside its window: both stores skip it
                    pass
            if step["waiver"] is not None:
                rule, agency, length = step["waiver"]
                waiver = Waiver(
                    rule=rule, agency=agency, until=on + dt.timedelta(days=length), reason="thử", by="a@b.vn"
                )
                add_waiver(db, deployment, waiver, on=on, clock=clock_on(on))
        _same_run(deployment, incremental, full, on)


def test_agencies_starting_and_ending_between_two_days_are_evaluated_again(tmp_path: Path) -> None:
    deployment, incremental, full = _twins(tmp_path)
    rows = "\n".join(f"2023-02,{a},online_payment,30,50,,," for a in ("xa-x1", "xa-x3"))
    for db in (incremental, full):
        ingest(db, deployment, tmp_path, rows, on=dt.date(2023, 3, 30))
    assert not _same_run(deployment, incremental, full, dt.date(2023, 3, 30)).partial
    # xa-x3 ends on 31/03 and xa-x4 starts on 15/04: both leave or join the matrix without new data.
    moved = _same_run(deployment, incremental, full, dt.date(2023, 4, 16))
    assert moved.partial
    assert "xa-x4" in {e.agency for e in moved.evaluated}
    assert "xa-x3" not in {e.agency for e in moved.details}


def test_rows_that_come_into_effect_between_two_days_mean_evaluating_everything(tmp_path: Path) -> None:
    deployment, incremental, full = _twins(tmp_path)
    # Figures of February taken on 20/03 (a revision announced ahead): they exist only from 20/03 on.
    rows = "2023-02,so-a,online_payment,10,50,,,2023-02-28\n2023-02,so-b,online_payment,40,50,,,2023-03-20"
    for db in (incremental, full):
        ingest(db, deployment, tmp_path, rows, on=dt.date(2023, 3, 10))
    _same_run(deployment, incremental, full, dt.date(2023, 3, 10))
    later = _same_run(deployment, incremental, full, dt.date(2023, 3, 25))
    assert not later.partial
    assert later.logged > 0


def test_a_day_without_new_data_evaluates_only_what_the_day_changes(db: Database, tmp_path: Path) -> None:
    deployment = deployment_in(tmp_path / "deployment", rules_yaml=RULES)
    day = dt.date(2023, 2, 10)
    rows = "\n".join(
        f"2023-01,{a},online_payment,{n},50,,," for a, n in (("so-a", 10), ("xa-x1", 30), ("xa-x2", 5))
    )
    ingest(db, deployment, tmp_path, rows, on=day)
    first = evaluate_run(db, deployment, PY, day, clock=clock_on(day))
    assert (first.partial, len(first.evaluated)) == (False, first.evaluations)
    # 11/02: nothing turns stale (2023-01 ends on 31/01, max_age 20 days: stale from 21/02), no deadline.
    nothing = evaluate_run(db, deployment, PY, day + dt.timedelta(days=1), clock=clock_on(day))
    assert (nothing.partial, len(nothing.evaluated), nothing.logged) == (True, 0, 0)
    assert (nothing.outcomes, nothing.digest) == (first.outcomes, first.digest)
    # 21/02: the 3 reporting duties with a row turn stale (and fail): only pay-report's and pay-40's
    # figures are evaluated again.
    later = day + dt.timedelta(days=11)
    stale = evaluate_run(db, deployment, PY, later, clock=clock_on(later))
    assert stale.partial is True
    assert sorted({(e.rule, e.agency) for e in stale.evaluated}) == [
        ("pay-report", "so-a"),
        ("pay-report", "xa-x1"),
        ("pay-report", "xa-x2"),
    ]
    assert stale.outcomes["stale"] == 3
    assert (
        stale.details == evaluate_run(db, deployment, PY, later, clock=clock_on(later), dry_run=True).details
    )
    # A snapshot ingested since: everything is evaluated again.
    ingest(db, deployment, tmp_path, "2023-02,so-b,online_payment,40,50,,,", on=later)
    after = evaluate_run(db, deployment, PY, dt.date(2023, 3, 1), clock=clock_on(later))
    assert (after.partial, len(after.evaluated)) == (False, after.evaluations)
