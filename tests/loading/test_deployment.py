"""A deployment's inputs loaded together: everything, or one InputError with every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.errors import InputError
from compliance.loading.config import load_config
from compliance.loading.deployment import check_deployment, load_deployment
from tests.support.deployment import AGENCIES_CSV, RULES_YAML, write_deployment


def test_a_valid_deployment(tmp_path: Path) -> None:
    deployment = load_deployment(load_config(write_deployment(tmp_path)))
    assert len(deployment.directory) == 7
    assert len(deployment.rulebook.rules) == 4
    assert deployment.warnings == []
    assert deployment.config.base_dir == tmp_path.resolve()


def test_problems_of_agencies_and_rules_are_reported_together(tmp_path: Path) -> None:
    agencies = AGENCIES_CSV.replace("so-b,Sở B,department,tinh", "so-b,Sở B,department,tnh")
    rules = RULES_YAML.replace("agencies: [so-a]", "agencies: [so-c]")
    config = load_config(write_deployment(tmp_path, agencies_csv=agencies, rules_yaml=rules))
    with pytest.raises(InputError) as info:
        load_deployment(config)
    assert [(p.location.path.rsplit("/", 1)[-1], p.key, p.warning) for p in info.value.problems] == [
        ("agencies.csv", "parent", False),
        ("rules.yaml", "rules[3].scope", True),
        ("rules.yaml", "rules[3].scope.agencies[0]", False),
    ]
    deployment, problems = check_deployment(config)
    assert deployment is None and len(problems) == 3


def test_warnings_travel_with_the_deployment(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("levels: [district]}", "levels: [district], tags: [nobody-has-it]}")
    deployment = load_deployment(load_config(write_deployment(tmp_path, rules_yaml=rules)))
    assert [(p.key, p.message) for p in deployment.warnings] == [
        ("rules[1].scope.tags[0]", "no agency has tag 'nobody-has-it'")
    ]
