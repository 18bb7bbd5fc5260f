"""The facts of a message queued by the evaluation run: stored as JSON, read back exactly, and rendered
then as it would have been rendered at once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from tests.notify.conftest import config, task

from compliance.model.task import TaskStatus
from compliance.notify.facts import FactsError, decode_facts, encode_facts
from compliance.notify.planning import PlannedMessage, Recipient
from compliance.notify.render import Renderer
from compliance.notify.samples import sample_messages

SECRET = "facts-test-secret-0123456789abcdef"
D = dt.date


@pytest.mark.parametrize("variant", ["plain", "personal", "copy"])
def test_every_kind_reads_back_exactly_and_renders_as_it_would_have_at_once(
    tmp_path: Path, variant: str
) -> None:
    cfg = config(tmp_path, deployment={"base_url": "https://cchc.example.gov.vn"})
    renderer = Renderer(cfg, head_secret=None if variant == "plain" else SECRET)
    rulebook_, directory_, on, messages = sample_messages()
    for message in messages:
        copy = variant == "copy"
        personal = variant == "personal" and renderer.facts.is_personal(message, directory_)
        stored = decode_facts(
            encode_facts(message, on=on, copy=copy, personal=personal), kind=message.kind, key=message.key
        )
        assert (stored.message, stored.on, stored.copy, stored.personal) == (message, on, copy, personal)
        later = renderer.facts.stored_context(stored, rulebook=rulebook_, directory=directory_)
        now = renderer.facts.context(message, rulebook=rulebook_, directory=directory_, on=on, copy=copy)
        assert later == now, message.kind
        assert renderer.render_context(message.kind, later) == renderer.render_context(message.kind, now)


def test_every_field_of_every_task_is_kept() -> None:
    head = Recipient("giamdoc.sotnmt@example.gov.vn", "Nguyễn Thanh Hải", "Giám đốc", "so-tnmt")
    full = task(
        7,
        status=TaskStatus.ACKNOWLEDGED,
        value="built",
        target="connected",
        streak=3,
        resolved_on=D(2023, 7, 20),
        escalated_on=D(2023, 7, 24),
        acknowledged_on=D(2023, 7, 5),
        acknowledged_by="vanthu@example.gov.vn",
        note="Đang triển khai, dự kiến xong trong tháng 8",
        waived_on=D(2023, 8, 1),
        previous_task_id=3,
        opened_run_id="run-20230703-abc",
    )
    message = PlannedMessage("reminder", "reminder:2023-07-14:7", D(2023, 7, 14), head, (), (full, task(8)))
    text = encode_facts(message, on=D(2023, 7, 14))
    assert decode_facts(text, kind="reminder", key=message.key).message == message
    assert json.loads(text)["tasks"]["fields"][:4] == ["id", "rule", "agency", "status"]  # names once
    assert "Nguyễn Thanh Hải" in text  # readable JSON, not escaped


def test_facts_of_another_form_or_damaged_are_refused() -> None:
    def read(text: str) -> object:
        return decode_facts(text, kind="reminder", key="k")

    with pytest.raises(FactsError, match=r"unknown form of the stored facts \(version 2\)"):
        read('{"v": 2}')
    with pytest.raises(FactsError, match="unknown form"):
        read("[1, 2]")
    with pytest.raises(FactsError, match="cannot be read"):
        read("{not json")
    with pytest.raises(FactsError, match="cannot be read"):
        read('{"v": 1, "on": "2023-07-14"}')
