"""`compliance test`: rule tests run through the real command, their messages, and the example's own tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compliance.pipeline.ruletest import figure_matches
from tests.conftest import REPO, Cli
from tests.pipeline.evalsupport import RULES
from tests.support.deployment import write_deployment

PASSING = """version: 1
tests:
  - name: so-a fails twice and gets a task
    focus: [pay]
    snapshots:
      - rows:
          - {period: 2023-01, agency: so-a, indicator: online_payment, numerator: 10, denominator: 100}
      - csv: |
          period,agency,indicator,numerator,denominator,value,status,as_of
          2023-02,so-a,online_payment,100,400,,,
    evaluations:
      - at: 2023-01-31
        outcomes:
          - {rule: pay, agency: "*", outcome: no_data}
          - {rule: pay, agency: so-a, outcome: fail, value: 10%, streak: 1}
        tasks: []
      - at: 2023-02-28
        outcomes:
          - {rule: pay, agency: so-a, outcome: fail, value: 25.00%, numerator: 100, denominator: 400, streak: 2}
        counts: {fail: 1, no_data: 4}
        tasks:
          - {rule: pay, agency: so-a, period: 2023-02, due_on: 2023-03-30, previous: false}
        run: {opened: 1, open: 1}
  - name: nothing at all
    evaluations:
      - at: 2023-01-31
        outcomes:
          - {rule: "*", agency: "*", outcome: no_data}
        tasks: []
"""

FAILING = """version: 1
tests:
  - name: wrong on purpose
    snapshots:
      - rows:
          - {period: 2023-01, agency: so-a, indicator: online_payment, numerator: 10, denominator: 100}
          - {period: 2023-01, agency: so-b, indicator: full_online, numerator: 2, denominator: 10}
    evaluations:
      - at: 2023-01-31
        outcomes:
          - {rule: pay, agency: so-a, outcome: pass}
          - {rule: pay, agency: so-b, outcome: no_data, streak: 3}
          - {rule: pay-once, agency: so-b, outcome: fail, value: 20.1%, target: 0.5}
          - {rule: pay-once, agency: huyen-x, outcome: pass}
          - {rule: pya, agency: so-a, outcome: pass}
        counts: {fail: 3}
        tasks:
          - {rule: pay, agency: so-a}
        run: {opened: 0}
"""


def deployment(tmp_path: Path, tests: dict[str, str]) -> Path:
    return write_deployment(
        tmp_path, rules_yaml=RULES, extra_files={f"rules/tests/{name}": text for name, text in tests.items()}
    )


def test_passing_tests_and_the_last_line(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path, {"pay.yaml": PASSING})
    result = cli("test")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "PASS rules/tests/pay.yaml: so-a fails twice and gets a task\n"
        "PASS rules/tests/pay.yaml: nothing at all\n"
        "2 passed, 0 failed\n"
    )


def test_failures_say_what_was_expected_and_what_came(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path, {"a-pay.yaml": PASSING, "b-wrong.yaml": FAILING})
    result = cli("test")
    assert result.returncode == 1
    assert result.stdout == (
        "PASS rules/tests/a-pay.yaml: so-a fails twice and gets a task\n"
        "PASS rules/tests/a-pay.yaml: nothing at all\n"
        "FAIL rules/tests/b-wrong.yaml: wrong on purpose\n"
        "  at 2023-01-31: unknown rule 'pya' (did you mean 'pay'?)\n"
        "  at 2023-01-31: count of fail: expected 3, got 2\n"
        "  at 2023-01-31: task pay x so-a: expected a task with status open, found none (tasks of this rule x agency: none)\n"
        "  at 2023-01-31: task pay-once x so-b: unexpected open task #1 (opened 2023-01-31, period 2023-01, value 0.2)\n"
        "  at 2023-01-31: run tasks.opened: expected 0, got 1\n"
        "2 passed, 1 failed\n"
    )
    fixed = FAILING.replace("          - {rule: pya, agency: so-a, outcome: pass}\n", "")
    deployment(tmp_path, {"a-pay.yaml": PASSING, "b-wrong.yaml": fixed})
    result = cli("test", "rules/tests/b-wrong.yaml")
    assert result.returncode == 1
    assert result.stdout == (
        "FAIL rules/tests/b-wrong.yaml: wrong on purpose\n"
        "  at 2023-01-31: pay x so-a: expected outcome pass, got fail (period 2023-01, value 0.1)\n"
        "  at 2023-01-31: pay x so-b: expected streak 3, got 0\n"
        "  at 2023-01-31: pay-once x so-b: expected value 20.1%, got 0.2\n"
        "  at 2023-01-31: pay-once x huyen-x: expected outcome pass, got no evaluation (the agency is outside "
        "the rule's scope or its active window)\n"
        "  at 2023-01-31: count of fail: expected 3, got 2\n"
        "  at 2023-01-31: task pay x so-a: expected a task with status open, found none (tasks of this rule x agency: none)\n"
        "  at 2023-01-31: task pay-once x so-b: unexpected open task #1 (opened 2023-01-31, period 2023-01, value 0.2)\n"
        "  at 2023-01-31: run tasks.opened: expected 0, got 1\n"
        "0 passed, 1 failed\n"
    )


def test_an_invalid_test_file_is_located(cli: Cli, tmp_path: Path) -> None:
    broken = PASSING.replace(
        '    evaluations:\n      - at: 2023-01-31\n        outcomes:\n          - {rule: pay, agency: "*"',
        '    evaluations:\n      - at: 2023-01-31\n        outcome:\n          - {rule: pay, agency: "*"',
        1,
    )
    deployment(tmp_path, {"pay.yaml": broken})
    result = cli("test")
    assert result.returncode == 1
    assert result.stdout == (
        "rules/tests/pay.yaml:13:9: tests[0].evaluations[0].outcome: unknown key\n"
        "  hint: did you mean 'outcomes'?\n"
        "0 passed, 1 failed\n"
    )


def test_a_rejected_snapshot_fails_its_test(cli: Cli, tmp_path: Path) -> None:
    bad = PASSING.replace("numerator: 10, denominator: 100}", "numerator: 110, denominator: 100}", 1)
    deployment(tmp_path, {"pay.yaml": bad})
    result = cli("test")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "FAIL rules/tests/pay.yaml: so-a fails twice and gets a task"
    assert lines[1] == "  snapshots[0]: the snapshot was rejected:"
    assert lines[2].startswith("    pay-1-snapshots-1.csv:2: numerator: ")
    assert lines[-1] == "1 passed, 1 failed"


def test_rules_and_agencies_can_be_given_by_the_test_file(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path, {})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "indicators.yaml").write_text(
        (tmp_path / "rules" / "indicators.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "other" / "strict.yaml").write_text(RULES.replace('"30%"', '"50%"'), encoding="utf-8")
    spec = """version: 1
rules: [../other/indicators.yaml, ../other/strict.yaml]
agencies: |
  id,name,level,parent,head_name,head_title,head_email,cc,tags,active_from,active_until
  so-a,Sở A,department,,Trần Thị An,Giám đốc,giamdoc.soa@example.gov.vn,,,,
  so-b,Sở B,department,,Lê Văn Bình,Giám đốc,giamdoc.sob@example.gov.vn,,,,
  xa-1,UBND xã Một,commune,so-a,Võ Văn Một,Chủ tịch,chutich.xa1@example.gov.vn,,,,
tests:
  - name: a stricter target on two departments
    snapshots:
      - rows:
          - {period: 2023-01, agency: so-a, indicator: online_payment, numerator: 40, denominator: 100}
    evaluations:
      - at: 2023-01-31
        outcomes:
          - {rule: pay, agency: so-a, outcome: fail, target: 50%}
          - {rule: pay, agency: xa-1, outcome: not_evaluated}
        counts: {fail: 1, no_data: 3}
"""
    (tmp_path / "tests-elsewhere").mkdir()
    (tmp_path / "tests-elsewhere" / "strict.yaml").write_text(spec, encoding="utf-8")
    result = cli("test", "tests-elsewhere/strict.yaml", "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout) == {
        "passed": 1,
        "failed": 0,
        "files": [
            {
                "file": "tests-elsewhere/strict.yaml",
                "errors": [],
                "tests": [{"name": "a stricter target on two departments", "passed": True, "failures": []}],
            }
        ],
    }


def test_no_tests_found(cli: Cli, tmp_path: Path) -> None:
    deployment(tmp_path, {})
    result = cli("test")
    assert (result.returncode, result.stdout) == (1, "0 passed, 0 failed\n")
    assert result.stderr.startswith("no rule tests found in ")


@pytest.mark.parametrize("backend", ["durable", "python"])
def test_the_example_deployment_passes_its_own_rule_tests(cli: Cli, backend: str) -> None:
    result = cli("test", "--backend", backend, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("6 passed, 0 failed\n")


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ("26.18%", 692 / 2643, True),
        ("26.2%", 692 / 2643, True),
        ("26.19%", 692 / 2643, False),
        ("30%", 0.3, True),
        ("30%", 0.30000001, False),
        ("79.86", 79.86, True),
        ("80", 79.86, False),
        ("80", 80.0, True),
        ("30%", 0.3049, False),
        ("0.5", 0.5, True),
        ("built", "built", True),
        ("built", "connected", False),
        ("30%", None, False),
    ],
)
def test_figures_match_at_the_precision_written(
    expected: str, actual: float | str | None, matches: bool
) -> None:
    assert figure_matches(expected, actual) is matches
