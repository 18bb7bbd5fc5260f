"""An outgoing email as every backend sees it, the EmailBackend protocol, and header hygiene.

Header injection is stopped here, once, for every backend: any value that reaches a header (subject,
display names, addresses, our own X- headers) goes through `clean_header`/`check_address`, which remove
CR, LF and every other line-breaking or control character, so data can never start a new header line.

`mime_bytes` writes the RFC 5322 bytes directly: the standard library's generator refolds every
non-ASCII header (Vietnamese subjects and names) through its header parser, about 30 ms a message,
which at a country's scale (tens of thousands of emails a day) dominated sending. Here non-ASCII header
text becomes RFC 2047 encoded words, each at most 75 characters, on lines of at most 78, and both
bodies are base64 (CRLF line ends inside): the bytes are plain ASCII, safe for any SMTP server.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.policy
import functools
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol, runtime_checkable

from compliance.errors import SendError

__all__ = [
    "Address",
    "BatchBackend",
    "EmailBackend",
    "OutgoingEmail",
    "SendResult",
    "check_address",
    "clean_header",
    "message_id_for",
    "mime_bytes",
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


@runtime_checkable
class BatchBackend(EmailBackend, Protocol):
    """A backend for which sending a message again replaces it instead of delivering it twice (the file
    backend: one file per idempotency key). It may take many messages at once, and the pipeline then
    claims and records them a batch at a time (a crash mid-batch only means the batch is rewritten).
    Returns, per message and in order, its SendResult or the SendError it failed with."""

    def send_batch(self, messages: Sequence[OutgoingEmail]) -> list[SendResult | SendError]: ...


def message_id_for(key: str, sender: str) -> str:
    """A Message-ID derived from the idempotency key: a resent possible duplicate carries the same id,
    so mail clients that deduplicate by Message-ID show it once."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


# --- RFC 5322 / 2045 / 2047 bytes -----------------------------------------------------------------

_CRLF = "\r\n"
# RFC 2047 limits a header line holding encoded words to 76 characters (RFC 5322 recommends 78).
_LINE = 76
# RFC 5322 atext: a display name made only of these (and single spaces) needs neither quotes nor encoding.
_ATOMS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
# 39 bytes of UTF-8 -> 52 characters of base64; with "=?utf-8?b?" and "?=" one encoded word is 64, so
# even the first one fits on the line after "Subject: ".
_WORD_BYTES = 39


@functools.lru_cache(maxsize=4096)  # the sender's and the heads' names recur in every run
def _encoded_words(text: str) -> tuple[str, ...]:
    """`text` as RFC 2047 base64 encoded words, split between characters (never inside one)."""
    data = text.encode("utf-8")
    words: list[str] = []
    start, end = 0, len(data)
    while start < end:
        stop = min(start + _WORD_BYTES, end)
        while stop < end and data[stop] & 0xC0 == 0x80:  # a UTF-8 continuation byte: cut before its lead
            stop -= 1
        words.append(
            "=?utf-8?b?" + binascii.b2a_base64(data[start:stop], newline=False).decode("ascii") + "?="
        )
        start = stop
    return tuple(words)


def _plain(text: str) -> bool:
    """Printable ASCII that no decoder could mistake for an encoded word."""
    return bool(_PRINTABLE.match(text)) and "=?" not in text


def _fold(name: str, tokens: Sequence[str]) -> str:
    """`Name: tok tok …`, a line break (CRLF + space) replacing the space before a token that would
    pass 76 characters (a longer token, never more than RFC 5322's 998, gets a line of its own). Tokens never hold CR or LF (clean_header and check_address saw to that)."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > _LINE and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return _CRLF.join(lines)


def _unstructured(name: str, value: str) -> str:
    if _plain(value):
        return _fold(name, value.split(" ") if value else [""])
    return _fold(name, _encoded_words(value))


def _address_header(name: str, addresses: Sequence[Address]) -> str:
    tokens: list[str] = []
    for i, a in enumerate(addresses):
        comma = "," if i < len(addresses) - 1 else ""
        display = a.name.strip()
        if not display:
            tokens.append(a.email + comma)
            continue
        if _ATOMS.match(display) and "=?" not in display:
            tokens.extend(display.split(" "))
        elif _plain(display):
            tokens.append('"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            tokens.extend(_encoded_words(display))
        tokens.append(f"<{a.email}>{comma}")
    return _fold(name, tokens)


def _task_ids_header(ids: list[str]) -> str:
    """`12,13` on one line; a list too long for one line (RFC 5322: 998) is folded after commas."""
    name = "X-Compliance-Tasks"
    joined = ",".join(ids)
    if len(name) + 2 + len(joined) <= 998:
        return f"{name}: {joined}"
    return _fold(name, [f"{t}," for t in ids[:-1]] + ids[-1:])


def _base64_part(content_type: str, text: str) -> list[str]:
    # Text in base64 has canonical CRLF line ends (RFC 2045 §6.8), as the email package writes it.
    body = (_CRLF.join(text.splitlines()) + _CRLF).encode("utf-8")
    encoded = binascii.b2a_base64(body, newline=False).decode("ascii")
    return [
        f'Content-Type: {content_type}; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        *(encoded[i : i + 76] for i in range(0, len(encoded), 76)),
    ]


def mime_bytes(message: OutgoingEmail) -> bytes:
    """The message as RFC 5322 bytes (ASCII, CRLF): multipart/alternative, plain text first, then HTML.

    Raises SendError (permanent) for an address that could carry a header (see `sanitized`)."""
    m = message.sanitized()
    headers = [_address_header("From", [m.sender]), _address_header("To", m.to)]
    if m.cc:
        headers.append(_address_header("Cc", m.cc))
    headers.append(_unstructured("Subject", m.subject))
    if m.date is not None:
        headers.append(f"Date: {format_datetime(m.date.astimezone(dt.UTC))}")
    headers.append(f"Message-ID: {message_id_for(m.key, m.sender.email)}")
    headers.append(_unstructured("X-Compliance-Kind", m.kind))
    headers.append(_unstructured("X-Compliance-Key", m.key))
    if m.task_ids:
        headers.append(_task_ids_header([str(t) for t in m.task_ids]))
    if m.possible_duplicate:
        headers.append("X-Compliance-Possible-Duplicate: yes")
    # A base64 line never starts with "--": the boundary cannot occur inside a part.
    boundary = "=_compliance." + hashlib.sha256(m.key.encode("utf-8")).hexdigest()[:24]
    headers += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative;{_CRLF} boundary="{boundary}"']
    lines = [*headers, ""]
    lines += [f"--{boundary}", *_base64_part("text/plain", m.text)]
    lines += [f"--{boundary}", *_base64_part("text/html", m.html)]
    lines += [f"--{boundary}--", ""]
    return _CRLF.join(lines).encode("ascii")


def to_mime(message: OutgoingEmail) -> EmailMessage:
    """The message of `mime_bytes`, parsed back into the standard library's EmailMessage."""
    parsed = email.message_from_bytes(mime_bytes(message), policy=email.policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed
