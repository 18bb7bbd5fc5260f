"""Email rendering: Jinja2 templates (HTML autoescaped, plain text not), Babel vi_VN filters, and the
template check that `compliance check` runs.

Templates are looked up first in the deployment's `templates` folder (a file there overrides the shipped
one of the same name), then in the defaults installed with the package (`compliance/templates`, the
same files as the repository's `notifications/`). Every kind has `<kind>.txt.j2`, which sets `subject`
at top level (`{% set subject %}…{% endset %}`), and `<kind>.html.j2`; both usually extend
`base.*.j2` and import `macros.*.j2`. Undefined variables are errors (StrictUndefined).

Links are decided per recipient (SPEC §10). With `deployment.base_url` and the web secret, an email
whose recipient (`to`) is the head of a task's agency in the directory carries that head's personal
signed, expiring link (`compliance.signing.head_link`): to the task page for each task, to the agency's
page in the footer. Anyone else gets plain links that need a sign-in: a parent head reading an
escalation must not be able to act as the child's head. A body with a personal link is for the head
alone (`Renderer.is_personal`): the pipeline sends the cc'd readers a separate copy rendered with
`copy=True`, whose links are plain.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
import traceback
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from compliance.errors import Problem, SourceLocation
from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.config import Config
from compliance.model.rules import Indicator, Rule, Rulebook
from compliance.model.task import Task, TaskStatus
from compliance.notify.planning import KINDS, PlannedMessage, Recipient
from compliance.signing import head_link, link_expiry

__all__ = [
    "DEFAULT_TEMPLATES",
    "SUBJECT_PREFIX",
    "TEMPLATE_NAMES",
    "LinkFor",
    "Rendered",
    "Renderer",
    "check_templates",
    "default_link_for",
    "make_environment",
    "sample_messages",
    "template_dirs",
    "vn_date",
    "vn_date_long",
    "vn_measure",
    "vn_number",
    "vn_percent",
    "vn_period",
]

DEFAULT_TEMPLATES = Path(str(files("compliance").joinpath("templates")))
SUBJECT_PREFIX = "[CCHC]"
# Every file the product ships: one pair per kind, plus the shared layouts and macros.
TEMPLATE_NAMES = tuple(f"{kind}.{fmt}.j2" for kind in KINDS for fmt in ("txt", "html")) + (
    "base.txt.j2",
    "base.html.j2",
    "macros.txt.j2",
    "macros.html.j2",
)

LinkFor = Callable[[Task], str | None]
AgencyLinkFor = Callable[[str], str | None]

# --- Babel filters --------------------------------------------------------------------------------

_OPS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_SEVERITY = {"low": "thấp", "medium": "trung bình", "high": "cao", "critical": "rất cao"}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2})|-Q([1-4])|-H([12]))?$")


def _dec(value: float | int | Decimal | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


# Babel parses the pattern and looks up the locale on every call (about 0.1 ms); an email lists the
# same figures, targets and dates many times over a run, so each distinct (type, value) is formatted
# once. The type is part of the key: 1, 1.0 and Decimal("1") are equal keys for a plain dict.
_MEMO = 1 << 16


@functools.lru_cache(maxsize=_MEMO)
def _percent(kind: str, value: float | Decimal, locale: str, digits: int) -> str:
    del kind
    return format_percent(_dec(value), "#,##0." + "#" * digits + "%", locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _decimal(kind: str, value: float | int | Decimal, locale: str, pattern: str) -> str:
    del kind
    return format_decimal(_dec(value), pattern, locale=locale)


@functools.lru_cache(maxsize=_MEMO)
def _date(value: dt.date, pattern: str, locale: str) -> str:
    return format_date(value, pattern, locale=locale)


def vn_percent(value: float | Decimal, locale: str = "vi_VN", digits: int = 2) -> str:
    """0.3125 -> '31,25%'; 0.3 -> '30%' (up to `digits` decimals)."""
    return _percent(type(value).__name__, value, locale, digits)


def vn_number(value: float | int | Decimal, locale: str = "vi_VN", digits: int = 2) -> str:
    """1305 -> '1.305'; 82.58 -> '82,58'."""
    return _decimal(type(value).__name__, value, locale, "#,##0." + "#" * digits)


def vn_int(value: int | float | Decimal, locale: str = "vi_VN") -> str:
    return _decimal(type(value).__name__, value, locale, "#,##0")


def vn_count(value: int) -> str:
    """Counts in subjects and running text: '02 nhiệm vụ' (administrative style pads 1–9)."""
    return f"{value:02d}" if 0 <= value < 10 else vn_int(value)


def vn_date(value: dt.date | None, locale: str = "vi_VN") -> str:
    """05/07/2023."""
    return "" if value is None else _date(value, "dd/MM/yyyy", locale)


def vn_date_long(value: dt.date, locale: str = "vi_VN") -> str:
    """'ngày 05 tháng 7 năm 2023'; days below 10 and months 1–2 take a leading zero (Decree 30/2020)."""
    month = "MM" if value.month <= 2 else "M"
    return _date(value, f"'ngày' dd 'tháng' {month} 'năm' yyyy", locale)


def vn_period(label: str | None) -> str:
    """'2023-06' -> 'tháng 6/2023'; '2023-Q2' -> 'quý II/2023'; '2023-H1' -> '6 tháng đầu năm 2023'."""
    if not label:
        return "—"
    m = _PERIOD.match(label)
    if m is None:
        return label
    year, month, quarter, half = m.groups()
    if month:
        return f"tháng {int(month)}/{year}"
    if quarter:
        return f"quý {_ROMAN[int(quarter)]}/{year}"
    if half:
        return f"6 tháng {'đầu' if half == '1' else 'cuối'} năm {year}"
    return f"năm {year}"


def vn_measure(value: float | str | None, kind: str, locale: str = "vi_VN", digits: int = 2) -> str:
    """A value as its indicator shows it: ratio -> percent, value -> number, milestone -> stage name."""
    if value is None:
        return "chưa có số liệu"
    if kind == "milestone" or isinstance(value, str):
        return f"“{value}”"
    if kind == "ratio":
        return vn_percent(value, locale, digits)
    return vn_number(value, locale, digits)


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


def _value_text(task: TaskView, locale: str) -> str:
    """The figure; with more decimals when two decimals would make a failing value look like its target."""
    text = vn_measure(task.value, task.kind, locale)
    if task.kind in ("ratio", "value") and task.value is not None and task.target is not None:
        if task.value != task.target and text == vn_measure(task.target, task.kind, locale):
            text = vn_measure(task.value, task.kind, locale, digits=6)
    return text


def _target_text(task: TaskView, locale: str) -> str:
    if task.target is None:
        return "—"
    if task.kind == "milestone":
        return f"đạt giai đoạn {vn_measure(task.target, task.kind, locale)}"
    symbol = _OPS.get(task.op or "", task.op or "")
    return f"{symbol} {vn_measure(task.target, task.kind, locale)}".strip()


def make_environment(search_dirs: Sequence[Path], locale: str = "vi_VN") -> Environment:
    """One environment for both formats: autoescape is decided per file name (`*.html.j2` only).

    Environments are cached per (folders, locale): compiled templates are reused run after run, and
    Jinja still reloads a template whose file changed (auto_reload checks modification times).
    """
    return _environment(tuple(str(d) for d in search_dirs if d.is_dir()), locale)


@functools.lru_cache(maxsize=16)
def _environment(search_dirs: tuple[str, ...], locale: str) -> Environment:
    loaders = [FileSystemLoader(d) for d in search_dirs]
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html.j2", "html"), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        vn_percent=lambda v, digits=2: vn_percent(v, locale, digits),
        vn_number=lambda v, digits=2: vn_number(v, locale, digits),
        vn_int=lambda v: vn_int(v, locale),
        vn_count=vn_count,
        vn_date=lambda v: vn_date(v, locale),
        vn_date_long=lambda v: vn_date_long(v, locale),
        vn_period=vn_period,
        vn_measure=lambda v, kind: vn_measure(v, kind, locale),
        vn_value=lambda t: _value_text(t, locale),
        vn_target=lambda t: _target_text(t, locale),
        vn_severity=lambda s: _SEVERITY.get(s, s),
    )
    return env


def template_dirs(config: Config) -> list[Path]:
    """The deployment's folder first (file-by-file override), then the shipped defaults."""
    own = config.templates_dir
    dirs = [own] if own.is_dir() and own.resolve() != DEFAULT_TEMPLATES.resolve() else []
    return [*dirs, DEFAULT_TEMPLATES]


def default_link_for(base_url: str) -> LinkFor:
    """`{base_url}/tasks/{id}` when base_url is set; the web pages may install signed links instead."""
    base = base_url.rstrip("/")

    def link(task: Task) -> str | None:
        return f"{base}/tasks/{task.id}" if base and task.id is not None else None

    return link


# --- context ----------------------------------------------------------------------------------------


def _person(recipient: Recipient, directory: AgencyDirectory) -> PersonView:
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


def _task_view(
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


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    """Renders planned messages with the deployment's templates; one instance per run.

    `head_secret` (the web secret, `compliance.signing.SECRET_ENV`) turns on the heads' personal links
    when `deployment.base_url` is set; without it every link is plain (`link_for`, `agency_link_for`).
    """

    def __init__(
        self,
        config: Config,
        *,
        link_for: LinkFor | None = None,
        agency_link_for: AgencyLinkFor | None = None,
        search_dirs: Sequence[Path] | None = None,
        head_secret: str | None = None,
    ) -> None:
        self.config = config
        self.head_secret = head_secret or None
        self.locale = config.deployment.locale
        dirs = list(search_dirs) if search_dirs is not None else template_dirs(config)
        self.env = make_environment(dirs, self.locale)
        self._templates: dict[str, Template] = {}
        self.overridden = any(Path(d).resolve() != DEFAULT_TEMPLATES.resolve() for d in dirs)
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
    ) -> dict[str, Any]:
        """The template variables. `copy`: the body for the cc'd readers of a personal email, with plain
        links only (whoever holds a personal link acts as the head until it expires)."""
        to = message.to
        personal = not copy and self.is_personal(message, directory)
        expires_on = link_expiry(message.send_on)
        secret = self.head_secret or ""

        def task_link(task: Task) -> str | None:
            if personal and task.id is not None and self._heads(to, task.agency, directory):
                return head_link(
                    self.config, task.agency, to.email, expires_on=expires_on, secret=secret, task_id=task.id
                )
            return self.link_for(task)

        tasks = [
            _task_view(
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
                about = _person(
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
            "recipient": _person(message.to, directory),
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

    def _template(self, name: str) -> Template:
        # Looked up once per renderer (one per run): Jinja's own cache checks the file's time per call.
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self.env.get_template(name)
        return template

    def render_context(self, kind: str, context: Mapping[str, Any]) -> Rendered:
        text_module = self._template(f"{kind}.txt.j2").make_module(dict(context))
        subject = getattr(text_module, "subject", None)
        if subject is None:
            raise TemplateError(f"{kind}.txt.j2 does not set `subject` ({{% set subject %}}…{{% endset %}})")
        subject = " ".join(str(subject).split())
        html = self._template(f"{kind}.html.j2").render({**context, "subject": subject})
        text = _tidy_text(str(text_module))
        return Rendered(subject, _nfc(text), _nfc(html))

    def render(
        self,
        message: PlannedMessage,
        *,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        on: dt.date,
        copy: bool = False,
    ) -> Rendered:
        """The message rendered with the deployment's templates; should one of those fail, with the
        shipped ones, so a broken override (which `compliance check` reports) never stops a run.
        `copy`: the body for the cc'd readers of a personal email (see `context`)."""
        context = self.context(message, rulebook=rulebook, directory=directory, on=on, copy=copy)
        try:
            return self.render_context(message.kind, context)
        except Exception:
            if not self.overridden:
                raise
        fallback = Renderer(
            self.config,
            link_for=self.link_for,
            agency_link_for=self.agency_link_for,
            search_dirs=[DEFAULT_TEMPLATES],
            head_secret=self.head_secret,
        )
        return fallback.render_context(message.kind, context)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _tidy_text(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# --- sample data and the template check ------------------------------------------------------------


def _sample_world() -> tuple[Rulebook, AgencyDirectory, list[Task], dt.date]:
    from compliance.model.rules import Indicator, Rule

    indicators = {
        "online_payment": Indicator(
            id="online_payment",
            name="Tỷ lệ hồ sơ thanh toán trực tuyến",
            kind="ratio",
            numerator="Số hồ sơ đã thanh toán trực tuyến",
            denominator="Số hồ sơ có phí",
        ),
        "db_land": Indicator(
            id="db_land",
            name="Cơ sở dữ liệu đất đai",
            kind="milestone",
            stages=("planned", "built", "connected", "shared"),
        ),
        "dossiers": Indicator(id="dossiers", name="Số hồ sơ tồn đọng", kind="value"),
    }
    rules = {
        "online-payment-30": Rule.model_validate(
            {
                "id": "online-payment-30",
                "title": "Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%",
                "indicator": "online_payment",
                "target": {"op": ">=", "value": "30%"},
                "severity": "high",
                "basis": "Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ",
            }
        ),
        "db-land-shared": Rule.model_validate(
            {
                "id": "db-land-shared",
                "kind": "milestone",
                "title": "Xây dựng, kết nối, chia sẻ CSDL đất đai đúng tiến độ",
                "indicator": "db_land",
                "milestones": [{"stage": "connected", "by": "2023-06-30"}],
            }
        ),
        "backlog": Rule.model_validate(
            {
                "id": "backlog",
                "title": "Không để tồn đọng quá 1.000 hồ sơ",
                "indicator": "dossiers",
                "target": {"op": "<=", "value": 1000},
            }
        ),
    }
    rulebook = Rulebook(indicators=indicators, rules=rules, files={}, revision="0" * 64)
    directory = AgencyDirectory.of(
        [
            Agency(
                "ubnd-tinh",
                "UBND tỉnh Tiền Giang",
                "province",
                None,
                "Lê Hoàng Phúc",
                "Chủ tịch",
                "chutich@example.gov.vn",
                cc=("vanphong@example.gov.vn",),
            ),
            Agency(
                "so-tnmt",
                "Sở Tài nguyên và Môi trường",
                "department",
                "ubnd-tinh",
                "Nguyễn Thanh Hải",
                "Giám đốc",
                "giamdoc.sotnmt@example.gov.vn",
                cc=("vanthu.sotnmt@example.gov.vn",),
            ),
        ]
    )
    on = dt.date(2023, 7, 5)
    head = ("so-tnmt", "giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải")
    tasks = [
        Task(
            id=12,
            rule="online-payment-30",
            status=TaskStatus.OPEN,
            opened_on=dt.date(2023, 6, 5),
            due_on=dt.date(2023, 7, 5),
            period="2023-05",
            last_period="2023-06",
            value=0.2625,
            target=0.3,
            agency=head[0],
            assignee=head[1],
            assignee_name=head[2],
        ),
        Task(
            id=13,
            rule="db-land-shared",
            status=TaskStatus.ACKNOWLEDGED,
            opened_on=dt.date(2023, 7, 1),
            due_on=dt.date(2023, 7, 31),
            period="2023-06",
            last_period="2023-06",
            value="built",
            target="connected",
            acknowledged_by="vanthu.sotnmt@example.gov.vn",
            agency=head[0],
            assignee=head[1],
            assignee_name=head[2],
        ),
        Task(
            id=14,
            rule="backlog",
            status=TaskStatus.OPEN,
            opened_on=dt.date(2023, 5, 1),
            due_on=dt.date(2023, 5, 31),
            period="2023-Q1",
            last_period="2023-Q2",
            value=1305,
            target=1000,
            escalated_on=dt.date(2023, 6, 7),
            agency=head[0],
            assignee=head[1],
            assignee_name=head[2],
        ),
    ]
    return rulebook, directory, tasks, on


def sample_messages() -> tuple[Rulebook, AgencyDirectory, dt.date, list[PlannedMessage]]:
    """One planned message of every kind over sample data, for `check` and previews."""
    rulebook, directory, tasks, on = _sample_world()
    head = Recipient("giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải", "Giám đốc", "so-tnmt")
    parent = Recipient("chutich@example.gov.vn", "Lê Hoàng Phúc", "Chủ tịch", "ubnd-tinh")
    cc = (Recipient("vanthu.sotnmt@example.gov.vn"),)
    resolved = tasks[0].with_(status=TaskStatus.RESOLVED, resolved_on=on, value=0.325)
    messages = [
        PlannedMessage("task-opened", "sample:task-opened", on, head, cc, (tasks[0], tasks[1])),
        PlannedMessage("reminder", "sample:reminder", on, head, cc, (tasks[2], tasks[0])),
        PlannedMessage(
            "escalation", "sample:escalation", on, parent, (head, *cc), (tasks[2],), about="so-tnmt"
        ),
        PlannedMessage("task-resolved", "sample:task-resolved", on, head, cc, (resolved,)),
        PlannedMessage("digest", "sample:digest", on, head, cc, (tasks[2], tasks[0], tasks[1])),
    ]
    return rulebook, directory, on, messages


_SAMPLE_SECRET = "sample-secret-for-the-template-check"


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _template_file(env: Environment, name: str) -> Path | None:
    try:
        _source, filename, _uptodate = env.loader.get_source(env, name) if env.loader else (None, None, None)
    except TemplateNotFound:
        return None
    return Path(filename) if filename else None


def _location_of(exc: BaseException, env: Environment, fallback: str) -> tuple[SourceLocation, str]:
    """The template file and line an error happened in (Jinja puts template frames into tracebacks)."""
    if isinstance(exc, TemplateSyntaxError):
        name = exc.name or fallback
        path = Path(exc.filename) if exc.filename else _template_file(env, name)
        return SourceLocation(_display(path) if path else name, exc.lineno or 1, 1), name
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            path = Path(frame.filename)
            return SourceLocation(_display(path), frame.lineno or 1, 1), path.name
    path = _template_file(env, fallback)
    return SourceLocation(_display(path) if path else fallback, 1, 1), fallback


def check_templates(config: Config, *, search_dirs: Sequence[Path] | None = None) -> list[Problem]:
    """Render every kind, both formats, against sample data with strict undefined; every problem located.

    Also warns about files in the deployment's folder that override nothing (a misspelt name).
    """
    dirs = list(search_dirs) if search_dirs is not None else template_dirs(config)
    renderer = Renderer(config, search_dirs=dirs)
    # The same templates with personal links on (a sample base_url and secret), so the branches only a
    # signing deployment reaches are checked too: the head's own body, and the cc'd readers' copy.
    base_url = config.deployment.base_url.strip() or "https://cchc.example.gov.vn"
    signing = Renderer(
        config.model_copy(update={"deployment": config.deployment.model_copy(update={"base_url": base_url})}),
        search_dirs=dirs,
        head_secret=_SAMPLE_SECRET,
    )
    problems: list[Problem] = []
    rulebook, directory, on, messages = sample_messages()
    variants = [(renderer, False), (signing, False), (signing, True)]
    for message, (variant, copy) in ((m, v) for m in messages for v in variants):
        context = variant.context(message, rulebook=rulebook, directory=directory, on=on, copy=copy)
        for fmt in ("txt", "html"):
            name = f"{message.kind}.{fmt}.j2"
            try:
                if fmt == "txt":
                    template = variant.env.get_template(name)
                    try:
                        module = template.make_module(dict(context))
                    except Exception:
                        # make_module, unlike render, leaves the compiled code's line numbers in the
                        # traceback; Jinja's handler maps them back to the template's lines.
                        variant.env.handle_exception()
                    subject = " ".join(str(getattr(module, "subject", "")).split())
                    if not subject:
                        path = _template_file(renderer.env, name)
                        problems.append(
                            Problem(
                                SourceLocation(_display(path) if path else name, 1, 1),
                                f"templates.{name}",
                                "the plain-text template must set a non-empty `subject` "
                                "({% set subject %}…{% endset %}) at top level",
                            )
                        )
                else:
                    variant.env.get_template(name).render({**context, "subject": "sample"})
            except TemplateNotFound as exc:
                problems.append(
                    Problem(SourceLocation(name), f"templates.{name}", f"template not found: {exc.name}")
                )
            except TemplateSyntaxError as exc:
                location, where = _location_of(exc, renderer.env, name)
                problems.append(
                    Problem(location, f"templates.{where}", f"template syntax error: {exc.message}")
                )
            except Exception as exc:  # anything a template can raise: undefined names, bad filters, …
                location, where = _location_of(exc, renderer.env, name)
                message_text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                problems.append(
                    Problem(location, f"templates.{where}", f"cannot render with sample data: {message_text}")
                )
    problems = list(dict.fromkeys(problems))  # a problem in a shared file shows in every variant
    own = dirs[0] if dirs and dirs[0] != DEFAULT_TEMPLATES else None
    if own is not None and own.is_dir():
        for path in sorted(own.glob("*.j2")):
            if path.name not in TEMPLATE_NAMES:
                close = difflib.get_close_matches(path.name, TEMPLATE_NAMES, n=1, cutoff=0.75)
                problems.append(
                    Problem(
                        SourceLocation(_display(path)),
                        "templates",
                        "this file overrides no template",
                        hint=f"did you mean '{close[0]}'?" if close else None,
                        warning=True,
                    )
                )
    return problems
