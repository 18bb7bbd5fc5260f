"""The file backend (the default): each message becomes one RFC 5322 .eml file in the outbox folder.

Files are written atomically (a temporary file in the same folder, flushed to disk, then renamed), so
a reader or a crash never sees half a message. The name comes from the idempotency key, so sending
the same message again (a possible duplicate after a crash) replaces the file instead of adding one;
that is what lets the pipeline hand over messages in batches (`send_batch`): the batch's files are
written, flushed to disk with one filesystem sync instead of one fsync each (the sync is most of the
cost of a small file), then renamed into place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import itertools
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from compliance.errors import SendError
from compliance.notify.message import OutgoingEmail, SendResult, message_id_for, mime_bytes

__all__ = ["FileBackend", "file_name_for"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name_for(key: str) -> str:
    """`reminder_2023-07-05_12,14` -> `reminder_2023-07-05_12_14-<hash>.eml`: readable, unique, portable."""
    readable = _UNSAFE.sub("_", key).strip("_")[:120]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{readable}-{digest}.eml"


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2) (flush one filesystem), which Python's os module does not offer; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return func


class FileBackend:
    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = itertools.count()

    def _temporary(self) -> tuple[int, str]:
        """A new temporary file in the outbox folder, like tempfile.mkstemp (mode 0600, never an existing
        file) without its random names: a process id and a counter are unique enough, and cheaper."""
        while True:
            path = os.path.join(self.directory, f".tmp-{os.getpid()}-{next(self._counter)}.eml")
            try:
                return os.open(
                    path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
                ), path
            except FileExistsError:  # left by an earlier process with the same id
                continue

    def _failed(self, target: Path, exc: OSError) -> SendError:
        # A full disk or a missing permission may be fixed before the next run.
        return SendError(f"không ghi được tệp {target}: {exc.strerror or exc}", retryable=True)

    def send(self, message: OutgoingEmail) -> SendResult:
        data = mime_bytes(message)
        target = self.directory / file_name_for(message.key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = self._temporary()
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise self._failed(target, exc) from exc
        return SendResult(message_id_for(message.key, message.sender.email), {"path": str(target)})

    def send_batch(self, messages: Sequence[OutgoingEmail]) -> list[SendResult | SendError]:
        """Every message written to a temporary file, one sync of the filesystem, then each renamed
        into place (and the folder synced): as durable as `send`, message by message."""
        results: list[SendResult | SendError] = []
        staged: list[tuple[int, str, Path]] = []  # (index in results, temporary file, target)
        syncfs = _syncfs()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return [self._failed(self.directory / file_name_for(m.key), exc) for m in messages]
        for message in messages:
            target = self.directory / file_name_for(message.key)
            try:
                data = mime_bytes(message)
            except SendError as exc:  # an address that can never be sent
                results.append(exc)
                continue
            try:
                fd, tmp = self._temporary()
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                        if syncfs is None:
                            f.flush()
                            os.fsync(f.fileno())
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            except OSError as exc:
                results.append(self._failed(target, exc))
                continue
            staged.append((len(results), tmp, target))
            results.append(
                SendResult(message_id_for(message.key, message.sender.email), {"path": str(target)})
            )
        if not staged:
            return results
        try:
            self._sync(syncfs)
        except OSError as exc:
            for index, tmp, target in staged:
                Path(tmp).unlink(missing_ok=True)
                results[index] = self._failed(target, exc)
            return results
        for index, tmp, target in staged:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                results[index] = self._failed(target, exc)
        try:
            self._sync(None)  # the renames: the folder's entries
        except OSError as exc:
            for index, _tmp, target in staged:
                results[index] = self._failed(target, exc)
        return results

    def _sync(self, syncfs: Callable[[int], int] | None) -> None:
        """syncfs(2) on the outbox's filesystem when given, else fsync of the folder itself."""
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            if syncfs is not None:
                if syncfs(fd) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, os.strerror(errno))
            else:
                os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        return None
