"""CRASH TEST: `run --once` killed with SIGKILL at every moment that matters, then run again.

A clean run with COMPLIANCE_FAULT_TRACE lists every fault point the run reaches, in order (ingest after
each file's commit, the evaluation with everything written but not committed — its task-opened emails
queued with their facts only —, the outbox written, the due messages rendered and their text stored,
each message claimed, each message accepted by the SMTP server but not yet recorded). Then, for each of those
moments, a fresh deployment is run with COMPLIANCE_FAULT_POINT=name:n (the process SIGKILLs itself
there), then run again without the fault, and the end state is compared with the clean run's:
- no lost email: every message of the clean run was received by the SMTP server and is `sent`;
- no duplicate task: the same tasks, one active per (rule, agency), one evaluation run;
- the audit chain verifies, and the inbox was processed exactly once;
- a message received twice is only one killed after the server accepted it and before the result was
  recorded, and it is marked possible_duplicate.
The figures (kill points tried, duplicates found) are printed: run pytest with -s to see them.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, text, update

from compliance.audit import GENESIS
from compliance.storage import auditlog, schema
from compliance.storage.db import open_database
from compliance.storage.schema import notifications, runs, snapshot_files, tasks
from tests.conftest import PG_ADMIN_URL, postgres_or_skip
from tests.faults.crash_child import run_cli
from tests.support.deployment import write_deployment
from tests.support.smtp_server import SmtpServer, start_smtp_server

D = "2023-02-06"  # a Monday: task-opened emails and the weekly digest go out the same day
HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"
INBOX = {
    # so-a and huyen-x miss 30% online payment in January; so-b reaches it.
    "data/inbox/2023-01.csv": f"{HEADER}\n2023-01,so-a,online_payment,20,100,,,\n"
    "2023-01,so-b,online_payment,50,100,,,\n2023-01,huyen-x,online_payment,10,100,,,\n",
    # so-b's PAR index is below 80: a second task for Sở B's head.
    "data/inbox/2022-par.csv": f"{HEADER}\n2022,so-a,par_index,,,85.5,,\n2022,so-b,par_index,,,79.5,,\n",
    "data/inbox/bad.csv": f"{HEADER}\n2023-01,so-z,online_payment,5,10,,,\n",
}


@dataclass
class Outcome:
    point: str
    killed: bool
    rerun_code: int
    duplicates: int
    possible_duplicates: int
    detail: str = ""  # the killed run's exit code and last output, to diagnose a point not reached


@contextmanager
def databases(kind: str, n: int, root: Path) -> Iterator[list[str]]:
    """n empty databases: SQLite files, or PostgreSQL schemas (dropped afterwards)."""
    if kind == "sqlite":
        yield [f"sqlite:///{root / f'db-{uuid.uuid4().hex[:8]}.sqlite'}" for _ in range(n)]
        return
    postgres_or_skip()
    names = [f"t_crash_{uuid.uuid4().hex[:10]}" for _ in range(n)]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f"CREATE SCHEMA {name}"))
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    try:
        yield [f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


def empty(url: str) -> None:
    """Every table emptied, the audit chain back to its genesis; the schema stays migrated."""
    db = open_database(url)
    try:
        with db.begin() as conn:
            for table in reversed(schema.metadata.sorted_tables):
                if table is not schema.audit_head:
                    conn.execute(delete(table))
            conn.execute(update(schema.audit_head).values(seq=0, hash=GENESIS))
    finally:
        db.dispose()


def scenario(root: Path, url: str, smtp: SmtpServer, sender: str) -> Path:
    root.mkdir(parents=True)
    return write_deployment(
        root,
        database_url=url,
        config_extra=f'[engine]\nbackend = "python"\n\n[email]\nbackend = "smtp"\nsender = "{sender}"\n\n'
        f'[email.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n',
        extra_files=INBOX,
    )


# Runs are forked from a server process that imported and warmed the package (see crash_child.py).
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["tests.faults.crash_child"])


@dataclass
class Run:
    returncode: int
    stdout: str


def run_once(config: Path, **env: str) -> Run:
    out = config.parent / f"run-{uuid.uuid4().hex[:8]}.out"
    process = _CTX.Process(target=run_cli, args=(str(config), D, env, str(out)))
    process.start()
    process.join(120)
    assert process.exitcode is not None, "the run did not finish within 2 minutes"
    return Run(process.exitcode, out.read_text(encoding="utf-8", errors="replace"))


def received(smtp: SmtpServer, sender: str) -> Counter[str]:
    return Counter(str(m.message["X-Compliance-Key"]) for m in smtp.messages if m.mail_from == sender)


@dataclass
class State:
    comparable: dict[str, object]  # equal to the clean run's, whatever ids the sequences gave
    keys: set[str]  # idempotency keys of the messages in the outbox
    possible_duplicates: set[str]


def state(url: str, root: Path) -> State:
    db = open_database(url)
    try:
        with db.read() as conn:
            count, _head, broken = auditlog.verify(conn)
            # PostgreSQL does not roll sequences back: a killed transaction's task ids are gone, so tasks
            # and messages are compared by what they are about, not by id.
            about = {
                r.id: f"{r.rule}/{r.agency}"
                for r in conn.execute(select(tasks.c.id, tasks.c.rule, tasks.c.agency))
            }
            messages = list(conn.execute(select(notifications)))
            return State(
                {
                    "tasks": sorted(conn.execute(select(tasks.c.rule, tasks.c.agency, tasks.c.status)).all()),
                    "runs": conn.execute(select(func.count()).select_from(runs)).scalar(),
                    "files": conn.execute(select(func.count()).select_from(snapshot_files)).scalar(),
                    "notifications": sorted(
                        (m.kind, m.to_addr, tuple(sorted(about[i] for i in json.loads(m.task_ids))), m.status)
                        for m in messages
                    ),
                    "audit_ok": broken is None and count > 0,
                    "inbox": sorted(p.name for p in (root / "data" / "inbox").iterdir()),
                    "processed": sorted(p.name for p in (root / "data" / "inbox" / "processed").iterdir()),
                },
                {m.key for m in messages},
                {m.key for m in messages if m.possible_duplicate},
            )
    finally:
        db.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_anywhere_then_rerun(kind: str, tmp_path: Path) -> None:
    smtp = start_smtp_server()
    try:
        trace = tmp_path / "trace.txt"
        with databases(kind, 1, tmp_path) as (url,):
            clean_root = tmp_path / "clean"
            clean_config = scenario(clean_root, url, smtp, "s-clean@example.gov.vn")
            clean_run = run_once(clean_config, COMPLIANCE_FAULT_TRACE=str(trace))
            assert clean_run.returncode == 1, clean_run.stdout  # bad.csv is rejected
            reference = state(url, clean_root)
        clean_mail = received(smtp, "s-clean@example.gov.vn")
        assert reference.comparable["audit_ok"] is True
        assert len(reference.keys) == 6  # task-opened and digest for 3 heads
        assert set(clean_mail.values()) == {1}
        assert set(clean_mail) == reference.keys

        reached = trace.read_text(encoding="utf-8").split()
        seen: Counter[str] = Counter()
        points: list[str] = []
        for name in reached:
            seen[name] += 1
            points.append(f"{name}:{seen[name]}")
        assert Counter(reached) == {
            "ingest.after-commit": 3,
            "run.after-ingest": 1,
            "evaluate.before-commit": 1,
            "run.after-evaluate": 1,
            "notify.queued": 1,
            "notify.rendered": 1,  # the 6 due messages rendered and their text stored, none claimed yet
            "notify.claimed": 6,
            "notify.sent": 6,
        }

        def one(i: int, point: str) -> Outcome:
            url = free.get()  # a database of this worker's, emptied (migrating one costs more than a run)
            try:
                empty(url)
                return scenario_outcome(i, point, url)
            finally:
                free.put(url)

        def scenario_outcome(i: int, point: str, url: str) -> Outcome:
            root = tmp_path / f"kill{i}"
            sender = f"s{i}@example.gov.vn"
            config = scenario(root, url, smtp, sender)
            killed = run_once(config, COMPLIANCE_FAULT_POINT=point)
            rerun = run_once(config)
            after = state(url, root)
            mail = received(smtp, sender)
            # Nothing lost, nothing doubled in the database; the chain verifies.
            assert after.comparable == reference.comparable, point
            assert set(mail) == after.keys, point  # every message received
            doubled = {key for key, n in mail.items() if n > 1}
            assert all(n <= 2 for n in mail.values()), point
            assert doubled <= after.possible_duplicates, point
            if doubled:
                assert point.startswith("notify.sent:"), point
            return Outcome(
                point,
                killed.returncode == -9,
                rerun.returncode,
                sum(n - 1 for n in mail.values()),
                len(after.possible_duplicates),
                f"exit {killed.returncode}: {killed.stdout[-400:]}",
            )

        workers = 3
        with databases(kind, workers, tmp_path) as urls, ThreadPoolExecutor(max_workers=workers) as pool:
            free: queue.Queue[str] = queue.Queue()
            for url in urls:
                empty(url)  # migrated here, one at a time: Alembic's `op` is global to the process
                free.put(url)
            outcomes = list(pool.map(one, range(len(points)), points))
    finally:
        smtp.stop()

    assert all(o.killed for o in outcomes), [(o.point, o.detail) for o in outcomes if not o.killed]
    # 1 while bad.csv is still in the inbox (killed before it was moved out), else 0.
    assert all(o.rerun_code in (0, 1) for o in outcomes)
    duplicates = sum(o.duplicates for o in outcomes)
    print(f"\n[crash test, {kind}] kill points tried: {len(outcomes)}; duplicate emails found: {duplicates}")
    for o in outcomes:
        print(f"  {o.point:28} duplicates {o.duplicates}  marked possible_duplicate {o.possible_duplicates}")
    # Every kill between the server's acceptance and the recording gives exactly one duplicate, flagged.
    assert duplicates == sum(1 for o in outcomes if o.point.startswith("notify.sent:")) == 6
