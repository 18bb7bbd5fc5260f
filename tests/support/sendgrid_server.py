"""A real HTTP peer on 127.0.0.1 speaking SendGrid's v3 mail-send API, for the real `sendgrid` client.

Written from SendGrid's public API reference (Mail Send; its "Errors" page; "How to use the v3 API":
responses, errors, rate limits; sandbox mode):
- `POST /v3/mail/send` with `Authorization: Bearer <key>`: a missing header is 401 "authorization
  required", a wrong key 401 "The provided authorization grant is invalid, expired, or revoked".
- The body is validated: `personalizations` (1–1000, each with a non-empty `to`, valid addresses, an
  address at most once across to/cc/bcc), `from` with an email, `subject`, `content` (at least one
  block, non-empty values, text/plain first), `categories` (at most 10, each ≤ 255 characters, unique),
  `custom_args` (an object of strings, ≤ 10,000 bytes), `mail_settings.sandbox_mode.enable` (boolean).
  Invalid: 400 `{"errors": [{"message", "field", "help"}]}`.
- Valid: 202 Accepted, empty body, `X-Message-Id`; in sandbox mode 200 OK (validated, not delivered).
- Scriptable per test (`server.script(...)`), consumed one per request: 401, 403, 429 (with
  X-RateLimit-Limit / -Remaining / -Reset, body "too many requests"), 500, 503, any status, or "hang":
  no answer until well past the client's timeout.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["API_KEY", "Captured", "Reply", "SendGridServer", "sendgrid_server"]

API_KEY = "SG.test-key.0123456789"
_HELP = "https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors"
_EMAIL = re.compile(r"^[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;]+$")


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class Reply:
    """A scripted answer: a status with optional JSON body and headers, or a hang of `hang_s` seconds."""

    status: int = 202
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0


def _error(message: str, field_name: str | None, anchor: str = "") -> dict[str, Any]:
    return {"message": message, "field": field_name, "help": f"{_HELP}#{anchor}" if anchor else None}


def validate(body: Any) -> list[dict[str, Any]]:
    """Every problem SendGrid's reference lists for a mail-send body that this client can produce."""
    errors: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        return [_error("Bad Request", None)]
    pers = body.get("personalizations")
    if not isinstance(pers, list) or not pers:
        errors.append(
            _error(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
                "personalizations",
            )
        )
        pers = []
    elif len(pers) > 1000:
        errors.append(
            _error(
                "The personalization block is limited to 1000 personalizations per API request.",
                "personalizations",
                "personalizations",
            )
        )
    total = 0
    for i, p in enumerate(pers):
        if not isinstance(p, dict):
            errors.append(
                _error("Each personalization must be an object.", f"personalizations.{i}", "personalizations")
            )
            continue
        to = p.get("to")
        if not isinstance(to, list) or not to:
            errors.append(
                _error(
                    "The to array is required for all personalization objects, and must have at "
                    "least one email object with a valid email address.",
                    f"personalizations.{i}.to",
                    "message.personalizations.to",
                )
            )
        seen: set[str] = set()
        for kind in ("to", "cc", "bcc"):
            people = p.get(kind) or []
            if not isinstance(people, list):
                errors.append(_error(f"The {kind} field must be an array.", f"personalizations.{i}.{kind}"))
                continue
            for j, person in enumerate(people):
                total += 1
                address = person.get("email") if isinstance(person, dict) else None
                if not isinstance(address, str) or not _EMAIL.match(address):
                    errors.append(
                        _error(
                            "Does not contain a valid address.",
                            f"personalizations.{i}.{kind}.{j}.email",
                            f"message.personalizations.{kind}",
                        )
                    )
                    continue
                if address.lower() in seen:
                    errors.append(
                        _error(
                            "Each email address in the personalization block should be unique between to, cc, and bcc. "
                            f"We found the first duplicate instance of [{address}] in the personalizations.{i}.{kind} field.",
                            f"personalizations.{i}",
                            "message.recipient_duplicated",
                        )
                    )
                seen.add(address.lower())
                name = person.get("name")
                if name is not None and (not isinstance(name, str) or "\r" in name or "\n" in name):
                    errors.append(
                        _error(
                            "The name must be a string without line breaks.",
                            f"personalizations.{i}.{kind}.{j}.name",
                        )
                    )
    if total > 1000:
        errors.append(
            _error(
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
                "personalizations",
                "personalizations",
            )
        )
    sender = body.get("from")
    if (
        not isinstance(sender, dict)
        or not isinstance(sender.get("email"), str)
        or not _EMAIL.match(sender["email"])
    ):
        errors.append(
            _error(
                "The from object must be provided for every email send. It is an object that requires "
                "the email parameter, but may also contain a name parameter.",
                "from",
                "message.from",
            )
        )
    subject = body.get("subject")
    has_template = isinstance(body.get("template_id"), str)
    if not has_template and not (pers and all(isinstance(p, dict) and p.get("subject") for p in pers)):
        if not isinstance(subject, str) or not subject:
            errors.append(
                _error(
                    "The subject is required. You can get around this requirement if you use a template "
                    "with a subject defined or if every personalization has a subject defined.",
                    "subject",
                    "message.subject",
                )
            )
        elif "\r" in subject or "\n" in subject:
            errors.append(_error("The subject must not contain line breaks.", "subject", "message.subject"))
    content = body.get("content")
    if not has_template:
        if not isinstance(content, list) or not content:
            errors.append(
                _error(
                    "Unless a valid template_id is provided, the content parameter is required. There "
                    "must be at least one defined content block.",
                    "content",
                    "message.content",
                )
            )
        else:
            for k, block in enumerate(content):
                value = block.get("value") if isinstance(block, dict) else None
                if not isinstance(value, str) or not value:
                    errors.append(
                        _error(
                            "The content value must be a string at least one character in length.",
                            f"content.{k}.value",
                            "message.content.value",
                        )
                    )
            types = [b.get("type") for b in content if isinstance(b, dict)]
            if "text/plain" in types and types[0] != "text/plain":
                errors.append(
                    _error(
                        "If present, text/plain must be first, followed by text/html, followed by any "
                        "other content.",
                        "content",
                        "message.content.type",
                    )
                )
    categories = body.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or len(categories) > 10:
            errors.append(
                _error(
                    "Too many categories on this message. The maximum number of categories is 10.",
                    "categories",
                    "message.categories",
                )
            )
        else:
            if len(set(map(str, categories))) != len(categories):
                errors.append(_error("The categories must be unique.", "categories", "message.categories"))
            for c in categories:
                if not isinstance(c, str) or len(c) > 255:
                    errors.append(
                        _error(
                            "Each category name may not exceed 255 characters.",
                            "categories",
                            "message.categories",
                        )
                    )
    custom = body.get("custom_args")
    if custom is not None:
        if not isinstance(custom, dict):
            errors.append(
                _error(
                    f"Invalid type. Expected: object, given: {type(custom).__name__}.",
                    "custom_args",
                    "message.custom_args",
                )
            )
        elif not all(isinstance(v, str) for v in custom.values()):
            errors.append(_error("Custom args values must be strings.", "custom_args", "message.custom_args"))
        elif len(json.dumps(custom).encode()) > 10_000:
            errors.append(
                _error("The custom_args may not exceed 10,000 bytes.", "custom_args", "message.custom_args")
            )
    sandbox = ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable", False)
    if not isinstance(sandbox, bool):
        errors.append(
            _error(
                "The sandbox_mode enable parameter must be a boolean.",
                "mail_settings.sandbox_mode.enable",
                "message.mail_settings.sandbox_mode.enable",
            )
        )
    return errors


class SendGridServer:
    """A threaded http.server on a free port of 127.0.0.1; see the module docstring."""

    def __init__(self, api_key: str = API_KEY, *, hang_s: float = 5.0, rate_limit: int = 600) -> None:
        self.api_key = api_key
        self.hang_s = hang_s
        self.rate_limit = rate_limit
        self.requests: list[Captured] = []
        self._script: list[int | str | Reply] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._sent = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def accepted(self) -> list[Captured]:
        """Requests answered 202 (what SendGrid would deliver)."""
        return [r for r in self.requests if r.status == 202]

    def script(self, *actions: int | str | Reply) -> None:
        """Answers for the next requests, in order: a status code, "hang", or a Reply; then normal service."""
        with self._lock:
            self._script.extend(actions)

    def _next_action(self) -> int | str | Reply | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    def next_message_id(self) -> str:
        with self._lock:
            self._sent += 1
            return f"sg-msg-{self._sent:04d}"

    def close(self) -> None:
        self._release.set()  # let hanging handlers go
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    # -- replies ---------------------------------------------------------------------------------

    def scripted(self, action: int | str | Reply) -> Reply:
        if isinstance(action, Reply):
            return action
        if action == "hang":
            return Reply(202, hang_s=self.hang_s)
        status = int(action)
        if status == 401:
            return Reply(
                401,
                {
                    "errors": [
                        _error("The provided authorization grant is invalid, expired, or revoked", None)
                    ]
                },
            )
        if status == 403:
            return Reply(
                403,
                {
                    "errors": [
                        _error(
                            "The from address does not match a verified Sender Identity. Mail cannot be sent until this error "
                            "is resolved.",
                            "from",
                        )
                    ]
                },
            )
        if status == 429:
            reset = int(time.time()) + 2
            return Reply(
                429,
                {"errors": [{"field": None, "message": "too many requests"}]},
                {
                    "X-RateLimit-Limit": str(self.rate_limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        if status == 400:
            return Reply(400, {"errors": [_error("Bad Request", None)]})
        if status == 500:
            return Reply(500, {"errors": [{"field": None, "message": "internal server error"}]})
        if status == 503:
            return Reply(503, {"errors": [{"field": None, "message": "service unavailable"}]})
        return Reply(
            status, {"errors": [{"field": None, "message": f"status {status}"}]} if status >= 400 else None
        )

    def answer(self, path: str, headers: dict[str, str], body: Any) -> Reply:
        action = self._next_action()
        if action is not None:
            return self.scripted(action)
        if path != "/v3/mail/send":
            return Reply(404, {"errors": [_error("not found", None)]})
        auth = headers.get("Authorization")
        if not auth:
            return Reply(401, {"errors": [_error("authorization required", None)]})
        if auth != f"Bearer {self.api_key}":
            return self.scripted(401)
        problems = validate(body)
        if problems:
            return Reply(400, {"errors": problems})
        if ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable") is True:
            return Reply(200)
        return Reply(202, headers={"X-Message-Id": self.next_message_id()})


def _handler_for(server: SendGridServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            headers = {k: v for k, v in self.headers.items()}
            reply = server.answer(self.path, headers, body)
            server.requests.append(Captured("POST", self.path, headers, body, reply.status))
            if reply.hang_s:
                server._release.wait(reply.hang_s)
            payload = b"" if reply.body is None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
            except (
                BrokenPipeError,
                ConnectionResetError,
            ):  # the client gave up (timeout): as SendGrid sees it
                pass
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def sendgrid_server() -> Iterator[SendGridServer]:
    server = SendGridServer()
    try:
        yield server
    finally:
        server.close()
