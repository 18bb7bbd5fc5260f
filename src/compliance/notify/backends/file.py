"""The file backend (the default): each message becomes one RFC 5322 .eml file in the outbox folder.

Files are written atomically (a temporary file in the same folder, flushed to disk, then renamed), so
a reader or a crash never sees half a message. The name comes from the idempotency key, so sending
the same message again (a possible duplicate after a crash) replaces the file instead of adding one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from compliance.errors import SendError
from compliance.notify.message import OutgoingEmail, SendResult, message_id_for, to_mime

__all__ = ["FileBackend", "file_name_for"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name_for(key: str) -> str:
    """`reminder_2023-07-05_12,14` -> `reminder_2023-07-05_12_14-<hash>.eml`: readable, unique, portable."""
    readable = _UNSAFE.sub("_", key).strip("_")[:120]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{readable}-{digest}.eml"


class FileBackend:
    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: OutgoingEmail) -> SendResult:
        data = to_mime(message).as_bytes()
        target = self.directory / file_name_for(message.key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.directory)
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
            # A full disk or a missing permission may be fixed before the next run.
            raise SendError(f"không ghi được tệp {target}: {exc.strerror or exc}", retryable=True) from exc
        return SendResult(message_id_for(message.key, message.sender.email), {"path": str(target)})

    def close(self) -> None:
        return None
