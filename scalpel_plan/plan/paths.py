"""The files release.yml names, checked at validate: each one inside the repository, outside
.git/, not through a symbolic link that leads out of it, reported where release.yml says it.

The paths are the fields marked ``InRepository`` (version files, the changelog, the pypi
files, the GitHub release's assets, a docker image's source, and a plugin's own) and the
release-notes template. Where the file is opened, ``files.inside`` checks again (a link may
appear after validate).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from scalpel_plan.errors import Diagnostic
from scalpel_plan.files import IN_REPOSITORY_HINT, path_problem
from scalpel_plan.graph import Graph
from scalpel_plan.spec import LoadedSpec
from scalpel_plan.spec.model import InRepository, NotesConfig

SpecPath = list[str | int]


def path_problems(loaded: LoadedSpec, graph: Graph, repo: Path) -> list[Diagnostic]:
    """A diagnostic, at its place in release.yml, for every file it names that is not one of
    the repository at ``repo`` Scalpel may read or write."""
    found: list[Diagnostic] = []

    def check(where: SpecPath, value: str, marker: InRepository,
              base: Path | None = None) -> None:
        if marker.unless_prefix and value.startswith(marker.unless_prefix):
            return
        problem = path_problem(repo, value, base=base, glob=marker.glob)
        if problem is not None:
            d = loaded.source.diagnostic(f"{_dotted(where)}: {value!r} {problem}", where)
            found.append(Diagnostic(d.message, d.file, d.line, d.col, hint=IN_REPOSITORY_HINT))

    for where, value, marker in marked(loaded.spec, []):
        check(where, value, marker)
    templates: list[tuple[SpecPath, NotesConfig | None]] = [
        (["notes", "template"], loaded.spec.notes)]
    for name, package in loaded.spec.packages.items():
        templates.append((["packages", name, "notes", "template"], package.notes))
    for where, notes in templates:
        if notes is not None and notes.template not in _builtin_templates():  # a file of its own
            check(where, notes.template, InRepository(), base=loaded.root)
    for address, node in graph.nodes.items():
        if address in getattr(loaded.spec, node.section, {}):  # declared, not made by Scalpel
            for where, value, marker in marked(node.config, [node.section, address]):
                check(where, value, marker)
    return found


def marked(model: BaseModel, where: SpecPath) -> Iterator[tuple[SpecPath, str, InRepository]]:
    """Every value of ``model`` (and the models in it) a field marked ``InRepository`` holds,
    with where it is and the mark."""
    for name, field in type(model).model_fields.items():
        mark = next((m for m in field.metadata if isinstance(m, InRepository)), None)
        yield from _values(getattr(model, name), [*where, field.alias or name], mark)


def _values(value: object, where: SpecPath, mark: InRepository | None
            ) -> Iterator[tuple[SpecPath, str, InRepository]]:
    if isinstance(value, BaseModel):
        yield from marked(value, where)
    elif isinstance(value, str) and mark is not None:
        yield where, value, mark
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _values(item, [*where, i], mark)
    elif isinstance(value, dict):  # packages: {name: ...}
        for key, item in value.items():
            yield from _values(item, [*where, key], mark)


def _dotted(where: SpecPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")


def _builtin_templates() -> dict[str, str]:
    from scalpel_plan.content.notes import BUILTIN  # only for a spec with notes:

    return BUILTIN
