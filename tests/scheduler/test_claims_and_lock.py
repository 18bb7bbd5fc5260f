"""job_runs claims make a fire time run once; the daemon lock lets one daemon per database be active."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from zoneinfo import ZoneInfo

from sqlalchemy import select

from compliance.scheduler import acquire_daemon_lock, claim_job, finish_job, plan_catch_up
from compliance.storage.db import Database
from compliance.storage.schema import job_runs

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2023, 2, 6, 9, 0, tzinfo=TZ)  # Monday 09:00
KEY = "2023-02-06T07:00+07:00"
SCHEDULE = {
    "ingest": "*/15 * * * *",
    "evaluate": "0 7 * * *",
    "notify": "30 7 * * 1-5",
    "digest": "0 7 * * 1",
}


def rows(db: Database) -> list[tuple[str, str, str, bool]]:
    with db.read() as conn:
        return [
            (r.job, r.fire_key, r.holder, r.finished_at is not None)
            for r in conn.execute(select(job_runs).order_by(job_runs.c.job, job_runs.c.fire_key))
        ]


def test_a_fire_time_is_claimed_once(db: Database) -> None:
    assert claim_job(db, "evaluate", KEY, "a", now=NOW) is True
    assert claim_job(db, "evaluate", KEY, "b", now=NOW) is False
    assert claim_job(db, "evaluate", "2023-02-07T07:00+07:00", "b", now=NOW) is True
    assert claim_job(db, "notify", KEY, "b", now=NOW) is True
    finish_job(db, "evaluate", KEY, "a", now=NOW)
    assert rows(db) == [
        ("evaluate", KEY, "a", True),
        ("evaluate", "2023-02-07T07:00+07:00", "b", False),
        ("notify", KEY, "b", False),
    ]


def test_take_over_only_an_unfinished_claim_of_another_holder(db: Database) -> None:
    claim_job(db, "evaluate", KEY, "dead", now=NOW)
    assert claim_job(db, "evaluate", KEY, "heir", now=NOW, take_over=True) is True
    assert claim_job(db, "evaluate", KEY, "heir", now=NOW, take_over=True) is False  # not twice
    finish_job(db, "evaluate", KEY, "heir", now=NOW)
    assert claim_job(db, "evaluate", KEY, "third", now=NOW, take_over=True) is False  # finished: never again
    assert rows(db) == [("evaluate", KEY, "heir", True)]


def test_concurrent_claims_one_winner(db: Database) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def claim(i: int) -> None:
        barrier.wait()
        results.append(claim_job(db, "evaluate", KEY, f"h{i}", now=NOW))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def test_catch_up_plans_the_latest_fire_time_only(db: Database) -> None:
    # Down since Thursday: evaluate missed Friday..Monday, notify Friday and Monday, digest Monday.
    for job, key in [("evaluate", "2023-02-02T07:00+07:00"), ("notify", "2023-02-02T07:30+07:00")]:
        claim_job(db, job, key, "old", now=NOW)
        finish_job(db, job, key, "old", now=NOW)
    assert plan_catch_up(db, SCHEDULE, TZ, NOW) == {
        "ingest": "2023-02-06T09:00+07:00",
        "evaluate": "2023-02-06T07:00+07:00",
        "digest": "2023-02-06T07:00+07:00",
        "notify": "2023-02-06T07:30+07:00",
    }
    claim_job(db, "evaluate", KEY, "died-during-it", now=NOW)  # unfinished: still to catch up
    claim_job(db, "digest", KEY, "done", now=NOW)
    finish_job(db, "digest", KEY, "done", now=NOW)
    assert plan_catch_up(db, SCHEDULE, TZ, NOW) == {
        "ingest": "2023-02-06T09:00+07:00",
        "evaluate": "2023-02-06T07:00+07:00",
        "notify": "2023-02-06T07:30+07:00",
    }


def test_daemon_lock_is_exclusive_and_released(db: Database) -> None:
    first = acquire_daemon_lock(db, "first")
    assert first is not None
    assert first.check() is True
    assert acquire_daemon_lock(db, "second") is None
    first.release()
    second = acquire_daemon_lock(db, "second")
    assert second is not None
    second.release()


HOLD = """
import sys, time
from compliance.scheduler import acquire_daemon_lock
from compliance.storage.db import open_database
lock = acquire_daemon_lock(open_database(sys.argv[1], migrate=False), "child")
print("locked" if lock else "busy", flush=True)
time.sleep(60)
"""


def test_the_lock_dies_with_its_process(db: Database, db_url: str) -> None:
    with subprocess.Popen([sys.executable, "-c", HOLD, db_url], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "locked"
            assert acquire_daemon_lock(db, "parent") is None
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
    lock = None
    for _ in range(50):  # the server notices the closed connection within milliseconds
        lock = acquire_daemon_lock(db, "parent")
        if lock is not None:
            break
        threading.Event().wait(0.1)
    assert lock is not None
    lock.release()
