"""Web accounts of office staff and auditors (the `users` table); passwords arrive already hashed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, delete, insert, select, update

from compliance.errors import NotFoundError, StateError
from compliance.storage.schema import users

__all__ = ["ROLES", "Role", "User", "add_user", "get_user", "list_users", "remove_user", "set_user"]

Role = Literal["office", "auditor"]
ROLES: tuple[Role, ...] = ("office", "auditor")


@dataclass(frozen=True)
class User:
    email: str
    role: Role
    password_hash: str
    created_at: str


def _normal(email: str) -> str:
    # Emails are compared case-insensitively: people type them both ways at the sign-in form.
    return email.strip().lower()


def _role(value: str) -> Role:
    for role in ROLES:
        if role == value:
            return role
    raise ValueError(f"unknown role {value!r}")


def get_user(conn: Connection, email: str) -> User | None:
    row = conn.execute(select(users).where(users.c.email == _normal(email))).first()
    if row is None:
        return None
    return User(row.email, _role(row.role), row.password_hash, row.created_at)


def list_users(conn: Connection) -> list[User]:
    rows = conn.execute(select(users).order_by(users.c.email))
    return [User(r.email, _role(r.role), r.password_hash, r.created_at) for r in rows]


def add_user(conn: Connection, email: str, *, role: Role, password_hash: str, created_at: str) -> User:
    """A new account; an email that already has one is a StateError (use set_user to change it)."""
    if get_user(conn, email) is not None:
        raise StateError(f"tài khoản {_normal(email)} đã tồn tại")
    conn.execute(
        insert(users).values(
            email=_normal(email), role=_role(role), password_hash=password_hash, created_at=created_at
        )
    )
    return User(_normal(email), role, password_hash, created_at)


def set_user(conn: Connection, email: str, *, role: Role, password_hash: str) -> User:
    """Change an existing account's role and password."""
    existing = get_user(conn, email)
    if existing is None:
        raise NotFoundError(f"không có tài khoản {_normal(email)}")
    conn.execute(
        update(users)
        .where(users.c.email == existing.email)
        .values(role=_role(role), password_hash=password_hash)
    )
    return User(existing.email, role, password_hash, existing.created_at)


def remove_user(conn: Connection, email: str) -> None:
    result = conn.execute(delete(users).where(users.c.email == _normal(email)))
    if result.rowcount == 0:
        raise NotFoundError(f"không có tài khoản {_normal(email)}")
