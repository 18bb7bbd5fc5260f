"""Agency heads' personal links: signed, expiring tokens that open their agency's web pages (pure).

notify puts `head_link(...)` in the emails it renders, made for the email's recipient and only when the
recipient is that agency's head (never a parent head reading an escalation, never a cc'd reader); web
reads the token back with `read_head_token`. Both sides use the same secret, taken by their callers
from the environment variable `SECRET_ENV`. A token names the agency, the head's email and the last
local date on which it works (`link_expiry` of the day the email goes out); the web also refuses it
once the directory names a different head, so a link dies with its holder's office.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from itsdangerous import BadSignature, URLSafeSerializer

from compliance.model.config import Config

__all__ = [
    "FROM_ENVIRONMENT",
    "LINK_VALID_DAYS",
    "MIN_SECRET_LENGTH",
    "SECRET_ENV",
    "BadLinkError",
    "HeadGrant",
    "HeadSecret",
    "head_link",
    "head_path",
    "head_token",
    "link_expiry",
    "read_head_token",
]

SECRET_ENV = "COMPLIANCE_WEB_SECRET"
MIN_SECRET_LENGTH = 16
# A link in an email keeps working this many days after the day it was sent (a month of reminders).
LINK_VALID_DAYS = 30
_SALT = "compliance.head-link.v1"


class _Environment(enum.Enum):
    SECRET = SECRET_ENV


# The default of the pipeline's `head_secret=` arguments: read SECRET_ENV when the work starts (this
# module itself never reads the environment). A str is the secret itself; None turns personal links
# off (plain links, as without a secret).
FROM_ENVIRONMENT: Final = _Environment.SECRET
HeadSecret: TypeAlias = str | None | Literal[_Environment.SECRET]


class BadLinkError(Exception):
    """The token was not signed with our secret, or is not one of ours (a forged or damaged link)."""


@dataclass(frozen=True)
class HeadGrant:
    """What a valid token allows: one agency's pages, as its head, up to and including `expires_on`."""

    agency_id: str
    head_email: str
    expires_on: dt.date

    def valid_on(self, today: dt.date) -> bool:
        return today <= self.expires_on


def _serializer(secret: str) -> URLSafeSerializer:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the web secret must be at least {MIN_SECRET_LENGTH} characters long")
    return URLSafeSerializer(secret, salt=_SALT)


def link_expiry(sent_on: dt.date) -> dt.date:
    """The default last valid day of a link sent on `sent_on`."""
    return sent_on + dt.timedelta(days=LINK_VALID_DAYS)


def head_token(agency_id: str, head_email: str, *, expires_on: dt.date, secret: str) -> str:
    payload = {"a": agency_id, "m": head_email.strip().lower(), "e": expires_on.isoformat()}
    token = _serializer(secret).dumps(payload)
    return token if isinstance(token, str) else token.decode("ascii")


def read_head_token(token: str, *, secret: str) -> HeadGrant:
    """The grant a token carries, or BadLinkError. Expiry is the caller's check (it knows today)."""
    try:
        payload: Any = _serializer(secret).loads(token)
    except BadSignature as exc:
        raise BadLinkError("the link's signature does not match") from exc
    if not isinstance(payload, dict) or set(payload) != {"a", "m", "e"}:
        raise BadLinkError("the link does not carry an agency, a head and an expiry date")
    agency, email, expires = payload["a"], payload["m"], payload["e"]
    if not (isinstance(agency, str) and isinstance(email, str) and isinstance(expires, str)):
        raise BadLinkError("the link does not carry an agency, a head and an expiry date")
    try:
        expires_on = dt.date.fromisoformat(expires)
    except ValueError as exc:
        raise BadLinkError("the link's expiry date is not a date") from exc
    return HeadGrant(agency, email, expires_on)


def head_path(
    agency_id: str, head_email: str, *, expires_on: dt.date, secret: str, task_id: int | None = None
) -> str:
    """The site-relative path of a head's link; with `task_id` it lands on that task's page."""
    path = f"/h/{head_token(agency_id, head_email, expires_on=expires_on, secret=secret)}"
    return path if task_id is None else f"{path}?task={task_id}"


def head_link(
    config: Config,
    agency_id: str,
    head_email: str,
    *,
    expires_on: dt.date,
    secret: str,
    task_id: int | None = None,
) -> str:
    """The full link for an email: `deployment.base_url` + the head's path ("" when base_url is unset)."""
    base = config.deployment.base_url.rstrip("/")
    if not base:
        return ""
    return base + head_path(agency_id, head_email, expires_on=expires_on, secret=secret, task_id=task_id)
