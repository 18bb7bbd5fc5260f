"""Email rendering: Jinja2 templates (HTML autoescaped, plain text not) with the Babel filters of
`notify.filters`, and the template check that `compliance check` runs.

Templates are looked up first in the deployment's `templates` folder (a file there overrides the shipped
one of the same name), then in the defaults installed with the package (`compliance/templates`, the
same files as the repository's `notifications/`). Every kind has `<kind>.txt.j2`, which sets `subject`
at top level (`{% set subject %}…{% endset %}`), and `<kind>.html.j2`; both usually extend
`base.*.j2` and import `macros.*.j2`. Undefined variables are errors (StrictUndefined).

`Renderer.facts` builds the template variables (`notify.facts`), `render_context_or_shipped` renders
them; `render` does both for a planned message.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import traceback
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from compliance.errors import Problem, SourceLocation
from compliance.model.agency import AgencyDirectory
from compliance.model.config import Config
from compliance.model.rules import Rulebook
from compliance.notify.facts import AgencyLinkFor, FactsBuilder, LinkFor
from compliance.notify.filters import install_filters
from compliance.notify.planning import KINDS, PlannedMessage
from compliance.notify.samples import sample_messages

__all__ = [
    "DEFAULT_TEMPLATES",
    "TEMPLATE_NAMES",
    "Rendered",
    "Renderer",
    "check_templates",
    "make_environment",
    "template_dirs",
]

DEFAULT_TEMPLATES = Path(str(files("compliance").joinpath("templates")))
# Every file the product ships: one pair per kind, plus the shared layouts and macros.
TEMPLATE_NAMES = tuple(f"{kind}.{fmt}.j2" for kind in KINDS for fmt in ("txt", "html")) + (
    "base.txt.j2",
    "base.html.j2",
    "macros.txt.j2",
    "macros.html.j2",
)


# --- the Jinja environment ------------------------------------------------------------------------


def make_environment(search_dirs: Sequence[Path], locale: str = "vi_VN") -> Environment:
    """One environment for both formats: autoescape is decided per file name (`*.html.j2` only).

    Environments are cached per (folders, locale, the templates' files as they are now): compiled
    templates are reused run after run in the daemon, and an edited template gives a new environment at
    the next run. Within an environment Jinja never looks at the files again (`auto_reload` off: it was
    a `stat` of every layout and macro file for every email).
    """
    dirs = tuple(str(d) for d in search_dirs if d.is_dir())
    return _environment(dirs, locale, _files_stamp(dirs))


def _files_stamp(dirs: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
    """Every template file of the folders (`*.j2`, the folders' own: templates are flat files), with its
    modification time and size."""
    stamp: list[tuple[str, int, int]] = []
    for folder in dirs:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".j2"):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            stamp.append((entry.path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(stamp))


@functools.lru_cache(maxsize=16)
def _environment(search_dirs: tuple[str, ...], locale: str, stamp: tuple[Any, ...]) -> Environment:
    del stamp  # part of the cache key only
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in search_dirs]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html.j2", "html"), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    install_filters(env, locale)
    return env


def template_dirs(config: Config) -> list[Path]:
    """The deployment's folder first (file-by-file override), then the shipped defaults."""
    own = config.templates_dir
    dirs = [own] if own.is_dir() and own.resolve() != DEFAULT_TEMPLATES.resolve() else []
    return [*dirs, DEFAULT_TEMPLATES]


# --- rendering --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    """Renders messages with the deployment's templates; one instance per run.

    `facts` builds the template variables of a planned message (links per recipient: `link_for`,
    `agency_link_for`, and the heads' personal links with `head_secret`, see `notify.facts`).
    """

    def __init__(
        self,
        config: Config,
        *,
        link_for: LinkFor | None = None,
        agency_link_for: AgencyLinkFor | None = None,
        search_dirs: Sequence[Path] | None = None,
        head_secret: str | None = None,
    ) -> None:
        self.config = config
        self.locale = config.deployment.locale
        self.facts = FactsBuilder(
            config, link_for=link_for, agency_link_for=agency_link_for, head_secret=head_secret
        )
        dirs = list(search_dirs) if search_dirs is not None else template_dirs(config)
        self.env = make_environment(dirs, self.locale)
        self._templates: dict[str, Template] = {}
        self.overridden = any(Path(d).resolve() != DEFAULT_TEMPLATES.resolve() for d in dirs)
        self._fallback: Renderer | None = None

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self.env.get_template(name)
        return template

    def render_context(self, kind: str, context: Mapping[str, Any], *, html: bool = True) -> Rendered:
        """Both parts from the template variables (`html=False`: the text part and the subject only);
        the subject is what `<kind>.txt.j2` sets."""
        text_template = self._template(f"{kind}.txt.j2")
        # What Template.make_module does, without building a module object per email.
        run = text_template.new_context(dict(context))
        try:
            text = "".join(text_template.root_render_func(run))
        except Exception:
            self.env.handle_exception()
        subject = run.get_exported().get("subject")
        if subject is None:
            raise TemplateError(f"{kind}.txt.j2 does not set `subject` ({{% set subject %}}…{{% endset %}})")
        subject = " ".join(str(subject).split())
        if not subject:
            raise TemplateError(f"{kind}.txt.j2 sets an empty `subject`")
        page = self._template(f"{kind}.html.j2").render({**context, "subject": subject}) if html else ""
        return Rendered(subject, _nfc(_tidy_text(text)), _nfc(page))

    def render_context_or_shipped(
        self, kind: str, context: Mapping[str, Any], *, html: bool = True
    ) -> Rendered:
        """With the deployment's templates; should one of those fail, with the shipped ones, so a broken
        override (which `compliance check` reports) never stops a message."""
        try:
            return self.render_context(kind, context, html=html)
        except Exception:
            if not self.overridden:
                raise
        if self._fallback is None:
            self._fallback = Renderer(self.config, search_dirs=[DEFAULT_TEMPLATES])
        return self._fallback.render_context(kind, context, html=html)

    def render(
        self,
        message: PlannedMessage,
        *,
        rulebook: Rulebook,
        directory: AgencyDirectory,
        on: dt.date,
        copy: bool = False,
    ) -> Rendered:
        """A planned message rendered now. `copy`: the body for the cc'd readers of a personal email."""
        context = self.facts.context(message, rulebook=rulebook, directory=directory, on=on, copy=copy)
        return self.render_context_or_shipped(message.kind, context)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _tidy_text(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# --- the template check --------------------------------------------------------------------------


_SAMPLE_SECRET = "sample-secret-for-the-template-check"


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _template_file(env: Environment, name: str) -> Path | None:
    try:
        _source, filename, _uptodate = env.loader.get_source(env, name) if env.loader else (None, None, None)
    except TemplateNotFound:
        return None
    return Path(filename) if filename else None


def _location_of(exc: BaseException, env: Environment, fallback: str) -> tuple[SourceLocation, str]:
    """The template file and line an error happened in (Jinja puts template frames into tracebacks)."""
    if isinstance(exc, TemplateSyntaxError):
        name = exc.name or fallback
        path = Path(exc.filename) if exc.filename else _template_file(env, name)
        return SourceLocation(_display(path) if path else name, exc.lineno or 1, 1), name
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            path = Path(frame.filename)
            return SourceLocation(_display(path), frame.lineno or 1, 1), path.name
    path = _template_file(env, fallback)
    return SourceLocation(_display(path) if path else fallback, 1, 1), fallback


def check_templates(config: Config, *, search_dirs: Sequence[Path] | None = None) -> list[Problem]:
    """Render every kind, both formats, against sample data with strict undefined; every problem located.

    Also warns about files in the deployment's folder that override nothing (a misspelt name).
    """
    dirs = list(search_dirs) if search_dirs is not None else template_dirs(config)
    renderer = Renderer(config, search_dirs=dirs)
    # The same templates with personal links on (a sample base_url and secret), so the branches only a
    # signing deployment reaches are checked too: the head's own body, and the cc'd readers' copy.
    base_url = config.deployment.base_url.strip() or "https://cchc.example.gov.vn"
    signing = Renderer(
        config.model_copy(update={"deployment": config.deployment.model_copy(update={"base_url": base_url})}),
        search_dirs=dirs,
        head_secret=_SAMPLE_SECRET,
    )
    problems: list[Problem] = []
    rulebook, directory, on, messages = sample_messages()
    variants = [(renderer, False), (signing, False), (signing, True)]
    for message, (variant, copy) in ((m, v) for m in messages for v in variants):
        context = variant.facts.context(message, rulebook=rulebook, directory=directory, on=on, copy=copy)
        for fmt in ("txt", "html"):
            name = f"{message.kind}.{fmt}.j2"
            try:
                if fmt == "txt":
                    template = variant.env.get_template(name)
                    try:
                        module = template.make_module(dict(context))
                    except Exception:
                        # make_module, unlike render, leaves the compiled code's line numbers in the
                        # traceback; Jinja's handler maps them back to the template's lines.
                        variant.env.handle_exception()
                    subject = " ".join(str(getattr(module, "subject", "")).split())
                    if not subject:
                        path = _template_file(renderer.env, name)
                        problems.append(
                            Problem(
                                SourceLocation(_display(path) if path else name, 1, 1),
                                f"templates.{name}",
                                "the plain-text template must set a non-empty `subject` "
                                "({% set subject %}…{% endset %}) at top level",
                            )
                        )
                else:
                    variant.env.get_template(name).render({**context, "subject": "sample"})
            except TemplateNotFound as exc:
                problems.append(
                    Problem(SourceLocation(name), f"templates.{name}", f"template not found: {exc.name}")
                )
            except TemplateSyntaxError as exc:
                location, where = _location_of(exc, renderer.env, name)
                problems.append(
                    Problem(location, f"templates.{where}", f"template syntax error: {exc.message}")
                )
            except Exception as exc:  # anything a template can raise: undefined names, bad filters, …
                location, where = _location_of(exc, renderer.env, name)
                message_text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                problems.append(
                    Problem(location, f"templates.{where}", f"cannot render with sample data: {message_text}")
                )
    problems = list(dict.fromkeys(problems))  # a problem in a shared file shows in every variant
    own = dirs[0] if dirs and dirs[0] != DEFAULT_TEMPLATES else None
    if own is not None and own.is_dir():
        for path in sorted(own.glob("*.j2")):
            if path.name not in TEMPLATE_NAMES:
                close = difflib.get_close_matches(path.name, TEMPLATE_NAMES, n=1, cutoff=0.75)
                problems.append(
                    Problem(
                        SourceLocation(_display(path)),
                        "templates",
                        "this file overrides no template",
                        hint=f"did you mean '{close[0]}'?" if close else None,
                        warning=True,
                    )
                )
    return problems
