"""One active daemon per database: an flock next to the SQLite file, a session advisory lock on PostgreSQL.

Both are released by someone else when the holder dies, even by SIGKILL: the kernel closes the file
(and drops its flock), the server ends the session (and its advisory locks). A standby daemon therefore
only has to retry.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, NullPool, create_engine, text

from compliance.storage.db import Database

__all__ = ["DaemonLock", "acquire_daemon_lock", "lock_file_path", "make_holder"]

# PostgreSQL advisory lock: ("cmpd" in ASCII, hash of the schema), so deployments sharing one database
# in different schemas (and the test suite's schemas) have one daemon each. migrate.py uses "cmpl".
_PG_LOCK_KEY = 0x636D7064


class DaemonLock(Protocol):
    description: str

    def check(self) -> bool:
        """Still held?"""
        ...

    def release(self) -> None: ...


class _FileLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.description = f"file lock {path}"

    def check(self) -> bool:
        # Held as long as our descriptor is still the file at that path (nobody deleted or replaced it).
        try:
            return os.fstat(self.fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def release(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)


class _AdvisoryLock:
    def __init__(self, conn: Connection, engine: Any) -> None:
        self.conn = conn
        self.engine = engine
        self.description = "PostgreSQL advisory lock"

    def check(self) -> bool:
        try:
            held = self.conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND classid = :k AND granted"
                ),
                {"k": _PG_LOCK_KEY},
            ).scalar()
            self.conn.commit()
            return bool(held)
        except Exception:
            return False

    def release(self) -> None:
        try:
            self.conn.execute(
                text("SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"), {"k": _PG_LOCK_KEY}
            )
            self.conn.commit()
        except Exception:  # the connection is gone: so is the lock
            pass
        finally:
            self.conn.close()
            self.engine.dispose()


def lock_file_path(db: Database) -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:":
        raise ValueError("the daemon needs a database file (an in-memory SQLite database cannot be shared)")
    return Path(database).resolve().with_name(Path(database).name + ".daemon-lock")


def acquire_daemon_lock(db: Database, holder: str) -> DaemonLock | None:
    """Take the database's daemon lock without waiting; None when another daemon holds it."""
    if db.is_sqlite:
        path = lock_file_path(db)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{holder}\n".encode())
        return _FileLock(path, fd)
    # A connection of its own (not from the pool: closing it must end the session and free the lock),
    # in autocommit so it never sits idle inside a transaction.
    engine = create_engine(db.engine.url, poolclass=NullPool)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    got = conn.execute(
        text("SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"), {"k": _PG_LOCK_KEY}
    ).scalar()
    conn.commit()
    if not got:
        conn.close()
        engine.dispose()
        return None
    return _AdvisoryLock(conn, engine)


def make_holder() -> str:
    """Who holds a claim or the lock: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
