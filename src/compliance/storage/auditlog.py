"""The rule-evaluation log in the database: append under the head lock, read with filters, verify the chain.

The hash of an entry is compliance.audit.entry_hash: sha256(prev_hash + canonical JSON of the entry
without its hash). `data` is stored as its canonical JSON text, so the body that was hashed can be
rebuilt from the stored columns by string concatenation (`_body_json`) without parsing and re-dumping
every entry: that keeps `append` of 400,000 entries and `verify` of millions within seconds. A test
checks that `_body_json` equals canonical_json(entry.body()) for arbitrary entries.

The single `audit_head` row holds the last seq and hash. Every append locks it first (SELECT … FOR UPDATE
on PostgreSQL; on SQLite the BEGIN IMMEDIATE of Database.begin() already holds the database's write
lock), so two processes can never both append after the same entry; seq's primary key is the backstop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, select, update

from compliance.audit import ENTRY_FIELDS, GENESIS, KINDS, AuditEntry, ChainBreak
from compliance.storage.bulk import Writer, bulk_insert
from compliance.storage.schema import audit_head, audit_log

__all__ = [
    "Appender",
    "NewEntry",
    "append",
    "format_at",
    "head",
    "iter_entries",
    "lock_head",
    "verify",
]

_KINDS = frozenset(KINDS)
_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_COLUMN_NAMES = ENTRY_FIELDS
CHUNK = 5_000  # entries an Appender writes at a time
# canonical_json's exact settings, built once (json.dumps builds an encoder per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append; seq, at, prev_hash and hash are given by `append`.

    `data_json`, when given, is `data` already as canonical JSON (compliance.audit.canonical_json) and
    is stored as it is: a caller that has the text anyway saves encoding it twice. `data` is then unused.
    """

    kind: str
    run_id: str | None = None
    rule: str | None = None
    agency: str | None = None
    period: str | None = None
    outcome: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    rules_revision: str | None = None
    data_json: str | None = None


def format_at(instant: dt.datetime) -> str:
    """An aware instant as the log writes it: UTC ISO 8601 with 'Z', to the second."""
    if instant.tzinfo is None:
        raise ValueError("format_at needs an aware datetime")
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body_json(
    seq: int,
    at_json: str,
    run_id: str | None,
    kind: str,
    rule: str | None,
    agency: str | None,
    period: str | None,
    outcome: str | None,
    data_json: str,
    rules_revision: str | None,
    prev_hash: str,
) -> str:
    """canonical_json(AuditEntry.body()), built from the stored columns (keys in sorted order).

    `at_json` is `at` already as a JSON string (encode_basestring(at)): an Appender encodes it once for
    all its entries. Hand-written on purpose: it runs once per entry on append and on verify.
    """
    e = encode_basestring
    return (
        f'{{"agency":{"null" if agency is None else e(agency)},"at":{at_json},"data":{data_json},'
        f'"kind":{e(kind)},"outcome":{"null" if outcome is None else e(outcome)},'
        f'"period":{"null" if period is None else e(period)},"prev_hash":{e(prev_hash)},'
        f'"rule":{"null" if rule is None else e(rule)},'
        f'"rules_revision":{"null" if rules_revision is None else e(rules_revision)},'
        f'"run_id":{"null" if run_id is None else e(run_id)},"seq":{seq}}}'
    )


_sha256 = hashlib.sha256


def _hash(prev_hash: str, body_json: str) -> str:
    return _sha256((prev_hash + body_json).encode("utf-8")).hexdigest()


def head(conn: Connection) -> tuple[int, str]:
    """The chain's head (last seq, its hash) without locking it."""
    row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if row is None:
        raise RuntimeError("the audit_head row is missing: the database was not migrated")
    return int(row[0]), str(row[1])


def lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the head row until the transaction ends and return (last seq, its hash).

    Call it inside Database.begin(). Taking it before a read-then-write (ingest's duplicate check)
    serialises that work with every other writer of the log.
    """
    if conn.dialect.name == "sqlite" and not conn.info.get("immediate"):
        # A deferred SQLite transaction would read the head under a shared lock and fail later when
        # another process wrote first; Database.begin() takes the write lock up front.
        raise RuntimeError("appending to the audit log needs a write transaction (Database.begin())")
    row = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).first()
    if row is None:
        raise RuntimeError("the audit_head row is missing: the database was not migrated")
    return int(row[0]), str(row[1])


def _check_at(at: str) -> None:
    if not _AT.match(at):
        raise ValueError(f"`at` must be UTC ISO 8601 ending in 'Z' (e.g. 2023-07-05T00:30:00Z), got {at!r}")


class Appender:
    """Appends entries one by one after the head, all stamped `at`, written in chunks as they come.

    For runs that log hundreds of thousands of entries: nothing but the current chunk is held in memory
    and no AuditEntry is built. The head is locked when the Appender is made and moved by `close()`;
    everything happens in the caller's transaction (a rollback appends nothing). `add` checks each
    entry as `append` does. With a `writer` (storage.bulk.Writer), the chunks are handed to it and
    written by its thread while the caller computes the next entries; `close()` waits for them.
    """

    def __init__(
        self, conn: Connection, *, at: str, chunk: int | None = None, writer: Writer | None = None
    ) -> None:
        _check_at(at)
        self._conn = conn
        self._at = at
        self._at_json = encode_basestring(at)
        self._chunk = chunk if chunk is not None else CHUNK
        self._writer = writer
        self._rows: list[tuple[Any, ...]] = []
        self.seq, self.prev = lock_head(conn)
        self.added = 0
        self._closed = False

    def add(self, e: NewEntry) -> tuple[int, str, str]:
        """Queue one entry; returns its (seq, data JSON, hash)."""
        data_json = e.data_json if e.data_json is not None else _CANONICAL.encode(e.data)
        return self.add_fields(
            e.kind, e.run_id, e.rule, e.agency, e.period, e.outcome, data_json, e.rules_revision
        )

    def add_fields(
        self,
        kind: str,
        run_id: str | None,
        rule: str | None,
        agency: str | None,
        period: str | None,
        outcome: str | None,
        data_json: str,
        rules_revision: str | None,
    ) -> tuple[int, str, str]:
        """`add` without a NewEntry: the fields as they are stored, `data` as canonical JSON."""
        if kind not in _KINDS:
            raise ValueError(f"unknown audit entry kind {kind!r}")
        if self._closed:
            raise RuntimeError("the Appender is closed")
        seq = self.seq + 1
        prev = self.prev
        body = _body_json(
            seq, self._at_json, run_id, kind, rule, agency, period, outcome, data_json, rules_revision, prev
        )
        digest = _sha256(f"{prev}{body}".encode()).hexdigest()
        rows = self._rows
        rows.append(
            (
                seq,
                self._at,
                run_id,
                kind,
                rule,
                agency,
                period,
                outcome,
                data_json,
                rules_revision,
                prev,
                digest,
            )
        )
        self.seq, self.prev = seq, digest
        self.added += 1
        if len(rows) >= self._chunk:
            self._flush()
        return seq, data_json, digest

    def _flush(self) -> None:
        if self._rows:
            if self._writer is not None:
                self._writer.insert(audit_log, _COLUMN_NAMES, self._rows)
            else:
                bulk_insert(self._conn, audit_log, _COLUMN_NAMES, self._rows)
            self._rows = []

    def close(self) -> None:
        """Write what is queued and move the head (nothing to do when no entry was added)."""
        if self._closed:
            return
        self._closed = True
        self._flush()
        if self._writer is not None:
            self._writer.drain()
        if self.added:
            self._conn.execute(
                update(audit_head).where(audit_head.c.id == 1).values(seq=self.seq, hash=self.prev)
            )


def append(conn: Connection, entries: Sequence[NewEntry], *, at: str) -> list[AuditEntry]:
    """Append `entries` after the current head, in order, all stamped `at` (UTC ISO 8601 with 'Z').

    Runs in the caller's transaction: if it rolls back, nothing was appended. `data` must be JSON
    (string keys; no NaN); it is stored as canonical JSON.
    """
    _check_at(at)
    for entry in entries:
        if entry.kind not in _KINDS:
            raise ValueError(f"unknown audit entry kind {entry.kind!r}")
    appender = Appender(conn, at=at, chunk=max(len(entries), 1))
    if not entries:
        return []
    out: list[AuditEntry] = []
    for e in entries:
        prev = appender.prev
        seq, data_json, digest = appender.add(e)
        out.append(
            AuditEntry(
                seq,
                at,
                e.kind,
                e.run_id,
                e.rule,
                e.agency,
                e.period,
                e.outcome,
                e.data if e.data_json is None else json.loads(data_json),
                e.rules_revision,
                prev,
                digest,
            )
        )
    appender.close()
    return out


_COLUMNS = (
    audit_log.c.seq,
    audit_log.c.at,
    audit_log.c.run_id,
    audit_log.c.kind,
    audit_log.c.rule,
    audit_log.c.agency,
    audit_log.c.period,
    audit_log.c.outcome,
    audit_log.c.data,
    audit_log.c.rules_revision,
    audit_log.c.prev_hash,
    audit_log.c.hash,
)


def _local_day_start(day: dt.date, tz: ZoneInfo) -> str:
    """The UTC instant at which local `day` begins, as a prefix that sorts right against stored `at`.

    No 'Z' and no fraction: '2023-07-04T17:00:00' sorts before '…T17:00:00Z' and '…T17:00:00.5Z' and
    after every earlier instant, whatever fraction an entry carries.
    """
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return start.strftime("%Y-%m-%dT%H:%M:%S")


def iter_entries(
    conn: Connection,
    *,
    rule: str | None = None,
    agency: str | None = None,
    kind: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    run_id: str | None = None,
    tz: ZoneInfo | None = None,
    newest_first: bool = False,
    batch: int = 10_000,
) -> Iterator[AuditEntry]:
    """Entries matching every filter given, in seq order (or newest first), read `batch` at a time.

    `since` and `until` are local dates in the deployment's time zone `tz`, both inclusive.
    """
    query: Select[Any] = select(*_COLUMNS)
    if rule is not None:
        query = query.where(audit_log.c.rule == rule)
    if agency is not None:
        query = query.where(audit_log.c.agency == agency)
    if kind is not None:
        query = query.where(audit_log.c.kind == kind)
    if run_id is not None:
        query = query.where(audit_log.c.run_id == run_id)
    if since is not None or until is not None:
        if tz is None:
            raise ValueError("since/until are local dates: pass the deployment's time zone as tz")
        if since is not None:
            query = query.where(audit_log.c.at >= _local_day_start(since, tz))
        if until is not None:
            query = query.where(audit_log.c.at < _local_day_start(until + dt.timedelta(days=1), tz))
    last: int | None = None
    while True:
        page = query
        if last is not None:
            page = page.where(audit_log.c.seq < last if newest_first else audit_log.c.seq > last)
        page = page.order_by(audit_log.c.seq.desc() if newest_first else audit_log.c.seq).limit(batch)
        rows = conn.execute(page).all()
        for r in rows:
            yield AuditEntry(
                seq=int(r[0]),
                at=r[1],
                run_id=r[2],
                kind=r[3],
                rule=r[4],
                agency=r[5],
                period=r[6],
                outcome=r[7],
                data=json.loads(r[8]),
                rules_revision=r[9],
                prev_hash=r[10],
                hash=r[11],
            )
        if len(rows) < batch:
            return
        last = int(rows[-1][0])


def verify(conn: Connection, *, batch: int = 10_000) -> tuple[int, str, ChainBreak | None]:
    """Walk the whole log in seq order: (entries checked, head hash, the first break or None).

    Same verdicts as compliance.audit.verify_chain, plus the head row: a log that ends before its
    head (entries deleted at the end), continues past it, or whose last hash differs from it is broken.
    Run it in one snapshot (Database.snapshot()) so appends committed meanwhile cannot look like tampering.
    """
    count = 0
    expected = 1
    prev = GENESIS
    query = select(*_COLUMNS).order_by(audit_log.c.seq).limit(batch)
    last = 0
    while True:
        rows = conn.execute(query.where(audit_log.c.seq > last)).all()
        for (
            seq,
            at,
            run_id,
            kind,
            rule,
            agency,
            period,
            outcome,
            data,
            rules_revision,
            prev_hash,
            digest,
        ) in rows:
            if seq != expected:
                return (
                    count,
                    prev,
                    ChainBreak(
                        expected if seq > expected else seq,
                        f"expected seq {expected}, found {seq} (an entry was deleted or inserted)",
                    ),
                )
            if prev_hash != prev:
                return count, prev, ChainBreak(seq, "prev_hash does not match the previous entry's hash")
            body = _body_json(
                seq,
                encode_basestring(at),
                run_id,
                kind,
                rule,
                agency,
                period,
                outcome,
                data,
                rules_revision,
                prev_hash,
            )
            if _hash(prev_hash, body) != digest:
                return (
                    count,
                    prev,
                    ChainBreak(seq, "hash does not match the entry's content (it was altered)"),
                )
            prev = digest
            count += 1
            expected += 1
        if len(rows) < batch:
            break
        last = int(rows[-1][0])
    row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if row is None:
        return count, prev, ChainBreak(count + 1, "the head row is missing (it was deleted)")
    head_seq, head_hash = int(row[0]), str(row[1])
    if head_seq > count:
        return (
            count,
            prev,
            ChainBreak(
                count + 1,
                f"the log ends at seq {count} but its head is at seq {head_seq} (entries at the end were deleted)",
            ),
        )
    if head_seq < count:
        return (
            count,
            prev,
            ChainBreak(
                head_seq + 1,
                f"the log's head is at seq {head_seq} but entries go on to seq {count} (entries were added outside the log)",
            ),
        )
    if head_hash != prev:
        return (
            count,
            prev,
            ChainBreak(count, "the head's hash does not match the last entry (one of them was altered)"),
        )
    return count, prev, None
