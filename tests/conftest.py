"""Shared fixtures: `db` (a real SQLite file or a real PostgreSQL schema), `cli` (the real command)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from compliance.storage.db import Database, open_database

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("COMPLIANCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


_PG_OK: bool | None = None


def postgres_or_skip() -> None:
    """PostgreSQL tests run for real in CI (COMPLIANCE_REQUIRE_PG=1 turns a missing server into a failure)."""
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _postgres_available()
    if not _PG_OK:
        if os.environ.get("COMPLIANCE_REQUIRE_PG") == "1":
            pytest.fail(
                f"PostgreSQL is required (COMPLIANCE_REQUIRE_PG=1) but not reachable at {PG_ADMIN_URL}"
            )
        pytest.skip("PostgreSQL not reachable (local convenience; CI sets COMPLIANCE_REQUIRE_PG=1)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema of their own, dropped afterwards."""
    postgres_or_skip()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    yield f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a real SQLite file, or a real PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'compliance.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """Runs the installed `compliance` command in a subprocess, as a user would."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env

    def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        input_text: str | None = None,
    ) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "compliance", *args],
            cwd=cwd or self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,  # None: no standard input at all, as in CI
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    return Cli(tmp_path, env)
