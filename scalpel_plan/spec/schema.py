"""The JSON Schema of release.yml, generated from the models, and validation against it.

Every schema error becomes a Diagnostic at the file:line:col of the offending value, with a
did-you-mean for misspelt keys. All problems are reported at once.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalpel_plan.errors import Diagnostic
from scalpel_plan.spec.messages import bound_words, pattern_words
from scalpel_plan.spec.messages import dotted as _dotted
from scalpel_plan.spec.messages import short as _short
from scalpel_plan.spec.patterns import ADDRESS_PATTERN, NAME_PATTERN

if TYPE_CHECKING:  # the models are imported to build a schema, never to validate with one
    from pydantic import BaseModel

    from scalpel_plan.spec.source import Source

SCHEMA_ID = "https://scalpel.dev/schemas/release.schema.json"
SHIPPED = Path(__file__).resolve().parent.parent / "release.schema.json"
NODE_SECTIONS = ("publish", "notify")


def build_schema(node_configs: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """The release.yml schema for these providers (provider name → node config model)."""
    from scalpel_plan.spec.model import Spec

    schema = Spec.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    patterns: dict[str, Any] = {}
    for provider in sorted(node_configs):
        model = node_configs[provider]
        sub = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        defs[model.__name__] = sub
        address = rf"^{provider}\.[A-Za-z0-9][A-Za-z0-9_-]*$"
        patterns[address] = {"$ref": f"#/$defs/{model.__name__}"}
    package = defs.get("PackageConfig", {}).get("properties", {})
    for section in NODE_SECTIONS:
        schema["properties"][section] = {
            "type": "object",
            "description": f"Nodes of the {section} section, addressed <provider>.<name>",
            "patternProperties": patterns,
            "additionalProperties": False,
        }
        if section in package:  # a package's own nodes: the same providers
            package[section] = {**schema["properties"][section],
                                "description": package[section].get("description", "")}
    _close_pattern_maps(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _close_pattern_maps(node: Any) -> None:
    """A map keyed by names (``dict[Name, X]``) refuses other keys: pydantic writes the
    pattern but leaves every other key allowed."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)


def validate(source: Source, schema: dict[str, Any]) -> list[Diagnostic]:
    """Every schema violation in ``source``, in file order."""
    from jsonschema import FormatChecker

    validator = _validator_class()(schema, format_checker=FormatChecker())
    found = [d for err in validator.iter_errors(source.data) for d in _explain(err, source, schema)]
    unique = {(d.line, d.col, d.message): d for d in found}
    return sorted(unique.values(), key=lambda d: (d.line or 0, d.col or 0))


def _explain(err: Any, source: Source, schema: dict[str, Any]) -> Iterator[Diagnostic]:
    path = list(err.absolute_path)
    where = _dotted(path)
    kind = err.validator
    if kind in ("anyOf", "oneOf") and err.context:
        yield from _explain_union(err, source, schema)
    elif kind == "additionalProperties":
        yield from _unknown_keys(err, source, path)
    elif kind == "type":
        expected = err.validator_value
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        got = _json_type(err.instance)
        hint = "quote it to make it a string" if wanted == "string" and got == "number" else None
        yield source.diagnostic(f"{where or 'the document'} must be {_a(wanted)}, "
                                f"not {_a(got)} ({_short(err.instance)})", path, hint=hint)
    elif kind == "required":
        for name in err.validator_value:
            if name not in err.instance:
                yield source.diagnostic(f"{where or 'the document'} needs the key '{name}'",
                                        path, key=bool(path))
    elif kind == "pattern" and (path[-1:] == ["tag"] or (
            path[-2:-1] == ["tag"] and isinstance(path[-1], int))):
        example = '"{name}@{version}"' if path[0] == "packages" else '"v{version}"'
        yield source.diagnostic(f"{where} must contain {{version}}, got {_short(err.instance)}",
                                path, hint=f"for example {example}")
    elif kind == "pattern" and "secrets" in str(err.validator_value):  # never echo the value
        yield source.diagnostic(f"{where} must name a declared secret, ${{secrets.NAME}}",
                                path, hint="a value written in release.yml would end up in "
                                "plans, state and logs: declare it under `secrets:` instead")
    elif kind == "pattern":
        words, hint = pattern_words(err.validator_value, err.schema)
        yield source.diagnostic(f"{where} must be {words}, not {_short(err.instance)}", path,
                                hint=hint)
    elif kind in ("exclusiveMinimum", "minimum", "exclusiveMaximum", "maximum"):
        yield source.diagnostic(f"{where} must be {bound_words(kind, err.validator_value)}, "
                                f"got {_short(err.instance)}", path)
    elif kind == "minItems":
        wanted = ("must not be empty" if err.validator_value == 1
                  else f"must have at least {err.validator_value} items")
        yield source.diagnostic(f"{where} {wanted}", path)
    elif kind == "format" and err.validator_value == "date":
        yield source.diagnostic(f"{where} must be a date, YYYY-MM-DD, not {_short(err.instance)}",
                                path, hint="for example 2027-06-30")
    elif kind == "enum" or kind == "const":
        allowed = err.validator_value if kind == "enum" else [err.validator_value]
        close = difflib.get_close_matches(str(err.instance), [str(a) for a in allowed], n=1)
        yield source.diagnostic(
            f"{where} must be one of {', '.join(map(str, allowed))}; got {_short(err.instance)}",
            path, hint=f"did you mean '{close[0]}'?" if close else None)
    else:
        yield source.diagnostic(f"{where or 'the document'}: {err.message}", path)


def _explain_union(err: Any, source: Source, schema: dict[str, Any]) -> Iterator[Diagnostic]:
    """For `a | b` fields, explain the branch whose type fits the value the user wrote."""
    fitting = [e for e in err.context if e.validator != "type" or len(e.relative_path) > 0]
    if fitting:
        for sub in fitting:
            yield from _explain(sub, source, schema)
        return
    kinds = sorted({str(e.validator_value) for e in err.context if e.validator == "type"}
                   - {"null"})
    path = list(err.absolute_path)
    got = _json_type(err.instance)
    hint = "quote it to make it a string" if "string" in kinds and got == "number" else None
    yield source.diagnostic(f"{_dotted(path)} must be {' or '.join(_a(k) for k in kinds)}, "
                            f"not {_a(got)} ({_short(err.instance)})", path, hint=hint)


def _unknown_keys(err: Any, source: Source, path: list[str | int]) -> Iterator[Diagnostic]:
    schema = err.schema
    allowed = list(schema.get("properties", {}))
    patterns = schema.get("patternProperties", {})
    for key in err.instance:
        if key in allowed or any(re.search(p, key) for p in patterns):
            continue
        key_path = [*path, key]
        if NAME_PATTERN in patterns:
            words, hint = pattern_words(NAME_PATTERN)
            if path == ["packages"]:  # a package's name: one like its folder's
                fixed = re.sub(r"[^A-Za-z0-9_-]+", "-", str(key)).strip("-_")
                hint = f"for example {fixed or 'cli'}"
            yield source.diagnostic(f"'{key}' in {_dotted(path)} must be {words}", key_path,
                                    key=True, hint=hint)
            continue
        if patterns:
            yield _unknown_node(source, key_path, key, patterns)
            continue
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        where = f" in {_dotted(path)}" if path else ""
        yield source.diagnostic(f"unknown key '{key}'{where}", key_path, key=True, hint=hint)


def _unknown_node(source: Source, path: list[str | int], key: str,
                  patterns: Mapping[str, Any]) -> Diagnostic:

    providers = sorted(p.split("\\.")[0].lstrip("^") for p in patterns)
    if not re.match(ADDRESS_PATTERN, key):
        return source.diagnostic(
            f"'{key}' is not a node address", path, key=True,
            hint="nodes are named <provider>.<name>, for example git.tag or console.announce")
    provider = key.split(".", 1)[0]
    close = difflib.get_close_matches(provider, providers, n=1, cutoff=0.5)
    hint = (f"did you mean '{close[0]}.{key.split('.', 1)[1]}'?" if close
            else f"known providers: {', '.join(providers)}")
    return source.diagnostic(f"unknown provider '{provider}' in '{key}'", path, key=True,
                             hint=hint)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(
        type(value), type(value).__name__)


def _a(kind: str) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
             "integer": "an integer", "boolean": "true or false", "null": "empty"}
    return names.get(kind, kind)


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12 as pydantic reads the same schema: ``$`` ends the text (Python's ``$``
    also matches before a final newline); NaN is left to checks.check_data (one message)."""
    from jsonschema import Draft202012Validator, ValidationError, validators

    def pattern(validator: Any, value: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not _matches(value, instance):
            yield ValidationError(f"{instance!r} does not match {value!r}")

    def bounded(kind: str) -> Any:
        check = Draft202012Validator.VALIDATORS[kind]

        def run(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
            if isinstance(instance, float) and math.isnan(instance):
                return  # checks.check_data reports every non-finite number, at its place
            yield from check(validator, value, instance, schema)
        return run

    bounds = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
    return validators.extend(Draft202012Validator, {
        "pattern": pattern, **{kind: bounded(kind) for kind in bounds}})


@functools.cache
def _compiled(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    anchored = pattern.endswith("$") and not pattern.endswith("\\$")
    return re.compile(pattern), re.compile(pattern[:-1] + r"\Z") if anchored else None


def _matches(pattern: str, text: str) -> bool:
    loose, strict = _compiled(pattern)
    return bool(loose.search(text)) and (strict is None or bool(strict.search(text)))


def valid_by_models(data: Any, node_configs: Mapping[str, type[BaseModel]]) -> bool:
    """Whether ``data`` passes the models the schema is generated from, strictly (no value
    converted into another type): then it passes the schema too, and the schema, whose
    validation is most of a large spec's validate, need not run. False says nothing: the
    schema then finds, explains and places every problem."""
    from pydantic import ValidationError

    from scalpel_plan.spec.model import Spec

    if not isinstance(data, dict):
        return False
    try:
        Spec.model_validate(data, strict=True)
        for section in NODE_SECTIONS:
            for address, config in (data.get(section) or {}).items():
                model = node_configs.get(address.split(".", 1)[0])
                if model is None or not re.match(ADDRESS_PATTERN, address):
                    return False
                model.model_validate(config, strict=True)
    except (ValidationError, ValueError, TypeError):
        return False
    return True
