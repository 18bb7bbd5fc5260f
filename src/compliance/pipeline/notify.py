"""Queueing and sending emails: plan what is due at D, write it to the outbox, render it, deliver it.

Exactly once, within the limits of SPEC §5:
1. Queue. Planning (pure) gives messages with idempotency keys; they are inserted in one transaction, a
   key already present being skipped. The evaluation run's task-opened / task-resolved messages are
   queued in the run's own transaction with their facts only (`notify.facts`: the recipients, the tasks
   as the run left them, whether the body is a head's personal one), no text yet, so the run pays no
   template rendering. Notify's own reminders, escalations and digests, which go out in the same run,
   are rendered as they are queued (one that cannot be is queued with its facts, and fails at step 2).
   Escalations mark their tasks (escalated_on, `task-escalated`) in the transaction that queues them,
   so a task is escalated once however often this runs.
2. Render. Before anything is claimed, the due messages still without their text are rendered from
   their facts and the text stored (200 per transaction): every attempt, and a resend after a crash,
   sends those very bytes. A message that cannot be rendered (a template broken beyond the shipped
   fallback, unreadable facts) is failed with the reason, visibly; it is never sent empty nor lost.
3. Deliver. Each queued row due by D is claimed (status `sending`, attempts + 1) and committed, then
   handed to the backend, then recorded `sent` (provider id) or its error. A row still `sending` at
   the start of a run was interrupted mid-send: it is sent again, flagged `possible_duplicate`.
   Temporary failures are retried within the run with a short backoff (Retry-After / X-RateLimit-Reset
   honoured; all sleeps together at most a minute), then left queued for later runs up to
   max_attempts in all; permanent ones are failed with the reason. `notification-sent` /
   `notification-failed` go into the audit log. To keep a country's tens of thousands of emails fast,
   the claim of message n + 1 shares the transaction that records message n, and a backend whose resend
   replaces rather than repeats (the file backend, BatchBackend) is claimed, written and recorded 200
   messages at a time (see `_Sender`).
Given D and a fixed clock a run is deterministic: same rows, same keys, same audit entries.

Heads' personal links (SPEC §10): with `deployment.base_url` and the web secret (`head_secret`, by default
the environment variable COMPLIANCE_WEB_SECRET, the one `compliance serve` uses), an email to a head
carries that head's signed, expiring link. Such a body is for the head alone: the head's row has no cc,
and the cc'd readers get a separate copy (key `<key>:copy`, plain links that need a sign-in), queued
only together with a new head's row. Without the secret or the base_url, nothing changes: one email
with its cc, plain links or none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import holidays as holidays_lib
from sqlalchemy import Connection

from compliance import faults
from compliance.clock import Clock
from compliance.errors import ComplianceError, ConfigError, Problem, SendError, SourceLocation
from compliance.loading.deployment import Deployment
from compliance.model.calendar import WorkCalendar
from compliance.model.config import Config
from compliance.model.task import Task, TaskChange
from compliance.notify.backends import max_attempts as max_attempts_for
from compliance.notify.facts import FactsBuilder, FactsError, LinkFor, decode_facts, encode_facts
from compliance.notify.message import Address, BatchBackend, EmailBackend, OutgoingEmail, SendResult
from compliance.notify.planning import NotifyPolicy, PlannedMessage, Recipient, plan_due, plan_run
from compliance.notify.render import Rendered, Renderer
from compliance.signing import FROM_ENVIRONMENT, MIN_SECRET_LENGTH, SECRET_ENV, HeadSecret
from compliance.storage import auditlog, outbox
from compliance.storage import tasks as task_store
from compliance.storage.auditlog import NewEntry
from compliance.storage.db import Database

__all__ = [
    "FROM_ENVIRONMENT",
    "HeadSecret",
    "NotifyResult",
    "RetryPolicy",
    "copy_key",
    "deliver",
    "head_secret_from_env",
    "notify_run",
    "queue_due",
    "queue_run_messages",
    "render_preview",
    "run_messages_hook",
    "work_calendar",
]

_KEY_LIMIT = 400  # the outbox's key column


@dataclass(frozen=True)
class NotifyResult:
    """`notify --json`: sent and failed in this run, and what is left queued (for later runs or days)."""

    sent: int = 0
    failed: int = 0
    queued: int = 0
    new: int = 0
    possible_duplicates: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "queued": self.queued,
            "new": self.new,
            "possible_duplicates": self.possible_duplicates,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Retries within one run: exponential backoff from `base_s`, each sleep at most `max_sleep_s`, all
    sleeps of the run together at most `total_s`; `per_message` tries per message per run; after
    `halt_after` messages in a row failed temporarily the provider is taken to be down until next run."""

    base_s: float = 1.0
    max_sleep_s: float = 20.0
    total_s: float = 60.0
    per_message: int = 4
    halt_after: int = 3

    def delay(self, attempt_in_run: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return retry_after_s
        return min(self.max_sleep_s, self.base_s * 2.0 ** (attempt_in_run - 1))


# --- the work calendar ----------------------------------------------------------------------------


def work_calendar(config: Config, years: Iterable[int]) -> WorkCalendar:
    """Working days: `working_days`, minus public holidays (the `holidays` package: Tết follows the lunar
    calendar) and the config's extra `holidays`, plus `working_saturdays` (make-up days)."""
    n = config.notify
    days: set[dt.date] = set(n.holidays)
    if n.holiday_calendar:
        days.update(_public_holidays(n.holiday_calendar, tuple(sorted(set(years)))))
    return WorkCalendar.build(n.working_days, days, n.working_saturdays)


@functools.lru_cache(maxsize=32)
def _public_holidays(country: str, years: tuple[int, ...]) -> frozenset[dt.date]:
    try:
        public = holidays_lib.country_holidays(country, years=list(years))
    except NotImplementedError as exc:
        raise ConfigError(
            [
                Problem(
                    SourceLocation("config.toml"),
                    "notify.holiday_calendar",
                    f"'{country}' is not a country the holidays package knows (e.g. 'VN')",
                )
            ]
        ) from exc
    return frozenset(public.keys())


def _years(first: dt.date, on: dt.date) -> range:
    return range(min(first.year, on.year), on.year + 2)


# --- heads' personal links ----------------------------------------------------------------------------


def head_secret_from_env(config: Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The web secret that signs heads' links, from COMPLIANCE_WEB_SECRET; None when it is unset or
    `deployment.base_url` is (no links to sign). A secret too short for `compliance serve` is an error:
    links signed with it could never open."""
    if not config.deployment.base_url.strip():
        return None
    secret = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if not secret:
        return None
    if len(secret) < MIN_SECRET_LENGTH:
        raise ComplianceError(
            f"{SECRET_ENV} is too short: use at least {MIN_SECRET_LENGTH} characters "
            "(it signs the agency heads' links in the emails)"
        )
    return secret


def _secret(config: Config, head_secret: HeadSecret) -> str | None:
    if head_secret is FROM_ENVIRONMENT:
        return head_secret_from_env(config)
    return head_secret or None


def copy_key(key: str) -> str:
    """The idempotency key of the cc'd readers' copy of a head's personal email."""
    copy = f"{key}:copy"
    if len(copy) <= _KEY_LIMIT:
        return copy
    return f"copy:sha256={hashlib.sha256(key.encode('utf-8')).hexdigest()}"


# --- queueing ---------------------------------------------------------------------------------------


def _addresses(recipients: Iterable[Any]) -> list[dict[str, str]]:
    return [{"email": r.email, "name": r.name} for r in recipients]


@dataclass(frozen=True)
class _Queued:
    """One planned message as outbox rows: the message itself, and the cc'd readers' copy of a head's
    personal email (the head's row then has no cc)."""

    row: outbox.NewNotification
    copy: outbox.NewNotification | None = None


@dataclass(frozen=True)
class _Writer:
    """Planned messages as outbox rows: rendered at once with `renderer`, else (the evaluation run)
    with their facts only, rendered when they are sent."""

    facts: FactsBuilder
    deployment: Deployment
    on: dt.date
    renderer: Renderer | None = None

    def row(
        self,
        message: PlannedMessage,
        *,
        key: str,
        to: Sequence[Recipient],
        cc: Sequence[Recipient],
        copy: bool = False,
        personal: bool = False,
    ) -> outbox.NewNotification:
        agencies = message.agencies
        rendered = self._rendered(message, copy=copy, personal=personal)
        return outbox.NewNotification(
            key=key,
            kind=message.kind,
            due_on=message.send_on,
            to=_addresses(to),
            cc=_addresses(cc),
            subject=rendered.subject if rendered else "",
            body_text=rendered.text if rendered else "",
            body_html=rendered.html if rendered else "",
            task_ids=list(message.task_ids),
            agency=message.about or (agencies[0] if len(agencies) == 1 else None),
            facts=None if rendered else encode_facts(message, on=self.on, copy=copy, personal=personal),
        )

    def _rendered(self, message: PlannedMessage, *, copy: bool, personal: bool) -> Rendered | None:
        if self.renderer is None:
            return None
        try:
            context = self.facts.context(
                message,
                rulebook=self.deployment.rulebook,
                directory=self.deployment.directory,
                on=self.on,
                copy=copy,
                personal=personal,
            )
            return self.renderer.render_context_or_shipped(message.kind, context)
        except Exception:  # queued with its facts: the render step fails it visibly, with the reason
            return None

    def rows(self, planned: Sequence[PlannedMessage]) -> list[_Queued]:
        out: list[_Queued] = []
        for m in planned:
            personal = self.facts.is_personal(m, self.deployment.directory)
            if personal and m.cc:
                # Whoever holds the head's link acts as the head until it expires: the cc'd readers get
                # the same letter with plain links, as a message of their own.
                head = self.row(m, key=m.key, to=[m.to], cc=[], personal=True)
                copy = self.row(m, key=copy_key(m.key), to=m.cc, cc=[], copy=True)
                out.append(_Queued(head, copy))
            else:  # personal only when nobody is in cc
                out.append(_Queued(self.row(m, key=m.key, to=[m.to], cc=m.cc, personal=personal)))
        return out


def _queue(conn: Connection, queued: Sequence[_Queued], *, at: dt.datetime) -> list[str]:
    """Queue the rows; a copy only with its head's row, so a secret set between two runs of one day
    never sends the cc'd readers a second letter."""
    new = outbox.queue(conn, [q.row for q in queued], at=at)
    fresh = set(new)
    copies = [q.copy for q in queued if q.copy is not None and q.row.key in fresh]
    return new + outbox.queue(conn, copies, at=at)


def queue_run_messages(
    conn: Connection,
    changes: Sequence[TaskChange],
    run_id: str,
    on: dt.date,
    *,
    deployment: Deployment,
    clock: Clock,
    link_for: LinkFor | None = None,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> list[str]:
    """Queue the run's task-opened / task-resolved emails (one per recipient) in the run's transaction,
    with their facts as the run leaves them; they are rendered when they are sent (`deliver`).

    `pipeline.evaluate.evaluate_run` calls it through `run_messages_hook`; returns the new keys.
    """
    del run_id  # the key is per D and task ids; the run is recorded on the tasks themselves
    config = deployment.config
    calendar = work_calendar(config, _years(on, on))
    planned = plan_run(changes, deployment.directory, calendar, NotifyPolicy.from_config(config), on)
    if not planned:
        return []
    facts = FactsBuilder(config, link_for=link_for, head_secret=_secret(config, head_secret))
    return _queue(conn, _Writer(facts, deployment, on).rows(planned), at=clock.now())


def run_messages_hook(
    deployment: Deployment,
    *,
    clock: Clock,
    link_for: LinkFor | None = None,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> Callable[[Connection, Sequence[TaskChange], str, dt.date], list[str]]:
    """The `queue_run_messages=` argument of evaluate_run, bound to a deployment and a clock.

    The web secret is read here, before the run starts, so a bad one stops the run before any work.
    """
    secret = _secret(deployment.config, head_secret)

    def hook(conn: Connection, changes: Sequence[TaskChange], run_id: str, on: dt.date) -> list[str]:
        return queue_run_messages(
            conn,
            changes,
            run_id,
            on,
            deployment=deployment,
            clock=clock,
            link_for=link_for,
            head_secret=secret,
        )

    return hook


def _escalated_entry(task: Task, message: PlannedMessage, on: dt.date, run_id: str | None) -> NewEntry:
    return NewEntry(
        kind="task-escalated",
        run_id=run_id,
        rule=task.rule,
        agency=task.agency,
        period=task.last_period,
        data={
            "task_id": task.id,
            "escalated_on": on.isoformat(),
            "due_on": task.due_on.isoformat(),
            "to": message.to.email,
            "cc": [c.email for c in message.cc],
            "notification_key": message.key,
        },
    )


def queue_due(
    db: Database,
    deployment: Deployment,
    on: dt.date,
    *,
    clock: Clock,
    link_for: LinkFor | None = None,
    run_id: str | None = None,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> list[str]:
    """Plan, render and queue the reminders, escalations and digests due at D; returns the new keys."""
    config = deployment.config
    secret = _secret(config, head_secret)
    now = clock.now()
    with db.begin() as conn:
        active = [t for t in task_store.active_tasks(conn).values() if t.id is not None]
        since = min((t.opened_on for t in active), default=on)
        history = outbox.last_reminded(conn, [t.id for t in active if t.id is not None], since=since)
        calendar = work_calendar(config, _years(since, on))
        planned = plan_due(
            active, history, calendar, NotifyPolicy.from_config(config), deployment.directory, on
        )
        if not planned:
            return []
        facts = FactsBuilder(config, link_for=link_for, head_secret=secret)
        # Rendered here, in notify's own transaction: they go out in this run (deferring would save no
        # Jinja, only write the facts and read them back).
        writer = _Writer(facts, deployment, on, Renderer(config, link_for=link_for, head_secret=secret))
        new_keys = _queue(conn, writer.rows(planned), at=now)
        fresh = set(new_keys)
        entries: list[NewEntry] = []
        for message in planned:
            if message.kind != "escalation" or message.key not in fresh:
                continue
            changed = set(
                outbox.mark_escalated(
                    conn,
                    message.task_ids,
                    on=on,
                    at=now,
                    data={"to": message.to.email, "notification_key": message.key},
                )
            )
            entries.extend(_escalated_entry(t, message, on, run_id) for t in message.tasks if t.id in changed)
        if entries:
            auditlog.append(conn, entries, at=auditlog.format_at(now))
    return new_keys


# --- rendering --------------------------------------------------------------------------------------

# Messages rendered, and their text stored, per transaction.
_RENDER_BATCH = 200


def _render_error(row: outbox.NotificationRow, exc: Exception) -> str:
    if isinstance(exc, FactsError):
        return f"không đọc được dữ liệu để soạn thư ({row.kind}): {exc}"
    return (
        f"không soạn được nội dung thư ({row.kind}) từ mẫu thư: {type(exc).__name__}: {exc}; "
        "kiểm tra mẫu thư bằng `compliance check`"
    )


def _render(
    renderer: Renderer, deployment: Deployment, row: outbox.NotificationRow, *, html: bool = True
) -> Rendered | str:
    """The text of a message queued with its facts, or why it cannot be rendered."""
    try:
        stored = decode_facts(row.facts or "", kind=row.kind, key=row.key)
        context = renderer.facts.stored_context(
            stored, rulebook=deployment.rulebook, directory=deployment.directory
        )
        return renderer.render_context_or_shipped(row.kind, context, html=html)
    except Exception as exc:  # any template error, unreadable facts: the message fails, the run goes on
        return _render_error(row, exc)


def _render_due(
    db: Database,
    deployment: Deployment,
    renderer: Renderer,
    ids: Sequence[int],
    tally: _Tally,
    *,
    backend: str,
    clock: Clock,
    run_id: str | None,
) -> list[int]:
    """Render the messages among `ids` queued without their text, and store it, before any is claimed.

    The stored text is what every attempt sends: a resend after a crash is byte-identical, whatever
    became of the templates. A message that cannot be rendered is failed with the reason
    (`notification-failed`); the others go on. Returns the ids still to send.
    """
    failed: set[int] = set()
    for start in range(0, len(ids), _RENDER_BATCH):
        with db.read() as conn:
            pending = outbox.unrendered(conn, ids[start : start + _RENDER_BATCH])
        if not pending:
            continue
        texts: list[tuple[int, Rendered]] = []
        broken: list[tuple[outbox.NotificationRow, str]] = []
        for row in pending:
            result = _render(renderer, deployment, row)
            if isinstance(result, Rendered):
                texts.append((row.id, result))
            else:
                broken.append((row, result))
        with db.begin() as conn:
            outbox.store_rendered(conn, [(i, r.subject, r.text, r.html) for i, r in texts])
            # Only rows still waiting for their text: a concurrent run may have got there first.
            changed = set(outbox.fail_unrendered(conn, [(row.id, error) for row, error in broken]))
            entries = [
                _entry("notification-failed", row, backend, run_id, error=error)
                for row, error in broken
                if row.id in changed
            ]
            if entries:
                auditlog.append(conn, entries, at=auditlog.format_at(clock.now()))
        failed.update(row.id for row, _ in broken)
        tally.failed += len(entries)
        faults.point("notify.rendered")
    return [i for i in ids if i not in failed]


def render_preview(
    deployment: Deployment,
    rows: Sequence[outbox.NotificationRow],
    *,
    bodies: bool = True,
    head_secret: str | None = None,
) -> list[outbox.NotificationRow]:
    """The rows as they would be sent now, for `notifications list|show`: a message not rendered yet gets
    its subject (and with `bodies`, its text and HTML) rendered from its facts with the templates, rules
    and directory as they are now. Nothing is stored: the message is rendered for good when it is sent.
    When the facts do not render, the subject stays empty and `error` says why. A message that failed
    to render is left as it is (its `error` says why)."""
    renderer: Renderer | None = None
    out: list[outbox.NotificationRow] = []
    for row in rows:
        if row.rendered or row.status != "queued":
            out.append(row)
            continue
        renderer = renderer or Renderer(deployment.config, head_secret=head_secret)
        result = _render(renderer, deployment, row, html=bodies)
        if isinstance(result, Rendered):
            out.append(
                dataclasses.replace(row, subject=result.subject, body_text=result.text, body_html=result.html)
            )
        else:
            out.append(dataclasses.replace(row, error=row.error or result))
    return out


# --- delivery -----------------------------------------------------------------------------------------


def _email(row: outbox.NotificationRow, config: Config, now: dt.datetime) -> OutgoingEmail:
    sender_name = config.email.sender_name or config.deployment.name
    return OutgoingEmail(
        key=row.key,
        kind=row.kind,
        sender=Address(str(config.email.sender), sender_name),
        to=tuple(Address(a["email"], a.get("name", "")) for a in row.to),
        cc=tuple(Address(a["email"], a.get("name", "")) for a in row.cc),
        subject=row.subject,
        text=row.body_text,
        html=row.body_html,
        task_ids=tuple(row.task_ids),
        date=now,
        possible_duplicate=row.possible_duplicate,
        notification_id=row.id,
    )


def _entry(
    kind: str, row: outbox.NotificationRow, backend: str, run_id: str | None, **extra: Any
) -> NewEntry:
    return NewEntry(
        kind=kind,
        run_id=run_id,
        agency=row.agency,
        data={
            "notification_id": row.id,
            "key": row.key,
            "kind": row.kind,
            "due_on": row.due_on.isoformat(),
            "to": [a["email"] for a in row.to],
            "cc": [a["email"] for a in row.cc],
            "subject": row.subject,
            "task_ids": list(row.task_ids),
            "attempts": row.attempts,
            "possible_duplicate": row.possible_duplicate,
            "backend": backend,
            **extra,
        },
    )


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    possible_duplicates: int = 0
    slept: float = 0.0
    consecutive: int = 0
    halted: bool = False
    notes: list[str] = field(default_factory=list)


def _fail(
    db: Database, row: outbox.NotificationRow, error: str, backend: str, clock: Clock, run_id: str | None
) -> None:
    with db.begin() as conn:
        outbox.mark_failed(conn, row.id, error=error)
        entry = _entry("notification-failed", row, backend, run_id, error=error)
        auditlog.append(conn, [entry], at=auditlog.format_at(clock.now()))


def deliver(
    db: Database,
    deployment: Deployment,
    backend: EmailBackend,
    on: dt.date,
    *,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy = RetryPolicy(),
    run_id: str | None = None,
    link_for: LinkFor | None = None,
    head_secret: str | None = None,
) -> _Tally:
    """Render, then send, every queued message due by D; see the module docstring. `head_secret` (the
    web secret itself, or None) signs the personal links of the messages rendered here."""
    config = deployment.config
    limit = max_attempts_for(config)
    tally = _Tally()
    with db.begin() as conn:
        outbox.requeue_interrupted(conn)
        # Out of attempts (an interrupted last attempt, or max_attempts lowered): failed, never silent.
        exhausted = outbox.exhausted(conn, max_attempts=limit)
    for row in exhausted:
        if row.possible_duplicate:
            reason = (
                f"lần gửi thứ {row.attempts} bị gián đoạn giữa chừng, thư có thể đã được gửi; "
                f"không thử lại (tối đa {limit} lần)"
            )
        else:
            reason = f"{row.error or 'gửi không thành công'} (đã thử {row.attempts} lần, tối đa {limit})"
        _fail(db, row, reason, backend.name, clock, run_id)
        tally.failed += 1
    with db.read() as conn:
        # Ids only: the bodies (thousands of emails) are read as each batch is rendered, then claimed.
        ids = outbox.deliverable_ids(conn, on=on, now=clock.now(), max_attempts=limit)
    renderer = Renderer(config, link_for=link_for, head_secret=head_secret)
    ids = _render_due(db, deployment, renderer, ids, tally, backend=backend.name, clock=clock, run_id=run_id)
    sender = _Sender(db, config, backend, clock=clock, sleep=sleep, retry=retry, limit=limit, run_id=run_id)
    if isinstance(backend, BatchBackend):
        ids = sender.batches(backend, ids, tally)
    sender.each(ids, tally)
    return tally


# Messages claimed, written and recorded together by a backend whose resend replaces (BatchBackend).
_BATCH = 200


@dataclass
class _Sender:
    """The delivery loop. Claim committed before the send, result recorded after it (SPEC §5):

    - one message at a time for a backend that would deliver a resend twice (SMTP, SendGrid): the
      transaction recording message n also claims message n + 1, so a crash leaves at most the one
      message in flight in `sending`, and the next run resends exactly that one, flagged;
    - a batch at a time for a BatchBackend (files), where a resend replaces what an interrupted run
      wrote: a crash leaves the batch in `sending`, and the next run rewrites it, flagged.
    """

    db: Database
    config: Config
    backend: EmailBackend
    clock: Clock
    sleep: Callable[[float], None]
    retry: RetryPolicy
    limit: int
    run_id: str | None

    def _record_sent(
        self, conn: Connection, sent: Sequence[tuple[outbox.NotificationRow, str | None]]
    ) -> None:
        if not sent:
            return
        at = self.clock.now()
        outbox.mark_sent_many(conn, [(row.id, provider_id) for row, provider_id in sent], at=at)
        entries = [
            _entry("notification-sent", row, self.backend.name, self.run_id, provider_id=provider_id)
            for row, provider_id in sent
        ]
        auditlog.append(conn, entries, at=auditlog.format_at(at))

    def batches(self, backend: BatchBackend, ids: Sequence[int], tally: _Tally) -> list[int]:
        """Send `ids` in batches; returns the ids that failed temporarily, for `each` and its backoff."""
        again: list[int] = []
        for start in range(0, len(ids), _BATCH):
            with self.db.begin() as conn:
                claimed = outbox.claim_rows(conn, ids[start : start + _BATCH])
            for _ in claimed:
                faults.point("notify.claimed")
            now = self.clock.now()
            try:
                results: Sequence[SendResult | SendError] = backend.send_batch(
                    [_email(row, self.config, now) for row in claimed]
                )
            except Exception as exc:  # a backend bug must not lose the messages or stop the run
                error = SendError(f"lỗi không xác định: {type(exc).__name__}: {exc}", retryable=True)
                results = [error] * len(claimed)
            sent = [
                (row, r.provider_id)
                for row, r in zip(claimed, results, strict=True)
                if isinstance(r, SendResult)
            ]
            for _ in sent:
                faults.point("notify.sent")
            with self.db.begin() as conn:
                self._record_sent(conn, sent)
                failures: list[NewEntry] = []
                for row, r in zip(claimed, results, strict=True):
                    if isinstance(r, SendResult):
                        continue
                    if r.retryable and row.attempts < self.limit:
                        outbox.mark_retry(conn, row.id, error=str(r), next_attempt_at=None)
                        again.append(row.id)
                        continue
                    reason = (
                        str(r) if not r.retryable else f"{r} (đã thử {row.attempts} lần, tối đa {self.limit})"
                    )
                    outbox.mark_failed(conn, row.id, error=reason)
                    failures.append(
                        _entry("notification-failed", row, self.backend.name, self.run_id, error=reason)
                    )
                    tally.failed += 1
                if failures:
                    auditlog.append(conn, failures, at=auditlog.format_at(self.clock.now()))
            tally.sent += len(sent)
            tally.possible_duplicates += sum(1 for row, _ in sent if row.possible_duplicate)
        return again

    def each(self, ids: Sequence[int], tally: _Tally) -> None:
        pending: tuple[outbox.NotificationRow, str | None] | None = None
        for notification_id in ids:
            if tally.halted:
                break
            pending = self._one(notification_id, pending, tally)
        if pending is not None:
            with self.db.begin() as conn:
                self._record_sent(conn, [pending])

    def _one(
        self,
        notification_id: int,
        pending: tuple[outbox.NotificationRow, str | None] | None,
        tally: _Tally,
    ) -> tuple[outbox.NotificationRow, str | None] | None:
        """Claim and send one message (recording the previous one's result in the claim's transaction);
        returns the sent message and its provider id, to be recorded with the next claim."""
        tries = 0
        while True:
            with self.db.begin() as conn:
                if pending is not None:
                    self._record_sent(conn, [pending])
                    pending = None
                rows = outbox.claim_rows(conn, [notification_id])
            if not rows:  # another process took it
                return None
            claimed = rows[0]
            faults.point("notify.claimed")
            tries += 1
            try:
                result = self.backend.send(_email(claimed, self.config, self.clock.now()))
            except SendError as exc:
                error = str(exc)
                retryable, wait = exc.retryable, exc.retry_after_s
            except Exception as exc:  # a backend bug must not lose the message or stop the other messages
                error, retryable, wait = f"lỗi không xác định: {type(exc).__name__}: {exc}", True, None
            else:
                # The provider has it; a crash here is the possible-duplicate window.
                faults.point("notify.sent")
                tally.sent += 1
                tally.possible_duplicates += int(claimed.possible_duplicate)
                tally.consecutive = 0
                return claimed, result.provider_id
            if not retryable:
                _fail(self.db, claimed, error, self.backend.name, self.clock, self.run_id)
                tally.failed += 1
                tally.consecutive = 0
                return None
            if claimed.attempts >= self.limit:
                _fail(
                    self.db,
                    claimed,
                    f"{error} (đã thử {claimed.attempts} lần, tối đa {self.limit})",
                    self.backend.name,
                    self.clock,
                    self.run_id,
                )
                tally.failed += 1
                return None
            delay = self.retry.delay(tries, wait)
            if tries < self.retry.per_message and tally.slept + delay <= self.retry.total_s:
                with self.db.begin() as conn:
                    outbox.mark_retry(conn, claimed.id, error=error, next_attempt_at=None)
                tally.slept += delay
                self.sleep(delay)
                continue
            # Give up for this run; a rate limit's reset time is kept so later runs do not knock too early.
            later = self.clock.now() + dt.timedelta(seconds=wait) if wait else None
            with self.db.begin() as conn:
                outbox.mark_retry(conn, claimed.id, error=error, next_attempt_at=later)
            tally.consecutive += 1
            if wait is not None or tally.consecutive >= self.retry.halt_after:
                tally.halted = True
            return None


def notify_run(
    db: Database,
    deployment: Deployment,
    backend: EmailBackend,
    on: dt.date,
    *,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
    link_for: LinkFor | None = None,
    retry: RetryPolicy = RetryPolicy(),
    run_id: str | None = None,
    head_secret: HeadSecret = FROM_ENVIRONMENT,
) -> NotifyResult:
    """`compliance notify`: queue what is due at D, then send everything queued that is due by D.

    `head_secret`: the web secret for heads' personal links (default: COMPLIANCE_WEB_SECRET)."""
    try:
        secret = _secret(deployment.config, head_secret)
    except ComplianceError:
        backend.close()
        raise
    new = queue_due(db, deployment, on, clock=clock, link_for=link_for, run_id=run_id, head_secret=secret)
    faults.point("notify.queued")
    try:
        tally = deliver(
            db,
            deployment,
            backend,
            on,
            clock=clock,
            sleep=sleep,
            retry=retry,
            run_id=run_id,
            link_for=link_for,
            head_secret=secret,
        )
    finally:
        backend.close()
    with db.read() as conn:
        queued = outbox.count_by_status(conn)["queued"]
    return NotifyResult(tally.sent, tally.failed, queued, len(new), tally.possible_duplicates)
