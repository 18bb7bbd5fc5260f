"""Schema migrations: `upgrade(db)` brings any database to Alembic's head, safely from many processes.

Alembic is configured in code (no alembic.ini): the scripts live in storage/migrations and always run on
a connection we hand in, inside one transaction (both SQLite and PostgreSQL have transactional DDL),
so a failed migration leaves the schema as it was.

Developers add a revision with `python -m compliance.storage.migrate revision "what changed"`
(see docs/storage.md).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select, text

from compliance.audit import GENESIS
from compliance.storage import schema

if TYPE_CHECKING:
    from compliance.storage.db import Database

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "compare_server_default",
    "head_revision",
    "revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Revision files are `r0002_add_x.py` (valid module names, so mypy and ruff read them like any module).
_FILE_TEMPLATE = "r%%(rev)s_%%(slug)s"
# Advisory-lock key on PostgreSQL ("cmpl" in ASCII); the second key is the schema, so deployments
# (and test schemas) sharing one database do not wait for each other.
_PG_LOCK_KEY = 0x636D706C

_head_cache: str | None = None


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("file_template", _FILE_TEMPLATE)
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision in storage/migrations/versions (read once per process)."""
    global _head_cache
    if _head_cache is None:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package always ships its revisions
            raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
        _head_cache = head
    return _head_cache


def _bare_default(text: str | None) -> str:
    """'0', ('0'), 0, '0'::integer -> 0: a default as written, without quoting and casts."""
    bare = (text or "").strip()
    bare = re.sub(r"::[\w ]+$", "", bare)
    while len(bare) >= 2 and bare[0] + bare[-1] in ("()", "''"):
        bare = bare[1:-1]
    return bare


def compare_server_default(
    _context: Any,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected_default: str | None,
    _metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic's default comparison, except that equal literals differently quoted are equal.

    SQLite reflects `DEFAULT ''` as "''", which Alembic reports as a change on every autogenerate.
    """
    if inspected_default is not None and rendered_metadata_default is not None:
        if _bare_default(inspected_default) == _bare_default(rendered_metadata_default):
            return False
    return None


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _has_head_row(conn: Connection) -> bool:
    return conn.execute(select(schema.audit_head.c.id).where(schema.audit_head.c.id == 1)).first() is not None


def upgrade(db: Database) -> None:
    """Bring the schema to head and make sure the audit chain's head row exists.

    Cheap when nothing is to do (one read, no write lock), so every command can call it on start.
    Two processes starting at once on a fresh database serialise: on PostgreSQL through an advisory
    lock held for the transaction, on SQLite through BEGIN IMMEDIATE (the database's write lock); the
    second one then finds the schema at head and does nothing.
    """
    head = head_revision()
    with db.read() as conn:
        if _current_revision(conn) == head and _has_head_row(conn):
            return
    with db.begin() as conn:
        if not db.is_sqlite:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"), {"key": _PG_LOCK_KEY}
            )
        if _current_revision(conn) != head:
            command.upgrade(alembic_config(conn), "head")
        if not _has_head_row(conn):
            conn.execute(insert(schema.audit_head).values(id=1, seq=0, hash=GENESIS))


def revision(message: str) -> Path:
    """Autogenerate a new revision: the difference between schema.py and the migrations' head.

    Runs against a throw-away SQLite database brought to head, so it needs no server. Review the file
    it writes by hand (see docs/storage.md) before committing it.
    """
    from compliance.storage.db import open_database

    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'empty.db'}", migrate=False)
        try:
            with db.begin() as conn:
                current = _current_revision(conn)
                if current is not None or conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar():
                    raise RuntimeError("the scratch database is not empty")  # pragma: no cover
                script = ScriptDirectory.from_config(alembic_config())
                heads = script.get_heads()
                if heads:
                    command.upgrade(alembic_config(conn), "head")
                number = len(list(script.walk_revisions())) + 1
                result = command.revision(
                    alembic_config(conn), message=message, autogenerate=True, rev_id=f"{number:04d}"
                )
        finally:
            db.dispose()
    scripts = result if isinstance(result, list) else [result]
    path = scripts[0].path if scripts and scripts[0] is not None else ""
    return Path(path)


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "revision":
        path = revision(argv[1])
        sys.stdout.write(f"wrote {path}\nreview it by hand, then run: pytest tests/storage/test_migrate.py\n")
        return 0
    sys.stderr.write('usage: python -m compliance.storage.migrate revision "what changed"\n')
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
