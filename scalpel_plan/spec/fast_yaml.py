"""A fast path for reading release.yml: libyaml's C parser (through PyYAML's event stream) and
YAML 1.2's core schema as ruamel.yaml resolves it, for the plain documents nearly every spec is.

Pure-Python ruamel.yaml takes about 0.4 s per 1,000 stages, most of a large spec's validate;
this path builds the same data from the events in one pass, several times faster. It gives
None whenever the document uses anything beyond plain mappings, lists and scalars (anchors,
aliases, tags, directives, merge keys, several documents, a duplicate key, deep nesting, any
error): ruamel then reads it, with its limits and its messages. Without libyaml: always None.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from scalpel_plan.spec.bounds import MAX_DEPTH, MAX_INT_DIGITS

# documents near the loader's limits take the full path, which reports them
DEPTH = MAX_DEPTH - 2
UNPLAIN = "\t\u2028\u2029\ufeff\x85"  # tabs, Unicode line breaks, a byte-order mark
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


class _NotPlain(Exception):
    """The document needs the full loader."""


def load(text: str) -> Any | None:
    """The document's data, or None when the full loader must read it."""
    try:
        import yaml
        import yaml.cyaml
    except ImportError:
        return None
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    if any(c in text for c in UNPLAIN):  # libyaml takes them where ruamel (and its
        return None                       # positions) refuses them: ruamel says where
    try:
        return _build(yaml.parse(text, Loader=yaml.cyaml.CParser))
    except (_NotPlain, yaml.YAMLError, ValueError, RecursionError):
        return None


def _build(events: Any) -> Any | None:
    from yaml import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    resolve = _resolver()
    stack: list[Any] = []  # the containers being filled: a list, or a mapping's _Frame
    root: list[Any] = []
    documents = 0

    def add(value: Any) -> None:
        if not stack:
            root.append(value)
            return
        top = stack[-1]
        if type(top) is list:
            top.append(value)
            return
        mapping, key = top.mapping, top.key
        if key is _NEXT_KEY:
            if isinstance(value, dict | list) or value in mapping:
                raise _NotPlain()  # a complex key, or a duplicate: the full loader says where
            top.key = value
        else:
            mapping[key] = value
            top.key = _NEXT_KEY

    for event in events:
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotPlain()
            add(resolve(event.value) if event.style == "" else event.value)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or (event.tag is not None and not event.implicit) or \
                    len(stack) >= DEPTH:
                raise _NotPlain()
            stack.append(_Frame({}) if kind is MappingStartEvent else [])
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            done = stack.pop()
            add(done.mapping if kind is MappingEndEvent else done)
        elif kind is AliasEvent:
            raise _NotPlain()
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1 or event.version or event.tags:
                raise _NotPlain()
    return root[0] if len(root) == 1 else None


_NEXT_KEY = object()  # a mapping's next scalar is a key


class _Frame:
    """A mapping being filled, and the key its next value goes under."""

    __slots__ = ("key", "mapping")

    def __init__(self, mapping: dict[Any, Any]) -> None:
        self.mapping = mapping
        self.key: Any = _NEXT_KEY


# ruamel.yaml's implicit resolvers for YAML 1.2 (``ruamel.yaml.resolver.implicit_resolvers``),
# as (tag, regex, flags, first characters): written out here so that the fast path imports no
# ruamel; tests/test_changelog_startup.py checks that they are still ruamel's own.
_CORE_1_2 = (
    ("bool", "^(?:true|True|TRUE|false|False|FALSE)$", re.X, "tTfF"),
    ("float", """^(?:
         [-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\\.(?:inf|Inf|INF)
        |\\.(?:nan|NaN|NAN))$""", re.X, "-+0123456789."),
    ("int", """^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""", re.X, "-+0123456789"),
    ("merge", "^(?:<<)$", 0, "<"),
    ("null", """^(?: ~
        |null|Null|NULL
        | )$""", re.X, ("~", "n", "N", "")),
    ("timestamp", """^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \\t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\\.[0-9]*)?
        (?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", re.X, "0123456789"),
    ("value", "^(?:=)$", 0, "="),
    ("yaml", "^(?:!|&|\\*)$", 0, "!&*"),
)
_RESOLVE: list[Any] = []


def _resolver() -> Any:
    """A plain scalar's value, as ruamel's safe loader resolves it in YAML 1.2."""
    if _RESOLVE:
        return _RESOLVE[0]
    by_first: dict[str, list[tuple[str, Any]]] = {}  # first character → (tag, regex)
    for tag, pattern, flags, first in _CORE_1_2:
        compiled = re.compile(pattern, flags)
        for char in first:
            by_first.setdefault(char, []).append((tag, compiled))

    def resolve(value: str) -> Any:
        for tag, pattern in by_first.get(value[:1], ()):
            if pattern.match(value):
                return _construct(tag, value)
        return value

    _RESOLVE.append(resolve)
    return resolve


def _construct(tag: str, value: str) -> Any:
    if tag == "bool":
        return value.lower() == "true"
    if tag == "null":
        return None
    if tag == "int":
        if len(value) > MAX_INT_DIGITS:
            raise _NotPlain()
        text = value.replace("_", "")
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        for prefix, base in (("0b", 2), ("0x", 16), ("0o", 8)):
            if text.startswith(prefix):
                return sign * int(text[2:], base)
        return sign * int(text)
    if tag == "float":
        text = value.replace("_", "").lower()
        if text.lstrip("+-") == ".inf":
            return float("-inf") if text.startswith("-") else float("inf")
        return float("nan") if text == ".nan" else float(text)
    if tag == "timestamp" and DATE.match(value):
        return dt.date.fromisoformat(value)
    raise _NotPlain()  # a time of day, a merge key, `=`: the full loader's
