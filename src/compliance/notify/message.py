"""An outgoing email as every backend sees it, the EmailBackend protocol, and header hygiene.

Header injection is stopped here, once, for every backend: any value that reaches a header (subject,
display names, addresses, our own X- headers) goes through `clean_header`/`check_address`, which remove
CR, LF and every other line-breaking or control character, so data can never start a new header line.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address as MimeAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from compliance.errors import SendError

__all__ = [
    "Address",
    "EmailBackend",
    "OutgoingEmail",
    "SendResult",
    "check_address",
    "clean_header",
    "message_id_for",
    "to_mime",
]

# Characters that end a header line or hide one: CR, LF, and the other Unicode line and paragraph
# separators (some mail software splits on them), NUL and the remaining C0/C1 controls.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Deliberately narrower than RFC 5322: no quotes, no spaces, no comments, no brackets. A head's
# address in the directory that needs more than this is a data error worth failing loudly on.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def clean_header(value: str, *, limit: int = 900) -> str:
    """One header-safe line: control characters and line breaks become spaces, runs of space collapse."""
    text = unicodedata.normalize("NFC", value)
    text = _BREAKS.sub(" ", text)
    text = " ".join(text.split())
    return text[:limit]


def check_address(value: str) -> str:
    """A plain `local@domain` address, or SendError (permanent): such a message can never be sent."""
    candidate = value.strip()
    if not _ADDRESS.match(candidate) or ".." in candidate:
        raise SendError(f"địa chỉ email không hợp lệ: {clean_header(value)!r}", retryable=False)
    return candidate


@dataclass(frozen=True)
class Address:
    email: str
    name: str = ""

    def safe(self) -> Address:
        return Address(check_address(self.email), clean_header(self.name, limit=200))


@dataclass(frozen=True)
class OutgoingEmail:
    """What the outbox holds for one message, ready for a backend. `key` is the idempotency key."""

    key: str
    kind: str
    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str
    cc: tuple[Address, ...] = ()
    task_ids: tuple[int, ...] = ()
    date: dt.datetime | None = None
    possible_duplicate: bool = False
    notification_id: int | None = None

    def sanitized(self) -> OutgoingEmail:
        """The same message with every header value made safe; raises SendError for a bad address."""
        if not self.to:
            raise SendError("thư không có người nhận", retryable=False)
        to = tuple(a.safe() for a in self.to)
        seen = {a.email.lower() for a in to}
        cc: list[Address] = []
        for a in self.cc:
            safe = a.safe()
            if safe.email.lower() not in seen:  # the same address twice is refused by SendGrid
                seen.add(safe.email.lower())
                cc.append(safe)
        return OutgoingEmail(
            key=clean_header(self.key, limit=400),
            kind=clean_header(self.kind, limit=40),
            sender=self.sender.safe(),
            to=to,
            subject=clean_header(self.subject, limit=250),
            text=self.text,
            html=self.html,
            cc=tuple(cc),
            task_ids=self.task_ids,
            date=self.date,
            possible_duplicate=self.possible_duplicate,
            notification_id=self.notification_id,
        )


@dataclass(frozen=True)
class SendResult:
    """What the provider said: its message id (SendGrid X-Message-Id, SMTP/file: our Message-ID)."""

    provider_id: str | None
    detail: dict[str, str] = field(default_factory=dict)


class EmailBackend(Protocol):
    """Sends one message. Raises SendError(retryable=True) for a failure a later attempt may cure
    (429, 5xx, timeout, connection refused) and SendError(retryable=False) for one it cannot (400,
    401, 403, a refused address). Must not retry by itself: retries are the pipeline's, so they are
    counted, bounded and recorded."""

    name: str

    def send(self, message: OutgoingEmail) -> SendResult: ...

    def close(self) -> None: ...


def message_id_for(key: str, sender: str) -> str:
    """A Message-ID derived from the idempotency key: a resent possible duplicate carries the same id,
    so mail clients that deduplicate by Message-ID show it once."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def _mime_addresses(addresses: Sequence[Address]) -> tuple[MimeAddress, ...]:
    out: list[MimeAddress] = []
    for a in addresses:
        local, _, domain = a.email.rpartition("@")
        out.append(MimeAddress(display_name=a.name, username=local, domain=domain))
    return tuple(out)


def to_mime(message: OutgoingEmail) -> EmailMessage:
    """RFC 5322 multipart/alternative (plain text first, then HTML), UTF-8, CRLF line ends."""
    m = message.sanitized()
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = _mime_addresses([m.sender])
    mime["To"] = _mime_addresses(m.to)
    if m.cc:
        mime["Cc"] = _mime_addresses(m.cc)
    mime["Subject"] = m.subject
    if m.date is not None:
        mime["Date"] = format_datetime(m.date.astimezone(dt.UTC))
    mime["Message-ID"] = message_id_for(m.key, m.sender.email)
    mime["X-Compliance-Kind"] = m.kind
    mime["X-Compliance-Key"] = m.key
    if m.task_ids:
        mime["X-Compliance-Tasks"] = ",".join(str(t) for t in m.task_ids)
    if m.possible_duplicate:
        mime["X-Compliance-Possible-Duplicate"] = "yes"
    mime.set_content(m.text, charset="utf-8")
    mime.add_alternative(m.html, subtype="html", charset="utf-8")
    return mime
