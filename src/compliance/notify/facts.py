"""What an email states: the template variables of a message, and the facts stored to build them later.

`FactsBuilder.context` gives the template variables of a planned message: its tasks as views (rule
wording, figures, dates, links), the recipient, the deployment's settings.

The evaluation run's task-opened / task-resolved messages are not rendered in the run's transaction:
the run stores their facts instead (`encode_facts`): the planned message itself (recipient, cc, the
agency an escalation is about) and its tasks with every field as the run left them, D and the day it
goes out, and whether the body is a head's personal email or the cc'd readers' copy. When the message
is sent, `decode_facts` gives that back and `FactsBuilder.stored_context` the template variables:
the figures, periods, dates and statuses are the run's, whatever happened to the tasks meanwhile; the
rule's wording and the agencies' names are those of the rules and directory in force when it is sent
(the same in a `run --once` or a daemon cycle). It is JSON a few hundred bytes per task, written
without building any view, so the run pays neither Jinja nor the views.

Links are decided here, per recipient (SPEC §10). With `deployment.base_url` and the web secret, an email
whose recipient (`to`) is the head of a task's agency in the directory carries that head's personal
signed, expiring link (`compliance.signing.head_link`): to the task page for each task, to the agency's
page in the footer. Anyone else gets plain links that need a sign-in: a parent head reading an
escalation must not be able to act as the child's head. A body with a personal link is for the head
alone (`FactsBuilder.is_personal`): the pipeline sends the cc'd readers a separate copy built with
`copy=True`, whose links are plain. That decision is made when the message is queued (it decides
whether the head's row has a cc) and stored with the facts: a body queued as shared never carries a
personal link, whatever the secret when it is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import operator
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.config import Config
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.task import Task, TaskStatus
from compliance.notify.planning import PlannedMessage, Recipient
from compliance.signing import head_link, link_expiry

__all__ = [
    "FACTS_VERSION",
    "SUBJECT_PREFIX",
    "AgencyLinkFor",
    "FactsBuilder",
    "FactsError",
    "LinkFor",
    "PersonView",
    "StoredFacts",
    "TaskView",
    "decode_facts",
    "default_link_for",
    "encode_facts",
    "person_view",
    "task_view",
]

SUBJECT_PREFIX = "[CCHC]"

LinkFor = Callable[[Task], str | None]
AgencyLinkFor = Callable[[str], str | None]


@dataclass(frozen=True)
class TaskView:
    """What a template may say about one task; every field always exists (StrictUndefined)."""

    id: int
    rule: str
    title: str
    basis: str | None
    severity: str
    indicator: str
    kind: str
    unit: str | None
    op: str | None
    agency: str
    agency_name: str
    value: float | str | None
    target: float | str | None
    period: str | None
    last_period: str | None
    opened_on: dt.date
    due_on: dt.date
    days_left: int
    overdue_days: int
    status: str
    acknowledged: bool
    acknowledged_by: str | None
    resolved_on: dt.date | None
    escalated_on: dt.date | None
    link: str | None
    # Whether the reader may acknowledge through `link`: the task waits for it (open) and the email's
    # recipient is the head of the task's agency (a parent head, a cc'd copy: "Xem chi tiết" only).
    link_acknowledges: bool = False


@dataclass(frozen=True)
class PersonView:
    email: str
    name: str
    title: str
    agency_name: str
    # "Giám đốc Sở Tài nguyên và Môi trường": the title with the unit, as letters address a head.
    position: str
    # "Ông/Bà Nguyễn Thanh Hải, Giám đốc Sở Tài nguyên và Môi trường" (after "Kính gửi: ").
    salutation: str


def person_view(recipient: Recipient, directory: AgencyDirectory) -> PersonView:
    agency = directory.get(recipient.agency) if recipient.agency else None
    agency_name = agency.name if agency is not None else ""
    title = recipient.title.strip()
    if title and agency_name and agency_name.lower() not in title.lower():
        position = f"{title} {agency_name}"
    else:
        position = title or agency_name
    if recipient.name:
        salutation = f"Ông/Bà {recipient.name}, {position}" if position else f"Ông/Bà {recipient.name}"
    else:
        salutation = position or recipient.email
    return PersonView(
        recipient.email, recipient.name, title, agency_name, position or "Quý cơ quan, đơn vị", salutation
    )


def task_view(
    task: Task,
    rulebook: Rulebook,
    directory: AgencyDirectory,
    on: dt.date,
    link_for: LinkFor,
    acknowledges: bool = False,
) -> TaskView:
    rule: Rule | None = rulebook.rules.get(task.rule)
    indicator: Indicator | None = rulebook.indicators.get(rule.indicator) if rule is not None else None
    agency: Agency | None = directory.get(task.agency)
    kind = (
        indicator.kind if indicator is not None else ("milestone" if isinstance(task.value, str) else "value")
    )
    op = rule.target.op if rule is not None and rule.target is not None else None
    return TaskView(
        id=task.id or 0,
        rule=task.rule,
        title=rule.title if rule is not None else task.rule,
        basis=rule.basis if rule is not None else None,
        severity=rule.severity if rule is not None else "medium",
        indicator=indicator.name if indicator is not None else (rule.indicator if rule is not None else ""),
        kind=kind,
        unit=indicator.unit if indicator is not None else None,
        op=op,
        agency=task.agency,
        agency_name=agency.name if agency is not None else task.agency,
        value=task.value,
        target=task.target,
        period=task.period,
        last_period=task.last_period or task.period,
        opened_on=task.opened_on,
        due_on=task.due_on,
        days_left=(task.due_on - on).days,
        overdue_days=max(0, (on - task.due_on).days),
        status=task.status.value,
        acknowledged=task.status is TaskStatus.ACKNOWLEDGED,
        acknowledged_by=task.acknowledged_by,
        resolved_on=task.resolved_on,
        escalated_on=task.escalated_on,
        link=link_for(task),
        link_acknowledges=acknowledges and task.status is TaskStatus.OPEN,
    )


def default_link_for(base_url: str) -> LinkFor:
    """`{base_url}/tasks/{id}` when base_url is set; the web pages may install signed links instead."""
    base = base_url.rstrip("/")

    def link(task: Task) -> str | None:
        return f"{base}/tasks/{task.id}" if base and task.id is not None else None

    return link


class FactsBuilder:
    """The template variables of planned messages; one instance per run.

    `head_secret` (the web secret, `compliance.signing.SECRET_ENV`) turns on the heads' personal links
    when `deployment.base_url` is set; without it every link is plain (`link_for`, `agency_link_for`).
    """

    def __init__(
        self,
        config: Config,
        *,
        link_for: LinkFor | None = None,
        agency_link_for: AgencyLinkFor | None = None,
        head_secret: str | None = None,
    ) -> None:
        self.config = config
        self.head_secret = head_secret or None
        self.link_for = link_for or default_link_for(config.deployment.base_url)
        base = config.deployment.base_url.rstrip("/")
        self.agency_link_for = agency_link_for or (lambda a: f"{base}/agencies/{a}" if base else None)

    @property
    def signs(self) -> bool:
        """Whether personal links are made at all: a web secret and a base_url."""
        return self.head_secret is not None and bool(self.config.deployment.base_url.strip())

    @staticmethod
    def _heads(recipient: Recipient, agency_id: str | None, directory: AgencyDirectory) -> bool:
        """Whether `recipient` is the head the directory names now for `agency_id` (the web checks the
        same, so a link for anyone else would be refused anyway)."""
        agency = directory.get(agency_id) if agency_id else None
        return agency is not None and agency.head_email.strip().lower() == recipient.email.strip().lower()

    @staticmethod
    def _footer_agency(message: PlannedMessage) -> str | None:
        # An escalation's list is the child agency's (`about`); otherwise the recipient's own agency.
        return message.about or (message.to.agency if message.to.agency else None)

    def is_personal(self, message: PlannedMessage, directory: AgencyDirectory) -> bool:
        """Whether the message's body carries its recipient's personal link: then it is for the head
        alone, and the cc'd readers get a copy rendered with `copy=True`."""
        if not self.signs:
            return False
        agencies = [t.agency for t in message.tasks] + [self._footer_agency(message)]
        return any(self._heads(message.to, a, directory) for a in agencies)

    def context(
        self,
        message: PlannedMessage,
        *,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        on: dt.date,
        copy: bool = False,
        personal: bool | None = None,
    ) -> dict[str, Any]:
        """The template variables. `copy`: the body for the cc'd readers of a personal email, with plain
        links only (whoever holds a personal link acts as the head until it expires). `personal`: as
        decided when the message was queued (None: decide now); never personal links without the
        secret, nor in a body queued as shared."""
        to = message.to
        if personal is None:
            personal = self.is_personal(message, directory)
        personal = personal and not copy and self.signs
        expires_on = link_expiry(message.send_on)
        secret = self.head_secret or ""

        def task_link(task: Task) -> str | None:
            if personal and task.id is not None and self._heads(to, task.agency, directory):
                return head_link(
                    self.config, task.agency, to.email, expires_on=expires_on, secret=secret, task_id=task.id
                )
            return self.link_for(task)

        tasks = [
            task_view(
                t,
                rulebook,
                directory,
                on,
                task_link,
                acknowledges=not copy and self._heads(to, t.agency, directory),
            )
            for t in message.tasks
        ]
        names = list(dict.fromkeys(t.agency_name for t in tasks))
        about: PersonView | None = None
        if message.about is not None:
            about_agency = directory.get(message.about)
            if about_agency is not None:
                about = person_view(
                    Recipient(
                        about_agency.head_email,
                        about_agency.head_name,
                        about_agency.head_title,
                        about_agency.id,
                    ),
                    directory,
                )
            else:
                first = message.tasks[0]
                about = PersonView(
                    first.assignee,
                    first.assignee_name,
                    "",
                    message.about,
                    message.about,
                    first.assignee_name or first.assignee,
                )
        agency_id = self._footer_agency(message)
        agency_link: str | None = None
        if agency_id and personal and self._heads(to, agency_id, directory):
            agency_link = head_link(self.config, agency_id, to.email, expires_on=expires_on, secret=secret)
        elif agency_id:
            agency_link = self.agency_link_for(agency_id)
        return {
            "kind": message.kind,
            "on": on,
            "send_on": message.send_on,
            "subject_prefix": SUBJECT_PREFIX,
            "deployment_name": self.config.deployment.name,
            "sender_unit": self.config.email.sender_name or self.config.deployment.name,
            "base_url": self.config.deployment.base_url.rstrip("/"),
            "recipient": person_view(message.to, directory),
            "cc": [c.email for c in message.cc],
            "about": about,
            "tasks": tasks,
            "agency_names": ", ".join(names),
            "overdue_count": sum(1 for t in tasks if t.overdue_days > 0),
            "agency_link": agency_link,
            # The personal links' last valid day (None: the body has none), who got the separate copy
            # without them, and whether this body is that copy.
            "personal_link_until": expires_on if personal else None,
            "copy_to": [c.email for c in message.cc] if personal else [],
            "is_copy": copy,
            "remind_before_due": list(self.config.notify.remind_before_due),
            "overdue_every_days": self.config.notify.overdue_every_days,
            "escalate_after_days": self.config.notify.escalate_after_days,
        }

    def stored_context(
        self, stored: StoredFacts, *, rulebook: Rulebook, directory: AgencyDirectory
    ) -> dict[str, Any]:
        """The template variables of a message queued with its facts (see the module docstring)."""
        return self.context(
            stored.message,
            rulebook=rulebook,
            directory=directory,
            on=stored.on,
            copy=stored.copy,
            personal=stored.personal,
        )


# --- the stored form -------------------------------------------------------------------------------

# Bumped when the stored form changes; a message queued in a form this version does not read fails
# visibly when it is sent, it is never sent wrong.
FACTS_VERSION = 1
# Tasks are stored as a table, the field names once per message and a row per task: a country's first
# run stores ~28,000 tasks in its own transaction.
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(Task))
_TASK_VALUES = operator.attrgetter(*_TASK_FIELDS)
_TASK_DATES = frozenset(
    name
    for name, hint in typing.get_type_hints(Task).items()
    if hint is dt.date or dt.date in typing.get_args(hint)
)
_TASK_DATE_AT = tuple(i for i, name in enumerate(_TASK_FIELDS) if name in _TASK_DATES)


@dataclass(frozen=True)
class StoredFacts:
    """A message as queued for later rendering: what `encode_facts` stored."""

    message: PlannedMessage
    on: dt.date  # D of the run that queued it (days left, overdue days are counted from it)
    copy: bool  # the cc'd readers' copy of a head's personal email
    personal: bool  # the head's personal email (its body carries their links, it has no cc)


class FactsError(ValueError):
    """Stored facts that cannot be read back (another version's form, or damaged)."""


def _recipient(r: Recipient) -> dict[str, Any]:
    return {"email": r.email, "name": r.name, "title": r.title, "agency": r.agency}


def _task_row(task: Task) -> list[Any]:
    row = list(_TASK_VALUES(task))
    for i in _TASK_DATE_AT:
        value = row[i]
        if value is not None:
            row[i] = value.isoformat()
    return row


def encode_facts(message: PlannedMessage, *, on: dt.date, copy: bool = False, personal: bool = False) -> str:
    """The facts of a planned message as compact JSON (the key and kind are the outbox row's own)."""
    return json.dumps(
        {
            "v": FACTS_VERSION,
            "on": on.isoformat(),
            "send_on": message.send_on.isoformat(),
            "to": _recipient(message.to),
            "cc": [_recipient(c) for c in message.cc],
            "about": message.about,
            "copy": copy,
            "personal": personal,
            "tasks": {"fields": _TASK_FIELDS, "rows": [_task_row(t) for t in message.tasks]},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _date(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


_STATUS = {s.value: s for s in TaskStatus}


def _tasks(fields: list[str], rows: list[list[Any]]) -> tuple[Task, ...]:
    if tuple(fields) != _TASK_FIELDS:  # stored by another version of Task: by name
        return tuple(_task_by_name(fields, row) for row in rows)
    status_at = _TASK_FIELDS.index("status")
    for row in rows:  # the common case, fast: a country's run sends ~28,000 tasks at once
        for i in _TASK_DATE_AT:
            value = row[i]
            if value is not None:
                row[i] = dt.date.fromisoformat(value)
        row[status_at] = _STATUS[row[status_at]]
    return tuple(Task(*row) for row in rows)


def _task_by_name(fields: list[str], row: list[Any]) -> Task:
    data = dict(zip(fields, row, strict=True))
    for name in _TASK_DATES.intersection(data):
        data[name] = _date(data[name])
    data["status"] = TaskStatus(data["status"])
    return Task(**data)


def decode_facts(text: str, *, kind: str, key: str) -> StoredFacts:
    """The facts `encode_facts` stored for the outbox row of this kind and key; FactsError when they
    cannot be read back."""
    try:
        stored = json.loads(text)
        version = stored.get("v") if isinstance(stored, dict) else None
        if version != FACTS_VERSION:
            raise FactsError(f"unknown form of the stored facts (version {version!r})")
        fields = list(stored["tasks"]["fields"])
        message = PlannedMessage(
            kind=kind,
            key=key,
            send_on=dt.date.fromisoformat(stored["send_on"]),
            to=Recipient(**stored["to"]),
            cc=tuple(Recipient(**c) for c in stored["cc"]),
            tasks=_tasks(fields, stored["tasks"]["rows"]),
            about=stored["about"],
        )
        return StoredFacts(
            message, dt.date.fromisoformat(stored["on"]), bool(stored["copy"]), bool(stored["personal"])
        )
    except FactsError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise FactsError(f"the stored facts cannot be read: {exc}") from exc
