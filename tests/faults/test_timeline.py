"""90 days of the example deployment run by its own schedule: which emails go out on which days.

Each day from 2023-02-01 the jobs of config.toml's [schedule] fire at the times their cron triggers give
(evaluate 07:00, digest 07:00 on Mondays, notify 07:30 Monday-Friday), in-process and with a clock set
to the fire time; the monthly snapshot files are dropped into the inbox on the days an office would
receive them. The emails sent are compared with tests/faults/timeline_expected.txt, written by hand
from the SPEC (the file explains every line).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from compliance.clock import FixedClock
from compliance.loading.config import load_config
from compliance.pipeline.notify import work_calendar
from compliance.scheduler import JOBS, crontab_trigger, run_scheduled
from compliance.storage.db import open_database
from compliance.storage.schema import notifications, tasks

REPO = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).with_name("timeline_expected.txt")
START = dt.date(2023, 2, 1)
DAYS = 90
DROPS = {
    dt.date(2023, 2, 1): ["2022-par-index.csv", "2022-12.csv"],
    dt.date(2023, 2, 3): ["2023-01.csv"],
    dt.date(2023, 3, 2): ["2023-02.csv"],
    dt.date(2023, 4, 4): ["2023-03.csv"],
}


def example_deployment(root: Path) -> Path:
    """The repository's example deployment, with its database and outbox inside `root`."""
    root.mkdir()
    shutil.copytree(REPO / "rules", root / "rules")
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    # The engines give identical evaluations (tests/engine proves it); the pure-Python one is faster.
    assert 'backend = "durable"' in text
    (root / "config.toml").write_text(
        text.replace('backend = "durable"', 'backend = "python"'), encoding="utf-8"
    )
    return root / "config.toml"


@pytest.mark.slow
def test_ninety_days_of_emails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLIANCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("COMPLIANCE_WEB_SECRET", raising=False)  # no personal links, so no cc copies
    config = load_config(example_deployment(tmp_path / "example"))
    tz = config.deployment.tz
    crons = config.schedule.model_dump()
    db = open_database(f"sqlite:///{config.base_dir / 'var' / 'compliance.db'}")
    inbox = config.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    try:
        for offset in range(DAYS):
            day = START + dt.timedelta(days=offset)
            for name in DROPS.get(day, []):
                shutil.copy(REPO / "examples" / "snapshots" / name, inbox / name)
            midnight = dt.datetime.combine(day, dt.time(), tzinfo=tz)
            fires: list[tuple[dt.datetime, int, str]] = []
            for job in ("evaluate", "digest", "notify"):  # the ingest job's work is done by evaluate's
                trigger = crontab_trigger(crons[job], tz)
                t = trigger.get_next_fire_time(None, midnight)
                while t is not None and t.date() == day:
                    fires.append((t, JOBS.index(job), job))
                    t = trigger.get_next_fire_time(t, t + dt.timedelta(seconds=1))
            for fire, _, job in sorted(fires):
                outcome = run_scheduled(
                    job, config, crons[job], db=db, holder="timeline", clock=FixedClock(fire), settle_s=0
                )
                assert outcome.ran, (job, fire)
            assert not [p.name for p in inbox.glob("*.csv")], day  # every file ingested the day it came

        with db.read() as conn:
            identity = {r.id: f"{r.rule}/{r.agency}" for r in conn.execute(select(tasks))}
            rows = list(conn.execute(select(notifications).order_by(notifications.c.id)))
    finally:
        db.dispose()

    assert {r.status for r in rows} == {"sent"}
    calendar = work_calendar(config, [2023])
    lines: list[str] = []
    for r in rows:
        sent_on = dt.datetime.fromisoformat(r.sent_at.replace("Z", "+00:00")).astimezone(tz).date()
        assert calendar.is_working_day(sent_on), (sent_on, r.kind, r.key)  # never on a weekend or a holiday
        to = json.loads(r.to_addr)[0]["email"]
        about = ",".join(sorted(identity[i] for i in json.loads(r.task_ids)))
        lines.append(f"{sent_on.isoformat()} {r.kind} {to} {about}")

    expected = [
        line
        for line in EXPECTED.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    counts = Counter(line.split()[1] for line in sorted(lines))
    print(
        f"\n[timeline {START} + {DAYS} days] emails per kind: {dict(sorted(counts.items()))}, total {len(lines)}"
    )
    assert sorted(lines) == sorted(expected)
    assert counts == {"task-opened": 5, "task-resolved": 1, "reminder": 26, "escalation": 5, "digest": 40}

    # The file backend wrote one .eml per email, each a real RFC 5322 message.
    emls = sorted(config.outbox_dir.glob("*.eml"))
    assert len(emls) == len(lines) == 77
    kinds = Counter(
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["X-Compliance-Kind"])
        for p in emls
    )
    assert kinds == counts
