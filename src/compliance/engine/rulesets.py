"""Compile a rule into a durable-rules ruleset (plain data: a dict, no eval, no code from user text),
and encode each question to it as an event made only of integers and fixed ASCII words.

Why integers: durable's C JSON parser reads a number with an exponent and no fraction (`1e-05`,
`2e+16`: what json.dumps writes for small or large floats) wrongly — a single event is rejected with
error 204, and inside a batch the event is silently dropped or the process crashes (segfault, seen on
this machine). Doubles would also make the comparison inexact. So a figure x (a ratio n/d or a value)
is sent as q = floor(x * S) and frac = 1 if x * S is not an integer, where S = 10**k and k is the number
of decimals of the rule's targets, so every target T = t * S is an integer, and:

    x >= t  <=>  q >= T            x <  t  <=>  q < T
    x >  t  <=>  q > T  or (q == T and frac == 1)
    x <= t  <=>  q < T  or (q == T and frac == 0)

q is clamped to ±(max|T| + 1), which changes no comparison and keeps every number far inside the
C engine's 64-bit integers. Dates are sent as yyyymmdd integers, which order like the dates.

Durable rules of one ruleset (an event is consumed by exactly one rule; the lowest `pri` wins):
    pri 1  insufficient     denominator < min_denominator (ratio rules); SPEC §4 step 2 before step 3
    pri 2  not_applicable   period end before the first ramp step / D not after the first milestone
    pri 3  pass / fail      one pair per ramp step (period end in [from_i, from_i+1)) or milestone
           met / unmet      the resolve condition
    pri 9  unclassified     catch-all on the domain field `ask` (never on id/sid): an engine bug
Every rule has `cap` so one action receives a whole batch's events for that rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from compliance.errors import ComplianceError
from compliance.model.rules import Indicator, Op, Rule

from .core import Ask, stage_rank

__all__ = [
    "CAP",
    "LABELS",
    "MAX_INT",
    "CompiledRuleset",
    "EventKey",
    "compile_rule",
    "event",
    "event_keys",
    "yyyymmdd",
]

# Far inside int64 (the C engine's integers) and exactly representable as a double as well.
MAX_INT = 2**53
CAP = 100_000  # more than any batch we post, so each batch yields at most one action per durable rule
LABELS = ("pass", "fail", "insufficient", "not_applicable", "met", "unmet", "unclassified")

Condition = dict[str, Any]


@dataclass(frozen=True)
class CompiledRuleset:
    """A rule as a durable ruleset: its versioned name, the definition, and how to scale figures."""

    rule: str
    name: str
    definition: dict[str, Any]
    decimals: int  # k
    scale: int  # S = 10**k
    bound: int  # |q| is clamped to this
    ratio: bool
    min_denominator: int


def yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by model validation
    return max(0, -exponent)


def _scaled(value: Decimal, k: int) -> tuple[int, int]:
    """(floor(value * 10**k), 1 if value * 10**k is not an integer else 0), exactly."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    if sign:
        mantissa = -mantissa
    shift = exponent + k
    if shift >= 0:
        return mantissa * 10**shift, 0
    q, r = divmod(mantissa, 10**-shift)
    return q, 1 if r else 0


def _holds(op: Op, t: int) -> Condition:
    """x op t, written on (q, frac) — see the module docstring."""
    if op == ">=":
        return {"$gte": {"q": t}}
    if op == "<":
        return {"$lt": {"q": t}}
    above: Condition = {"$or": [{"$gt": {"q": t}}, {"$and": [{"q": t}, {"frac": 1}]}]}
    at_most: Condition = {"$or": [{"$lt": {"q": t}}, {"$and": [{"q": t}, {"frac": 0}]}]}
    return above if op == ">" else at_most


_NEGATION: dict[Op, Op] = {">=": "<", "<": ">=", ">": "<=", "<=": ">"}


def _rule(pri: int, conditions: list[Condition], run: str) -> dict[str, Any]:
    match = conditions[0] if len(conditions) == 1 else {"$and": conditions}
    return {"pri": pri, "cap": CAP, "all": [{"m": match}], "run": run}


def compile_rule(rule: Rule, indicator: Indicator, revision: str) -> CompiledRuleset:
    """The durable ruleset of one rule; its name carries the rules revision and a digest of itself."""
    definition: dict[str, Any] = {}
    ratio = indicator.kind == "ratio"
    thresholds: list[Decimal] = []
    if rule.target is not None:
        if rule.target.value is not None:
            thresholds.append(rule.target.value)
        thresholds.extend(step.value for step in rule.target.ramp or ())
    if rule.resolve is not None:
        thresholds.append(rule.resolve.value)
    k = max((_decimals(t) for t in thresholds), default=0)
    scale = 10**k
    scaled = {t: _scaled(t, k)[0] for t in thresholds}
    bound = max((abs(v) for v in scaled.values()), default=0) + 1
    if bound >= MAX_INT:
        raise ComplianceError(
            f"rule '{rule.id}': a target is too large or has too many decimals for the durable engine; "
            'use [engine] backend = "python"'
        )

    if rule.kind == "milestone":
        on_first = yyyymmdd(rule.milestones[0].by)
        definition["not_applicable"] = _rule(1, [{"ask": "m"}, {"$lte": {"on": on_first}}], "not_applicable")
        for i, milestone in enumerate(rule.milestones):
            window: list[Condition] = [{"ask": "m"}, {"$gt": {"on": yyyymmdd(milestone.by)}}]
            if i + 1 < len(rule.milestones):
                following = rule.milestones[i + 1].by
                if following <= milestone.by:  # a later milestone with the same deadline wins
                    continue
                window.append({"$lte": {"on": yyyymmdd(following)}})
            rank = stage_rank(indicator, milestone.stage)
            definition[f"pass_{i}"] = _rule(3, [*window, {"$gte": {"rank": rank}}], "pass")
            definition[f"fail_{i}"] = _rule(3, [*window, {"$lt": {"rank": rank}}], "fail")
    else:
        assert rule.target is not None
        op = rule.target.op
        steps: list[tuple[dt.date | None, Decimal]]
        if rule.target.ramp is not None:
            steps = [(s.from_, s.value) for s in rule.target.ramp]
            first = yyyymmdd(rule.target.ramp[0].from_)
            definition["not_applicable"] = _rule(2, [{"ask": "t"}, {"$lt": {"end": first}}], "not_applicable")
        else:
            assert rule.target.value is not None
            steps = [(None, rule.target.value)]
        if ratio:
            definition["insufficient"] = _rule(
                1, [{"ask": "t"}, {"$lt": {"den": rule.min_denominator}}], "insufficient"
            )
        for i, (start, value) in enumerate(steps):
            window = [{"ask": "t"}]
            if start is not None:
                window.append({"$gte": {"end": yyyymmdd(start)}})
            if i + 1 < len(steps):
                following_start = steps[i + 1][0]
                assert following_start is not None
                window.append({"$lt": {"end": yyyymmdd(following_start)}})
            t = scaled[value]
            definition[f"pass_{i}"] = _rule(3, [*window, _holds(op, t)], "pass")
            definition[f"fail_{i}"] = _rule(3, [*window, _holds(_NEGATION[op], t)], "fail")
        if rule.resolve is not None:
            t = scaled[rule.resolve.value]
            definition["met"] = _rule(3, [{"ask": "r"}, _holds(rule.resolve.op, t)], "met")
            definition["unmet"] = _rule(3, [{"ask": "r"}, _holds(_NEGATION[rule.resolve.op], t)], "unmet")
    definition["unclassified"] = _rule(9, [{"$ex": {"ask": 1}}], "unclassified")

    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{revision}\n{text}".encode()).hexdigest()[:16]
    name = f"compliance/{rule.id}@{revision[:12]}/{digest}"
    return CompiledRuleset(rule.id, name, definition, k, scale, bound, ratio, rule.min_denominator)


EventKey = tuple[str, int, int, int, int | None]


def event_keys(asks: Sequence[Ask], compiled: CompiledRuleset) -> list[EventKey]:
    """For each question (all of one rule): everything the ruleset looks at, as integers (see above).

    Questions with equal keys get equal verdicts, so a batch posts each key once. A denominator only
    meets `den < min_denominator`, so it is capped at min_denominator: the comparison is unchanged and
    equal keys become common.
    """
    dates: dict[dt.date, int] = {}
    scaled: dict[Decimal, tuple[int, int]] = {}
    scale, bound, least, ratio = compiled.scale, compiled.bound, compiled.min_denominator, compiled.ratio
    keys: list[EventKey] = []
    append = keys.append
    for kind, _, when, numerator, denominator, value in asks:
        day = 0
        if when is not None:
            day = dates.get(when, 0)
            if not day:
                day = dates[when] = yyyymmdd(when)
        if kind == "m":
            assert numerator is not None
            append(("m", day, numerator, 0, None))
            continue
        if ratio:
            assert numerator is not None and denominator is not None
            if denominator > 0:
                q, r = divmod(numerator * scale, denominator)
                frac = 1 if r else 0
            else:
                q, frac = 0, 0  # insufficient (min_denominator >= 1) decides before any comparison
            den: int | None = least if denominator >= least else max(denominator, -MAX_INT)
        else:
            assert value is not None
            found = scaled.get(value)
            if found is None:
                found = scaled[value] = _scaled(value, compiled.decimals)
            q, frac = found
            den = None
        if q > bound:
            q = bound
        elif q < -bound:
            q = -bound
        append((kind, day, q, frac, den))
    return keys


def event(key: EventKey, event_id: int) -> dict[str, int | str]:
    """The event posted for a key: only ints (|n| < 2**53) and the fixed words t / r / m."""
    kind, day, a, b, den = key
    if kind == "m":
        return {"id": event_id, "ask": "m", "on": day, "rank": a}
    if kind == "r":
        return {"id": event_id, "ask": "r", "q": a, "frac": b}
    if den is None:
        return {"id": event_id, "ask": "t", "end": day, "q": a, "frac": b}
    return {"id": event_id, "ask": "t", "end": day, "q": a, "frac": b, "den": den}
