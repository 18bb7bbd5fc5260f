"""Line:col of key paths in a TOML text: tomllib locates syntax errors only, so values are found here.

A small scanner over text tomllib has already accepted: it follows `[table]` / `[[array]]` headers,
(dotted) keys, arrays and inline tables, and records where each key and each value starts.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

__all__ = ["TomlLocator"]

Key = tuple[str | int, ...]
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]\}\n#]*[^,\]\}\n#\s]")


class _Stop(Exception):
    """The scanner met something it does not model; what was recorded so far is kept."""


class TomlLocator:
    """Positions (1-based line, col) of keys, values and table headers in one TOML document."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.keys: dict[Key, int] = {}
        self.values: dict[Key, int] = {}
        self.tables: dict[Key, int] = {}
        self._array_tables: dict[Key, int] = {}
        try:
            self._scan()
        except (_Stop, IndexError):
            pass

    # -- public ---------------------------------------------------------------------------------------
    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def locate(
        self, loc: Sequence[str | int], *, at_key: bool = False, missing: bool = False
    ) -> tuple[int, int]:
        """Where `loc` is written; a missing key points at its table; an unknown path at its nearest parent."""
        key: Key = tuple(loc)
        if missing:
            key = key[:-1]
        elif at_key and key in self.keys:
            return self.position(self.keys[key])
        for n in range(len(key), 0, -1):
            prefix = key[:n]
            if prefix in self.values:
                return self.position(self.values[prefix])
            if prefix in self.tables:
                return self.position(self.tables[prefix])
        return 1, 1

    # -- scanner --------------------------------------------------------------------------------------
    def _skip_ws(self, i: int, newlines: bool) -> int:
        t = self.text
        while i < len(t):
            c = t[i]
            if c in " \t\r" or (newlines and c == "\n"):
                i += 1
            elif c == "#":
                while i < len(t) and t[i] != "\n":
                    i += 1
            else:
                break
        return i

    def _key(self, i: int) -> tuple[tuple[str, ...], int]:
        t = self.text
        parts: list[str] = []
        while True:
            i = self._skip_ws(i, newlines=False)
            if t.startswith('"', i):
                end = i + 1
                while t[end] != '"':
                    end += 2 if t[end] == "\\" else 1
                parts.append(t[i + 1 : end])
                i = end + 1
            elif t.startswith("'", i):
                end = t.index("'", i + 1)
                parts.append(t[i + 1 : end])
                i = end + 1
            else:
                m = _BARE.match(t, i)
                if m is None:
                    raise _Stop
                parts.append(m.group())
                i = m.end()
            i = self._skip_ws(i, newlines=False)
            if t.startswith(".", i):
                i += 1
                continue
            return tuple(parts), i

    def _scan(self) -> None:
        t = self.text
        current: Key = ()
        i = 0
        while True:
            i = self._skip_ws(i, newlines=True)
            if i >= len(t):
                return
            if t.startswith("[[", i):
                start = i
                parts, i = self._key(i + 2)
                i = t.index("]]", i) + 2
                index = self._array_tables.get(parts, -1) + 1
                self._array_tables[parts] = index
                current = (*parts, index)
                self.tables[current] = start
            elif t.startswith("[", i):
                start = i
                parts, i = self._key(i + 1)
                i = t.index("]", i) + 1
                current = parts
                self.tables[current] = start
            else:
                key_start = i
                parts, i = self._key(i)
                if not t.startswith("=", i):
                    raise _Stop
                i = self._skip_ws(i + 1, newlines=False)
                full = (*current, *parts)
                self.keys[full] = key_start
                i = self._value(i, full)
            # the rest of the line is a comment or nothing
            while i < len(t) and t[i] != "\n":
                i += 1

    def _value(self, i: int, path: Key) -> int:
        t = self.text
        self.values[path] = i
        if t.startswith('"""', i) or t.startswith("'''", i):
            quote = t[i : i + 3]
            end = t.index(quote, i + 3)
            while t.startswith(quote[0], end + 3):  # up to two quotes may close the string's content
                end += 1
            return end + 3
        if t.startswith('"', i):
            end = i + 1
            while t[end] != '"':
                end += 2 if t[end] == "\\" else 1
            return end + 1
        if t.startswith("'", i):
            return t.index("'", i + 1) + 1
        if t.startswith("[", i):
            i += 1
            index = 0
            while True:
                i = self._skip_ws(i, newlines=True)
                if t.startswith("]", i):
                    return i + 1
                i = self._value(i, (*path, index))
                index += 1
                i = self._skip_ws(i, newlines=True)
                if t.startswith(",", i):
                    i += 1
                elif not t.startswith("]", i):
                    raise _Stop
        if t.startswith("{", i):
            i += 1
            while True:
                i = self._skip_ws(i, newlines=False)
                if t.startswith("}", i):
                    return i + 1
                key_start = i
                parts, i = self._key(i)
                if not t.startswith("=", i):
                    raise _Stop
                i = self._skip_ws(i + 1, newlines=False)
                full = (*path, *parts)
                self.keys[full] = key_start
                i = self._value(i, full)
                i = self._skip_ws(i, newlines=False)
                if t.startswith(",", i):
                    i += 1
                elif not t.startswith("}", i):
                    raise _Stop
        m = _SCALAR.match(t, i)
        if m is None or m.end() == i:
            raise _Stop
        return m.end()
