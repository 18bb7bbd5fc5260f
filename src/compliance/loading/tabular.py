"""Reading CSV (UTF-8, BOM tolerated) and XLSX tables into numbered rows, as a spreadsheet shows them.

Row numbers count the header as row 1, so `path:row:` points at the line the office sees in Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from compliance.errors import InputError, Problem, SourceLocation

__all__ = ["Records", "Table", "read_records", "read_table"]


@dataclass(frozen=True)
class Table:
    path: str
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, expected column -> cell text, stripped)
    raw: bytes  # the file's bytes, for its sha256


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class Records:
    """A table read as cell lists in the order of the expected columns (whatever the header's order):
    `read_table` without a dict per row (snapshot files run to 100,000+ rows)."""

    path: str
    header: tuple[str, ...]
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells in `expected` order, stripped)
    raw: bytes


def _load(
    path: Path, expected: tuple[str, ...], name: str
) -> tuple[list[str], list[tuple[int, list[str]]], bytes]:
    """The file's header (checked against `expected`), its numbered body rows, and its bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            [Problem(SourceLocation(name), "", f"cannot read the file: {exc.strerror}")]
        ) from exc
    if path.suffix.lower() == ".xlsx":
        header, body = _read_xlsx(raw, name)
    elif path.suffix.lower() == ".csv":
        header, body = _read_csv(raw, name)
    else:
        raise InputError([Problem(SourceLocation(name), "", "unsupported file type: use .csv or .xlsx")])
    problems: list[Problem] = []
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    seen: set[str] = set()
    for col in header:
        if col in seen:
            problems.append(Problem(SourceLocation(name, row=1), col, "column appears twice in the header"))
        seen.add(col)
    for col in missing:
        problems.append(
            Problem(
                SourceLocation(name, row=1), col, f"missing column; the header must be: {','.join(expected)}"
            )
        )
    for col in extra:
        from compliance.loading.suggest import did_you_mean

        problems.append(
            Problem(
                SourceLocation(name, row=1), col or "(empty)", "unknown column", did_you_mean(col, expected)
            )
        )
    if problems:
        raise InputError(problems)
    return header, body, raw


def _too_wide(name: str, number: int, cells: list[str], width: int) -> Problem:
    return Problem(SourceLocation(name, row=number), "", f"{len(cells)} cells but the header has {width}")


def read_table(path: Path, expected: tuple[str, ...], display: str | None = None) -> Table:
    """Read `path` (.csv or .xlsx); the header must hold every `expected` column (extra ones are errors)."""
    records = read_records(path, expected, display)
    rows = [(number, dict(zip(expected, cells, strict=True))) for number, cells in records.rows]
    return Table(records.path, records.header, rows, records.raw)


def read_records(path: Path, expected: tuple[str, ...], display: str | None = None) -> Records:
    """The rows of `read_table`, each as a list of its cells in the order of `expected`."""
    name = display or str(path)
    header, body, raw = _load(path, expected, name)
    width = len(header)
    # The header holds each expected column exactly once (else _load raised): a permutation of them.
    order = [header.index(col) for col in expected]
    in_order = order == list(range(width))
    problems: list[Problem] = []
    rows: list[tuple[int, list[str]]] = []
    for number, cells in body:
        stripped = list(map(str.strip, cells))
        if not any(stripped):
            continue  # blank lines are common at the end of exports
        if len(stripped) != width:
            if len(stripped) > width:
                if any(stripped[width:]):
                    problems.append(_too_wide(name, number, cells, width))
                    continue
                del stripped[width:]
            else:
                stripped.extend([""] * (width - len(stripped)))
        rows.append((number, stripped if in_order else [stripped[i] for i in order]))
    if problems:
        raise InputError(problems)
    return Records(name, tuple(header), rows, raw)


def _read_csv(raw: bytes, name: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            [Problem(SourceLocation(name, row=line), "", "the file is not UTF-8 (save it as 'CSV UTF-8')")]
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise InputError(
            [Problem(SourceLocation(name, row=reader.line_num), "", f"not valid CSV: {exc}")]
        ) from exc
    if not records:
        raise InputError([Problem(SourceLocation(name), "", "the file is empty; it needs a header row")])
    # Row numbers as a spreadsheet shows them: physical record index (a quoted newline stays one row).
    header = [c.strip() for c in records[0]]
    return header, list(enumerate(records[1:], start=2))


def _read_xlsx(raw: bytes, name: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise InputError(
            [Problem(SourceLocation(name), "", f"not a readable .xlsx workbook: {exc}")]
        ) from exc
    ws = wb.worksheets[0]
    out: list[tuple[int, list[str]]] = []
    for index, values in enumerate(ws.iter_rows(values_only=True), start=1):
        out.append((index, [_cell_text(v) for v in values]))
    wb.close()
    if not out:
        raise InputError([Problem(SourceLocation(name), "", "the sheet is empty; it needs a header row")])
    header = [c.strip() for c in out[0][1]]
    while header and header[-1] == "":
        header.pop()
    return header, out[1:]
