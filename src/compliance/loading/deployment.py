"""A whole deployment's inputs at once: the agency directory and the rulebook, every problem collected."""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.errors import InputError, Problem
from compliance.gcpause import no_cyclic_gc
from compliance.loading.agencies import read_agencies
from compliance.loading.rules import check_rulebook
from compliance.loading.validation import display_path
from compliance.model.agency import AgencyDirectory
from compliance.model.config import Config
from compliance.model.rules import Rulebook

__all__ = ["Deployment", "check_deployment", "load_deployment"]


@dataclass
class Deployment:
    """The validated inputs of one deployment, and the warnings found while checking them."""

    config: Config
    directory: AgencyDirectory
    rulebook: Rulebook
    warnings: list[Problem] = field(default_factory=list)


def check_deployment(config: Config) -> tuple[Deployment | None, list[Problem]]:
    """Check agencies and rules together; (Deployment, warnings) or (None, every error and warning)."""
    with no_cyclic_gc():  # 10,000 agencies and the YAML trees: many objects, next to no cycles
        return _check(config)


def _check(config: Config) -> tuple[Deployment | None, list[Problem]]:
    problems: list[Problem] = []
    directory: AgencyDirectory | None = None
    try:
        # With problems in the directory, its readable rows still let the rules' references be checked.
        directory, agency_problems = read_agencies(config.agencies_file, display_path(config.agencies_file))
        problems.extend(agency_problems)
    except InputError as exc:
        problems.extend(exc.problems)
    rulebook, rule_problems = check_rulebook(config.rules_dir, directory, display_path(config.rules_dir))
    problems.extend(rule_problems)
    if directory is None or rulebook is None or any(not p.warning for p in problems):
        return None, problems
    return Deployment(config, directory, rulebook, problems), problems


def load_deployment(config: Config) -> Deployment:
    """The deployment's directory and rulebook; one InputError listing every problem otherwise."""
    deployment, problems = check_deployment(config)
    if deployment is None:
        raise InputError(problems)
    return deployment
