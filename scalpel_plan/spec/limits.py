"""A YAML loader's own limits, checked on the event stream as the safe loader consumes it.

release.yml is read in one bounded read, then parsed once: every event the composer takes
passes through ``GuardedParser``, which stops a hostile or careless document at the first
event that breaks a limit, with its line and column:

* nesting deeper than ``MAX_DEPTH`` (ruamel's composer, the schema validator and the model
  all recurse, so a deep document would otherwise end in a RecursionError);
* an alias that refers to the node it is inside (a recursive document), or aliases that
  would expand the document by more than ``MAX_ALIAS_NODES`` nodes (an "alias bomb": 552
  bytes that expand to billions of nodes);
* tags other than the core schema's (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
  ``!!null``, ``!!map``, ``!!seq``), and a tagged scalar that its tag does not fit
  (``!!bool maybe``); a ``%YAML`` version other than 1.1 and 1.2;
* a mapping key that is a list or a mapping; an integer too long to convert; a date that
  does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import FileMark, MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.parser import Parser

from scalpel_plan.spec.bounds import MAX_ALIAS_NODES, MAX_DEPTH, MAX_INT_DIGITS

CORE = "tag:yaml.org,2002:"
SCALAR_TAGS = {f"{CORE}{name}" for name in ("str", "int", "float", "bool", "null")} | {"!"}
COLLECTION_TAGS = {f"{CORE}map", f"{CORE}seq", "!"}
ALLOWED = "!!str, !!int, !!float, !!bool, !!null, !!map and !!seq"
DIGITS = set("0123456789+-.")
CONSTRUCTED = {f"{CORE}int": "integer", f"{CORE}float": "number",
               f"{CORE}timestamp": "date (YYYY-MM-DD)"}
KINDS = {f"{CORE}int": "an integer", f"{CORE}float": "a number", f"{CORE}bool": "true or false",
         f"{CORE}null": "empty (null or ~)"}


class LimitError(MarkedYAMLError):
    """A document that breaks one of the limits above: ``problem`` says which, and the mark
    where."""

    def __init__(self, problem: str, mark: Any, hint: str | None = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


@dataclass
class _Frame:
    anchor: str | None
    mapping: bool
    size: int = 0  # nodes below, aliases expanded
    children: int = 0


@dataclass
class Guard:
    """The limits' state over one document's events."""

    anchors: dict[str, tuple[int, bool]] = field(default_factory=dict)  # size, a collection
    open: dict[str, int] = field(default_factory=dict)  # anchors of unfinished collections
    stack: list[_Frame] = field(default_factory=list)
    added: int = 0  # nodes added by aliases

    def see(self, event: Any, parser: Parser) -> None:
        if isinstance(event, ScalarEvent):
            self._scalar(event, parser)
        elif isinstance(event, AliasEvent):
            self._alias(event)
        elif isinstance(event, CollectionStartEvent):
            self._start(event)
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            self._end()

    def _child(self, size: int, collection: bool, event: Any) -> None:
        if not self.stack:
            return
        top = self.stack[-1]
        if top.mapping and top.children % 2 == 0 and collection:
            raise _collection_key(event.start_mark)
        top.children += 1
        top.size += size

    def _scalar(self, event: Any, parser: Parser) -> None:
        tag, value = event.tag, event.value
        if tag is not None and tag not in SCALAR_TAGS:
            raise _unsupported(tag, event.start_mark)
        if tag is not None and tag in KINDS:
            implicit = str(parser.loader.resolver.resolve(ScalarNode, value, (True, False)))
            fits = implicit == tag or (tag == f"{CORE}float" and implicit == f"{CORE}int")
            if not fits:
                raise LimitError(f"{_tag_name(tag)} {value!r} is not {KINDS[tag]}",
                                 event.start_mark,
                                 hint=f"write {KINDS[tag]}, or drop the tag to make it a string")
            _check_constructs(parser, tag, value, event)
        elif tag is None and event.implicit[0] and value[:1] in DIGITS:
            implicit = str(parser.loader.resolver.resolve(ScalarNode, value, (True, False)))
            _check_constructs(parser, implicit, value, event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (1, False)
        self._child(1, False, event)

    def _alias(self, event: Any) -> None:
        anchor = event.anchor
        if self.open.get(anchor):
            raise LimitError(f"the alias *{anchor} refers to the node it is inside "
                             "(a recursive document)", event.start_mark,
                             hint=f"an alias may only repeat a node that ends before it: "
                             f"move *{anchor} out of &{anchor}")
        if anchor not in self.anchors:
            return  # the composer says "found undefined alias", at this event
        size, collection = self.anchors[anchor]
        self.added += size
        if self.added > MAX_ALIAS_NODES:
            raise LimitError(f"aliases expand the document by more than {MAX_ALIAS_NODES:,} "
                             f"nodes (at *{anchor})", event.start_mark,
                             hint="an alias repeats its whole node: repeat small parts only")
        self._child(size, collection, event)

    def _start(self, event: Any) -> None:
        if event.tag is not None and event.tag not in COLLECTION_TAGS:
            raise _unsupported(event.tag, event.start_mark)
        if self.stack and self.stack[-1].mapping and self.stack[-1].children % 2 == 0:
            raise _collection_key(event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            raise LimitError(f"the document nests deeper than {MAX_DEPTH} levels",
                             event.start_mark, hint="flatten it: release.yml needs a few levels")
        self.stack.append(_Frame(event.anchor, isinstance(event, MappingStartEvent)))
        if event.anchor is not None:
            self.open[event.anchor] = self.open.get(event.anchor, 0) + 1

    def _end(self) -> None:
        frame = self.stack.pop()
        size = frame.size + 1
        if frame.anchor is not None:
            self.open[frame.anchor] -= 1
            self.anchors[frame.anchor] = (size, True)
        if self.stack:
            top = self.stack[-1]
            top.children += 1
            top.size += size


class GuardedParser(Parser):
    """ruamel's pure parser, with every event the composer takes checked by a ``Guard``."""

    def __init__(self, loader: Any) -> None:
        super().__init__(loader)
        self.guard = Guard()

    def get_event(self) -> Any:
        event = super().get_event()
        if self.scanner.yaml_version not in VERSIONS:  # before anything is resolved with it
            raise self._version_error()
        self.guard.see(event, self)
        return event

    def process_directives(self) -> Any:
        try:
            return super().process_directives()
        except AssertionError:  # ruamel asserts the version it is told: 1.1 or 1.2
            raise self._version_error() from None

    def _version_error(self) -> LimitError:
        text = self.loader.reader.buffer
        found = VERSION_LINE.search(text)
        index = found.start() if found else 0
        line = text.count("\n", 0, index)
        mark = FileMark("release.yml", index, line, index - text.rfind("\n", 0, index) - 1)
        return LimitError("unsupported %YAML version: release.yml is YAML 1.2 (or 1.1)",
                          mark, hint="remove the %YAML line or write %YAML 1.2")


def _unsupported(tag: str, mark: Any) -> LimitError:
    return LimitError(f"the YAML tag {_tag_name(tag)} is not supported here", mark,
                      hint=f"release.yml takes plain values; the tags allowed are {ALLOWED}")


def _collection_key(mark: Any) -> LimitError:
    return LimitError("a mapping key must be a plain value, not a list or a mapping", mark,
                      hint="write the key as text")


def _tag_name(tag: str) -> str:
    return f"!!{tag.removeprefix(CORE)}" if tag.startswith(CORE) else tag


def _check_constructs(parser: Parser, tag: str, value: str, event: Any) -> None:
    """A number or a date the safe constructor would fail on, said at its position."""
    if tag not in CONSTRUCTED:
        return
    what = CONSTRUCTED[tag]
    if tag == f"{CORE}int" and len(value) > MAX_INT_DIGITS:
        raise LimitError(f"an integer of {len(value)} digits is too long "
                         f"(at most {MAX_INT_DIGITS})", event.start_mark,
                         hint="quote it to make it a string")
    constructor = parser.loader.constructor
    node = ScalarNode(tag, value, event.start_mark, event.end_mark)
    try:
        constructor.yaml_constructors[tag](constructor, node)
    except (ValueError, OverflowError, TypeError, KeyError):
        raise LimitError(f"{value!r} is not a valid {what}", event.start_mark,
                         hint=f"write a valid {what}, or quote it to make it a string"
                         ) from None


VERSIONS = (None, (1, 1), (1, 2))
VERSION_LINE = re.compile(r"^%YAML\b", re.MULTILINE)
