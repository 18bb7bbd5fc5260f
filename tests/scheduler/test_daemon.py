"""The daemon for real: subprocesses on one database, SIGTERM and SIGKILL, catch-up after downtime."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from compliance.clock import FixedClock
from compliance.loading.config import load_config
from compliance.scheduler import claim_job, finish_job, run_daemon, run_scheduled
from compliance.storage.db import Database, open_database
from compliance.storage.schema import job_runs, runs
from tests.support.deployment import write_deployment

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Daemon:
    """`compliance run` in a subprocess; its log lines collected as they come."""

    def __init__(self, config: Path, **env: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "compliance", "--config", str(config), "run", "--poll", "0.2"],
            env={**clean, "PYTHONWARNINGS": "ignore::DeprecationWarning", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, count: int = 1, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if needle in line]
            if len(found) >= count:
                return found
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {count} x '{needle}' in the daemon's log:\n" + "\n".join(self.lines))

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


def claims(db: Database) -> dict[str, list[tuple[str, bool]]]:
    """{job: [(holder pid, finished)]}"""
    out: dict[str, list[tuple[str, bool]]] = {}
    with db.read() as conn:
        for r in conn.execute(select(job_runs).order_by(job_runs.c.job, job_runs.c.fire_key)):
            out.setdefault(r.job, []).append((r.holder.split(":")[1], r.finished_at is not None))
    return out


def run_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)).scalar() or 0)


def deployment(tmp_path: Path, url: str) -> Path:
    return write_deployment(tmp_path, database_url=url, config_extra='[engine]\nbackend = "python"\n')


@pytest.mark.slow
def test_two_daemons_one_active_the_other_takes_over(tmp_path: Path, db_url: str) -> None:
    config = deployment(tmp_path, db_url)
    # The first daemon hangs in its evaluation (started, not finished) until it is killed.
    first = Daemon(config, COMPLIANCE_FAULT_POINT="job.evaluate:1:sleep=60")
    second: Daemon | None = None
    db = open_database(db_url)
    try:
        first.wait_for("active (")
        first.wait_for(": started", count=2)  # ingest, then evaluate (hanging)
        second = Daemon(config)
        second.wait_for("standby: another daemon is active on this database; retrying every 0.2 s")
        a = str(first.proc.pid)
        assert claims(db) == {"evaluate": [(a, False)], "ingest": [(a, True)]}
        time.sleep(0.5)  # the standby keeps polling and stays standby
        assert not any("active (" in line for line in second.lines)

        first.signal(signal.SIGKILL)
        assert first.wait() == -9
        second.wait_for("active (")
        second.wait_for("catch-up: evaluate (")  # taken over: its holder died during it
        second.wait_for(": done", count=3)
        b = str(second.proc.pid)
        got = claims(db)
        assert got["ingest"][0] == (a, True)  # finished by the first daemon: not run again
        assert got["evaluate"] == [(b, True)]
        assert got["digest"] == [(b, True)] and got["notify"] == [(b, True)]
        assert run_count(db) == 1

        # A standby stops at once on SIGTERM; the active one after its current job.
        third = Daemon(config)
        try:
            third.wait_for("standby: another daemon is active")
            third.signal(signal.SIGTERM)
            assert third.wait() == 0
            assert third.lines[-1].endswith("stopped")
        finally:
            third.close()
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
        assert second.lines[-1].endswith("stopped")
        assert claims(db)["evaluate"] == [(b, True)]
    finally:
        db.dispose()
        first.close()
        if second is not None:
            second.close()


@pytest.mark.slow
def test_sigterm_lets_the_running_job_finish(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'compliance.db'}"
    config = deployment(tmp_path, url)
    trace = tmp_path / "trace.txt"
    daemon = Daemon(
        config, COMPLIANCE_FAULT_POINT="job.evaluate:1:sleep=2", COMPLIANCE_FAULT_TRACE=str(trace)
    )
    db = open_database(url)
    try:
        deadline = time.monotonic() + 20
        while "job.evaluate" not in (trace.read_text() if trace.exists() else ""):
            assert time.monotonic() < deadline, "\n".join(daemon.lines)
            time.sleep(0.05)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        log = "\n".join(daemon.lines)
        assert "stopping (SIGTERM): the current job finishes, then the daemon exits" in log
        assert "digest: not started, the daemon is stopping" in log
        assert "notify: not started, the daemon is stopping" in log
        pid = str(daemon.proc.pid)
        assert claims(db) == {"evaluate": [(pid, True)], "ingest": [(pid, True)]}
        assert run_count(db) == 1  # the evaluation finished and was committed
        assert daemon.lines[-1].endswith("stopped")
    finally:
        db.dispose()
        daemon.close()


def test_catch_up_after_downtime_runs_each_job_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'compliance.db'}"
    config_path = deployment(tmp_path, url)
    db = open_database(url)
    # The daemon last ran on Wednesday 1 February 2023 and comes back on Monday 6 February at 09:00.
    for job, key in [
        ("ingest", "2023-02-01T09:00+07:00"),
        ("evaluate", "2023-02-01T07:00+07:00"),
        ("notify", "2023-02-01T07:30+07:00"),
        ("digest", "2023-01-30T07:00+07:00"),
    ]:
        claim_job(db, job, key, "host:1:old", now=dt.datetime(2023, 2, 1, tzinfo=TZ))
        finish_job(db, job, key, "host:1:old", now=dt.datetime(2023, 2, 1, tzinfo=TZ))
    stopping = threading.Event()
    clock = FixedClock(dt.datetime(2023, 2, 6, 9, 0, tzinfo=TZ))
    result: list[int] = []
    daemon = threading.Thread(
        target=lambda: result.append(
            run_daemon(config_path, clock=clock, install_signals=False, stopping=stopping, lock_check_s=0.1)
        )
    )
    daemon.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with db.read() as conn:
                done = conn.execute(
                    select(func.count()).select_from(job_runs).where(job_runs.c.finished_at.is_not(None))
                ).scalar()
            if done == 8:
                break
            assert time.monotonic() < deadline, claims(db)
            time.sleep(0.05)
    finally:
        stopping.set()
        daemon.join(20)
    assert result == [0]
    with db.read() as conn:
        keys = sorted(conn.execute(select(job_runs.c.job, job_runs.c.fire_key)).all())
        evaluated = list(conn.execute(select(runs.c.evaluated_on)).scalars())
    assert keys == [
        ("digest", "2023-01-30T07:00+07:00"),
        ("digest", "2023-02-06T07:00+07:00"),
        ("evaluate", "2023-02-01T07:00+07:00"),
        ("evaluate", "2023-02-06T07:00+07:00"),  # one run for the five missed mornings
        ("ingest", "2023-02-01T09:00+07:00"),
        ("ingest", "2023-02-06T09:00+07:00"),
        ("notify", "2023-02-01T07:30+07:00"),
        ("notify", "2023-02-06T07:30+07:00"),
    ]
    assert evaluated == [dt.date(2023, 2, 6)]

    # A fire time that fires again (a second daemon, a restart) does not run again.
    again = run_scheduled(
        "evaluate", load_config(config_path), "0 7 * * *", db=db, holder="host:2:other", clock=clock
    )
    assert (again.ran, again.fire_key) == (False, "2023-02-06T07:00+07:00")
    assert run_count(db) == 1
    db.dispose()


def test_a_lost_lock_stops_scheduling_and_goes_back_to_standby(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'compliance.db'}"
    config_path = deployment(tmp_path, url)
    stopping = threading.Event()
    clock = FixedClock(dt.datetime(2023, 2, 6, 9, 0, tzinfo=TZ))
    caplog.set_level("INFO", logger="compliance.daemon")
    daemon = threading.Thread(
        target=run_daemon,
        args=(config_path,),
        kwargs={"clock": clock, "install_signals": False, "stopping": stopping, "lock_check_s": 0.1},
    )
    daemon.start()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 20
        while sum(text in r.getMessage() for r in caplog.records) < count:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.05)

    try:
        wait_for("notify 2023-02-06T07:30+07:00: done")
        (tmp_path / "compliance.db.daemon-lock").unlink()  # someone removed the lock file
        wait_for("lost the daemon lock: back to standby")
        wait_for("active (", count=2)  # nobody else holds the new lock file: active again
        wait_for("catch-up: nothing missed")
    finally:
        stopping.set()
        daemon.join(20)
    assert not daemon.is_alive()
