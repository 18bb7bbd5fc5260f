"""Opening the database: engine settings per dialect, and bringing the schema up to date."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

__all__ = ["Database", "open_database", "resolve_url"]


class Database:
    """A SQLAlchemy engine plus what repositories need to know about its dialect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction, committed at the end, rolled back on any exception.

        On SQLite it takes the write lock at once (BEGIN IMMEDIATE), so two processes queue up
        instead of failing half-way with 'database is locked' when a reader upgrades to a writer.
        """
        with self.engine.connect() as conn:
            conn.info["immediate"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("immediate", None)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one consistent state across many statements (audit verify).

        PostgreSQL: REPEATABLE READ (READ COMMITTED would see appends committed between two batches).
        SQLite in WAL mode: a read transaction already keeps the snapshot of its first read.
        """
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # We emit BEGIN ourselves: pysqlite's implicit transactions would defeat BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache (allocated as used; the default is 2 MiB): bulk appends to the audit log
    # update indexes in random key order, and the effective-rows query probes a large index.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")


def resolve_url(url: str, base_dir: Path | None) -> str:
    """A relative SQLite path is relative to config.toml's directory; its folder is created."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and base_dir is not None:
        rel = url[len(prefix) :]
        if rel and rel != ":memory:" and not rel.startswith("/"):
            path = (base_dir / rel).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"{prefix}{path}"
    if url.startswith(prefix):
        rel = url[len(prefix) :]
        if rel.startswith("/"):
            Path(rel).parent.mkdir(parents=True, exist_ok=True)
    return url


def open_database(url: str, *, base_dir: Path | None = None, migrate: bool = True) -> Database:
    """Create the engine for `url` and bring its schema up to date."""
    url = resolve_url(url, base_dir)
    if url.startswith("sqlite"):
        # check_same_thread off: a run's bulk inserts go through a storage.bulk.Writer thread while the
        # caller computes; the Writer keeps the connection to one thread at a time.
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    db = Database(engine)
    if migrate:
        from compliance.storage.migrate import upgrade

        upgrade(db)
    return db
