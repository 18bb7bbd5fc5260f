"""Scope selection: levels, agencies and tags are OR'ed, exclude removes, a date keeps active agencies only;
the loader's index (a scope that selects nobody is a warning) agrees with the selection."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.loading.rules import _ScopeIndex
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


_IDS = ["a", "b", "c", "d", "e", "f"]
_LEVELS = ["province", "department", "commune"]
_TAGS = ["cds", "mot-cua", "x"]


@st.composite
def _directories(draw: st.DrawFn) -> AgencyDirectory:
    ids = draw(st.lists(st.sampled_from(_IDS), unique=True, max_size=len(_IDS)))
    return AgencyDirectory.of(
        _agency(
            i,
            draw(st.sampled_from(_LEVELS)),
            tuple(draw(st.lists(st.sampled_from(_TAGS), unique=True, max_size=2))),
        )
        for i in ids
    )


def _names(pool: list[str]) -> st.SearchStrategy[tuple[str, ...]]:
    # Names of the directory and others ("zz"), repeated at times, as a rule file may write them.
    return st.lists(st.sampled_from([*pool, "zz"]), max_size=3).map(tuple)


@given(
    directory=_directories(),
    scope=st.builds(
        Scope, levels=_names(_LEVELS), agencies=_names(_IDS), tags=_names(_TAGS), exclude=_names(_IDS)
    ),
)
@settings(max_examples=400, deadline=None)
def test_the_loaders_index_finds_a_scope_empty_exactly_when_selection_is(
    directory: AgencyDirectory, scope: Scope
) -> None:
    assert _ScopeIndex.of(directory).selects_any(scope, directory) == bool(select_agencies(scope, directory))
