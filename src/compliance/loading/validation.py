"""Turning pydantic's validation errors into the messages office staff read: key paths, friendly words, hints.

Shared by the TOML (config) and YAML (rules) loaders; each loader supplies the position of a key path.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from compliance.loading.suggest import did_you_mean

__all__ = ["Friendly", "display_path", "friendly", "key_path", "keys_of", "model_at"]

Loc = Sequence[str | int]


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel


def key_path(loc: Loc) -> str:
    """('rules', 2, 'target', 'value') -> 'rules[2].target.value' (the bracket style of STYLE.md)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _models_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for arg in typing.get_args(annotation):
        found = _models_in(arg)
        if found is not None:
            return found
    return None


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping found at `loc` (list indices are stepped over)."""
    current: type[BaseModel] = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = next(
            (f for name, f in current.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if field is None:
            return None
        sub = _models_in(field.annotation)
        if sub is None:
            return None
        current = sub
    return current


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a user may write in a mapping validated by `model` (aliases such as `for`, `from`)."""
    return [f.alias or name for name, f in model.model_fields.items() if not f.exclude]


class Friendly(typing.NamedTuple):
    message: str
    hint: str | None
    at_key: bool  # locate at the key itself (unknown key) rather than at its value


_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def friendly(err: ErrorDetails, root: type[BaseModel]) -> Friendly:
    """pydantic's message, reworded where it is cryptic for someone editing a YAML or TOML file."""
    kind = err["type"]
    msg = err["msg"]
    loc = err["loc"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return Friendly("required key is missing", None, False)
    if kind == "extra_forbidden":
        parent = model_at(root, loc[:-1])
        hint = did_you_mean(str(loc[-1]), keys_of(parent)) if parent is not None else None
        return Friendly("unknown key", hint, True)
    if kind in ("value_error", "assertion_error"):
        return Friendly(re.sub(r"^(Value error|Assertion failed), ", "", msg), None, False)
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        return Friendly(
            f"'{value}' is not a valid id: use lowercase letters a-z, digits, '-' and '_', "
            "starting with a letter or digit",
            None,
            False,
        )
    if kind == "literal_error":
        options = _QUOTED.findall(str(ctx.get("expected", "")))
        hint = did_you_mean(str(value), options) if isinstance(value, str) else None
        return Friendly(msg, hint, False)
    if kind in ("tuple_type", "list_type", "set_type", "frozen_set_type"):
        return Friendly("Input should be a list, e.g. [a, b]", None, False)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return Friendly("Input should be a mapping of keys to values", None, False)
    if kind in ("bool_parsing", "bool_type"):
        return Friendly("Input should be true or false", None, False)
    if kind.startswith(("date_", "datetime_")):
        detail = str(ctx.get("error", "")) or None
        text = "Input should be a valid date written YYYY-MM-DD"
        return Friendly(f"{text}, {detail}" if detail else text, None, False)
    if kind == "string_type" and isinstance(value, int | float):
        return Friendly(msg, f'write it in quotes: "{value}"', False)
    return Friendly(msg, None, False)
