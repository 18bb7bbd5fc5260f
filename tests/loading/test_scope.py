"""Scope selection: levels, agencies and tags are OR'ed, exclude removes, a date keeps active agencies only."""

from __future__ import annotations

import datetime as dt

from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.rules import Rule, Scope
from compliance.model.scope import scope_agencies, select_agencies


def _agency(id_: str, level: str, tags: tuple[str, ...] = (), until: dt.date | None = None) -> Agency:
    return Agency(
        id_, id_, level, None, "Head", "Title", f"{id_}@example.gov.vn", tags=tags, active_until=until
    )


DIRECTORY = AgencyDirectory.of(
    [
        _agency("tinh", "province"),
        _agency("so-a", "department", ("cds",)),
        _agency("so-b", "department"),
        _agency("huyen-x", "district", ("cds",)),
        _agency("xa-1", "commune"),
        _agency("xa-2", "commune", until=dt.date(2023, 3, 31)),
    ]
)


def test_selectors_are_ored_and_exclude_removes() -> None:
    assert select_agencies(Scope(levels=("department",)), DIRECTORY) == ["so-a", "so-b"]
    assert select_agencies(Scope(levels=("commune",), agencies=("tinh",)), DIRECTORY) == [
        "tinh",
        "xa-1",
        "xa-2",
    ]
    assert select_agencies(Scope(tags=("cds",)), DIRECTORY) == ["so-a", "huyen-x"]
    assert select_agencies(Scope(levels=("department",), tags=("cds",), exclude=("so-a",)), DIRECTORY) == [
        "so-b",
        "huyen-x",
    ]


def test_an_empty_scope_selects_everyone_but_the_excluded() -> None:
    assert select_agencies(Scope(), DIRECTORY) == ["tinh", "so-a", "so-b", "huyen-x", "xa-1", "xa-2"]
    assert select_agencies(Scope(exclude=("tinh",)), DIRECTORY) == ["so-a", "so-b", "huyen-x", "xa-1", "xa-2"]


def test_only_agencies_active_on_the_date() -> None:
    scope = Scope(levels=("commune",))
    assert select_agencies(scope, DIRECTORY, dt.date(2023, 3, 31)) == ["xa-1", "xa-2"]
    assert select_agencies(scope, DIRECTORY, dt.date(2023, 4, 1)) == ["xa-1"]


def test_scope_of_a_rule() -> None:
    rule = Rule.model_validate(
        {
            "id": "r",
            "title": "t",
            "indicator": "i",
            "scope": {"levels": ["district"]},
            "target": {"op": ">=", "value": 1},
        }
    )
    assert scope_agencies(rule, DIRECTORY) == ["huyen-x"]
    assert scope_agencies(rule, AgencyDirectory.of([])) == []
