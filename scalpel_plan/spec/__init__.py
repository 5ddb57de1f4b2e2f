"""release.yml: load (ruamel, with positions) → validate (JSON Schema) → type (pydantic)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from scalpel_plan.errors import Diagnostic, SpecError
from scalpel_plan.spec import schema
from scalpel_plan.spec.model import Spec
from scalpel_plan.spec.source import Source, read_source


@dataclass(frozen=True)
class LoadedSpec:
    spec: Spec
    source: Source

    @property
    def root(self) -> Path:
        """The folder release.yml lives in; relative paths in it start here."""
        return self.source.path.resolve().parent

    @property
    def project_name(self) -> str:
        """The name in release.yml, else pyproject.toml's, else the folder's."""
        if self.spec.project.name:
            return self.spec.project.name
        return pyproject_name(self.root) or self.root.name


def pyproject_name(folder: Path) -> str | None:
    import tomllib

    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text())
    except (OSError, ValueError):
        return None
    name = data.get("project", {}).get("name") or data.get("tool", {}).get("poetry", {}).get("name")
    return name if isinstance(name, str) else None


def load_spec(path: Path, node_configs: Mapping[str, type[BaseModel]] | None = None,
              display: str | None = None) -> LoadedSpec:
    """Read, validate and type release.yml; every problem is reported at once as a SpecError.

    ``node_configs`` (provider → config model) extends the schema with plugin providers;
    without it the shipped schema of the built-in providers is used.
    """
    source = read_source(path, display)
    if node_configs is not None:
        release_schema = schema.build_schema(node_configs)
    else:
        release_schema = schema.shipped_schema()
    problems = schema.validate(source, release_schema)
    if problems:
        raise SpecError(f"{source.display} is not valid", diagnostics=problems)
    try:
        spec = Spec.model_validate(source.data)
    except ValidationError as exc:  # the schema should have caught it: report, never trace
        raise SpecError(f"{source.display} is not valid", diagnostics=[
            source.diagnostic(err["msg"], [p for p in err["loc"] if isinstance(p, str | int)])
            for err in exc.errors()]) from None
    return LoadedSpec(spec, source)


__all__ = ["Diagnostic", "LoadedSpec", "Spec", "load_spec"]
