"""`job_runs`: each job claims its scheduled fire time before working, so a fire time runs once.

A double firing, a restart or a second daemon finds the row and does nothing. `finished_at` stays empty
when the holder died or the job failed: the next start catches that fire time up (`plan_catch_up`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from compliance.scheduler.cron import crontab_trigger, fire_key, latest_fire_time
from compliance.storage.db import Database
from compliance.storage.schema import job_runs

__all__ = ["claim_job", "finish_job", "plan_catch_up"]


def _stamp(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claim_job(
    db: Database, job: str, key: str, holder: str, *, now: dt.datetime, take_over: bool = False
) -> bool:
    """Claim (job, fire time); False when it is already claimed.

    `take_over` also claims a row left unfinished by another holder: only the daemon that holds the
    daemon lock passes it, at start, for a job whose previous holder died during it.
    """
    try:
        with db.begin() as conn:
            conn.execute(
                insert(job_runs).values(job=job, fire_key=key, started_at=_stamp(now), holder=holder)
            )
        return True
    except IntegrityError:
        pass
    if not take_over:
        return False
    with db.begin() as conn:
        taken = conn.execute(
            update(job_runs)
            .where(
                job_runs.c.job == job,
                job_runs.c.fire_key == key,
                job_runs.c.finished_at.is_(None),
                job_runs.c.holder != holder,
            )
            .values(holder=holder, started_at=_stamp(now))
        )
        return bool(taken.rowcount == 1)


def finish_job(db: Database, job: str, key: str, holder: str, *, now: dt.datetime) -> None:
    with db.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.job == job, job_runs.c.fire_key == key, job_runs.c.holder == holder)
            .values(finished_at=_stamp(now))
        )


def _claim_state(conn: Connection, job: str, key: str) -> str:
    row = conn.execute(
        select(job_runs.c.finished_at).where(job_runs.c.job == job, job_runs.c.fire_key == key)
    ).first()
    if row is None:
        return "none"
    return "finished" if row.finished_at is not None else "unfinished"


def plan_catch_up(
    db: Database, schedule: Mapping[str, str], tz: ZoneInfo, now: dt.datetime
) -> dict[str, str]:
    """{job: fire_key} for every job whose latest fire time before `now` has no finished claim.

    `schedule` maps each job to its cron expression, in the order the jobs should run.
    """
    due: dict[str, str] = {}
    with db.read() as conn:
        for job, cron in schedule.items():
            fire = latest_fire_time(crontab_trigger(cron, tz), now)
            if fire is None:
                continue
            key = fire_key(fire, tz)
            if _claim_state(conn, job, key) != "finished":
                due[job] = key
    return due
