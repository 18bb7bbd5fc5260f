"""The TOML locator: where keys and values of config.toml are written."""

from __future__ import annotations

from compliance.loading.tomlpos import TomlLocator

TEXT = '''# a comment with key = "not a key"
title = "x"

[deployment]
name = "UBND tỉnh — CCHC"   # trailing comment
"quoted key" = 1

[email.smtp]
port = 25
dotted.inner = true

[notify]
holidays = [
  "2023-01-02",  # first
  "2023-02-30",
]
doc = """
fake = 1
"""
after = 3
inline = {a = 1, b = [10, 20], c = {d = "x"}}

[[jobs]]
name = "first"

[[jobs]]
name = "second"
'''


def test_keys_values_and_tables_are_located() -> None:
    loc = TomlLocator(TEXT)
    assert loc.locate(("title",)) == (2, 9)
    assert loc.locate(("title",), at_key=True) == (2, 1)
    assert loc.locate(("deployment", "name")) == (5, 8)
    assert loc.locate(("deployment", "quoted key"), at_key=True) == (6, 1)
    assert loc.locate(("email", "smtp", "port")) == (9, 8)
    assert loc.locate(("email", "smtp", "dotted", "inner")) == (10, 16)


def test_array_items_inline_tables_and_multiline_strings() -> None:
    loc = TomlLocator(TEXT)
    assert loc.locate(("notify", "holidays", 1)) == (15, 3)
    assert loc.locate(("notify", "after")) == (20, 9)  # the multi-line string's `fake = 1` is not a key
    assert ("notify", "fake") not in loc.keys
    assert loc.locate(("notify", "inline", "b", 1)) == (21, 27)
    assert loc.locate(("notify", "inline", "c", "d")) == (21, 41)
    assert loc.locate(("notify", "inline", "c", "d"), at_key=True) == (21, 37)


def test_arrays_of_tables_are_numbered() -> None:
    loc = TomlLocator(TEXT)
    assert loc.locate(("jobs", 0, "name")) == (24, 8)
    assert loc.locate(("jobs", 1, "name")) == (27, 8)


def test_missing_keys_point_at_their_table_and_unknown_paths_at_the_nearest_parent() -> None:
    loc = TomlLocator(TEXT)
    assert loc.locate(("email", "smtp", "host"), missing=True) == (8, 1)
    assert loc.locate(("deployment", "timezone"), missing=True) == (4, 1)
    assert loc.locate(("paths", "rules"), missing=True) == (1, 1)
    assert loc.locate(("email", "smtp", "nothing", "deeper")) == (8, 1)
    assert loc.locate(("nowhere",)) == (1, 1)
