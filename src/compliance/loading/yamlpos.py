"""YAML with positions: round-trip loading (ruamel.yaml) and the line:col of any key path in the document.

Dates are kept as the text the user wrote, so that `2023-02-30` becomes a located validation error
instead of a crash inside the YAML library.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from compliance.errors import Problem, SourceLocation

__all__ = ["YamlSyntaxError", "load_yaml", "yaml_node", "yaml_position"]


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that leaves timestamps as text (pydantic parses and locates them)."""


def _timestamp_as_text(constructor: RoundTripConstructor, node: Any) -> str:
    return str(constructor.construct_scalar(node))


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


class YamlSyntaxError(Exception):
    """The text is not YAML; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_yaml(text: str, display: str) -> Any:
    """Parse `text`; a syntax error becomes a YamlSyntaxError carrying a located Problem."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        with warnings.catch_warnings():
            # ruamel warns (e.g. about reused anchors) instead of failing; the rules do not need anchors.
            warnings.simplefilter("ignore")
            return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        raise YamlSyntaxError(
            Problem(SourceLocation(display, line, col), "", f"YAML syntax error: {message}")
        ) from exc
    except YAMLError as exc:  # errors without a mark
        raise YamlSyntaxError(
            Problem(SourceLocation(display, 1, 1), "", f"YAML syntax error: {exc}")
        ) from exc


def yaml_node(doc: Any, loc: Sequence[str | int]) -> tuple[bool, Any]:
    """(found, node) for `loc` in the loaded document."""
    node = doc
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def yaml_position(doc: Any, loc: Sequence[str | int], *, at_key: bool = False) -> tuple[int, int]:
    """1-based (line, col) of the node at `loc`; for a missing key, the mapping that should hold it.

    `at_key` points at the last key itself (an unknown key) rather than at its value.
    """
    node, pos = doc, (0, 0)
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        try:
            if isinstance(part, int):
                pos = node.lc.item(part)
            elif last and at_key:
                pos = node.lc.key(part)
            else:
                pos = node.lc.value(part)
            node = node[part]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return pos[0] + 1, pos[1] + 1
