"""release.yml: load (ruamel, with positions) → validate (JSON Schema) → type (pydantic)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from scalpel_plan.errors import Diagnostic, SpecError
from scalpel_plan.spec import checks, schema
from scalpel_plan.spec.messages import from_pydantic
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
              display: str | None = None, cache: Path | None = None,
              source: Source | None = None,
              models: Mapping[str, type[BaseModel]] | None = None) -> LoadedSpec:
    """Read, validate and type release.yml; every problem is reported at once as a SpecError.

    ``node_configs`` (provider → config model) extends the schema with plugin providers;
    without it the shipped schema of the built-in providers is used. With a ``cache`` folder,
    a spec already found valid against the same schema is not validated again. With
    ``models`` (provider → config model, every provider's), a spec the models accept strictly
    is not run through the schema (its validation only explains what is wrong).
    """
    source = source or read_source(path, display)
    if node_configs is not None:
        schema_text = json.dumps(schema.build_schema(node_configs), sort_keys=True)
    else:
        schema_text = schema.SHIPPED.read_text()
    mark = _validated_mark(cache, source.sha256, schema_text)
    problems = checks.check_data(source)
    if mark is None or not mark.exists():
        if models is not None and schema.valid_by_models(source.data, models):
            found = []  # what the models accept strictly, the schema does too
        else:
            found = schema.validate(source, json.loads(schema_text))
        if not found:
            _remember(mark)
        problems += found
    if problems:
        raise SpecError(f"{source.display} is not valid", diagnostics=_in_order(problems))
    try:
        spec = Spec.model_validate(source.data)
    except ValidationError as exc:  # the schema should have caught it: report, never trace
        raise SpecError(f"{source.display} is not valid", diagnostics=[
            source.diagnostic(message, path, hint=hint)
            for message, path, hint in from_pydantic(exc, source.data)]) from None
    problems = checks.check_spec(spec, source)
    if problems:
        raise SpecError(f"{source.display} is not valid", diagnostics=problems)
    return LoadedSpec(spec, source)


def _in_order(problems: list[Diagnostic]) -> list[Diagnostic]:
    unique = {(d.line, d.col, d.message): d for d in problems}
    return sorted(unique.values(), key=lambda d: (d.line or 0, d.col or 0))


def _validated_mark(cache: Path | None, spec_sha256: str, schema_text: str) -> Path | None:
    """The file whose presence says: this spec passed this schema (importing jsonschema and
    validating is a quarter of a small plan's time)."""
    if cache is None:
        return None
    key = hashlib.sha256(f"{spec_sha256}\n{schema_text}".encode()).hexdigest()
    return cache / "validated" / key


def _remember(mark: Path | None) -> None:
    if mark is None:
        return
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
    except OSError:
        pass  # a cache that cannot be written only costs time


__all__ = ["Diagnostic", "LoadedSpec", "Spec", "load_spec"]
