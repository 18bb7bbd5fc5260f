"""Which agencies a rule's scope selects (pure: the engine and the loader both use it).

A scope selects the agencies whose level is one of `levels`, OR whose id is in `agencies`, OR that
carry one of `tags`; then `exclude` removes ids. A scope that names no level, agency or tag selects
every agency (then `exclude` applies). Given a date, only agencies active on it are kept.
"""

from __future__ import annotations

import datetime as dt

from compliance.model.agency import AgencyDirectory
from compliance.model.rules import Rule, Scope

__all__ = ["scope_agencies", "select_agencies"]


def select_agencies(scope: Scope, directory: AgencyDirectory, on: dt.date | None = None) -> list[str]:
    """Ids selected by `scope`, in directory order; with `on`, only agencies active that day."""
    levels = set(scope.levels)
    ids = set(scope.agencies)
    tags = set(scope.tags)
    exclude = set(scope.exclude)
    everyone = not (levels or ids or tags)
    out: list[str] = []
    for agency in directory:
        if agency.id in exclude:
            continue
        if not (everyone or agency.level in levels or agency.id in ids or tags.intersection(agency.tags)):
            continue
        if on is not None and not agency.active_on(on):
            continue
        out.append(agency.id)
    return out


def scope_agencies(rule: Rule, directory: AgencyDirectory, on: dt.date | None = None) -> list[str]:
    """Ids of the agencies `rule` applies to (see the module docstring), in directory order."""
    return select_agencies(rule.scope, directory, on)
