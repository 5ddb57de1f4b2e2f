"""What the schema and the models find, in Scalpel's words: never a raw regex, never
pydantic's "Input should be ...", and bounds said as they are meant ("at least 1").

``pattern_words`` turns a pattern into what a value must be and an example of one;
``from_pydantic`` turns a pydantic error into a message at the path of the value in the
document (pydantic's locations also name the branch of a union, which the document has not).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from scalpel_plan.spec.patterns import (
    ADDRESS_PATTERN,
    ALERT_PATTERN,
    ENV_PATTERN,
    FIXED_VERSION_PATTERN,
    NAME_PATTERN,
    POSTGRES_URL_PATTERN,
    PROJECT_KEY_PATTERN,
    SEMVER_PATTERN,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

PathPart = str | int

PATTERNS: dict[str, tuple[str, str]] = {  # pattern → (what a value must be, an example)
    NAME_PATTERN: ("a name of letters, digits, '-' and '_' that starts with a letter or a "
                   "digit", "build"),
    ADDRESS_PATTERN: ("a node address, <provider>.<name>", "stage.test"),
    SEMVER_PATTERN: ("a version MAJOR.MINOR.PATCH", "0.1.0"),
    FIXED_VERSION_PATTERN: ("a version of two or more numbers", "1.0.0"),
    ENV_PATTERN: ("an environment variable's name (letters, digits and '_', not starting "
                  "with a digit)", "PYPI_TOKEN"),
    ALERT_PATTERN: ("console, custom or a notify node's address", "slack.announce"),
    POSTGRES_URL_PATTERN: ("a PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE",
                           "postgresql://scalpel@db.internal:5432/releases"),
    PROJECT_KEY_PATTERN: ("a project key of letters, digits, '.', '_', '/', '+' and '-' that "
                          "starts with a letter or a digit", "acme/widgets"),
    # the built-in providers' own patterns
    r"^[A-Za-z0-9][A-Za-z0-9._/-]*$": ("a tag name of letters, digits, '.', '_', '/' and '-' "
                                       "that starts with a letter or a digit", "stable"),
    r"^[\w.-]+/[\w.-]+$": ("a repository, owner/name", "acme/widgets"),
}

KINDS = {  # pydantic error type → what the value must be
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list",
    "date_type": "a date, YYYY-MM-DD", "date_parsing": "a date, YYYY-MM-DD",
    "date_from_datetime_parsing": "a date, YYYY-MM-DD",
    "date_from_datetime_inexact": "a date, YYYY-MM-DD", "finite_number": "a finite number",
    "none_required": "empty",
}
BRANCH_TYPES = {"dict_type", "model_type", "model_attributes_type", "list_type", "string_type"}


def pattern_words(pattern: str, schema: dict[str, Any] | None = None) -> tuple[str, str | None]:
    """What a value of ``pattern`` is, and "for example ..." (from the schema's own
    ``examples`` or ``description`` for a pattern Scalpel does not know, such as a plugin's)."""
    if pattern in PATTERNS:
        words, example = PATTERNS[pattern]
        return words, f"for example {example}"
    schema = schema or {}
    examples = schema.get("examples")
    hint = f"for example {examples[0]}" if isinstance(examples, list) and examples else None
    description = schema.get("description")
    return (description if isinstance(description, str) else "a value of the expected form",
            hint)


def bound_words(kind: str, limit: Any) -> str:
    """JSON Schema's and pydantic's bounds as they are meant."""
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)  # a bound of a float field: "greater than 0", not "0.0"
    return {"minimum": f"at least {limit}", "ge": f"at least {limit}",
            "exclusiveMinimum": f"greater than {limit}", "gt": f"greater than {limit}",
            "maximum": f"at most {limit}", "le": f"at most {limit}",
            "exclusiveMaximum": f"less than {limit}", "lt": f"less than {limit}"}[kind]


def short(value: Any) -> str:
    """A value as the user wrote it, cut at 60 characters."""
    if isinstance(value, float) and not math.isfinite(value):
        text = {True: ".inf", False: "-.inf"}[value > 0] if not math.isnan(value) else ".nan"
    elif isinstance(value, str):
        text = repr(value[:61])
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def dotted(path: Sequence[PathPart]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


Explained = tuple[str, list[PathPart], str | None]  # message, path, hint


def from_pydantic(exc: ValidationError, data: Any,
                  base: Sequence[PathPart] = ()) -> Iterator[Explained]:
    """(message, path in the document, hint) for each of ``exc``'s errors; ``data`` is the
    value that was validated, found at ``base`` in the document."""
    found = [(err, _document_path(err["loc"], data)) for err in exc.errors()]
    for err, path in found:
        if err["type"] in BRANCH_TYPES and any(
                other is not err and other["type"] not in BRANCH_TYPES
                and len(p) >= len(path) and p[:len(path)] == path for other, p in found):
            continue  # the branch of a union that the value was not written for
        message, hint = _words(err, [*base, *path])
        yield message, [*base, *path], hint


def _document_path(loc: Sequence[Any], data: Any) -> list[PathPart]:
    """``loc`` without the names of union branches: only the parts the document has."""
    path: list[PathPart] = []
    node = data
    for part in loc:
        in_map = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_map or in_list):
            continue
        node = node[part]
        path.append(part)
    return path


def _words(err: Any, path: list[PathPart]) -> tuple[str, str | None]:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    where = dotted(path) or "the document"
    if kind == "string_pattern_mismatch":
        words, hint = pattern_words(str(ctx.get("pattern", "")))
        return f"{where} must be {words}, not {short(value)}", hint
    for bound in ("gt", "ge", "lt", "le"):
        if bound in ctx and kind.startswith(("greater", "less")):
            return f"{where} must be {bound_words(bound, ctx[bound])}, not {short(value)}", None
    if kind == "missing":
        return f"{dotted(path[:-1]) or 'the document'} needs the key '{err['loc'][-1]}'", None
    if kind == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'", None
    if kind == "literal_error":
        return f"{where} must be one of {ctx.get('expected')}; got {short(value)}", None
    if kind == "too_short":
        return f"{where} must not be empty", None
    if kind in KINDS:
        return f"{where} must be {KINDS[kind]}, not {short(value)}", None
    if kind in ("value_error", "assertion_error"):
        return f"{where}: {str(err['msg']).split(', ', 1)[-1]}", None
    return f"{where} is not valid here ({kind.replace('_', ' ')}): {short(value)}", None
