"""release.yml: load (ruamel, with positions) → validate (JSON Schema) → type (pydantic); or,
for the content commands, only the sections they read (``load_sections``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalpel_plan.errors import Diagnostic, SpecError
from scalpel_plan.spec import schema
from scalpel_plan.spec.sections import READ, Sections, sections_of

if TYPE_CHECKING:  # the models are imported by load_spec: load_sections never needs them
    from pydantic import BaseModel

    from scalpel_plan.spec.model import Spec
    from scalpel_plan.spec.source import Source


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
    from pydantic import ValidationError

    from scalpel_plan.spec import checks
    from scalpel_plan.spec.messages import from_pydantic
    from scalpel_plan.spec.model import Spec
    from scalpel_plan.spec.source import read_source

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


def load_sections(path: Path, display: str | None = None,
                  cache: Path | None = None) -> Sections:
    """The sections of release.yml the content commands read (``spec.sections.READ``),
    validated against the shipped schema; the other sections are not looked at (a stage's
    mistake is for `scalpel plan` to report). Problems are a SpecError with their positions,
    as ``load_spec`` reports them.

    With a ``cache`` folder, the sections of a spec already validated are read back from
    there, keyed by the bytes of release.yml and of the schema: while neither changes,
    neither the YAML parser nor the validator is loaded again."""
    shipped = schema.SHIPPED.read_bytes()
    try:
        key = hashlib.sha256(path.read_bytes() + b"\0" + shipped)
    except OSError:
        key = None  # read_source says what is wrong with the file
    entry = cache / "sections" / f"{key.hexdigest()}.json" if cache and key else None
    if entry is not None:
        try:
            return sections_of(json.loads(entry.read_text()))
        except (OSError, ValueError, TypeError):
            pass  # none yet, or unreadable: validate
    from scalpel_plan.spec.source import read_source

    source = read_source(path, display)
    from scalpel_plan.spec import checks

    if not _sections_valid(source.data, shipped):  # the full validation says what and where
        problems = schema.validate(source, _sections_schema(json.loads(shipped)))
        if problems:
            raise SpecError(f"{source.display} is not valid", diagnostics=problems)
    read = {k: source.data[k] for k in READ if k in source.data}
    problems = checks.check_sections(sections_of(read), source)
    if problems:
        raise SpecError(f"{source.display} is not valid", diagnostics=problems)
    if entry is not None:
        _keep(entry, json.dumps(read))
    return sections_of(read)


def _sections_valid(data: Any, shipped: bytes) -> bool:
    """Whether the generated validator (``spec.sections_valid``, no jsonschema) finds the
    sections valid, when it was generated from this very schema; False says nothing."""
    from scalpel_plan.spec import sections_valid

    if hashlib.sha256(shipped).hexdigest() != sections_valid.SCHEMA_SHA256:
        return False  # a schema it was not made from (tests/test_generated.py says so)
    return sections_valid.valid(data)


def _sections_schema(shipped: dict[str, Any]) -> dict[str, Any]:
    """``shipped`` for the sections read: any value for the others (still no unknown key),
    and only the definitions those sections use (the validator reads every one it is given,
    most of them the providers' nodes)."""
    kept = {k: (v if k in READ else {}) for k, v in shipped["properties"].items()}
    defs, used, pending = shipped.get("$defs", {}), set(), [kept]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] not in used:
                used.add(ref[8:])
                pending.append(defs.get(ref[8:]))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return {**shipped, "properties": kept, "$defs": {k: defs[k] for k in sorted(used)}}


def _keep(entry: Path, text: str) -> None:
    from scalpel_plan.files import atomic_write

    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(entry, text.encode())
    except OSError:
        pass  # a cache that cannot be written only costs time


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


__all__ = ["Diagnostic", "LoadedSpec", "Sections", "Spec", "load_sections", "load_spec"]

if not TYPE_CHECKING:  # hidden from type checkers, which would take any name as Any

    def __getattr__(name: str) -> Any:
        """``Spec`` from its home module on first use (it imports pydantic)."""
        if name == "Spec":
            from scalpel_plan.spec.model import Spec

            return Spec
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
