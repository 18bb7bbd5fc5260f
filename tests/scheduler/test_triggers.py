"""Cron expressions mean what crontab means, in the deployment's time zone; the jobs are built as documented."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from compliance.loading.config import load_config
from compliance.scheduler import (
    JOBS,
    MISFIRE_GRACE_S,
    build_scheduler,
    crontab_trigger,
    fire_key,
    latest_fire_time,
)
from tests.support.deployment import write_deployment

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def fires(expr: str, start: dt.datetime, n: int) -> list[str]:
    trigger = crontab_trigger(expr, TZ)
    out: list[str] = []
    t = trigger.get_next_fire_time(None, start)
    while t is not None and len(out) < n:
        out.append(t.strftime("%a %Y-%m-%d %H:%M %z"))
        t = trigger.get_next_fire_time(t, t + dt.timedelta(seconds=1))
    return out


SAT = dt.datetime(2023, 2, 4, 0, 0, tzinfo=TZ)  # a Saturday


def test_weekday_numbers_are_crontab_numbers_not_apschedulers() -> None:
    # APScheduler 3's own from_crontab reads 1-5 as Tuesday..Saturday; ours must mean Monday..Friday.
    assert fires("30 7 * * 1-5", SAT, 6) == [
        "Mon 2023-02-06 07:30 +0700",
        "Tue 2023-02-07 07:30 +0700",
        "Wed 2023-02-08 07:30 +0700",
        "Thu 2023-02-09 07:30 +0700",
        "Fri 2023-02-10 07:30 +0700",
        "Mon 2023-02-13 07:30 +0700",
    ]
    assert fires("0 7 * * 1", SAT, 2) == ["Mon 2023-02-06 07:00 +0700", "Mon 2023-02-13 07:00 +0700"]


@pytest.mark.parametrize(
    ("weekdays", "expected"),
    [
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("*/2", ["Sat", "Sun", "Tue", "Thu"]),
        ("mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("1,3,5", ["Mon", "Wed", "Fri"]),
        ("6,0", ["Sat", "Sun"]),
        ("*", ["Sat", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri"]),
    ],
)
def test_weekday_field_forms(weekdays: str, expected: list[str]) -> None:
    days = [f.split()[0] for f in fires(f"0 7 * * {weekdays}", SAT, 7)]
    # one week from Saturday 4 February 2023, in order
    week = ["Sat", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri"]
    assert days[: len(expected)] == [d for d in week if d in expected]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 7 * * 8", "'8': weekday '8' is not 0-7 or sun..sat"),
        ("0 7 * * 5-1", "'5-1': range '5-1' goes backwards"),
        ("0 7 * *", "'0 7 * *' is not a cron expression of 5 fields (minute hour day month weekday)"),
    ],
)
def test_bad_expressions(expr: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        crontab_trigger(expr, TZ)
    assert str(err.value) == message


def test_times_are_local_to_the_deployment_not_the_machine() -> None:
    t = crontab_trigger("0 7 * * *", TZ).get_next_fire_time(
        None, dt.datetime(2023, 2, 1, 0, 1, tzinfo=dt.UTC)
    )
    assert t is not None
    assert t.astimezone(dt.UTC) == dt.datetime(2023, 2, 2, 0, 0, tzinfo=dt.UTC)  # 07:00 +07:00


@pytest.mark.parametrize(
    ("expr", "now", "latest"),
    [
        ("0 7 * * *", dt.datetime(2023, 2, 1, 6, 59), dt.datetime(2023, 1, 31, 7, 0)),
        ("0 7 * * *", dt.datetime(2023, 2, 1, 7, 0), dt.datetime(2023, 2, 1, 7, 0)),
        ("*/15 * * * *", dt.datetime(2023, 2, 1, 10, 44), dt.datetime(2023, 2, 1, 10, 30)),
        ("30 7 * * 1-5", dt.datetime(2023, 2, 5, 12, 0), dt.datetime(2023, 2, 3, 7, 30)),  # Sunday -> Friday
        ("0 7 * * 1", dt.datetime(2023, 2, 12, 23, 0), dt.datetime(2023, 2, 6, 7, 0)),
        ("0 7 1 * *", dt.datetime(2023, 3, 15, 0, 0), dt.datetime(2023, 3, 1, 7, 0)),
        ("0 7 1 1 *", dt.datetime(2023, 12, 31, 0, 0), dt.datetime(2023, 1, 1, 7, 0)),
    ],
)
def test_latest_fire_time(expr: str, now: dt.datetime, latest: dt.datetime) -> None:
    found = latest_fire_time(crontab_trigger(expr, TZ), now.replace(tzinfo=TZ))
    assert found == latest.replace(tzinfo=TZ)


def test_fire_key_is_local_to_the_minute() -> None:
    assert fire_key(dt.datetime(2023, 2, 1, 0, 0, tzinfo=dt.UTC), TZ) == "2023-02-01T07:00+07:00"


def test_scheduler_jobs(tmp_path: Path) -> None:
    config_path = write_deployment(
        tmp_path,
        config_extra='[schedule]\ningest = "*/10 * * * *"\nevaluate = "0 6 * * *"\n'
        'notify = "30 7 * * 1-5"\ndigest = "0 8 * * 1"\n',
    )
    config = load_config(config_path)
    scheduler = build_scheduler(config, str(config_path))
    jobs = scheduler.get_jobs()
    assert [j.id for j in jobs] == ["1-ingest", "2-evaluate", "3-digest", "4-notify"]
    assert sorted(j.id for j in jobs) == [j.id for j in jobs]  # same-instant jobs run in pipeline order
    assert [j.name for j in jobs] == list(JOBS)
    crons = {
        "ingest": "*/10 * * * *",
        "evaluate": "0 6 * * *",
        "notify": "30 7 * * 1-5",
        "digest": "0 8 * * 1",
    }
    for job in jobs:
        assert job.func_ref == "compliance.scheduler:scheduled_job"
        assert list(job.args) == [job.name, str(config_path), crons[job.name]]
        assert all(isinstance(a, str) for a in job.args)  # nothing that a refactor could break
        assert job.misfire_grace_time == MISFIRE_GRACE_S == 6 * 3600
        assert job.coalesce is True
        assert job.max_instances == 1
        assert str(job.trigger.timezone) == "Asia/Ho_Chi_Minh"
    fields = {j.name: {f.name: str(f) for f in j.trigger.fields} for j in jobs}
    assert fields["notify"]["day_of_week"] == "mon,tue,wed,thu,fri"
    assert (fields["notify"]["hour"], fields["notify"]["minute"]) == ("7", "30")
    assert fields["digest"]["day_of_week"] == "mon"
    assert (fields["evaluate"]["hour"], fields["evaluate"]["minute"]) == ("6", "0")
    assert fields["ingest"]["minute"] == "*/10"
    # Nothing runs at start unless a catch-up asks for it.
    assert all(not hasattr(j, "next_run_time") for j in jobs)


def test_run_now_jobs_start_immediately(tmp_path: Path) -> None:
    config_path = write_deployment(tmp_path)
    config = load_config(config_path)
    before = dt.datetime.now(TZ)
    scheduler = build_scheduler(config, str(config_path), run_now=frozenset({"evaluate"}))
    jobs = {j.name: j for j in scheduler.get_jobs()}
    assert before <= jobs["evaluate"].next_run_time <= dt.datetime.now(TZ)
    assert not hasattr(jobs["notify"], "next_run_time")


def test_schedule_override(tmp_path: Path) -> None:
    config_path = write_deployment(tmp_path)
    config = load_config(config_path)
    every_minute = dict.fromkeys(JOBS, "* * * * *")
    scheduler = build_scheduler(config, str(config_path), schedule=every_minute)
    assert {str(j.trigger) for j in scheduler.get_jobs()} == {
        "cron[month='*', day='*', day_of_week='*', hour='*', minute='*']"
    }
