"""A monorepo's internal dependencies: which packages need which, declared (``depends_on``)
or read from each package's manifest (pyproject.toml's ``[project] dependencies`` and
optional ones, package.json's dependencies), and where a manifest spells the version it
needs of another package (the range the release commit moves along)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEP503 = re.compile(r"[-_.]+")
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
NPM_SECTIONS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")


@dataclass(frozen=True)
class Manifest:
    path: str  # relative to the repository
    kind: str  # "pyproject" or "npm"
    name: str | None  # the distribution's own name
    needs: tuple[str, ...]  # the names it depends on, normalised


def normalise(name: str) -> str:
    return PEP503.sub("-", name).lower()


def manifest(repo: Path, folder: str) -> Manifest | None:
    """The package's manifest in ``folder``: pyproject.toml, else package.json (None when
    there is neither, or it cannot be read)."""
    base = folder.strip("/")
    for file, kind in (("pyproject.toml", "pyproject"), ("package.json", "npm")):
        relative = f"{base}/{file}" if base and base != "." else file
        try:
            text = (repo / relative).read_text()
            data: Any = tomllib.loads(text) if kind == "pyproject" else json.loads(text)
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        if kind == "pyproject":
            project = data.get("project") or {}
            requirements = list(project.get("dependencies") or [])
            for extra in (project.get("optional-dependencies") or {}).values():
                requirements += list(extra or [])
            names = [m[1] for r in requirements if isinstance(r, str)
                     and (m := REQUIREMENT_NAME.match(r))]
            name = project.get("name")
        else:
            names = [n for section in NPM_SECTIONS for n in (data.get(section) or {})]
            name = data.get("name")
        return Manifest(relative, kind, name if isinstance(name, str) else None,
                        tuple(dict.fromkeys(normalise(n) for n in names)))
    return None


def internal_dependencies(repo: Path, packages: Mapping[str, Any]
                          ) -> tuple[dict[str, list[str]], dict[str, Manifest]]:
    """package → the packages it depends on (in release.yml's order), and each package's
    manifest. ``depends_on`` when declared; else the manifest's dependencies that name
    another package (by its manifest's name or its own)."""
    manifests = {name: m for name, p in packages.items()
                 if (m := manifest(repo, p.paths[0])) is not None}
    known: dict[str, str] = {}
    for name in packages:
        known[normalise(name)] = name
        if name in manifests and manifests[name].name:
            known[normalise(manifests[name].name or "")] = name
    found: dict[str, list[str]] = {}
    for name, package in packages.items():
        if package.depends_on is not None:
            found[name] = list(package.depends_on)
        elif name in manifests:
            found[name] = [known[n] for n in manifests[name].needs
                           if n in known and known[n] != name]
        else:
            found[name] = []
    return found, manifests


def range_pattern(manifest: Manifest, dependency: str) -> str:
    """A pattern whose ``version`` group is the version ``manifest`` asks of ``dependency``
    (``b>=1.2.0``, ``"b": "^1.2.0"``): the lower bound a dependency's release moves up."""
    name = re.escape(dependency)
    if manifest.kind == "npm":
        return rf'"{name}"\s*:\s*"(?:workspace:)?[\^~>=]*(?P<version>\d[^"\s,]*)"'
    loose = "[-_.]+".join(re.escape(part) for part in PEP503.split(dependency))
    return (rf'["\'](?i:{loose})\s*(?:\[[^\]]*\])?\s*(?:>=|==|~=|===)\s*'
            rf'(?P<version>\d[^,;\s"\'<>]*)')
