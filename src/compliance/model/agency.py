"""Agencies and the directory: the tree of units, their heads, and when each unit exists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["Agency", "AgencyDirectory"]


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    level: str
    parent: str | None
    head_name: str
    head_title: str
    head_email: str
    cc: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    active_from: dt.date | None = None
    active_until: dt.date | None = None

    def active_on(self, day: dt.date) -> bool:
        if self.active_from is not None and day < self.active_from:
            return False
        return not (self.active_until is not None and day > self.active_until)


@dataclass
class AgencyDirectory:
    """All agencies by id, with the tree precomputed (children, descendants) for rollups."""

    agencies: dict[str, Agency]
    children: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.children = {a: [] for a in self.agencies}
        for agency in self.agencies.values():
            if agency.parent is not None and agency.parent in self.children:
                self.children[agency.parent].append(agency.id)
        self._descendants: dict[str, tuple[str, ...]] = {}

    @classmethod
    def of(cls, agencies: Iterable[Agency]) -> AgencyDirectory:
        return cls({a.id: a for a in agencies})

    def __iter__(self) -> Iterator[Agency]:
        return iter(self.agencies.values())

    def __len__(self) -> int:
        return len(self.agencies)

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self.agencies

    def get(self, agency_id: str) -> Agency | None:
        return self.agencies.get(agency_id)

    def __getitem__(self, agency_id: str) -> Agency:
        return self.agencies[agency_id]

    def descendants(self, agency_id: str) -> tuple[str, ...]:
        """All units below `agency_id` (not itself), depth first; cached."""
        cached = self._descendants.get(agency_id)
        if cached is not None:
            return cached
        out: list[str] = []
        stack = list(reversed(self.children.get(agency_id, [])))
        seen = {agency_id}
        while stack:
            current = stack.pop()
            if current in seen:  # a cycle is a validation error; never loop on one
                continue
            seen.add(current)
            out.append(current)
            stack.extend(reversed(self.children.get(current, [])))
        result = tuple(out)
        self._descendants[agency_id] = result
        return result

    def parent_of(self, agency_id: str) -> Agency | None:
        agency = self.agencies.get(agency_id)
        if agency is None or agency.parent is None:
            return None
        return self.agencies.get(agency.parent)
