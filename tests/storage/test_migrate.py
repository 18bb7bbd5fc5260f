"""Migrations: the migrated schema is exactly schema.py, upgrades are idempotent and safe from two processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from compliance.audit import GENESIS
from compliance.storage import migrate, schema
from compliance.storage.db import Database, open_database


def test_migrated_schema_equals_schema_py(db: Database) -> None:
    with db.read() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": migrate.compare_server_default}
        )
        assert compare_metadata(context, schema.metadata) == []
        assert context.get_current_revision() == migrate.head_revision()
        tables = set(inspect(conn).get_table_names())
    assert tables == set(schema.metadata.tables) | {"alembic_version"}


def test_upgrade_again_changes_nothing(db: Database) -> None:
    migrate.upgrade(db)
    migrate.upgrade(db)
    with db.read() as conn:
        head = conn.execute(select(schema.audit_head)).all()
        assert [tuple(r) for r in head] == [(1, 0, GENESIS)]
        assert MigrationContext.configure(conn).get_current_revision() == migrate.head_revision()


def test_downgrade_to_base_then_upgrade_again(db: Database) -> None:
    with db.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    with db.read() as conn:
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    migrate.upgrade(db)
    with db.read() as conn:
        assert set(inspect(conn).get_table_names()) == set(schema.metadata.tables) | {"alembic_version"}
        assert conn.execute(select(func.count()).select_from(schema.audit_head)).scalar() == 1


def test_two_processes_migrate_a_fresh_database_at_once(db_url: str, tmp_path: Path) -> None:
    start = time.time() + 1.5  # both import alembic first, then open the database at the same moment
    script = textwrap.dedent(
        f"""
        import time
        from compliance.storage.db import open_database
        time.sleep(max(0.0, {start} - time.time()))
        open_database({db_url!r}).dispose()
        print("ok")
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    db = open_database(db_url, migrate=False)
    try:
        with db.read() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == migrate.head_revision()
            assert conn.execute(select(func.count()).select_from(schema.audit_head)).scalar() == 1
    finally:
        db.dispose()


def test_revision_of_an_unchanged_schema_has_no_operations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    path = migrate.revision("nothing changed")
    assert path.parent == scripts / "versions"
    assert path.name == f"r{len(list(path.parent.glob('r*.py'))):04d}_nothing_changed.py"
    text = path.read_text(encoding="utf-8")
    upgrade_body = text.split("def upgrade() -> None:\n", 1)[1].split("\n\n", 1)[0]
    assert [line.strip() for line in upgrade_body.splitlines() if not line.strip().startswith("#")] == [
        "pass"
    ]
    assert f"down_revision = {migrate.head_revision()!r}" in text
