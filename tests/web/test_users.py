"""Web accounts: the repository on both databases, and `compliance users` / `compliance serve` through the CLI."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from compliance.errors import NotFoundError, StateError
from compliance.storage.db import Database
from compliance.storage.users import add_user, get_user, list_users, remove_user, set_user
from compliance.web.auth import verify_password
from tests.conftest import Cli
from tests.support.deployment import write_deployment


def test_accounts_are_kept_by_lowercased_email(db: Database) -> None:
    with db.begin() as conn:
        add_user(
            conn,
            " VanPhong@Example.gov.vn ",
            role="office",
            password_hash="h1",
            created_at="2023-07-05T00:00:00Z",
        )
        add_user(
            conn,
            "thanhtra@example.gov.vn",
            role="auditor",
            password_hash="h2",
            created_at="2023-07-05T00:00:00Z",
        )
    with db.read() as conn:
        user = get_user(conn, "VANPHONG@example.gov.vn")
        assert user is not None and (user.email, user.role) == ("vanphong@example.gov.vn", "office")
        assert [u.email for u in list_users(conn)] == ["thanhtra@example.gov.vn", "vanphong@example.gov.vn"]
    with db.begin() as conn, pytest.raises(StateError, match="tài khoản vanphong@example.gov.vn đã tồn tại"):
        add_user(conn, "vanphong@example.gov.vn", role="auditor", password_hash="h3", created_at="x")
    with db.begin() as conn:
        changed = set_user(conn, "vanphong@example.gov.vn", role="auditor", password_hash="h4")
        assert (changed.role, changed.password_hash, changed.created_at) == (
            "auditor",
            "h4",
            "2023-07-05T00:00:00Z",
        )
        remove_user(conn, "thanhtra@example.gov.vn")
    with db.read() as conn:
        assert get_user(conn, "thanhtra@example.gov.vn") is None
    with db.begin() as conn, pytest.raises(NotFoundError, match="không có tài khoản ai@example.gov.vn"):
        remove_user(conn, "ai@example.gov.vn")


def _users(tmp_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(tmp_path / "var" / "compliance.db") as conn:
        return list(conn.execute("select email, role, password_hash from users order by email"))


def test_users_add_stores_a_real_password_hash(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    r = cli(
        "users",
        "add",
        "--role",
        "office",
        "--password-stdin",
        "VanPhong@example.gov.vn",
        input_text="mot mat khau dai\n",
    )
    assert (r.returncode, r.stdout.strip(), r.stderr) == (
        0,
        "user vanphong@example.gov.vn added (role office)",
        "",
    )
    [(email, role, hashed)] = _users(tmp_path)
    assert (email, role) == ("vanphong@example.gov.vn", "office")
    assert hashed.startswith("$argon2id$") and "mot mat khau dai" not in hashed
    assert verify_password(hashed, "mot mat khau dai") and not verify_password(hashed, "mot mat khau sai")

    again = cli(
        "users",
        "add",
        "--role",
        "auditor",
        "--password-stdin",
        "vanphong@example.gov.vn",
        input_text="mot mat khau khac\n",
    )
    assert (again.returncode, again.stderr.strip()) == (1, "tài khoản vanphong@example.gov.vn đã tồn tại")
    replaced = cli(
        "users",
        "add",
        "--replace",
        "--role",
        "auditor",
        "--password-stdin",
        "vanphong@example.gov.vn",
        input_text="mot mat khau khac\n",
    )
    assert (replaced.returncode, replaced.stdout.strip()) == (
        0,
        "user vanphong@example.gov.vn updated (role auditor)",
    )
    listed = cli("users", "list", "--json")
    assert [(u["email"], u["role"]) for u in json.loads(listed.stdout)] == [
        ("vanphong@example.gov.vn", "auditor")
    ]
    assert "argon2" not in listed.stdout
    removed = cli("users", "remove", "vanphong@example.gov.vn")
    assert (removed.returncode, removed.stdout.strip()) == (0, "user vanphong@example.gov.vn removed")
    assert _users(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--role", "office", "--password-stdin", "vanphong@example.gov.vn"],
            "short\n",
            "Error: the password must be at least 10 characters long",
        ),
        (
            ["--role", "office", "--password-stdin", "not-an-email"],
            "long enough pw\n",
            "Error: 'not-an-email' is not an email address",
        ),
        (
            ["--role", "head", "--password-stdin", "a@b.vn"],
            "long enough pw\n",
            "Error: Invalid value for '--role': 'head' is not one of 'office', 'auditor'.",
        ),
    ],
)
def test_users_add_refuses_bad_input(
    cli: Cli, tmp_path: Path, args: list[str], stdin: str, message: str
) -> None:
    write_deployment(tmp_path)
    r = cli("users", "add", *args, input_text=stdin)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == message


def test_serve_needs_the_secret_from_the_environment(cli: Cli, tmp_path: Path) -> None:
    write_deployment(tmp_path)
    r = cli("serve", "--port", "1")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (
        "COMPLIANCE_WEB_SECRET is not set: the web pages sign sessions and agency heads' links with it."
    )
    short = cli("serve", env={"COMPLIANCE_WEB_SECRET": "short"})
    assert (short.returncode, short.stderr.strip()) == (
        1,
        "COMPLIANCE_WEB_SECRET is too short: use at least 16 characters",
    )
    assert re.search(r"--at", cli("serve", "--help").stdout)
