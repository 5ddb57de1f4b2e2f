"""Release notes: named Jinja2 templates (built-in or custom) rendered in a sandbox.

An unknown variable is an error that lists the variables a template can use.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from scalpel_plan.content.changelog import ReleaseChanges
from scalpel_plan.errors import ScalpelError

BUILTIN = {
    "default": "Sections and entries, with thanks to the contributors.",
    "minimal": "One line per change.",
    "detailed": "A migration guide from the breaking changes, every entry with its body.",
    "breaking": "Breaking changes first and in full; the rest in brief.",
}


@dataclass(frozen=True)
class Template:
    name: str
    source: str
    description: str = ""


class TemplateRegistry:
    """The templates by name: the built-ins, plus custom ones from text or a file."""

    def __init__(self) -> None:
        self._templates: dict[str, Template] = {}
        folder = resources.files("scalpel_plan.content") / "templates"
        for name, description in BUILTIN.items():
            source = (folder / f"{name}.md.j2").read_text(encoding="utf-8")
            self.register(Template(name, source, description))

    def register(self, template: Template) -> Template:
        self._templates[template.name] = template
        return template

    def create_custom(self, name: str, source: str, description: str = "") -> Template:
        """A template from text, e.g. ``create_custom("mine", "Content with {{variables}}")``."""
        return self.register(Template(name, source, description or "custom"))

    def load_file(self, path: Path, name: str | None = None) -> Template:
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScalpelError(f"cannot read template {path}: {exc.strerror}") from None
        return self.register(Template(name or path.name, source, f"from {path}"))

    def get(self, name: str) -> Template:
        if name not in self._templates:
            raise ScalpelError(f"no release-notes template '{name}'",
                               hint=f"templates: {', '.join(self.names())}, or a file path")
        return self._templates[name]

    def names(self) -> list[str]:
        return list(self._templates)


class ReleaseNotesTemplate:
    """Renders release notes for a release with a template of the registry."""

    def __init__(self, registry: TemplateRegistry | None = None) -> None:
        self.registry = registry or TemplateRegistry()

    def create_custom(self, name: str, source: str) -> Template:
        return self.registry.create_custom(name, source)

    def render(self, name: str, release: ReleaseChanges | None = None, *, project: str = "",
               previous: str | None = None, **variables: Any) -> str:
        """Render template ``name`` for ``release``; ``variables`` add to (or override) the
        release's own (project, version, previous, tag, date, sections, entries, breaking,
        migration, contributors)."""
        from jinja2 import StrictUndefined, TemplateError, UndefinedError
        from jinja2.sandbox import SandboxedEnvironment

        template = self.registry.get(name)
        context = {**(context_for(release, project, previous) if release else {}), **variables}
        env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,
                                   autoescape=False)
        try:
            return env.from_string(template.source).render(context)
        except UndefinedError as exc:
            raise ScalpelError(f"release-notes template '{name}': {exc.message}",
                               hint="available variables: " + ", ".join(sorted(context))
                               ) from None
        except TemplateError as exc:
            lineno = getattr(exc, "lineno", None)
            line = f" (line {lineno})" if lineno else ""
            raise ScalpelError(f"release-notes template '{name}' is broken{line}: {exc}") from None


def context_for(release: ReleaseChanges, project: str, previous: str | None) -> dict[str, Any]:
    """The variables a template sees for ``release``."""
    return {
        "project": project, "version": release.version, "tag": release.tag,
        "previous": previous or release.previous_tag, "date": release.date,
        "sections": release.sections, "entries": release.entries,
        "breaking": release.breaking, "contributors": list(release.contributors),
        "migration": [{"scope": e.scope, "description": e.description,
                       "note": e.breaking_note} for e in release.breaking],
    }
