"""YAML positions: the node a pydantic `loc` names, syntax errors, dates kept as text."""

from __future__ import annotations

import pytest

from compliance.loading.yamlpos import YamlSyntaxError, load_yaml, yaml_node, yaml_position

TEXT = """version: 1
rules:
  - id: a
    target: {op: ">=", value: "30%"}
    milestones:
      - {stage: built, by: 2023-02-30}
  - id: b
    scope:
      levels: [district, commune]
"""


def test_positions_of_values_items_and_keys() -> None:
    doc = load_yaml(TEXT, "r.yaml")
    assert yaml_position(doc, ("version",)) == (1, 10)
    assert yaml_position(doc, ("rules", 0)) == (3, 5)
    assert yaml_position(doc, ("rules", 0, "target", "value")) == (4, 31)
    assert yaml_position(doc, ("rules", 0, "target"), at_key=True) == (4, 5)
    assert yaml_position(doc, ("rules", 1, "scope", "levels", 1)) == (9, 26)


def test_a_missing_key_points_at_the_mapping_that_should_hold_it() -> None:
    doc = load_yaml(TEXT, "r.yaml")
    assert yaml_position(doc, ("rules", 1, "title")) == (7, 5)
    assert yaml_position(doc, ("indicators",)) == (1, 1)


def test_dates_stay_text_so_that_impossible_ones_are_located_later() -> None:
    doc = load_yaml(TEXT, "r.yaml")
    assert yaml_node(doc, ("rules", 0, "milestones", 0, "by")) == (True, "2023-02-30")
    assert yaml_node(doc, ("rules", 5)) == (False, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: 1\na: 2\n",
            'r.yaml:2:1: YAML syntax error: found duplicate key "a" with value "2" (original value: "1") '
            "(while constructing a mapping)",
        ),
        (
            "a: [1, 2\n",
            "r.yaml:2:1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence)",
        ),
        ("a: b: c\n", "r.yaml:1:5: YAML syntax error: mapping values are not allowed here"),
    ],
)
def test_syntax_errors_are_located(text: str, expected: str) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(text, "r.yaml")
    assert str(info.value.problem) == expected
