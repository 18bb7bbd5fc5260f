"""Ingesting the inbox: each snapshot file ingested or rejected on its own, then moved out of the inbox.

Order of work for one file, and why it is crash-safe (tests/faults/test_crash.py kills it everywhere):
1. its sha256 is already stored → nothing to write; it is only moved to processed/ (this is also what a
   rerun finds after a crash between a commit and the move);
2. parse it; store it (or its rejection) in one transaction;
3. only after that commit, move it to processed/ or rejected/ (with NAME.errors.txt beside it).
A crash before the commit leaves the file in the inbox and nothing in the database: the next run does
it again. A crash after it leaves the file in the inbox and its sha256 stored: the next run moves it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from compliance import faults
from compliance.clock import Clock
from compliance.errors import InputError
from compliance.loading.deployment import Deployment
from compliance.loading.validation import display_path
from compliance.storage.db import Database
from compliance.storage.schema import snapshot_files

__all__ = ["FileOutcome", "InboxResult", "PROCESSED", "REJECTED", "inbox_files", "ingest_inbox"]

PROCESSED = "processed"
REJECTED = "rejected"
SUFFIXES = (".csv", ".xlsx")
Status = Literal["ingested", "duplicate", "rejected"]


@dataclass(frozen=True)
class FileOutcome:
    """What became of one inbox file (the shape of `ingest --json`, plus where the file went)."""

    file: str
    sha256: str
    rows: int
    status: Status
    errors: tuple[str, ...] = ()
    moved_to: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "rows": self.rows,
            "status": self.status,
            "errors": list(self.errors),
            "moved_to": self.moved_to,
        }


@dataclass(frozen=True)
class InboxResult:
    files: tuple[FileOutcome, ...] = ()
    skipped: tuple[str, ...] = field(default=())  # still being written (newer than the settle time)

    def count(self, status: Status) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rejected(self) -> tuple[FileOutcome, ...]:
        return tuple(f for f in self.files if f.status == "rejected")

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("ingested", "duplicate", "rejected")}

    def as_json(self) -> list[dict[str, Any]]:
        return [f.as_json() for f in self.files]


def inbox_files(
    inbox: Path, *, settle_s: float = 0.0, now: float | None = None
) -> tuple[list[Path], list[Path]]:
    """(files to ingest, files left for later): *.csv / *.xlsx directly in the inbox, in name order.

    Hidden files and Excel's `~$` lock files are never snapshot files. A file modified less than
    `settle_s` seconds ago may still be being copied in; the daemon leaves it for its next run.
    """
    if not inbox.is_dir():
        return [], []
    wall = time.time() if now is None else now  # file times are wall-clock times, not the domain clock
    ready: list[Path] = []
    young: list[Path] = []
    for path in sorted(inbox.iterdir(), key=lambda p: p.name):
        if not path.is_file() or path.name.startswith((".", "~$")) or path.suffix.lower() not in SUFFIXES:
            continue
        if settle_s > 0 and wall - path.stat().st_mtime < settle_s:
            young.append(path)
        else:
            ready.append(path)
    return ready, young


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem.N.suffix` with the first free N: nothing is ever overwritten."""
    target = folder / name
    n = 0
    while target.exists() or target.with_name(target.name + ".errors.txt").exists():
        n += 1
        stem, dot, suffix = name.rpartition(".")
        target = folder / (f"{stem}.{n}.{suffix}" if dot else f"{name}.{n}")
    return target


def _move(path: Path, folder: Path, errors: Sequence[str] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name)
    if errors:
        # Written before the move: a crash in between leaves an errors file that the rerun overwrites.
        target.with_name(target.name + ".errors.txt").write_text("\n".join(errors) + "\n", encoding="utf-8")
    path.replace(target)
    return target


def _stored(db: Database, sha256: str) -> int | None:
    """The row count of an already-ingested file with these bytes, or None."""
    with db.read() as conn:
        row = conn.execute(select(snapshot_files.c.rows).where(snapshot_files.c.sha256 == sha256)).first()
    return None if row is None else int(row.rows)


def _ingest_one(db: Database, deployment: Deployment, path: Path, *, clock: Clock) -> FileOutcome:
    from compliance.loading.snapshots import parse_snapshot
    from compliance.storage.auditlog import format_at
    from compliance.storage.snapshots import ingest, record_rejection

    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    stored = _stored(db, sha)
    inbox = path.parent
    if stored is not None:
        moved = _move(path, inbox / PROCESSED)
        return FileOutcome(path.name, sha, stored, "duplicate", moved_to=str(moved.relative_to(inbox)))
    at = format_at(clock.now())
    shown = display_path(path)
    try:
        parsed = parse_snapshot(path, deployment.rulebook, deployment.directory, shown)
    except InputError as exc:
        errors = tuple(str(p) for p in exc.problems)
        with db.begin() as conn:
            record_rejection(conn, shown, sha, list(errors), at=at)
        faults.point("ingest.after-commit")
        moved = _move(path, inbox / REJECTED, errors)
        return FileOutcome(path.name, sha, 0, "rejected", errors, str(moved.relative_to(inbox)))
    with db.begin() as conn:
        result = ingest(conn, parsed, at=at)
    faults.point("ingest.after-commit")
    moved = _move(path, inbox / PROCESSED)
    return FileOutcome(path.name, sha, result.rows, result.status, moved_to=str(moved.relative_to(inbox)))


def ingest_inbox(
    db: Database, deployment: Deployment, inbox: Path, *, clock: Clock, settle_s: float = 0.0
) -> InboxResult:
    """Ingest every snapshot file in the inbox, each on its own; see the module docstring."""
    ready, young = inbox_files(inbox, settle_s=settle_s)
    outcomes = [_ingest_one(db, deployment, path, clock=clock) for path in ready]
    return InboxResult(tuple(outcomes), tuple(p.name for p in young))
