"""The daemon (SPEC §8): APScheduler 3 jobs from [schedule], one active daemon per database, catch-up.

How it fits together (docs/daemon.md has the operator's view):

- Jobs are rebuilt from config.toml at every start, in a memory job store. Nothing is pickled, so no
  refactor can make APScheduler "restore" (and then delete) a stale job; and the schedule in force is
  always the one in the file. What must survive a restart — which fire time already ran — lives in the
  database (`job_runs`), not in APScheduler.
- Each job is the module-level `scheduled_job(job, config_path, cron)`: three strings, referenced as
  "compliance.scheduler:scheduled_job". It claims the row (job, fire_key = its scheduled fire time) in
  `job_runs` first, so a fire time runs once however many times it fires (a restart, a second daemon).
- Cron expressions are crontab's: weekday 0 (and 7) is Sunday, 1-5 is Monday to Friday. APScheduler 3
  counts 0 as Monday, so `CronTrigger.from_crontab("30 7 * * 1-5")` would run Tuesday to Saturday; the
  weekday field is therefore translated to day names first (`crontab_trigger`).
- One active daemon per database: an flock on a file next to the SQLite file, or a session advisory lock
  held by a dedicated PostgreSQL connection. A second daemon is a standby: it retries the lock every few
  seconds and takes over when the first one dies (the kernel or the server releases the lock).
- At start the daemon catches up: a job whose latest scheduled fire time has no finished claim (the
  daemon was down, or died during the job) runs once now — not once per missed fire time.
- SIGTERM / SIGINT: the job running finishes, queued ones are skipped, the lock is released, exit 0.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from compliance import faults
from compliance.clock import Clock, SystemClock
from compliance.errors import ComplianceError
from compliance.model.config import Config
from compliance.scheduler.claims import claim_job, finish_job, plan_catch_up
from compliance.scheduler.cron import crontab_trigger, fire_key, latest_fire_time
from compliance.scheduler.lock import DaemonLock, acquire_daemon_lock, make_holder
from compliance.storage.db import Database

__all__ = [
    "JOBS",
    "MISFIRE_GRACE_S",
    "DaemonLock",
    "JobOutcome",
    "acquire_daemon_lock",
    "build_scheduler",
    "claim_job",
    "crontab_trigger",
    "finish_job",
    "fire_key",
    "job_id",
    "latest_fire_time",
    "make_holder",
    "plan_catch_up",
    "run_daemon",
    "run_job",
    "run_scheduled",
    "scheduled_job",
]

log = logging.getLogger("compliance.daemon")

# The jobs in the order they must run when they fire at the same instant (07:00 on a Monday: fresh data,
# then the evaluation, then the digest listing what it opened). APScheduler hands due jobs to the
# executor in (fire time, job id) order, and the executor has one worker, so the ids carry the order.
JOBS = ("ingest", "evaluate", "digest", "notify")
# A daily job that could not start on time (the machine was suspended, another job ran long) still runs
# up to six hours late, instead of APScheduler's default of one second after which it is skipped.
MISFIRE_GRACE_S = 6 * 3600
# The daemon ingests only files that have not changed for this long: a file still being copied into the
# inbox would otherwise be read half-written and rejected.
INBOX_SETTLE_S = 5.0
DEFAULT_POLL_S = 5.0
DEFAULT_LOCK_CHECK_S = 30.0


def job_id(job: str) -> str:
    """The APScheduler id: its position in JOBS first, so same-instant jobs run in pipeline order."""
    return f"{JOBS.index(job) + 1}-{job}"


# --- the jobs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobOutcome:
    job: str
    fire_key: str
    ran: bool
    summary: dict[str, Any] = field(default_factory=dict)


def run_job(job: str, config: Config, db: Database, *, clock: Clock, settle_s: float = 0.0) -> dict[str, Any]:
    """Do the work of one job at the clock's time; a summary for the log."""
    from compliance.pipeline import run as pipeline

    if job == "ingest":
        return pipeline.ingest_step(db, config, clock=clock, settle_s=settle_s).summary()
    if job == "evaluate":
        inbox = pipeline.ingest_step(db, config, clock=clock, settle_s=settle_s)
        evaluation = pipeline.evaluate_step(db, config, on=None, clock=clock)
        return {"ingest": inbox.summary(), "evaluate": evaluation.summary()}
    if job in ("notify", "digest"):
        return pipeline.notify_step(db, config, on=None, clock=clock, digest=job == "digest").summary()
    raise ValueError(f"unknown job '{job}' (one of {', '.join(JOBS)})")


@dataclass
class _Runtime:
    """What the jobs of the running daemon share: set by run_daemon, read by scheduled_job."""

    db: Database
    holder: str
    clock: Clock
    stopping: threading.Event = field(default_factory=threading.Event)
    take_over: dict[str, str] = field(default_factory=dict)


_RUNTIME: _Runtime | None = None


def run_scheduled(
    job: str,
    config: Config,
    cron: str,
    *,
    db: Database,
    holder: str,
    clock: Clock,
    take_over_key: str | None = None,
    settle_s: float = INBOX_SETTLE_S,
) -> JobOutcome:
    """One firing of a job: claim its fire time, do the work, mark it finished."""
    tz = config.deployment.tz
    now = clock.now()
    fire = latest_fire_time(crontab_trigger(cron, tz), now) or now
    key = fire_key(fire, tz)
    if not claim_job(db, job, key, holder, now=now, take_over=take_over_key == key):
        log.info("%s %s: already run (claimed in job_runs), skipped", job, key)
        return JobOutcome(job, key, ran=False)
    log.info("%s %s: started", job, key)
    faults.point(f"job.{job}")
    summary = run_job(job, config, db, clock=clock, settle_s=settle_s)
    finish_job(db, job, key, holder, now=clock.now())
    log.info("%s %s: done %s", job, key, summary)
    return JobOutcome(job, key, ran=True, summary=summary)


def scheduled_job(job: str, config_path: str, cron: str) -> None:
    """What APScheduler calls ("compliance.scheduler:scheduled_job", three strings as arguments)."""
    from compliance.loading.config import load_config

    runtime = _RUNTIME
    if runtime is None:
        raise RuntimeError("scheduled_job runs inside run_daemon")
    if runtime.stopping.is_set():
        log.info("%s: not started, the daemon is stopping", job)
        return
    try:
        config = load_config(Path(config_path))
        run_scheduled(
            job,
            config,
            cron,
            db=runtime.db,
            holder=runtime.holder,
            clock=runtime.clock,
            take_over_key=runtime.take_over.pop(job, None),
        )
    except ComplianceError as exc:
        # The user's files or the stored state (invalid config, time going backwards): no traceback.
        # The claim stays unfinished, so the next start catches this fire time up; the daemon goes on.
        log.error("%s: failed: %s", job, exc)
    except Exception:
        log.exception("%s: failed", job)


# --- the scheduler --------------------------------------------------------------------------------


def build_scheduler(
    config: Config,
    config_path: str,
    *,
    schedule: Mapping[str, str] | None = None,
    run_now: frozenset[str] = frozenset(),
) -> BlockingScheduler:
    """A BlockingScheduler with one cron job per [schedule] entry, in the deployment's time zone.

    `schedule` overrides config.toml's (tests); jobs in `run_now` also run once at start (catch-up).
    """
    tz = config.deployment.tz
    crons = dict(schedule or config.schedule.model_dump())
    scheduler = BlockingScheduler(
        timezone=tz,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
    )
    now = dt.datetime.now(tz)
    for job in JOBS:
        extra: dict[str, Any] = {"next_run_time": now} if job in run_now else {}
        scheduler.add_job(
            "compliance.scheduler:scheduled_job",
            trigger=crontab_trigger(crons[job], tz),
            args=[job, config_path, crons[job]],
            id=job_id(job),
            name=job,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_S,
            replace_existing=True,
            **extra,
        )
    return scheduler


# --- run_daemon -----------------------------------------------------------------------------------


def run_daemon(
    config_path: Path,
    *,
    schedule: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    poll_s: float = DEFAULT_POLL_S,
    lock_check_s: float = DEFAULT_LOCK_CHECK_S,
    install_signals: bool = True,
    stopping: threading.Event | None = None,
) -> int:
    """`compliance run`: wait for the daemon lock (standby), then schedule the jobs until stopped."""
    global _RUNTIME
    from compliance.loading.config import database_url, load_config
    from compliance.storage.db import open_database

    config = load_config(config_path)
    tz = config.deployment.tz
    crons = dict(schedule or config.schedule.model_dump())
    for job in JOBS:
        crontab_trigger(crons[job], tz)  # a bad expression stops the daemon before it takes the lock
    db = open_database(database_url(config), base_dir=config.base_dir)
    runtime = _Runtime(
        db=db, holder=make_holder(), clock=clock or SystemClock(), stopping=stopping or threading.Event()
    )
    state: dict[str, BlockingScheduler | None] = {"scheduler": None, "shutting": None}

    def request_stop(reason: str) -> None:
        if not runtime.stopping.is_set():
            log.info("stopping (%s): the current job finishes, then the daemon exits", reason)
        runtime.stopping.set()
        scheduler = state["scheduler"]
        if scheduler is not None and not state.get("shutting"):
            state["shutting"] = scheduler
            # Not from the signal handler itself: shutdown takes the scheduler's locks, which the
            # interrupted main thread may hold. wait=True: it returns once the running job is done.
            threading.Thread(target=_shutdown, args=(scheduler,), daemon=True).start()

    previous: dict[signal.Signals, Any] = {}
    if install_signals:

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            request_stop(signal.Signals(signum).name)

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        while not runtime.stopping.is_set():
            lock = acquire_daemon_lock(db, runtime.holder)
            if lock is None:
                log.info("standby: another daemon is active on this database; retrying every %g s", poll_s)
                while lock is None and not runtime.stopping.wait(poll_s):
                    lock = acquire_daemon_lock(db, runtime.holder)
                if lock is None:
                    break
            log.info("active (%s, holder %s)", lock.description, runtime.holder)
            try:
                lost = _serve(
                    config, str(config_path), crons, runtime, lock, state, lock_check_s, request_stop
                )
            finally:
                lock.release()
                state["scheduler"] = state["shutting"] = None
            if not lost:
                break
            log.error("lost the daemon lock: back to standby")
            runtime.stopping.clear()
        log.info("stopped")
        return 0
    finally:
        _RUNTIME = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.dispose()


def _shutdown(scheduler: BlockingScheduler) -> None:
    # The signal may come while the main thread is between creating the scheduler and starting it.
    for _ in range(600):
        if scheduler.running:
            break
        time.sleep(0.05)
    try:
        scheduler.shutdown(wait=True)
    except Exception:  # already stopped
        pass


def _serve(
    config: Config,
    config_path: str,
    crons: Mapping[str, str],
    runtime: _Runtime,
    lock: DaemonLock,
    state: dict[str, BlockingScheduler | None],
    lock_check_s: float,
    request_stop: Any,
) -> bool:
    """Run the scheduler while holding the lock; True when it stopped because the lock was lost."""
    global _RUNTIME
    tz = config.deployment.tz
    now = runtime.clock.now()
    due = plan_catch_up(runtime.db, {job: crons[job] for job in JOBS}, tz, now)
    if due:
        log.info("catch-up: %s run once now", ", ".join(f"{j} ({k})" for j, k in due.items()))
    else:
        log.info("catch-up: nothing missed")
    runtime.take_over = dict(due)
    _RUNTIME = runtime
    scheduler = build_scheduler(config, config_path, schedule=crons, run_now=frozenset(due))
    state["scheduler"] = scheduler
    upcoming = []
    for job in JOBS:
        fire = crontab_trigger(crons[job], tz).get_next_fire_time(None, now)
        upcoming.append(f"{job} '{crons[job]}' next {fire_key(fire, tz) if fire else 'never'}")
    log.info("schedule (%s): %s", tz.key, "; ".join(upcoming))
    lost = threading.Event()

    def watch() -> None:
        # Also the way a stop requested from outside (the `stopping` event) reaches the scheduler.
        while not runtime.stopping.wait(lock_check_s):
            if not lock.check():
                lost.set()
                request_stop("the daemon lock was lost")
                return
        request_stop("asked to stop")

    watcher = threading.Thread(target=watch, name="daemon-lock-watch", daemon=True)
    watcher.start()
    if runtime.stopping.is_set():  # a signal arrived before the scheduler existed
        return False
    scheduler.start()  # blocks until shutdown (SIGTERM) has waited for the running job
    return lost.is_set()
