"""The agency directory (CSV or XLSX, SPEC §3.2) -> AgencyDirectory, every problem named by row and column."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from compliance.errors import InputError, Problem, SourceLocation
from compliance.loading.emails import email_problem
from compliance.loading.suggest import did_you_mean
from compliance.loading.tabular import read_table
from compliance.loading.validation import display_path
from compliance.model.agency import Agency, AgencyDirectory

__all__ = ["AGENCY_COLUMNS", "AGENCY_ID", "load_agencies", "read_agencies"]

AGENCY_COLUMNS = (
    "id",
    "name",
    "level",
    "parent",
    "head_name",
    "head_title",
    "head_email",
    "cc",
    "tags",
    "active_from",
    "active_until",
)
AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: str) -> tuple[dt.date | None, str | None]:
    if not value:
        return None, None
    if _DATE.match(value):
        try:
            return dt.date.fromisoformat(value), None
        except ValueError as exc:
            return None, f"'{value}' is not a valid date: {exc}"
    return None, f"'{value}' is not a date; write YYYY-MM-DD (e.g. 2023-07-01)"


def _split(cell: str) -> tuple[str, ...]:
    if ";" not in cell:  # the common case: empty, or one item (the cell is already stripped)
        return (cell,) if cell else ()
    return tuple(part.strip() for part in cell.split(";") if part.strip())


def load_agencies(path: Path, display: str | None = None) -> AgencyDirectory:
    """Read and validate the whole directory; raise InputError listing every problem (`path:row: column: …`)."""
    directory, problems = read_agencies(path, display)
    if problems:
        raise InputError(problems)
    return directory


def read_agencies(path: Path, display: str | None = None) -> tuple[AgencyDirectory, list[Problem]]:
    """The directory as written (every row with a usable, unique id) and every problem found in it.

    With problems, the directory is only good for checking references to it (ids, levels, tags);
    InputError is raised when not even that can be read (no file, a wrong header).
    """
    name = display or display_path(path)
    if not path.is_file():
        raise InputError(
            [
                Problem(
                    SourceLocation(name),
                    "",
                    "agency directory not found (see [paths] agencies in config.toml)",
                )
            ]
        )
    table = read_table(path, AGENCY_COLUMNS, name)
    problems: list[tuple[int, Problem]] = []

    def problem(row: int, column: str, message: str, hint: str | None = None) -> None:
        problems.append((row, Problem(SourceLocation(name, row=row), column, message, hint)))

    first_row: dict[str, int] = {}
    parsed: list[tuple[int, dict[str, str], Agency | None]] = []
    for row, cells in table.rows:
        agency_id = cells["id"]
        usable = False  # the row can be referred to (by parent, by a rule's scope), even if it has problems
        if not agency_id:
            problem(row, "id", "required; the cell is empty")
        elif not AGENCY_ID.match(agency_id):
            problem(
                row,
                "id",
                f"'{agency_id}' is not a valid id: use lowercase letters a-z, digits and '-', "
                "starting with a letter or digit",
            )
        elif agency_id in first_row:
            problem(row, "id", f"duplicate id '{agency_id}' (first on row {first_row[agency_id]})")
        else:
            first_row[agency_id] = row
            usable = True
        for column in ("name", "level", "head_name", "head_email"):
            if not cells[column]:
                problem(row, column, "required; the cell is empty")
        if cells["head_email"]:
            bad = email_problem(cells["head_email"])
            if bad:
                problem(row, "head_email", bad)
        cc = _split(cells["cc"])
        for address in cc:
            bad = email_problem(address)
            if bad:
                problem(row, "cc", bad)
        active_from, bad_from = _date(cells["active_from"])
        active_until, bad_until = _date(cells["active_until"])
        if bad_from:
            problem(row, "active_from", bad_from)
        if bad_until:
            problem(row, "active_until", bad_until)
        if active_from and active_until and active_until < active_from:
            problem(row, "active_until", f"{active_until} is before active_from {active_from}")
        agency = (
            Agency(
                id=agency_id,
                name=cells["name"],
                level=cells["level"],
                parent=cells["parent"] or None,
                head_name=cells["head_name"],
                head_title=cells["head_title"],
                head_email=cells["head_email"],
                cc=cc,
                tags=_split(cells["tags"]),
                active_from=active_from,
                active_until=active_until,
            )
            if usable
            else None
        )
        parsed.append((row, cells, agency))

    # Parents refer to ids anywhere in the file, so they are checked once every id is known.
    parents: dict[str, str] = {}
    for row, cells, _agency in parsed:
        parent = cells["parent"]
        if not parent:
            continue
        if parent not in first_row:
            others = [i for i in first_row if i != cells["id"]]
            problem(row, "parent", f"unknown agency '{parent}'", did_you_mean(parent, others))
        elif first_row.get(cells["id"]) == row:
            parents[cells["id"]] = parent
    for cycle in _cycles(parents, first_row):
        problem(first_row[cycle[0]], "parent", f"cycle in parent: {' → '.join([*cycle, cycle[0]])}")

    problems.sort(key=lambda item: item[0])
    return AgencyDirectory.of(a for _row, _cells, a in parsed if a is not None), [p for _row, p in problems]


def _cycles(parents: dict[str, str], order: dict[str, int]) -> list[list[str]]:
    """Every cycle of the parent relation once, starting at its member that comes first in the file."""
    done: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(parents, key=order.__getitem__):
        path: list[str] = []
        index: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done and node not in index:
            index[node] = len(path)
            path.append(node)
            node = parents.get(node)
        if node is not None and node in index:
            cycle = path[index[node] :]
            first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
            found.append(cycle[first:] + cycle[:first])
        done.update(path)
    return found
