"""Named fault points: the crash tests kill (or slow down) the process at an exact moment of a run.

Pipeline code calls `point("notify.after-outbox")` at the moments where a crash matters. With no
environment variable set this is one dictionary lookup and does nothing, so it stays in production code.

- `COMPLIANCE_FAULT_POINT=name:n` sends SIGKILL to this process on the n-th time (default 1) `name` is
  reached: no cleanup, no `finally`, no flush, exactly what a power cut or the OOM killer does.
- `COMPLIANCE_FAULT_POINT=name:n:sleep=S` sleeps S seconds there instead (a slow job, for SIGTERM tests).
- `COMPLIANCE_FAULT_TRACE=path` appends `name` to `path` at every point reached, so a test can first
  learn how often each point is hit and then try every one of those moments.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

__all__ = ["FAULT_ENV", "TRACE_ENV", "point"]

FAULT_ENV = "COMPLIANCE_FAULT_POINT"
TRACE_ENV = "COMPLIANCE_FAULT_TRACE"

_hits: Counter[str] = Counter()


def point(name: str) -> None:
    """Mark a moment of the run where a crash must be survivable; see the module docstring."""
    trace = os.environ.get(TRACE_ENV)
    spec = os.environ.get(FAULT_ENV)
    if not trace and not spec:
        return
    _hits[name] += 1
    if trace:
        # One short line per write on an O_APPEND file: a SIGKILL right after it cannot lose it.
        with open(trace, "a", encoding="utf-8") as f:
            f.write(name + "\n")
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    count, _, action = rest.partition(":")
    if _hits[name] != int(count or "1"):
        return
    if action.startswith("sleep="):
        time.sleep(float(action.removeprefix("sleep=")))
        return
    os.kill(os.getpid(), signal.SIGKILL)
