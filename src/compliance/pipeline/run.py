"""One cycle of the product (`run --once`, and each daemon job): ingest the inbox, evaluate, notify.

The rule files are re-read at every evaluation. When they have become invalid the run keeps the last
valid revision — the one the last evaluation run used, whose file texts are stored in rule_revisions —
re-parses those texts, and logs `rules-rejected` with every error (SPEC §8).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compliance import faults
from compliance.clock import Clock
from compliance.errors import InputError, Problem
from compliance.loading.agencies import load_agencies
from compliance.loading.deployment import Deployment
from compliance.loading.rules import check_rulebook, rule_files
from compliance.loading.validation import display_path
from compliance.model.config import Config
from compliance.pipeline.ingest import InboxResult, ingest_inbox
from compliance.signing import FROM_ENVIRONMENT, HeadSecret
from compliance.storage.db import Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from compliance.model.task import TaskChange
    from compliance.pipeline.evaluate import RunResult
    from compliance.pipeline.notify import NotifyResult

__all__ = [
    "EvaluateStep",
    "OnceResult",
    "RulesInForce",
    "evaluate_step",
    "ingest_step",
    "load_rules",
    "notify_step",
    "run_once",
]


def _plain(obj: Any) -> Any:
    """A result object of evaluate/notify as JSON-ready data (their own as_json when they have one)."""
    for name in ("as_json", "as_dict"):
        method = getattr(obj, name, None)
        if callable(method):
            return method()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


@dataclass(frozen=True)
class RulesInForce:
    """The deployment a run uses, and, when the files on disk were invalid, their errors."""

    deployment: Deployment
    rejected: tuple[str, ...] = ()
    kept_revision: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.deployment.rulebook.revision,
            "rejected": list(self.rejected),
            "kept_revision": self.kept_revision,
        }


def _last_valid_files(db: Database) -> tuple[str, dict[str, str]] | None:
    from compliance.storage.runs import get_rule_revision, last_run

    with db.read() as conn:
        run = last_run(conn)
        if run is None:
            return None
        files = get_rule_revision(conn, run.rules_revision)
    return (run.rules_revision, files) if files is not None else None


def _current_texts(rules_dir: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    if rules_dir.is_dir():
        for path in rule_files(rules_dir):
            texts[path.name] = path.read_bytes().decode("utf-8-sig", errors="replace")
    return texts


def _log_rejection(
    db: Database, config: Config, problems: list[Problem], kept: str | None, *, clock: Clock
) -> None:
    from compliance.storage.auditlog import NewEntry, append, format_at

    entry = NewEntry(
        kind="rules-rejected",
        data={
            "errors": [str(p) for p in problems if not p.warning],
            "kept_revision": kept,
            "files": _current_texts(config.rules_dir),
        },
        rules_revision=kept,
    )
    with db.begin() as conn:
        append(conn, [entry], at=format_at(clock.now()))


# The daemon reads the same files at every job: parsing YAML with positions costs a tenth of a second
# per file, so the last valid result is kept, keyed by the bytes of every input it was built from.
_LAST_VALID: tuple[str, RulesInForce] | None = None


def _inputs_key(config: Config) -> str | None:
    h = hashlib.sha256(config.model_dump_json().encode("utf-8"))
    h.update(str(config.base_dir.resolve()).encode("utf-8"))
    try:
        h.update(config.agencies_file.read_bytes())
        for path in rule_files(config.rules_dir):
            h.update(b"\0" + path.name.encode("utf-8") + b"\0" + path.read_bytes())
    except OSError:
        return None
    return h.hexdigest()


def load_rules(db: Database, config: Config, *, clock: Clock, audit: bool) -> RulesInForce:
    """The agencies and the rules in force now; see the module docstring for invalid rule files.

    `audit`: log `rules-rejected` (the evaluation does; ingest and notify only need the rules quietly).
    Invalid agencies, or invalid rules with no earlier valid revision, raise InputError.
    """
    global _LAST_VALID
    key = _inputs_key(config)
    if key is not None and _LAST_VALID is not None and _LAST_VALID[0] == key:
        return _LAST_VALID[1]
    directory = load_agencies(config.agencies_file, display_path(config.agencies_file))
    rulebook, problems = check_rulebook(config.rules_dir, directory, display_path(config.rules_dir))
    if rulebook is not None:
        rules = RulesInForce(Deployment(config, directory, rulebook, problems))
        if key is not None:
            _LAST_VALID = (key, rules)
        return rules
    errors = tuple(str(p) for p in problems if not p.warning)
    last = _last_valid_files(db)
    if last is None:
        if audit:
            _log_rejection(db, config, problems, None, clock=clock)
        raise InputError(problems)
    revision, files = last
    with tempfile.TemporaryDirectory(prefix="compliance-rules-") as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_text(content, encoding="utf-8")
        kept, kept_problems = check_rulebook(Path(tmp), directory, f"rules@{revision[:12]}")
    if kept is None:
        # The revision that was valid no longer fits the agency directory either.
        if audit:
            _log_rejection(db, config, problems, None, clock=clock)
        raise InputError(problems + kept_problems)
    if audit:
        _log_rejection(db, config, problems, revision, clock=clock)
    return RulesInForce(Deployment(config, directory, kept, kept_problems), errors, revision)


# --- the steps ------------------------------------------------------------------------------------


def ingest_step(db: Database, config: Config, *, clock: Clock, settle_s: float = 0.0) -> InboxResult:
    rules = load_rules(db, config, clock=clock, audit=False)
    return ingest_inbox(db, rules.deployment, config.inbox_dir, clock=clock, settle_s=settle_s)


@dataclass(frozen=True)
class EvaluateStep:
    rules: RulesInForce
    result: RunResult

    def summary(self) -> dict[str, Any]:
        return {**_plain(self.result), "rules_rejected": len(self.rules.rejected)}


def _today(config: Config, on: dt.date | None, clock: Clock) -> dt.date:
    return on if on is not None else clock.today(config.deployment.tz)


def _evaluate(
    db: Database, rules: RulesInForce, on: dt.date, clock: Clock, head_secret: HeadSecret
) -> RunResult:
    from compliance.engine import get_backend
    from compliance.pipeline.evaluate import evaluate_run
    from compliance.pipeline.notify import run_messages_hook

    queue = run_messages_hook(rules.deployment, clock=clock, head_secret=head_secret)

    def queue_then_commit(
        conn: Connection, changes: Sequence[TaskChange], run_id: str, day: dt.date
    ) -> object:
        keys = queue(conn, changes, run_id, day)
        # Everything of the run is written, nothing committed: a crash here must lose the whole run.
        faults.point("evaluate.before-commit")
        return keys

    backend = get_backend(rules.deployment.config.engine.backend)
    return evaluate_run(db, rules.deployment, backend, on, clock=clock, queue_run_messages=queue_then_commit)


def _notify(
    db: Database, deployment: Deployment, on: dt.date, clock: Clock, head_secret: HeadSecret
) -> NotifyResult:
    from compliance.notify.backends import make_backend
    from compliance.pipeline.notify import notify_run

    return notify_run(
        db, deployment, make_backend(deployment.config), on, clock=clock, head_secret=head_secret
    )


def evaluate_step(
    db: Database,
    config: Config,
    *,
    on: dt.date | None,
    clock: Clock,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> EvaluateStep:
    """One evaluation run. `head_secret`: the web secret for heads' personal links in the emails it
    queues (default: the environment's COMPLIANCE_WEB_SECRET, as everywhere in the pipeline)."""
    rules = load_rules(db, config, clock=clock, audit=True)
    return EvaluateStep(rules, _evaluate(db, rules, _today(config, on, clock), clock, head_secret))


@dataclass(frozen=True)
class NotifyStep:
    result: NotifyResult

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = _plain(self.result)
        return data


def notify_step(
    db: Database,
    config: Config,
    *,
    on: dt.date | None,
    clock: Clock,
    digest: bool = False,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> NotifyStep:
    """Queue what is due at D and send what is queued. `digest` (the digest job) changes nothing here:
    the planner adds the weekly digest on digest days, whichever of the two jobs runs first."""
    del digest
    rules = load_rules(db, config, clock=clock, audit=False)
    return NotifyStep(_notify(db, rules.deployment, _today(config, on, clock), clock, head_secret))


# --- run --once -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnceResult:
    on: dt.date
    inbox: InboxResult
    rules: RulesInForce
    evaluation: RunResult
    notify: NotifyResult

    @property
    def ok(self) -> bool:
        """False when the office must look at something: a rejected file, rejected rule files."""
        return not self.inbox.rejected and not self.rules.rejected

    def as_json(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "inbox": self.inbox.as_json(),
            "rules": self.rules.as_json(),
            "evaluation": _plain(self.evaluation),
            "notify": _plain(self.notify),
        }


def run_once(
    config: Config,
    *,
    on: dt.date | None,
    clock: Clock,
    db: Database | None = None,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> OnceResult:
    """`compliance run --once`: ingest the inbox, evaluate at D (default: today), notify at D.

    `head_secret`: as in `evaluate_step`; read once, before anything is ingested."""
    if head_secret is FROM_ENVIRONMENT:
        from compliance.pipeline.notify import head_secret_from_env

        head_secret = head_secret_from_env(config)
    own = db is None
    if db is None:
        from compliance.loading.config import database_url
        from compliance.storage.db import open_database

        db = open_database(database_url(config), base_dir=config.base_dir)
    try:
        day = _today(config, on, clock)
        rules = load_rules(db, config, clock=clock, audit=True)
        inbox = ingest_inbox(db, rules.deployment, config.inbox_dir, clock=clock)
        faults.point("run.after-ingest")
        evaluation = _evaluate(db, rules, day, clock, head_secret)
        faults.point("run.after-evaluate")
        notified = _notify(db, rules.deployment, day, clock, head_secret)
        return OnceResult(day, inbox, rules, evaluation, notified)
    finally:
        if own:
            db.dispose()
