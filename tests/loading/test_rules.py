"""Rule files: the rulebook, its revision, warnings, and errors located across files."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from compliance.errors import InputError
from compliance.loading.agencies import load_agencies
from compliance.loading.rules import check_rulebook, load_rulebook, rules_revision
from tests.support.deployment import INDICATORS_YAML, RULES_YAML, write_deployment


def _rules_dir(tmp_path: Path, **files: str | None) -> Path:
    write_deployment(tmp_path, **files)  # type: ignore[arg-type]
    return tmp_path / "rules"


def test_the_rulebook_holds_every_indicator_rule_and_file(tmp_path: Path) -> None:
    rules_dir = _rules_dir(tmp_path)
    (rules_dir / "tests").mkdir()
    (rules_dir / "tests" / "t.yaml").write_text(
        "not: [a rule file", encoding="utf-8"
    )  # rule tests are not rules
    directory = load_agencies(rules_dir / "agencies.csv")
    rulebook, warnings = load_rulebook(rules_dir, directory)
    assert warnings == []
    assert list(rulebook.indicators) == ["online_payment", "full_online", "par_index", "db_land"]
    assert list(rulebook.rules) == ["online-payment-30", "full-online", "par-index-80", "db-land"]
    assert rulebook.rules["online-payment-30"].target is not None
    assert rulebook.rules["online-payment-30"].target.value == Decimal("0.3")
    assert rulebook.files == {"indicators.yaml": INDICATORS_YAML, "rules.yaml": RULES_YAML}
    canonical = json.dumps(rulebook.files, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert (
        rulebook.revision == hashlib.sha256(canonical.encode()).hexdigest() == rules_revision(rulebook.files)
    )


def test_the_revision_changes_with_any_byte_of_any_file(tmp_path: Path) -> None:
    first, _ = load_rulebook(_rules_dir(tmp_path / "a"), None)
    second, _ = load_rulebook(_rules_dir(tmp_path / "b", rules_yaml=RULES_YAML + "# comment\n"), None)
    assert first.revision != second.revision


def test_yml_files_count_too(tmp_path: Path) -> None:
    rules_dir = _rules_dir(tmp_path, rules_yaml=None)
    (rules_dir / "more.yml").write_text(RULES_YAML, encoding="utf-8")
    rulebook, _ = load_rulebook(rules_dir, None)
    assert set(rulebook.files) == {"indicators.yaml", "more.yml"}
    assert len(rulebook.rules) == 4


def test_without_a_directory_scope_references_are_not_checked(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("agencies: [so-a]", "agencies: [nobody]")
    rulebook, problems = check_rulebook(_rules_dir(tmp_path, rules_yaml=rules), None, "rules")
    assert rulebook is not None and problems == []
    directory = load_agencies(tmp_path / "rules" / "agencies.csv")
    rulebook, problems = check_rulebook(tmp_path / "rules", directory, "rules")
    assert rulebook is None
    assert [str(p) for p in problems] == [
        "rules/rules.yaml:25:12: warning: rules[3].scope: the scope selects no agency",
        "rules/rules.yaml:25:24: rules[3].scope.agencies[0]: unknown agency 'nobody'",
    ]


def test_load_rulebook_raises_with_every_problem(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("indicator: par_index", "indicator: par_idx").replace(
        "stage: shared", "stage: done"
    )
    with pytest.raises(InputError) as info:
        load_rulebook(_rules_dir(tmp_path, rules_yaml=rules), None)
    assert [(p.location.line, p.key) for p in info.value.problems] == [
        (18, "rules[2].indicator"),
        (26, "rules[3].milestones[2].stage"),
    ]


def test_a_threshold_rule_on_a_milestone_indicator_says_why_it_fails(tmp_path: Path) -> None:
    rules = (
        "version: 1\nrules:\n  - id: r\n    title: t\n    indicator: db_land\n    scope: {agencies: [so-a]}\n"
    )
    with pytest.raises(InputError) as info:
        load_rulebook(_rules_dir(tmp_path, rules_yaml=rules), None)
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'rules' / 'rules.yaml'}:3:5: rules[0]: a threshold rule needs a `target`",
        f"{tmp_path / 'rules' / 'rules.yaml'}:5:16: rules[0].indicator: indicator 'db_land' is a milestone "
        "indicator: the rule needs `kind: milestone` and `milestones`",
    ]


def test_missing_directory(tmp_path: Path) -> None:
    rulebook, problems = check_rulebook(tmp_path / "nope", None, "nope")
    assert rulebook is None
    assert [str(p) for p in problems] == [
        "nope: rules directory not found (see [paths] rules in config.toml)"
    ]


def test_an_empty_rules_directory_is_a_warning(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    rulebook, problems = load_rulebook(rules_dir, None)
    assert (rulebook.rules, rulebook.indicators, rulebook.files) == ({}, {}, {})
    assert [str(p) for p in problems] == [
        f"{rules_dir}: warning: no rule files (*.yaml) in the rules directory"
    ]
