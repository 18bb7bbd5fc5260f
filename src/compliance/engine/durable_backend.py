"""The durable-rules backend: each rule compiled to a ruleset (data), figures classified by the C engine.

How durable-rules 2.0.28 is used safely here (research/probe.md §1):
- One Host per process, created on first use, and its two background dispatcher threads are never
  started (`_run` is a no-op): we use no timers, and without them every action runs synchronously in
  the thread that posted, so nothing races the caller and nothing is left to run later.
- One threading.Lock around every engine call (register, post, state, delete).
- Events only (consumed, so no state piles up), each with a unique id from a process-wide counter.
  Batches go through the low-level synchronous helper (`assert_events` + `do_actions`), all on the
  default sid "0". An event that got no verdict (e.g. rejected because two ids in a batch share their
  32-bit hash) is posted again with a new id; an `unclassified` verdict (the catch-all) is a bug.
- Actions are fixed functions chosen by name (`Host.get_action`); each records verdicts inside its
  own try/except, and `state['exception']` is checked after every batch all the same.
- Only integers and fixed ASCII words are ever posted (see compliance.engine.rulesets).
- Ruleset names carry the rules revision and a digest of the ruleset; a changed ruleset replaces the
  old one: delete_state per sid, then durable_rules_engine.delete_ruleset, under the lock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from compliance.errors import ComplianceError
from compliance.model.agency import AgencyDirectory
from compliance.model.evaluation import Evaluation
from compliance.model.rules import Rulebook
from compliance.model.snapshot import SnapshotRow

from .base import EngineError
from .core import Ask, check_rulebook, evaluate_with
from .rulesets import LABELS, CompiledRuleset, EventKey, compile_rule, event, event_keys
from .series import RowWindow

__all__ = ["BATCH", "DurableBackend", "registered_rulesets"]

BATCH = 300  # events per assert_events call: the C engine's cost per event grows with the batch
_ATTEMPTS = 3
_SID = "0"

_LOCK = threading.Lock()
_HOST: Any = None
_DRE: Any = None
_REGISTERED: dict[str, str] = {}  # rule id -> name of its ruleset in the host
_EVENT_IDS = itertools.count(1)
_RULE = itemgetter(1)


class _Recorder:
    """Where the actions write their verdicts (only ever touched under _LOCK)."""

    def __init__(self) -> None:
        self.verdicts: dict[int, str] = {}
        self.errors: list[str] = []


_RECORDER = _Recorder()


def _action(label: str) -> Callable[[Any], None]:
    def run(c: Any) -> None:
        try:
            messages = c.m
            if not isinstance(messages, list):
                raise TypeError(f"expected a list of events (cap), got {type(messages).__name__}")
            verdicts = _RECORDER.verdicts
            for message in messages:
                verdicts[message._d["id"]] = label
        except Exception as exc:  # durable would swallow it into state['exception']; keep it ourselves
            _RECORDER.errors.append(f"action {label}: {exc!r}")

    return run


_ACTIONS = {label: _action(label) for label in LABELS}


def _load() -> None:
    """Import durable-rules once, or explain why this Python cannot use it."""
    global _DRE
    if _DRE is not None:
        return
    if sys.version_info >= (3, 13):
        raise ComplianceError(
            "the durable engine needs durable-rules 2.0.28, which cannot run on Python "
            f"{sys.version_info[0]}.{sys.version_info[1]} (3.13 removed a C API it uses): "
            'set [engine] backend = "python" in config.toml'
        )
    try:
        import durable.engine  # noqa: F401
        import durable_rules_engine
    except ImportError as exc:
        raise ComplianceError(
            f"the durable engine is not available ({exc}): install durable-rules==2.0.28 "
            '(needs gcc and the Python headers) or set [engine] backend = "python" in config.toml'
        ) from exc
    _DRE = durable_rules_engine


def _host() -> Any:
    """The one Host of this process (call under _LOCK)."""
    global _HOST
    if _HOST is None:
        _load()
        from durable import engine

        class _EngineHost(engine.Host):  # type: ignore[misc]
            def _run(self) -> None:
                """No dispatcher threads: actions run in the posting thread (see module docstring)."""

            def get_action(self, action_name: str) -> Callable[[Any], None]:
                return _ACTIONS[action_name]

        _HOST = _EngineHost()
    return _HOST


def _drop(host: Any, name: str) -> None:
    ruleset = host._ruleset_directory.pop(name, None)
    if ruleset is None:
        return
    host._ruleset_list.remove(ruleset)
    try:
        ruleset.delete_state(_SID)  # the C side frees per-sid message pools only here
    except Exception:  # error 309: this ruleset never had a state for the sid
        pass
    _DRE.delete_ruleset(ruleset._handle)


def _install(host: Any, compiled: CompiledRuleset) -> Any:
    """The ruleset for `compiled`, registering it (and dropping the rule's old one) if needed."""
    current = _REGISTERED.get(compiled.rule)
    if current != compiled.name:
        if current is not None:
            _drop(host, current)
            del _REGISTERED[compiled.rule]
        # durable mutates the definition it is given (it pops "run"): hand it a copy.
        host.register_rulesets({compiled.name: json.loads(json.dumps(compiled.definition))})
        _REGISTERED[compiled.rule] = compiled.name
    return host.get_ruleset(compiled.name)


def _sync(compiled: Mapping[str, CompiledRuleset]) -> None:
    """Register the rulebook's rulesets and drop those of rules it no longer has (call under _LOCK)."""
    host = _host()
    for rule_id in [r for r in _REGISTERED if r not in compiled]:
        _drop(host, _REGISTERED.pop(rule_id))
    for item in compiled.values():
        _install(host, item)


def registered_rulesets() -> dict[str, str]:
    """Rule id -> registered ruleset name (for tests and diagnostics)."""
    with _LOCK:
        return dict(_REGISTERED)


def _post(ruleset: Any, events: list[dict[str, int | str]]) -> None:
    """One batch, synchronously: assert_events, then run its actions in this thread."""
    payload = json.dumps(events, separators=(",", ":"), allow_nan=False)
    # Never let a float reach the C parser (some forms crash it). Python writes every float with a
    # "." or a signed exponent ("1e-05", "2e+16"); no key or word of our events contains either.
    if "." in payload or "e-" in payload or "e+" in payload:
        raise EngineError(f"refusing to post a non-integer number to durable-rules: {payload[:200]}")
    try:
        _code, state_offset = _DRE.assert_events(ruleset._handle, payload)
    except Exception as exc:
        raise EngineError(f"durable-rules rejected a batch: {exc}") from exc
    failures: list[Any] = []
    ruleset.do_actions(state_offset, lambda error, _state: failures.append(error))
    if failures and failures[0] is not None:
        raise EngineError(f"durable-rules failed running actions: {failures[0]!r}")


def _check_state(ruleset: Any) -> None:
    state = ruleset.get_state(_SID)
    if "exception" in state:
        ruleset.delete_state(_SID)  # the exception would otherwise stick to every later post
        raise EngineError(f"a durable-rules action failed: {state['exception']}")


def _classify_rule(host: Any, compiled: CompiledRuleset, asks: Sequence[Ask]) -> list[str]:
    """The verdicts for questions that all concern one rule (call under _LOCK)."""
    ruleset = _install(host, compiled)
    try:
        return _classify_with(ruleset, compiled, asks)
    except BaseException:
        try:  # drop whatever a failed batch left pending, so it cannot surface in a later call
            ruleset.delete_state(_SID)
        except Exception:
            pass
        raise


def _classify_with(ruleset: Any, compiled: CompiledRuleset, asks: Sequence[Ask]) -> list[str]:
    keys = event_keys(asks, compiled)
    pending = list(dict.fromkeys(keys))  # equal keys, equal verdicts: post each once
    verdict_of: dict[EventKey, str] = {}
    for _attempt in range(_ATTEMPTS):
        ids: dict[int, EventKey] = {}
        events: list[dict[str, int | str]] = []
        for key in pending:
            event_id = next(_EVENT_IDS)
            ids[event_id] = key
            events.append(event(key, event_id))
        _RECORDER.verdicts, _RECORDER.errors = {}, []
        for start in range(0, len(events), BATCH):
            _post(ruleset, events[start : start + BATCH])
        verdicts, errors = _RECORDER.verdicts, _RECORDER.errors
        _RECORDER.verdicts, _RECORDER.errors = {}, []
        if errors:
            raise EngineError("; ".join(errors[:5]))
        _check_state(ruleset)
        missing: list[EventKey] = []
        for event_id, key in ids.items():
            verdict = verdicts.get(event_id)
            if verdict is None:
                missing.append(key)
            elif verdict == "unclassified":
                raise EngineError(f"rule '{compiled.rule}': no durable rule classified the event {key!r}")
            else:
                verdict_of[key] = verdict
        if not missing:
            return [verdict_of[key] for key in keys]
        pending = missing  # e.g. two ids of one batch shared their 32-bit hash: post again, new ids
    raise EngineError(f"rule '{compiled.rule}': durable-rules left {len(pending)} events without a verdict")


class DurableBackend:
    """Classification by durable-rules; everything else shared with the Python backend (engine.core)."""

    name = "durable"

    def __init__(self) -> None:
        _load()

    def evaluate(
        self,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        rows: Iterable[SnapshotRow] | RowWindow,
        on: dt.date,
        *,
        agencies_in_scope: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Evaluation]:
        check_rulebook(rulebook)
        compiled = {
            rule_id: compile_rule(rule, rulebook.indicators[rule.indicator], rulebook.revision)
            for rule_id, rule in rulebook.rules.items()
        }
        with _LOCK:
            _sync(compiled)

        def classify(asks: list[Ask]) -> list[str]:
            out: list[str] = []
            with _LOCK:
                host = _host()
                # The core asks rule by rule, so each run of one rule's questions goes to its ruleset.
                for rule_id, run in groupby(asks, _RULE):
                    out += _classify_rule(host, compiled[rule_id], list(run))
            return out

        return evaluate_with(classify, rulebook, directory, rows, on, agencies_in_scope)
