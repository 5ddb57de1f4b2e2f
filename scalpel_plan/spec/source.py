"""release.yml as text, parsed with ruamel.yaml; every value can be traced to its line and column.

The data is read with the plain safe loader (twice as fast as the round-trip one on a large
spec); the round-trip tree that knows every position is parsed only when a problem needs one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from scalpel_plan.errors import Diagnostic, SpecError
from scalpel_plan.spec import fast_yaml

PathPart = str | int


@dataclass(frozen=True)
class Source:
    """The raw document, its plain-JSON twin, and a way back from a path to a position."""

    path: Path
    display: str  # the name errors use, e.g. "release.yml"
    text: str
    data: Any  # the document as plain JSON types
    sha256: str

    @cached_property
    def raw(self) -> Any:
        """The round-trip tree (CommentedMap/CommentedSeq), which keeps every position."""
        return YAML(typ="rt").load(self.text)

    def position(self, path: Sequence[PathPart], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at ``path`` (of its key with ``key=True``).

        Falls back to the nearest enclosing node that has a position.
        """
        node: Any = self.raw
        line, col = 1, 1
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, CommentedMap) and part in node:
                pos = node.lc.key(part) if (key and last) else node.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                pos = node.lc.item(part)
                node = node[part]
            else:
                break
            line, col = pos[0] + 1, pos[1] + 1
        return line, col

    def diagnostic(self, message: str, path: Sequence[PathPart], *, key: bool = False,
                   hint: str | None = None, severity: str = "error") -> Diagnostic:
        line, col = self.position(path, key=key)
        return Diagnostic(message, self.display, line, col, hint=hint, severity=severity)


def read_source(path: Path, display: str | None = None) -> Source:
    """Read and parse ``path``; broken YAML becomes a SpecError at the right line."""
    shown = display or path.name
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            f"{shown} not found", hint="run `scalpel init` to write a starter release.yml, "
            "or point at another file with -f"
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read {shown}: {exc.strerror}") from None
    try:
        decoded = text.decode("utf-8")
        data = fast_yaml.load(decoded)  # None: anything beyond plain YAML, read below
        if data is None:
            data = YAML(typ="safe", pure=True).load(decoded)
    except UnicodeDecodeError as exc:
        raise SpecError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    except MarkedYAMLError as exc:
        raise SpecError("release.yml is not valid YAML",
                        diagnostics=[_yaml_diagnostic(exc, shown)]) from None
    except YAMLError as exc:
        raise SpecError(f"{shown}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError("release.yml must be a mapping",
                        diagnostics=[Diagnostic("the top level must be a mapping of keys "
                                                "(project, version, stages, publish, notify, ...)",
                                                shown, 1, 1)])
    return Source(path, shown, decoded, to_plain(data), hashlib.sha256(text).hexdigest())


def _yaml_diagnostic(exc: MarkedYAMLError, shown: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    message = f"invalid YAML: {problem}"
    if "end of stream" in problem and exc.context and exc.context_mark:
        mark = exc.context_mark  # point at what was left open, not at the end of the file
        message = f"invalid YAML: {exc.context.removeprefix('while ')} that is never closed"
    hint = None
    duplicate = re.match(r'found duplicate key "(.*?)"', problem)
    if duplicate:  # ruamel's text repeats both values; the key and its line are enough
        message = f'invalid YAML: duplicate key "{duplicate[1]}"'
        hint = "each key may appear once in a mapping"
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Diagnostic(message, shown, line, col, hint=hint)


def to_plain(value: Any) -> Any:
    """The document as plain JSON types (dates become ISO strings) for schema validation."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value if not isinstance(value, str) else str(value)
    return str(value)
