"""Who is asking: password hashes, the principal kept in the signed session, and what each role may do.

Roles (docs/web.md): `office` and `auditor` sign in with an account; both read every page, and only
office staff act on the data through the web: they grant waivers (none of them acknowledges for a
head: an acknowledgement says the head has seen the task). A `head` arrives through a personal signed link and
sees only their own agency, its tasks, and acknowledges those tasks.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "Principal",
    "csrf_token",
    "csrf_valid",
    "hash_password",
    "password_hasher",
    "principal_from_session",
    "principal_to_session",
    "verify_password",
]

Kind = Literal["office", "auditor", "head"]
_KINDS: tuple[Kind, ...] = ("office", "auditor", "head")

_HASHER = PasswordHasher()
_DUMMY: list[str] = []


def _dummy_hash() -> str:
    # Verified against when the email has no account, so a wrong email costs the same time as a wrong
    # password; made on first use, since hashing takes a noticeable moment on purpose.
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def password_hasher() -> PasswordHasher:
    return _HASHER


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash or _dummy_hash(), password)) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """A signed-in person: office staff or an auditor by account, or an agency head by link."""

    kind: Kind
    email: str
    agency_id: str | None = None  # heads only
    expires_on: dt.date | None = None  # heads only: the link's last valid day

    @property
    def is_staff(self) -> bool:
        return self.kind in ("office", "auditor")

    def can_see_agency(self, agency_id: str) -> bool:
        return self.is_staff or (self.kind == "head" and self.agency_id == agency_id)

    @property
    def can_waive(self) -> bool:
        # Waivers are the office's decision (SPEC §1); auditors only read them, heads never see the form.
        return self.kind == "office"

    def can_acknowledge(self, task_agency: str) -> bool:
        # Only the head acknowledges, and only their own agency's tasks (SPEC §1, §10).
        return self.kind == "head" and self.agency_id == task_agency


def principal_to_session(principal: Principal) -> dict[str, Any]:
    return {
        "k": principal.kind,
        "m": principal.email,
        "a": principal.agency_id,
        "e": principal.expires_on.isoformat() if principal.expires_on else None,
    }


def principal_from_session(data: Any) -> Principal | None:
    """The principal a session holds, or None for anything malformed (the cookie is signed, but be strict)."""
    if not isinstance(data, dict):
        return None
    kind, email, agency, expires = data.get("k"), data.get("m"), data.get("a"), data.get("e")
    if kind not in _KINDS or not isinstance(email, str):
        return None
    for known in _KINDS:
        if known == kind:
            if known == "head":
                if not isinstance(agency, str) or not isinstance(expires, str):
                    return None
                try:
                    return Principal(known, email, agency, dt.date.fromisoformat(expires))
                except ValueError:
                    return None
            return Principal(known, email)
    return None


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use; every form carries it in a hidden field."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid(session: dict[str, Any], submitted: object) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
