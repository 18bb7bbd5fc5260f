"""rules/*.yaml -> Rulebook: each file validated, then checked across files and against the agencies.

Every problem is located at the YAML node it is about (`rules/targets.yaml:14:7: rules[2].target.value:
…`). Errors make the rulebook unusable; warnings (a scope that selects nobody) do not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from compliance.audit import canonical_json
from compliance.errors import InputError, Problem, SourceLocation
from compliance.loading.suggest import did_you_mean
from compliance.loading.validation import display_path, friendly, key_path
from compliance.loading.yamlpos import YamlSyntaxError, load_yaml, yaml_node, yaml_position
from compliance.model.agency import AgencyDirectory
from compliance.model.rules import Indicator, Rule, Rulebook, RuleFile, Scope

__all__ = ["check_rulebook", "load_rulebook", "rule_files", "rules_revision"]

Loc = tuple[str | int, ...]


def rule_files(rules_dir: Path) -> list[Path]:
    """The rule files in force: every *.yaml / *.yml directly in the directory (not rules/tests/)."""
    return sorted(p for p in rules_dir.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))


def rules_revision(files: dict[str, str]) -> str:
    """sha256 of the canonical JSON of {file name: text}: the rules_revision of SPEC §6."""
    return hashlib.sha256(canonical_json(files).encode("utf-8")).hexdigest()


@dataclass
class _File:
    name: str
    display: str
    text: str
    doc: Any = None
    problems: list[Problem] = field(default_factory=list)

    def at(
        self, loc: Loc, message: str, hint: str | None = None, *, warning: bool = False, at_key: bool = False
    ) -> None:
        line, col = yaml_position(self.doc, loc, at_key=at_key)
        self.problems.append(
            Problem(SourceLocation(self.display, line, col), key_path(loc), message, hint, warning=warning)
        )

    def where(self, loc: Loc) -> str:
        line, col = yaml_position(self.doc, loc)
        return f"{self.display}:{line}:{col}"


def _items(doc: Any, key: str) -> list[tuple[int, Any]]:
    found, seq = yaml_node(doc, (key,))
    if not found or not isinstance(seq, list):
        return []
    return list(enumerate(seq))


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def check_rulebook(
    rules_dir: Path, directory: AgencyDirectory | None, display: str | None = None
) -> tuple[Rulebook | None, list[Problem]]:
    """Every problem (errors and warnings) in the rule files; the Rulebook when there is no error."""
    shown = display or display_path(rules_dir)
    if not rules_dir.is_dir():
        return None, [
            Problem(SourceLocation(shown), "", "rules directory not found (see [paths] rules in config.toml)")
        ]
    files: list[_File] = []
    for path in rule_files(rules_dir):
        display_name = f"{shown.rstrip('/')}/{path.name}" if shown not in ("", ".") else path.name
        file = _File(path.name, display_name, "")
        files.append(file)
        try:
            raw = path.read_bytes()
            file.text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            file.problems.append(
                Problem(
                    SourceLocation(display_name, line, 1),
                    "",
                    "the file is not UTF-8; save it with the UTF-8 encoding",
                )
            )
            continue
        except OSError as exc:
            file.problems.append(
                Problem(SourceLocation(display_name), "", f"cannot read the file: {exc.strerror}")
            )
            continue
        text = file.text
        try:
            file.doc = load_yaml(text, display_name)
        except YamlSyntaxError as exc:
            file.problems.append(exc.problem)
            continue
        if not isinstance(file.doc, dict):
            file.problems.append(
                Problem(
                    SourceLocation(display_name, 1, 1),
                    "",
                    "a rule file is a mapping that starts with `version: 1`, then `indicators:` and/or `rules:`",
                )
            )
            file.doc = None
            continue
        try:
            RuleFile.model_validate(file.doc)
        except ValidationError as exc:
            for err in exc.errors():
                nice = friendly(err, RuleFile)
                message = nice.message
                if tuple(err["loc"]) == ("version",):
                    message = (
                        "required key is missing: a rule file starts with `version: 1`"
                        if err["type"] == "missing"
                        else f"unsupported version {err.get('input')!r}: write `version: 1`"
                    )
                file.at(tuple(err["loc"]), message, nice.hint, at_key=nice.at_key)

    checker = _CrossChecker([f for f in files if f.doc is not None], directory)
    checker.run()
    problems: list[Problem] = []
    for file in files:
        problems.extend(sorted(file.problems, key=lambda p: (p.location.line or 0, p.location.col or 0)))
    if not files:
        problems.append(
            Problem(SourceLocation(shown), "", "no rule files (*.yaml) in the rules directory", warning=True)
        )
    if any(not p.warning for p in problems):
        return None, problems
    texts = {f.name: f.text for f in files}
    rulebook = Rulebook(
        indicators=checker.indicators,
        rules=checker.rules,
        files=texts,
        revision=rules_revision(texts),
    )
    return rulebook, problems


def load_rulebook(rules_dir: Path, directory: AgencyDirectory | None) -> tuple[Rulebook, list[Problem]]:
    """The Rulebook and its warnings; InputError (errors and warnings, all located) when there is an error."""
    rulebook, problems = check_rulebook(rules_dir, directory)
    if rulebook is None:
        raise InputError(problems)
    return rulebook, problems


class _CrossChecker:
    """Checks that need every file: unique ids, references, kinds, target forms, stages, scopes."""

    def __init__(self, files: Sequence[_File], directory: AgencyDirectory | None) -> None:
        self.files = files
        self.directory = directory
        self.indicators: dict[str, Indicator] = {}
        self.rules: dict[str, Rule] = {}
        self._indicator_where: dict[str, str] = {}
        self._rule_where: dict[str, str] = {}
        self._named: set[str] = set()  # indicator ids written anywhere, even in an invalid indicator
        self._index: _ScopeIndex | None = None

    def run(self) -> None:
        for file in self.files:
            for i, raw in _items(file.doc, "indicators"):
                self._indicator(file, i, raw)
        for file in self.files:
            for i, raw in _items(file.doc, "rules"):
                self._rule(file, i, raw)

    def _indicator(self, file: _File, i: int, raw: Any) -> None:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(raw_id, str):
            self._named.add(raw_id)
        indicator = _validate(Indicator, raw)
        if indicator is None:
            return
        loc: Loc = ("indicators", i, "id")
        if indicator.id in self._indicator_where:
            file.at(
                loc,
                f"duplicate indicator id '{indicator.id}' (also at {self._indicator_where[indicator.id]})",
            )
            return
        self._indicator_where[indicator.id] = file.where(loc)
        self.indicators[indicator.id] = indicator

    def _rule(self, file: _File, i: int, raw: Any) -> None:
        base: Loc = ("rules", i)
        rule = _validate(Rule, raw)
        if rule is None:
            self._explain_invalid(file, base, raw)
            return
        if rule.id in self._rule_where:
            file.at((*base, "id"), f"duplicate rule id '{rule.id}' (also at {self._rule_where[rule.id]})")
            return
        self._rule_where[rule.id] = file.where((*base, "id"))
        ok = self._references(file, base, raw, rule)
        if self.directory is not None:
            self._scope(file, base, raw, rule, self.directory)
        if ok:
            self.rules[rule.id] = rule

    def _explain_invalid(self, file: _File, base: Loc, raw: Any) -> None:
        """A rule that fails on its own is already reported; add why when its indicator's kind explains it."""
        if not isinstance(raw, dict):
            return
        indicator = self.indicators.get(str(raw.get("indicator")))
        if indicator is None:
            return
        kind = raw.get("kind", "threshold")
        if indicator.kind == "milestone" and kind != "milestone":
            loc = (*base, "kind") if "kind" in raw else (*base, "indicator")
            file.at(
                loc,
                f"indicator '{indicator.id}' is a milestone indicator: the rule needs `kind: milestone` and `milestones`",
            )
        elif indicator.kind != "milestone" and kind == "milestone":
            file.at(
                (*base, "kind"),
                f"kind: milestone is only for milestone indicators; '{indicator.id}' is a {indicator.kind} indicator",
            )

    def _references(self, file: _File, base: Loc, raw: Any, rule: Rule) -> bool:
        indicator = self.indicators.get(rule.indicator)
        if indicator is None:
            if rule.indicator not in self._named:  # an invalid indicator is reported where it is written
                file.at(
                    (*base, "indicator"),
                    f"unknown indicator '{rule.indicator}'",
                    did_you_mean(rule.indicator, [*self.indicators, *self._named]),
                )
            return False
        ok = True
        if rule.kind == "milestone" and indicator.kind != "milestone":
            file.at(
                (*base, "kind"),
                f"kind: milestone is only for milestone indicators; '{indicator.id}' is a {indicator.kind} indicator",
            )
            return False
        if rule.kind == "threshold" and indicator.kind == "milestone":
            loc = (*base, "kind") if "kind" in raw else (*base, "indicator")
            file.at(
                loc,
                f"indicator '{indicator.id}' is a milestone indicator: the rule needs `kind: milestone` and `milestones`",
            )
            return False
        if rule.rollup and indicator.kind != "ratio":
            file.at(
                (*base, "rollup"),
                f"rollup applies to ratio indicators only; '{indicator.id}' is a {indicator.kind} indicator",
            )
            ok = False
        if rule.kind == "milestone":
            for j, milestone in enumerate(rule.milestones):
                if milestone.stage not in indicator.stages:
                    file.at(
                        (*base, "milestones", j, "stage"),
                        f"unknown stage '{milestone.stage}' of indicator '{indicator.id}' "
                        f"(stages: {', '.join(indicator.stages)})",
                        did_you_mean(milestone.stage, indicator.stages),
                    )
                    ok = False
            return ok
        targets: list[Loc] = []
        if rule.target is not None and rule.target.value is not None:
            targets.append((*base, "target", "value"))
        if rule.target is not None and rule.target.ramp is not None:
            targets.extend((*base, "target", "ramp", j, "value") for j in range(len(rule.target.ramp)))
        if rule.resolve is not None:
            targets.append((*base, "resolve", "value"))
        for loc in targets:
            _found, written = yaml_node(file.doc, loc)
            problem = _target_form(written, indicator)
            if problem is not None:
                file.at(loc, problem[0], problem[1])
                ok = False
        return ok

    def _scope(self, file: _File, base: Loc, raw: Any, rule: Rule, directory: AgencyDirectory) -> None:
        if self._index is None:
            self._index = _ScopeIndex.of(directory)
        index = self._index
        scope_loc: Loc = (*base, "scope")
        for j, level in enumerate(rule.scope.levels):
            if level not in index.by_level:
                file.at(
                    (*scope_loc, "levels", j),
                    f"no agency has level '{level}'",
                    did_you_mean(level, index.by_level),
                    warning=True,
                )
        for key in ("agencies", "exclude"):
            for j, agency_id in enumerate(getattr(rule.scope, key)):
                if agency_id not in directory:
                    file.at(
                        (*scope_loc, key, j),
                        f"unknown agency '{agency_id}'",
                        did_you_mean(agency_id, directory.agencies),
                    )
        for j, tag in enumerate(rule.scope.tags):
            if tag not in index.by_tag:
                file.at(
                    (*scope_loc, "tags", j),
                    f"no agency has tag '{tag}'",
                    did_you_mean(tag, index.by_tag),
                    warning=True,
                )
        if not index.selects_any(rule.scope, directory):
            where = scope_loc if isinstance(raw, dict) and "scope" in raw else (*base, "id")
            file.at(where, "the scope selects no agency", warning=True)


@dataclass(frozen=True)
class _ScopeIndex:
    """The directory's agencies by level and by tag, built once for every rule's scope check (a scan of
    10,000 agencies per rule was most of the cross-checks)."""

    by_level: dict[str, list[str]]
    by_tag: dict[str, list[str]]

    @classmethod
    def of(cls, directory: AgencyDirectory) -> _ScopeIndex:
        by_level: dict[str, list[str]] = {}
        by_tag: dict[str, list[str]] = {}
        for agency in directory:
            by_level.setdefault(agency.level, []).append(agency.id)
            for tag in agency.tags:
                by_tag.setdefault(tag, []).append(agency.id)
        return cls(by_level, by_tag)

    def selects_any(self, scope: Scope, directory: AgencyDirectory) -> bool:
        """bool(select_agencies(scope, directory)) without a scan of the directory: some agency in a
        selected group is not excluded. Each group is read until its first agency not excluded, so at
        most len(exclude) + 1 ids per group."""
        exclude = set(scope.exclude)
        if not (scope.levels or scope.agencies or scope.tags):
            return len(directory) > sum(1 for agency_id in exclude if agency_id in directory)
        groups: list[list[str]] = [self.by_level.get(level, []) for level in scope.levels]
        groups.append([agency_id for agency_id in scope.agencies if agency_id in directory])
        groups.extend(self.by_tag.get(tag, []) for tag in scope.tags)
        return any(agency_id not in exclude for group in groups for agency_id in group)


def _fraction_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    if "." not in text:
        return text + ".00"
    return text if len(text.split(".")[1]) >= 2 else text + "0"


def _target_form(written: Any, indicator: Indicator) -> tuple[str, str | None] | None:
    """The message (and hint) when a target value's form does not fit the indicator's kind."""
    is_percent = isinstance(written, str) and written.strip().endswith("%")
    if indicator.kind == "value":
        if is_percent:
            return (
                f"a percentage is only for ratio indicators; '{indicator.id}' is a value indicator",
                "write the number itself",
            )
        return None
    # ratio: a fraction 0..1, or a percentage 0%..100%
    try:
        number = Decimal(str(written).strip().rstrip("%").strip().replace(",", "."))
    except ArithmeticError:  # pragma: no cover - the model already accepted the text
        return None
    if is_percent:
        if not Decimal(0) <= number <= Decimal(100):
            return ("a ratio target must be between 0% and 100%", None)
        return None
    if Decimal(0) <= number <= Decimal(1):
        return None
    if Decimal(1) < number <= Decimal(100):
        shown = format(number.normalize(), "f")
        return (
            'Input should be a fraction between 0 and 1 or a percentage like "30%"',
            f'write "{shown}%" or {_fraction_text(number / 100)}',
        )
    return ("a ratio target must be between 0 and 1 (or 0% and 100%)", None)
