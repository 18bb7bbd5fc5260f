"""The engine interface: the one `evaluate` every backend implements, and `get_backend` to pick one.

Both backends share the data preparation, the streak count and the assembly of evaluations
(`compliance.engine.core`); they differ only in how a single figure is classified against a rule
(durable-rules rulesets compiled from the rule file as data, or exact Fractions in Python). So they
return identical evaluations on any input, which tests/engine proves by property tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from compliance.errors import ComplianceError
from compliance.model.agency import AgencyDirectory
from compliance.model.evaluation import Evaluation
from compliance.model.rules import Rulebook
from compliance.model.snapshot import SnapshotRow

from .series import RowWindow

__all__ = ["BACKENDS", "EngineBackend", "EngineError", "get_backend"]

BACKENDS = ("durable", "python")


class EngineError(RuntimeError):
    """An internal failure of a backend (an action raised, an event was left unclassified): a bug, not input."""


class EngineBackend(Protocol):
    """Evaluate every rule for every agency in its scope and active at `on` (SPEC §4).

    `rows` are the effective snapshot rows at `on` (the greatest `as_of` <= on per key); rows with
    `as_of` > on are ignored all the same. Or a RowWindow (storage.snapshots.EffectiveRows): the
    recent periods up front and older history on request, as Points (compliance.engine.series). `agencies_in_scope` maps a rule id to the agencies it applies
    to, when the caller has them already; rules it does not name get their scope from the directory.
    Returns one Evaluation per (rule, agency), sorted by (rule, agency).
    """

    name: str

    def evaluate(
        self,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        rows: Iterable[SnapshotRow] | RowWindow,
        on: dt.date,
        *,
        agencies_in_scope: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Evaluation]: ...


def get_backend(name: str) -> EngineBackend:
    """The backend called `name` ("durable" or "python"); "python" works everywhere."""
    if name == "python":
        from compliance.engine.python_backend import PythonBackend

        return PythonBackend()
    if name == "durable":
        from compliance.engine.durable_backend import DurableBackend

        return DurableBackend()
    raise ComplianceError(f"unknown engine backend '{name}': use one of {', '.join(BACKENDS)}")
