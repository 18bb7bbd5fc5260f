"""`compliance serve` (the web pages, via uvicorn) and `compliance users add|list|remove` (web accounts)."""

from __future__ import annotations

import datetime as dt
import os
import sys

import click

from compliance.cli import cli
from compliance.cli.context import AppContext, emit_json, pass_app
from compliance.errors import ComplianceError
from compliance.signing import MIN_SECRET_LENGTH, SECRET_ENV

__all__ = ["MIN_PASSWORD_LENGTH", "serve", "users_group", "web_secret"]

MIN_PASSWORD_LENGTH = 10


def web_secret() -> str:
    """The secret that signs sessions and heads' links: only ever from the environment."""
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise ComplianceError(
            f"{SECRET_ENV} is not set: the web pages sign sessions and agency heads' links with it.\n"
            "  hint: set it to a long random string, the same for `compliance serve` and the daemon that "
            "sends the emails, e.g. export "
            f"{SECRET_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ComplianceError(f"{SECRET_ENV} is too short: use at least {MIN_SECRET_LENGTH} characters")
    return secret


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Serve as if today were this local date (demonstrations on past data, tests).",
)
@pass_app
def serve(app: AppContext, host: str, port: int, at: dt.datetime | None) -> None:
    """Serve the web pages (SPEC §10) over the deployment's database."""
    import uvicorn

    from compliance.clock import Clock, FixedClock, SystemClock
    from compliance.web.app import create_app

    secret = web_secret()
    config = app.config
    clock: Clock = SystemClock()
    if at is not None:
        clock = FixedClock(dt.datetime.combine(at.date(), dt.time(12), tzinfo=config.deployment.tz))
    web = create_app(config, app.db, clock=clock, secret=secret)
    app.err.print(f"Serving {config.deployment.name} on http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(web, host=host, port=port, log_level="info", access_log=True, server_header=False)


@cli.group("users")
def users_group() -> None:
    """Web accounts of office staff and auditors (agency heads use the links in their emails)."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.UsageError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    return password


@users_group.command("add")
@click.option(
    "--role",
    type=click.Choice(["office", "auditor"]),
    required=True,
    help="office: Văn phòng; auditor: read-only.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
)
@click.option("--replace", is_flag=True, help="Change the role and password of an existing account.")
@click.argument("email")
@pass_app
def users_add(app: AppContext, role: str, password_stdin: bool, replace: bool, email: str) -> None:
    """Create (or with --replace, change) the web account EMAIL."""
    from compliance.clock import SystemClock
    from compliance.storage.auditlog import format_at
    from compliance.storage.users import ROLES, add_user, set_user
    from compliance.web.auth import hash_password

    address = email.strip().lower()
    if (
        "@" not in address
        or address.startswith("@")
        or address.endswith("@")
        or any(c.isspace() for c in address)
    ):
        raise click.UsageError(f"'{email}' is not an email address")
    password = _read_password(password_stdin)
    chosen = next(r for r in ROLES if r == role)
    hashed = hash_password(password)
    with app.db.begin() as conn:
        if replace:
            user = set_user(conn, address, role=chosen, password_hash=hashed)
        else:
            user = add_user(
                conn, address, role=chosen, password_hash=hashed, created_at=format_at(SystemClock().now())
            )
    verb = "updated" if replace else "added"
    app.out.print(f"user {user.email} {verb} (role {user.role})")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def users_list(app: AppContext, as_json: bool) -> None:
    """Every web account, without password hashes."""
    from compliance.storage.users import list_users

    with app.db.read() as conn:
        users = list_users(conn)
    if as_json:
        emit_json([{"email": u.email, "role": u.role, "created_at": u.created_at} for u in users])
        return
    for u in users:
        app.out.print(f"{u.email}\t{u.role}\t{u.created_at}")


@users_group.command("remove")
@click.argument("email")
@pass_app
def users_remove(app: AppContext, email: str) -> None:
    """Delete the web account EMAIL (its open sessions end at their next request)."""
    from compliance.storage.users import remove_user

    with app.db.begin() as conn:
        remove_user(conn, email)
    app.out.print(f"user {email.strip().lower()} removed")
