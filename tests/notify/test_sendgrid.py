"""The SendGrid backend through the real `sendgrid` client against the v3 peer on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from tests.notify.test_message import message
from tests.support.sendgrid_server import API_KEY, Reply, SendGridServer, validate

from compliance.errors import SendError
from compliance.notify.backends.sendgrid import SendGridBackend, build_payload, retry_after_seconds


def backend(
    server: SendGridServer, *, key: str = API_KEY, timeout_s: float = 2, sandbox: bool = False
) -> SendGridBackend:
    return SendGridBackend(key, host=server.url, timeout_s=timeout_s, sandbox=sandbox)


def failure(server: SendGridServer, **kwargs: object) -> SendError:
    with pytest.raises(SendError) as info:
        backend(server, **kwargs).send(message())  # type: ignore[arg-type]
    return info.value


def test_202_accepted_with_the_message_id(sendgrid_server: SendGridServer) -> None:
    result = backend(sendgrid_server).send(message(notification_id=7))
    assert result.provider_id == "sg-msg-0001"
    [request] = sendgrid_server.requests
    assert (request.method, request.path, request.status) == ("POST", "/v3/mail/send", 202)
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    body = request.body
    assert body["from"] == {
        "email": "cchc@example.gov.vn",
        "name": "UBND tỉnh Tiền Giang — CCHC, CĐS, Đề án 06",
    }
    assert body["personalizations"] == [
        {
            "to": [{"email": "giamdoc.sotnmt@example.gov.vn", "name": "Nguyễn Thanh Hải"}],
            "cc": [{"email": "vanthu.sotnmt@example.gov.vn"}],
        }
    ]
    assert body["subject"] == "[CCHC] 02 nhiệm vụ mới cần khắc phục – Sở Tài nguyên và Môi trường"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert sorted(body["categories"]) == ["compliance", "task-opened"]
    assert body["custom_args"] == {
        "kind": "task-opened",
        "task_ids": "12,13",
        "idempotency_key": "task-opened:2023-07-05:12,13",
        "notification_id": "7",
    }
    assert "mail_settings" not in body


def test_200_in_sandbox_mode_is_success_without_delivery(sendgrid_server: SendGridServer) -> None:
    result = backend(sendgrid_server, sandbox=True).send(message())
    assert result.provider_id == "sandbox"
    assert sendgrid_server.requests[0].status == 200
    assert sendgrid_server.requests[0].body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert sendgrid_server.accepted == []


def test_400_is_permanent_and_keeps_sendgrids_errors(sendgrid_server: SendGridServer) -> None:
    with pytest.raises(SendError) as info:
        backend(sendgrid_server).send(message(text=""))
    assert info.value.retryable is False
    assert str(info.value) == (
        "SendGrid từ chối thư (HTTP 400): The content value must be a string at least one character in length. "
        "(content.0.value)"
    )


def test_401_for_a_wrong_key_is_permanent(sendgrid_server: SendGridServer) -> None:
    error = failure(sendgrid_server, key="SG.wrong")
    assert (error.retryable, str(error)) == (
        False,
        "SendGrid từ chối thư (HTTP 401): The provided authorization grant is invalid, expired, or revoked",
    )


def test_403_is_permanent(sendgrid_server: SendGridServer) -> None:
    sendgrid_server.script(403)
    error = failure(sendgrid_server)
    assert error.retryable is False
    assert str(error).startswith(
        "SendGrid từ chối thư (HTTP 403): The from address does not match a verified Sender"
    )


def test_429_is_temporary_and_says_when_to_come_back(sendgrid_server: SendGridServer) -> None:
    sendgrid_server.script(429)
    error = failure(sendgrid_server)
    assert error.retryable is True
    assert error.retry_after_s is not None and 0 < error.retry_after_s <= 2  # from X-RateLimit-Reset
    assert str(error).startswith("SendGrid giới hạn tần suất gửi (HTTP 429), thử lại sau ")


def test_429_retry_after_header_wins_over_the_reset_time(sendgrid_server: SendGridServer) -> None:
    sendgrid_server.script(
        Reply(
            429,
            {"errors": [{"field": None, "message": "too many requests"}]},
            {"Retry-After": "7", "X-RateLimit-Reset": str(int(time.time()) + 60)},
        )
    )
    assert failure(sendgrid_server).retry_after_s == 7


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (500, "SendGrid lỗi máy chủ (HTTP 500): internal server error"),
        (503, "SendGrid lỗi máy chủ (HTTP 503): service unavailable"),
        (502, "SendGrid lỗi máy chủ (HTTP 502): status 502"),
    ],
)
def test_5xx_is_temporary(sendgrid_server: SendGridServer, status: int, text: str) -> None:
    sendgrid_server.script(status)
    error = failure(sendgrid_server)
    assert (error.retryable, str(error)) == (True, text)


def test_a_hang_past_the_timeout_is_temporary(sendgrid_server: SendGridServer) -> None:
    sendgrid_server.script("hang")
    started = time.monotonic()
    error = failure(sendgrid_server, timeout_s=0.3)
    assert time.monotonic() - started < 2
    assert (error.retryable, str(error)) == (True, "SendGrid không trả lời trong 0.3 giây")


def test_connection_refused_is_temporary() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SendError) as info:
        SendGridBackend(API_KEY, host=f"http://127.0.0.1:{port}", timeout_s=1).send(message())
    assert info.value.retryable is True
    assert str(info.value) == f"không kết nối được tới http://127.0.0.1:{port}: connection refused"


def test_our_payloads_pass_the_reference_validation() -> None:
    assert validate(build_payload(message())) == []
    assert validate(build_payload(message(possible_duplicate=True), sandbox=True)) == []


def test_the_peer_rejects_what_sendgrid_rejects() -> None:
    body = build_payload(message())
    body["content"] = [body["content"][1], body["content"][0]]
    body["personalizations"][0]["cc"] = [{"email": "giamdoc.sotnmt@example.gov.vn"}]
    body["categories"] = [f"c{i}" for i in range(11)]
    fields = [e["field"] for e in validate(body)]
    assert fields == ["personalizations.0", "content", "categories"]


def test_retry_after_seconds_reads_either_header() -> None:
    assert retry_after_seconds({"Retry-After": "3"}, now=0) == 3
    assert retry_after_seconds({"X-RateLimit-Reset": "1392815263"}, now=1392815260) == 3
    assert retry_after_seconds({}, now=0) is None


def test_the_peer_requires_a_bearer_key_on_the_mail_send_path(sendgrid_server: SendGridServer) -> None:
    def post(path: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(
            f"{sendgrid_server.url}{path}",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, {}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post("/v3/mail/send", {}) == (
        401,
        {"errors": [{"message": "authorization required", "field": None, "help": None}]},
    )
    status, body = post("/v3/mail/send", {"Authorization": f"Bearer {API_KEY}"})
    assert status == 400
    assert [e["field"] for e in body["errors"]] == ["personalizations", "from", "subject", "content"]  # type: ignore[index]
    assert post("/v3/other", {"Authorization": f"Bearer {API_KEY}"})[0] == 404
