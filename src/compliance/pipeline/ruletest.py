"""Rule tests (`compliance test`, like `promtool test rules`): YAML files of snapshots, evaluation dates and
the outcomes and tasks expected, run through the real pipeline on a throw-away SQLite store.

The file format is in docs/ruletests.md. Each test gets a fresh store (a copy of one migrated template
database), ingests its snapshots as the product would, and evaluates at each date in order with the same
`evaluate_run` the product uses; waivers and acknowledgements in a step go through the same actions as
`waivers add` and `tasks ack`. Every expectation that does not hold is reported with what was expected
and what came.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from compliance.clock import FixedClock
from compliance.errors import ComplianceError, InputError, Problem, SourceLocation
from compliance.loading.deployment import Deployment, check_deployment
from compliance.loading.snapshots import parse_snapshot
from compliance.loading.suggest import did_you_mean
from compliance.loading.validation import display_path, friendly, key_path
from compliance.loading.yamlpos import YamlSyntaxError, load_yaml, yaml_position
from compliance.model.config import Config, DatabaseConfig, PathsConfig
from compliance.model.evaluation import Evaluation
from compliance.model.task import Task, Waiver
from compliance.pipeline.evaluate import RunResult, acknowledge_task, add_waiver, evaluate_run
from compliance.storage import auditlog
from compliance.storage.db import Database, open_database
from compliance.storage.tasks import list_tasks

__all__ = ["TestFileResult", "TestResult", "default_test_files", "run_test_file", "run_test_files"]

SNAPSHOT_HEADER = ("period", "agency", "indicator", "numerator", "denominator", "value", "status", "as_of")
NOT_EVALUATED = "not_evaluated"
OutcomeName = Literal["pass", "fail", "insufficient", "no_data", "stale", "not_applicable", "not_evaluated"]
StatusName = Literal["open", "acknowledged", "resolved", "waived"]
CountName = Literal["pass", "fail", "insufficient", "no_data", "stale", "not_applicable"]


def _text(raw: Any) -> Any:
    # YAML reads 0.26 as a float and 26% as text; keep the text exactly as written so that the precision
    # of the expectation is the precision the author wrote.
    if isinstance(raw, bool) or raw is None:
        return raw
    if isinstance(raw, int | float):
        return str(raw)
    return raw


Figure = Annotated[str, BeforeValidator(_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SnapshotSource(_Strict):
    """One snapshot file to ingest: a file (relative to the test file), CSV text, or rows."""

    file: str | None = None
    csv: str | None = None
    rows: tuple[dict[str, Any], ...] | None = None
    name: str | None = None  # the file name the store records for csv/rows (default: derived)

    @model_validator(mode="after")
    def _one_source(self) -> SnapshotSource:
        given = [k for k in ("file", "csv", "rows") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `file`, `csv` or `rows`")
        return self


class OutcomeExpectation(_Strict):
    """The evaluation of rule x agency at D ('*' matches any rule or agency; the most specific wins)."""

    rule: str
    agency: str
    outcome: OutcomeName
    period: str | None = None
    value: Figure | None = None
    target: Figure | None = None
    numerator: int | None = None
    denominator: int | None = None
    streak: int | None = None
    failing: bool | None = None


class TaskExpectation(_Strict):
    rule: str
    agency: str
    status: StatusName = "open"
    period: str | None = None
    last_period: str | None = None
    value: Figure | None = None
    target: Figure | None = None
    streak: int | None = None
    opened_on: dt.date | None = None
    due_on: dt.date | None = None
    resolved_on: dt.date | None = None
    waived_on: dt.date | None = None
    acknowledged_by: str | None = None
    assignee: str | None = None
    previous: bool | None = None  # linked to an earlier task of the same rule x agency


class WaiverAction(_Strict):
    rule: str
    agency: str
    until: dt.date
    reason: str = "Rule test"
    by: str = "vanphong@example.gov.vn"


class AckAction(_Strict):
    rule: str
    agency: str
    by: str
    note: str | None = None


class RunExpectation(_Strict):
    opened: int | None = None
    resolved: int | None = None
    waived: int | None = None
    updated: int | None = None
    open: int | None = None


class Step(_Strict):
    """One evaluation date: snapshots, waivers and acknowledgements first, then the evaluation, then checks."""

    at: dt.date
    snapshots: tuple[SnapshotSource, ...] = ()
    waivers: tuple[WaiverAction, ...] = ()
    ack: tuple[AckAction, ...] = ()
    outcomes: tuple[OutcomeExpectation, ...] | None = None
    counts: dict[CountName, int] | None = None
    tasks: tuple[TaskExpectation, ...] | None = None
    run: RunExpectation | None = None


class RuleTest(_Strict):
    name: str
    # Only these rules are checked by wildcards and by the completeness of `tasks` (all rules still run).
    focus: tuple[str, ...] | None = None
    snapshots: tuple[SnapshotSource, ...] = ()
    evaluations: Annotated[tuple[Step, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _forward(self) -> RuleTest:
        days = [s.at for s in self.evaluations]
        if days != sorted(days):
            raise ValueError("`evaluations` must go forward in time (time moves forward)")
        return self


class TestFile(_Strict):
    version: Literal[1]
    rules: tuple[str, ...] | None = None
    agencies: str | None = None
    tests: Annotated[tuple[RuleTest, ...], Field(min_length=1)]


# --- results --------------------------------------------------------------------------------------


@dataclass
class TestResult:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class TestFileResult:
    file: str
    tests: list[TestResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the file itself is invalid: every test fails

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tests if t.passed)

    @property
    def failed(self) -> int:
        return sum(1 for t in self.tests if not t.passed) + (1 if self.problems and not self.tests else 0)


def default_test_files(config: Config) -> list[Path]:
    """rules/tests/*.yaml (and *.yml) of the deployment, in name order."""
    folder = config.rules_dir / "tests"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))


# --- comparisons ----------------------------------------------------------------------------------


def _expected_number(text: str) -> tuple[Decimal, int] | None:
    """'26.12%' -> (0.2612, 4); '79.86' -> (79.86, 2): the value and the decimals it was written with."""
    raw = text.strip()
    percent = raw.endswith("%")
    body = raw[:-1].strip() if percent else raw
    try:
        number = Decimal(body.replace(",", "."))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if percent:
        return number / 100, places + 2
    return number, places


def figure_matches(expected: str, actual: float | str | None) -> bool:
    """A figure written with decimals matches at that precision ('31.25%' matches 0.312500001); one
    written without ('30%', '80') must be exact."""
    if actual is None:
        return expected.strip().lower() in ("null", "none", "")
    parsed = _expected_number(expected)
    if parsed is None or isinstance(actual, str):
        return str(actual) == expected.strip()
    number, places = parsed
    got = Decimal(repr(float(actual)))
    written_decimals = "." in expected or "," in expected
    if not written_decimals:
        return got == number
    quantum = Decimal(1).scaleb(-places)
    return got.quantize(quantum, rounding=ROUND_HALF_EVEN) == number.quantize(quantum)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if value is None:
        return "none"
    return str(value)


# --- running --------------------------------------------------------------------------------------


@contextmanager
def _template_database(workdir: Path) -> Iterator[Path]:
    """One migrated empty database; each test starts from a copy of it (much faster than migrating)."""
    path = workdir / "template.db"
    db = open_database(f"sqlite:///{path}")
    db.dispose()
    yield path


def _snapshot_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    out.write(",".join(SNAPSHOT_HEADER) + "\n")
    for row in rows:
        cells = []
        for column in SNAPSHOT_HEADER:
            value = row.get(column)
            cells.append("" if value is None else str(value))
        out.write(",".join(cells) + "\n")
    return out.getvalue()


class _Runner:
    def __init__(
        self, path: Path, spec: TestFile, config: Config, backend_name: str, workdir: Path, template: Path
    ):
        self.path = path
        self.display = display_path(path)
        self.spec = spec
        self.base_config = config
        self.backend_name = backend_name
        self.workdir = workdir
        self.template = template
        self.current: RuleTest = spec.tests[0]

    def config_for(self, store: Path) -> Config:
        """The deployment's config with the test's rules and agencies, on the throw-away store."""
        rules_dir = self.base_config.rules_dir
        agencies = self.base_config.agencies_file
        here = self.path.parent
        if self.spec.rules is not None:
            rules_dir = self.workdir / "rules"
            if not rules_dir.exists():
                rules_dir.mkdir()
                for name in self.spec.rules:
                    source = (here / name).resolve()
                    shutil.copyfile(source, rules_dir / source.name)
        if self.spec.agencies is not None:
            text = self.spec.agencies
            if "\n" in text.strip():
                agencies = self.workdir / "agencies.csv"
                agencies.write_text(text, encoding="utf-8")
            else:
                agencies = (here / text.strip()).resolve()
        paths = PathsConfig(
            rules=str(rules_dir.resolve()),
            agencies=str(Path(agencies).resolve()),
            inbox=str(self.workdir / "inbox"),
            templates=str(self.base_config.templates_dir.resolve()),
        )
        return self.base_config.model_copy(
            update={"paths": paths, "database": DatabaseConfig(url=f"sqlite:///{store}")}
        )

    def deployment(self, store: Path) -> Deployment:
        deployment, problems = check_deployment(self.config_for(store))
        if deployment is None:
            raise InputError([p for p in problems if not p.warning])
        return deployment

    def run(self) -> list[TestResult]:
        results = []
        for index, test in enumerate(self.spec.tests):
            results.append(self.run_test(index, test))
        return results

    def run_test(self, index: int, test: RuleTest) -> TestResult:
        self.current = test
        result = TestResult(self.display, test.name)
        store = self.workdir / f"test-{index}.db"
        shutil.copyfile(self.template, store)
        try:
            deployment = self.deployment(store)
        except InputError as exc:
            result.failures.extend(f"rules or agencies are invalid: {p}" for p in exc.problems)
            return result
        for rule in test.focus or ():
            if rule not in deployment.rulebook.rules:
                result.failures.append(
                    f"focus: {_name_problem('rule', rule, sorted(deployment.rulebook.rules))}"
                )
        if result.failures:
            return result
        from compliance.engine import get_backend

        backend = get_backend(self.backend_name)
        db = open_database(f"sqlite:///{store}", migrate=False)
        try:
            first = test.evaluations[0].at
            self.ingest(db, deployment, test.snapshots, first, index, "snapshots", result)
            for n, step in enumerate(test.evaluations):
                self.step(db, deployment, backend, index, n, step, result)
        finally:
            db.dispose()
        return result

    def _clock(self, day: dt.date) -> FixedClock:
        tz = self.base_config.deployment.tz
        return FixedClock(dt.datetime.combine(day, dt.time(7, 0), tzinfo=tz))

    def ingest(
        self,
        db: Database,
        deployment: Deployment,
        sources: Sequence[SnapshotSource],
        day: dt.date,
        test_index: int,
        where: str,
        result: TestResult,
    ) -> None:
        from compliance.storage.snapshots import ingest

        for j, source in enumerate(sources):
            if source.file is not None:
                path = (self.path.parent / source.file).resolve()
                display = source.name or Path(source.file).name
            else:
                text = source.csv if source.csv is not None else _snapshot_csv(source.rows or ())
                display = (
                    source.name or f"{self.path.stem}-{test_index + 1}-{where.replace('.', '-')}-{j + 1}.csv"
                )
                path = self.workdir / f"snapshot-{test_index}-{where}-{j}.csv"
                path.write_text(text, encoding="utf-8")
            try:
                parsed = parse_snapshot(path, deployment.rulebook, deployment.directory, display)
            except InputError as exc:
                result.failures.append(f"{where}[{j}]: the snapshot was rejected:")
                result.failures.extend(f"  {p}" for p in exc.problems)
                continue
            with db.begin() as conn:
                ingest(conn, parsed, at=auditlog.format_at(self._clock(day).now()))

    def step(
        self,
        db: Database,
        deployment: Deployment,
        backend: Any,
        test_index: int,
        n: int,
        step: Step,
        result: TestResult,
    ) -> None:
        label = f"at {step.at.isoformat()}"
        clock = self._clock(step.at)
        self.ingest(
            db, deployment, step.snapshots, step.at, test_index, f"evaluations[{n}].snapshots", result
        )
        for w in step.waivers:
            try:
                add_waiver(
                    db,
                    deployment,
                    Waiver(rule=w.rule, agency=w.agency, until=w.until, reason=w.reason, by=w.by),
                    on=step.at,
                    clock=clock,
                )
            except ComplianceError as exc:
                result.failures.append(f"{label}: waiver for {w.rule} x {w.agency} refused: {exc}")
        for a in step.ack:
            active = [
                t for t in _tasks(db) if t.rule == a.rule and t.agency == a.agency and t.status.is_active
            ]
            if not active:
                result.failures.append(
                    f"{label}: ack {a.rule} x {a.agency}: there is no open task to acknowledge"
                )
                continue
            try:
                assert active[0].id is not None
                acknowledge_task(db, active[0].id, by=a.by, note=a.note, on=step.at, clock=clock)
            except ComplianceError as exc:
                result.failures.append(f"{label}: ack {a.rule} x {a.agency} refused: {exc}")
        try:
            run = evaluate_run(db, deployment, backend, step.at, clock=clock)
        except ComplianceError as exc:
            result.failures.append(f"{label}: the evaluation failed: {exc}")
            return
        focus = set(self.current.focus) if self.current.focus is not None else None
        evaluations = [e for e in run.details if focus is None or e.rule in focus]
        tasks = [t for t in _tasks(db) if focus is None or t.rule in focus]
        if step.outcomes is not None:
            result.failures.extend(
                f"{label}: {m}" for m in check_outcomes(step.outcomes, evaluations, deployment)
            )
        if step.counts is not None:
            for name, want in sorted(step.counts.items()):
                got = run.outcomes.get(name, 0)
                if got != want:
                    result.failures.append(f"{label}: count of {name}: expected {want}, got {got}")
        if step.tasks is not None:
            result.failures.extend(f"{label}: {m}" for m in check_tasks(step.tasks, tasks, deployment))
        if step.run is not None:
            counted = run.tasks if focus is None else _task_counts(run, tasks, focus)
            for key, wanted in step.run.model_dump(exclude_none=True).items():
                if counted.get(key) != wanted:
                    result.failures.append(
                        f"{label}: run tasks.{key}: expected {wanted}, got {counted.get(key)}"
                    )


def _task_counts(run: RunResult, tasks: Sequence[Task], focus: set[str]) -> dict[str, int]:
    """The run's task counts for the focused rules only."""
    kinds = [c.kind.value for c in run.changes if c.task.rule in focus]
    return {
        "opened": kinds.count("task-opened"),
        "resolved": kinds.count("task-resolved"),
        "waived": kinds.count("task-waived"),
        "updated": kinds.count("task-updated"),
        "open": sum(1 for t in tasks if t.status.is_active),
    }


def _tasks(db: Database) -> list[Task]:
    with db.read() as conn:
        return list_tasks(conn)


# --- checks ---------------------------------------------------------------------------------------


def _specificity(e: OutcomeExpectation) -> int:
    return (2 if e.rule != "*" else 0) + (1 if e.agency != "*" else 0)


def _name_problem(what: str, name: str, known: Sequence[str]) -> str:
    hint = did_you_mean(name, known)
    return f"unknown {what} '{name}'" + (f" ({hint})" if hint else "")


def check_outcomes(
    expected: Sequence[OutcomeExpectation], evaluations: Sequence[Evaluation], deployment: Deployment
) -> list[str]:
    """Every mismatch between the expected outcomes and the evaluations, in (rule, agency) order."""
    failures: list[str] = []
    rules = sorted(deployment.rulebook.rules)
    agencies = list(deployment.directory.agencies)
    for e in expected:
        if e.rule != "*" and e.rule not in deployment.rulebook.rules:
            failures.append(_name_problem("rule", e.rule, rules))
        if e.agency != "*" and e.agency not in deployment.directory:
            failures.append(_name_problem("agency", e.agency, agencies))
    if failures:
        return failures
    patterns = sorted(expected, key=_specificity, reverse=True)
    by_key = {(ev.rule, ev.agency): ev for ev in evaluations}
    for ev in evaluations:
        match = next((p for p in patterns if p.rule in ("*", ev.rule) and p.agency in ("*", ev.agency)), None)
        if match is not None:
            failures.extend(_compare_evaluation(match, ev))
    for p in expected:
        if p.rule == "*" or p.agency == "*":
            continue
        if (p.rule, p.agency) not in by_key and p.outcome != NOT_EVALUATED:
            failures.append(
                f"{p.rule} x {p.agency}: expected outcome {p.outcome}, got no evaluation "
                "(the agency is outside the rule's scope or its active window)"
            )
    return failures


def _compare_evaluation(p: OutcomeExpectation, ev: Evaluation) -> list[str]:
    who = f"{ev.rule} x {ev.agency}"
    if p.outcome == NOT_EVALUATED:
        return [f"{who}: expected no evaluation, got outcome {ev.outcome.value}"]
    out: list[str] = []
    if ev.outcome.value != p.outcome:
        detail = f" (period {ev.period}, value {_show(ev.value)})" if ev.period is not None else ""
        return [f"{who}: expected outcome {p.outcome}, got {ev.outcome.value}{detail}"]
    if p.period is not None and ev.period != p.period:
        out.append(f"{who}: expected period {p.period}, got {_show(ev.period)}")
    if p.value is not None and not figure_matches(p.value, ev.value):
        out.append(f"{who}: expected value {p.value}, got {_show(ev.value)}")
    if p.target is not None and not figure_matches(p.target, ev.target):
        out.append(f"{who}: expected target {p.target}, got {_show(ev.target)}")
    for name in ("numerator", "denominator", "streak", "failing"):
        want = getattr(p, name)
        got = getattr(ev, name)
        if want is not None and want != got:
            out.append(f"{who}: expected {name} {_show(want)}, got {_show(got)}")
    return out


def check_tasks(
    expected: Sequence[TaskExpectation], tasks: Sequence[Task], deployment: Deployment
) -> list[str]:
    """Every expected task must exist as described; every active task must be expected."""
    failures: list[str] = []
    matched: set[int] = set()
    for e in expected:
        if e.rule not in deployment.rulebook.rules:
            failures.append(_name_problem("rule", e.rule, sorted(deployment.rulebook.rules)))
            continue
        if e.agency not in deployment.directory:
            failures.append(_name_problem("agency", e.agency, list(deployment.directory.agencies)))
            continue
        same = [t for t in tasks if t.rule == e.rule and t.agency == e.agency]
        candidates = [t for t in same if t.status.value == e.status and (t.id not in matched)]
        who = f"task {e.rule} x {e.agency}"
        if not candidates:
            others = ", ".join(f"#{t.id} {t.status.value}" for t in same) or "none"
            failures.append(
                f"{who}: expected a task with status {e.status}, found none (tasks of this rule x agency: {others})"
            )
            continue
        task = max(candidates, key=lambda t: t.id or 0)
        assert task.id is not None
        matched.add(task.id)
        failures.extend(_compare_task(e, task, who))
    for t in tasks:
        if t.status.is_active and t.id not in matched:
            failures.append(
                f"task {t.rule} x {t.agency}: unexpected {t.status.value} task #{t.id} "
                f"(opened {t.opened_on.isoformat()}, period {t.period}, value {_show(t.value)})"
            )
    return failures


def _compare_task(e: TaskExpectation, t: Task, who: str) -> list[str]:
    out: list[str] = []
    for name in (
        "period",
        "last_period",
        "streak",
        "opened_on",
        "due_on",
        "resolved_on",
        "waived_on",
        "acknowledged_by",
        "assignee",
    ):
        want = getattr(e, name)
        got = getattr(t, name)
        if want is not None and want != got:
            out.append(f"{who}: expected {name} {_show(want)}, got {_show(got)}")
    if e.value is not None and not figure_matches(e.value, t.value):
        out.append(f"{who}: expected value {e.value}, got {_show(t.value)}")
    if e.target is not None and not figure_matches(e.target, t.target):
        out.append(f"{who}: expected target {e.target}, got {_show(t.target)}")
    if e.previous is not None and (t.previous_task_id is not None) != e.previous:
        out.append(
            f"{who}: expected {'a link to an earlier task' if e.previous else 'no link to an earlier task'}, "
            f"got previous task {_show(t.previous_task_id)}"
        )
    return out


# --- files ----------------------------------------------------------------------------------------


def load_test_file(path: Path) -> tuple[TestFile | None, list[Problem]]:
    display = display_path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return None, [Problem(SourceLocation(display), "", f"cannot read the file: {exc.strerror or exc}")]
    except UnicodeDecodeError:
        return None, [Problem(SourceLocation(display), "", "the file is not UTF-8 text")]
    try:
        doc = load_yaml(text, display)
    except YamlSyntaxError as exc:
        return None, [exc.problem]
    try:
        return TestFile.model_validate(doc), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            f = friendly(err, TestFile)
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            line, col = yaml_position(doc, loc, at_key=f.at_key)
            problems.append(Problem(SourceLocation(display, line, col), key_path(loc), f.message, f.hint))
        return None, problems


def run_test_file(path: Path, config: Config, *, backend: str | None = None) -> TestFileResult:
    spec, problems = load_test_file(path)
    result = TestFileResult(display_path(path), problems=problems)
    if spec is None:
        return result
    with tempfile.TemporaryDirectory(prefix="compliance-test-") as tmp:
        workdir = Path(tmp)
        with _template_database(workdir) as template:
            runner = _Runner(path, spec, config, backend or config.engine.backend, workdir, template)
            result.tests = runner.run()
    return result


def run_test_files(
    paths: Sequence[Path], config: Config, *, backend: str | None = None
) -> list[TestFileResult]:
    return [run_test_file(p, config, backend=backend) for p in paths]
