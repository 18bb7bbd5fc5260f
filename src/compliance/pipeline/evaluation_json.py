"""Canonical JSON of evaluations, fast: the text the audit log stores, fingerprints and the run's digest.

A first run encodes 352,248 evaluations (10,000 agencies): json.dumps there was the largest single cost.
The fast path writes the same text as compliance.audit.canonical_json (tests/pipeline check it on
arbitrary evaluations); anything unusual goes the plain way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]  # untyped C module
from typing import Any, cast

from compliance.audit import CANONICAL_ENCODER
from compliance.model.evaluation import Evaluation, Outcome

__all__ = ["EvaluationJson", "digest_of", "entry_json", "evaluation_digest", "fingerprint", "fingerprints"]

_SHA256 = hashlib.sha256


_encode = CANONICAL_ENCODER.encode
# The C encoder that canonical_json's settings build on each call, made once (no circular check: an
# evaluation's inputs are a tree): half the cost per dict. None where the C accelerator is missing.
_C_ENCODER = (
    c_make_encoder(None, CANONICAL_ENCODER.default, encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder is not None
    else None
)


def _encode_dict(value: dict[str, Any]) -> str:
    if _C_ENCODER is None:  # pragma: no cover - CPython has it
        return _encode(value)
    return "".join(_C_ENCODER(value, 0))


_quote = encode_basestring  # a JSON string, as the encoder writes it with ensure_ascii=False
# `inputs["rows"]` is encoded apart (each row dict once per run, however many rules read it) and put in
# place of this marker; a marker found anywhere else than once sends the evaluation to the plain encoder.
_ROWS_MARK = "\x00rows\x00"
_ROWS_MARK_JSON = _encode(_ROWS_MARK)
_INFINITIES = (float("inf"), float("-inf"))
_FEW_ROWS = 4
_OUTCOME_TYPES = (Outcome, str)


class _Plain(Exception):
    """A field of a type the fast path does not write: encode the whole evaluation the plain way."""


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _quote(cast(str, value))
    if kind is float:
        if value != value or value in _INFINITIES:
            raise _Plain  # canonical_json refuses them: let it say so
        return float.__repr__(cast(float, value))
    if kind is int:
        return int.__repr__(cast(int, value))
    raise _Plain


def _count(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    raise _Plain


class EvaluationJson:
    """canonical_json(evaluation.as_dict()), fast: the outer object written directly, the rows of long
    row lists (read by many rules) encoded once each. The same text as canonical_json (tests/pipeline
    check it on arbitrary evaluations, with and without the row cache); anything unusual goes the
    plain way. `few_rows`: up to how many rows an evaluation's inputs are encoded without the cache."""

    def __init__(self, *, few_rows: int = _FEW_ROWS) -> None:
        self._few_rows = few_rows
        self._rows: dict[int, str] = {}
        self._alive: list[object] = []  # the row dicts whose id() keys _rows: kept alive for the run

    def __call__(self, e: Evaluation) -> str:
        try:
            return self._fast(e)
        except _Plain:
            return _encode(e.as_dict())

    def _inputs(self, inputs: dict[str, Any]) -> str:
        rows = inputs.get("rows")
        if type(rows) is not list:
            return _encode(inputs)
        cache = self._rows
        parts: list[str] = []
        for row in rows:
            found = cache.get(id(row))
            if found is None:
                if type(row) is not dict:
                    raise _Plain
                found = cache[id(row)] = _encode_dict(row)
                self._alive.append(row)
            parts.append(found)
        rest = dict(inputs)
        rest["rows"] = _ROWS_MARK
        text = _encode_dict(rest)
        if text.count(_ROWS_MARK_JSON) != 1:
            raise _Plain
        return text.replace(_ROWS_MARK_JSON, f"[{','.join(parts)}]", 1)

    def _fast(self, e: Evaluation) -> str:
        inputs = e.inputs
        if type(e.failing) is not bool or type(e.meets_resolve) is not bool or type(inputs) is not dict:
            raise _Plain
        if type(e.rule) is not str or type(e.agency) is not str or type(e.outcome) not in _OUTCOME_TYPES:
            raise _Plain
        rows = e.rows
        if type(rows) is not tuple:
            raise _Plain
        for r in rows:
            if type(r) is not int:
                raise _Plain
        # A few rows are encoded faster with the rest of the inputs than looked up; long lists (a rollup
        # reads its children's rows, again for every rule on the indicator) are worth the cache.
        read = inputs.get("rows")
        inputs_json = (
            self._inputs(inputs)
            if type(read) is list and len(read) > self._few_rows
            else _encode_dict(inputs)
        )
        return (
            f'{{"agency":{_quote(e.agency)},"denominator":{_count(e.denominator)},'
            f'"failing":{"true" if e.failing else "false"},"inputs":{inputs_json},'
            f'"meets_resolve":{"true" if e.meets_resolve else "false"},"numerator":{_count(e.numerator)},'
            f'"outcome":{_quote(e.outcome)},"period":{_scalar_text(e.period)},'
            f'"rows":[{",".join(map(int.__repr__, rows))}],'
            f'"rule":{_quote(e.rule)},"streak":{_count(e.streak)},"target":{_scalar(e.target)},'
            f'"value":{_scalar(e.value)}}}'
        )


def _scalar_text(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _quote(value)
    raise _Plain


def _eval_json(evaluation: Evaluation) -> str:
    return EvaluationJson()(evaluation)


def entry_json(evaluation_json: str, on_text: str) -> str:
    """The `evaluation` entry's data: the evaluation's canonical JSON with `evaluated_on` added.

    Spliced in where sorting puts it (after "denominator", before "failing"): `,"failing":` cannot occur
    earlier, since the keys before it are "agency" (a JSON string, whose quotes are escaped) and
    "denominator" (a number or null). Equal to canonical_json({**as_dict(), "evaluated_on": D}).
    """
    at = evaluation_json.index(',"failing":')
    return f'{evaluation_json[:at]},"evaluated_on":"{on_text}"{evaluation_json[at:]}'


def fingerprint(evaluation: Evaluation) -> str:
    """sha256 of the evaluation's canonical JSON: outcome, figures, rows and inputs."""
    return _SHA256(_eval_json(evaluation).encode("utf-8")).hexdigest()


def fingerprints(evaluations: Iterable[Evaluation]) -> list[str]:
    """fingerprint() of each, with one encoder (rows shared by several rules encoded once)."""
    encode = EvaluationJson()
    return [_SHA256(encode(e).encode("utf-8")).hexdigest() for e in evaluations]


def digest_of(fingerprints: Iterable[str]) -> str:
    h = _SHA256()
    for fp in fingerprints:
        h.update(f"{fp}\n".encode("ascii"))
    return h.hexdigest()


def evaluation_digest(evaluations: Sequence[Evaluation]) -> str:
    """The run's digest: sha256 over each evaluation's fingerprint (hex) followed by a newline, in
    (rule, agency) order; a fingerprint is the sha256 of the evaluation's canonical JSON (docs/audit.md).

    A hash of hashes, so that a run that evaluated only what D changed can compute it from the
    fingerprints kept in evaluation_state.
    """
    return digest_of(fingerprint(e) for e in sorted(evaluations, key=lambda e: (e.rule, e.agency)))
