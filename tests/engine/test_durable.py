"""The durable-rules backend's safety rules: rulesets as data, integer-only events, retries, replacement,
one lock, no background threads — and the backend chooser."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import threading
from decimal import Decimal
from fractions import Fraction

import durable_rules_engine
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.engine import durable_backend, get_backend
from compliance.engine.core import Ask
from compliance.engine.python_backend import _classify, _Compiled
from compliance.engine.rulesets import LABELS, MAX_INT, compile_rule, event, event_keys
from compliance.errors import ComplianceError
from compliance.model.evaluation import Outcome
from compliance.model.rules import compare

from .cases import INDICATORS, agency, directory, one, ratio, rule, rulebook

PAY = INDICATORS["pay"]


def test_a_rule_compiles_to_plain_json_data() -> None:
    compiled = compile_rule(
        rule(
            "pay-30",
            target={"op": ">=", "value": "30%"},
            min_denominator=20,
            resolve={"op": ">", "value": "0.32"},
        ),
        PAY,
        "f" * 64,
    )
    assert compiled.name.startswith("compliance/pay-30@ffffffffffff/")
    assert (compiled.scale, compiled.bound) == (100, 33)
    assert json.loads(json.dumps(compiled.definition)) == compiled.definition
    ask_t, cap = {"ask": "t"}, 100_000
    assert compiled.definition == {
        "insufficient": {
            "pri": 1,
            "cap": cap,
            "all": [{"m": {"$and": [ask_t, {"$lt": {"den": 20}}]}}],
            "run": "insufficient",
        },
        "pass_0": {
            "pri": 3,
            "cap": cap,
            "all": [{"m": {"$and": [ask_t, {"$gte": {"q": 30}}]}}],
            "run": "pass",
        },
        "fail_0": {
            "pri": 3,
            "cap": cap,
            "all": [{"m": {"$and": [ask_t, {"$lt": {"q": 30}}]}}],
            "run": "fail",
        },
        "met": {
            "pri": 3,
            "cap": cap,
            "all": [
                {
                    "m": {
                        "$and": [
                            {"ask": "r"},
                            {"$or": [{"$gt": {"q": 32}}, {"$and": [{"q": 32}, {"frac": 1}]}]},
                        ]
                    }
                }
            ],
            "run": "met",
        },
        "unmet": {
            "pri": 3,
            "cap": cap,
            "all": [
                {
                    "m": {
                        "$and": [
                            {"ask": "r"},
                            {"$or": [{"$lt": {"q": 32}}, {"$and": [{"q": 32}, {"frac": 0}]}]},
                        ]
                    }
                }
            ],
            "run": "unmet",
        },
        "unclassified": {"pri": 9, "cap": cap, "all": [{"m": {"$ex": {"ask": 1}}}], "run": "unclassified"},
    }


def test_ramps_and_milestones_compile_to_one_rule_pair_per_step() -> None:
    ramp = rule(
        target={
            "op": "<",
            "ramp": [{"from": "2023-01-01", "value": "0.5"}, {"from": "2023-07-01", "value": "0.6"}],
        }
    )
    definition = compile_rule(ramp, PAY, "x").definition
    assert sorted(definition) == [
        "fail_0",
        "fail_1",
        "insufficient",
        "not_applicable",
        "pass_0",
        "pass_1",
        "unclassified",
    ]
    assert definition["not_applicable"]["all"] == [
        {"m": {"$and": [{"ask": "t"}, {"$lt": {"end": 20230101}}]}}
    ]
    assert definition["pass_0"]["all"] == [
        {
            "m": {
                "$and": [
                    {"ask": "t"},
                    {"$gte": {"end": 20230101}},
                    {"$lt": {"end": 20230701}},
                    {"$lt": {"q": 5}},
                ]
            }
        }
    ]
    assert definition["fail_1"]["all"] == [
        {"m": {"$and": [{"ask": "t"}, {"$gte": {"end": 20230701}}, {"$gte": {"q": 6}}]}}
    ]

    plan = rule(
        indicator="db",
        milestones=[{"stage": "built", "by": "2023-03-31"}, {"stage": "shared", "by": "2023-09-30"}],
    )
    definition = compile_rule(plan, INDICATORS["db"], "x").definition
    assert definition["not_applicable"]["all"] == [
        {"m": {"$and": [{"ask": "m"}, {"$lte": {"on": 20230331}}]}}
    ]
    assert definition["pass_0"]["all"] == [
        {
            "m": {
                "$and": [
                    {"ask": "m"},
                    {"$gt": {"on": 20230331}},
                    {"$lte": {"on": 20230930}},
                    {"$gte": {"rank": 1}},
                ]
            }
        }
    ]
    assert definition["fail_1"]["all"] == [
        {"m": {"$and": [{"ask": "m"}, {"$gt": {"on": 20230930}}, {"$lt": {"rank": 3}}]}}
    ]
    runs = {r["run"] for r in definition.values()}
    assert runs <= set(LABELS)


def test_the_c_parser_rejects_exponent_floats_so_we_never_send_floats() -> None:
    """Why events carry integers only: json.dumps(0.00001) is '1e-05', which durable cannot read.

    (Inside a batch the same text silently drops the event or crashes the process; only the single-event
    form is safe to show here.)
    """
    handle = durable_rules_engine.create_ruleset(
        "probe-1e-05", json.dumps({"r": {"all": [{"m": {"$ex": {"q": 1}}}]}})
    )
    try:
        assert json.dumps(0.00001) == "1e-05"
        with pytest.raises(durable_rules_engine.error, match="error code: 204"):
            durable_rules_engine.assert_event(handle, '{"id": 1, "q": 1e-05}')
    finally:
        durable_rules_engine.delete_ruleset(handle)


ops = st.sampled_from([">=", ">", "<=", "<"])
targets = st.integers(0, 6).flatmap(
    lambda k: st.integers(-(10**7), 10**7).map(lambda n: Decimal(n).scaleb(-k))
)


@settings(max_examples=300, deadline=None)
@given(
    op=ops,
    target=targets,
    numerator=st.integers(0, 10**9),
    denominator=st.one_of(st.sampled_from([0, 1, 3, 7, 10**9]), st.integers(0, 10**9)),
    value=st.integers(0, 8).flatmap(
        lambda k: st.integers(-(10**12), 10**12).map(lambda n: Decimal(n).scaleb(-k))
    ),
)
def test_the_integer_encoding_keeps_every_comparison_exact(
    op: str, target: Decimal, numerator: int, denominator: int, value: Decimal
) -> None:
    numerator = min(numerator, denominator)
    for indicator, ask in (
        (PAY, ("t", "r", dt.date(2023, 6, 30), numerator, denominator, None)),
        (INDICATORS["par"], ("t", "r", dt.date(2023, 6, 30), None, None, value)),
    ):
        compiled = compile_rule(
            rule(indicator=indicator.id, target={"op": op, "value": str(target)}), indicator, "x"
        )
        keys = event_keys([ask], compiled)
        posted = event(keys[0], 7)
        assert all(type(v) is int and abs(v) < MAX_INT for k, v in posted.items() if k != "ask")
        assert posted["ask"] == "t"
        text = json.dumps(posted)
        assert "." not in text and "e-" not in text and "e+" not in text
        if indicator is PAY and denominator == 0:
            continue
        figure = Fraction(numerator, denominator) if indicator is PAY else Fraction(value)
        q, frac = posted["q"], posted["frac"]
        t = int(target.scaleb(compiled.decimals))
        encoded = {
            ">=": q >= t,
            "<": q < t,
            ">": q > t or (q == t and frac == 1),
            "<=": q < t or (q == t and frac == 0),
        }[op]
        assert encoded == compare(figure, op, Fraction(target))


def test_a_32_bit_id_collision_in_a_batch_is_posted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # durable detects duplicate events by a 32-bit FNV-1 hash of the id: these two collide.
    ids = itertools.chain(["row-539599", "row-722382"], itertools.count(10**12))
    monkeypatch.setattr(durable_backend, "_EVENT_IDS", ids)
    backend = get_backend("durable")
    e = backend.evaluate(
        rulebook(rule()),
        directory(agency("a"), agency("b")),
        [ratio("a", "2023-06", 1, 100), ratio("b", "2023-06", 90, 100)],
        dt.date(2023, 7, 1),
    )
    assert [(x.agency, x.outcome) for x in e] == [("a", Outcome.FAIL), ("b", Outcome.PASS)]
    assert next(ids) == 10**12 + 1  # one more id was spent: the retry


def _host_rulesets() -> set[str]:
    return set(durable_backend._host()._ruleset_directory)


def test_a_changed_rule_replaces_its_ruleset_and_a_removed_rule_drops_it() -> None:
    backend = get_backend("durable")
    rows = [ratio("a", "2023-06", 40, 100)]
    on = dt.date(2023, 7, 1)
    first = rulebook(rule("k1"), rule("k2"))
    assert [e.outcome for e in backend.evaluate(first, directory(agency("a")), rows, on)] == [
        Outcome.PASS
    ] * 2
    names = durable_backend.registered_rulesets()
    assert {names["k1"], names["k2"]} <= _host_rulesets()

    stricter = first.model_copy(
        update={"rules": {"k1": rule("k1", target={"op": ">=", "value": "50%"})}, "revision": "u" * 64}
    )
    assert [e.outcome for e in backend.evaluate(stricter, directory(agency("a")), rows, on)] == [Outcome.FAIL]
    after = durable_backend.registered_rulesets()
    assert after["k1"] != names["k1"] and after["k1"].startswith("compliance/k1@uuuuuuuuuuuu/")
    assert "k2" not in after
    assert not {names["k1"], names["k2"]} & _host_rulesets()
    assert after["k1"] in _host_rulesets()


def test_no_background_dispatcher_threads() -> None:
    one(get_backend("durable"), rule(), [ratio("a", "2023-06", 1, 100)], "2023-07-01")
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer)]


def test_concurrent_evaluations_with_different_rulebooks_stay_correct() -> None:
    backend = get_backend("durable")
    rows = [ratio("a", "2023-06", 40, 100)]
    books = {
        Outcome.PASS: rulebook(rule("c", target={"op": ">=", "value": "30%"})),
        Outcome.FAIL: rulebook(rule("c", target={"op": ">=", "value": "50%"})).model_copy(
            update={"revision": "v" * 64}
        ),
    }
    failures: list[str] = []

    def work(expected: Outcome) -> None:
        for _ in range(20):
            got = backend.evaluate(books[expected], directory(agency("a")), rows, dt.date(2023, 7, 1))
            if [e.outcome for e in got] != [expected]:
                failures.append(f"{expected}: {got}")

    threads = [threading.Thread(target=work, args=(o,)) for o in (Outcome.PASS, Outcome.FAIL) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ComplianceError) as caught:
        get_backend("drools")
    assert str(caught.value) == "unknown engine backend 'drools': use one of durable, python"


def test_durable_on_python_3_13_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real 3.13 cannot be run here (durable-rules fails to import there); pretend to be it.
    monkeypatch.setattr(sys, "version_info", (3, 13, 0, "final", 0))
    monkeypatch.setattr(durable_backend, "_DRE", None)
    with pytest.raises(ComplianceError) as caught:
        get_backend("durable")
    assert str(caught.value) == (
        "the durable engine needs durable-rules 2.0.28, which cannot run on Python 3.13 "
        '(3.13 removed a C API it uses): set [engine] backend = "python" in config.toml'
    )
    assert get_backend("python").name == "python"


def test_classify_answers_every_kind_of_question_like_python() -> None:
    """The three question kinds straight through both classifiers, including edge figures."""
    ramp = rule(
        "t1",
        target={"op": ">", "ramp": [{"from": "2023-01-01", "value": "0.5"}]},
        min_denominator=5,
        resolve={"op": "<=", "value": "0.75"},
    )
    plan = rule("m1", indicator="db", milestones=[{"stage": "built", "by": "2023-03-31"}])
    book = rulebook(ramp, plan)
    asks: list[Ask] = [
        ("t", "t1", dt.date(2022, 12, 31), 5, 10, None),
        ("t", "t1", dt.date(2022, 12, 31), 1, 2, None),  # SPEC §4: step 2 (insufficient) before step 3
        ("t", "t1", dt.date(2023, 1, 31), 1, 4, None),
        ("t", "t1", dt.date(2023, 1, 31), 5, 10, None),
        ("t", "t1", dt.date(2023, 1, 31), 500_000_001, 1_000_000_000, None),
        ("r", "t1", None, 3, 4, None),
        ("r", "t1", None, 750_001, 1_000_000, None),
        ("m", "m1", dt.date(2023, 3, 31), -1, None, None),
        ("m", "m1", dt.date(2023, 4, 1), 0, None, None),
        ("m", "m1", dt.date(2023, 4, 1), 1, None, None),
    ]
    expected = [
        "not_applicable",
        "insufficient",
        "insufficient",
        "fail",
        "pass",
        "met",
        "unmet",
        "not_applicable",
        "fail",
        "pass",
    ]
    assert _classify({r.id: _Compiled(r, book) for r in (ramp, plan)}, asks) == expected
    compiled = {r.id: compile_rule(r, book.indicators[r.indicator], book.revision) for r in (ramp, plan)}
    with durable_backend._LOCK:
        host = durable_backend._host()
        out = durable_backend._classify_rule(host, compiled["t1"], asks[:7])
        out += durable_backend._classify_rule(host, compiled["m1"], asks[7:])
    assert out == expected


def test_a_float_never_reaches_the_c_parser() -> None:
    compiled = compile_rule(rule("guard"), PAY, "g" * 64)
    with durable_backend._LOCK:
        ruleset = durable_backend._install(durable_backend._host(), compiled)
        for figure in (0.5, 1e-05, 2e16):
            with pytest.raises(durable_backend.EngineError, match="refusing to post a non-integer number"):
                durable_backend._post(
                    ruleset, [{"id": 1, "ask": "t", "end": 20230630, "q": figure, "frac": 0}]
                )
