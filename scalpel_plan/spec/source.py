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
from typing import TYPE_CHECKING, Any

from scalpel_plan.errors import Diagnostic, SpecError
from scalpel_plan.spec import fast_yaml
from scalpel_plan.spec.bounds import MAX_BYTES

if TYPE_CHECKING:  # ruamel is imported only where the fast path declines, or for positions
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError

UNICODE_BREAK = re.compile("[\u2028\u2029\x85]")

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
        """The round-trip tree (CommentedMap/CommentedSeq), which keeps every position; None
        when the round-trip loader refuses what the loader read (positions are then line 1)."""
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            return YAML(typ="rt").load(self.text)
        except YAMLError:
            return None

    def position(self, path: Sequence[PathPart], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at ``path`` (of its key with ``key=True``).

        Falls back to the nearest enclosing node that has a position.
        """
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        node: Any = self.raw
        line, col = 1, 1
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, CommentedMap):
                found = _key_in(node, part)
                if found is None:
                    break
                where = (node.lc.data or {}).get(found[0])  # None: a key merged in by `<<`
                pos = None if where is None else where[0:2] if key and last else where[2:4]
                node = found[1]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) \
                    and 0 <= part < len(node):
                pos = (node.lc.data or {}).get(part)
                node = node[part]
            else:
                break
            if pos is not None:
                line, col = pos[0] + 1, pos[1] + 1
        return line, col

    def diagnostic(self, message: str, path: Sequence[PathPart], *, key: bool = False,
                   hint: str | None = None, severity: str = "error") -> Diagnostic:
        line, col = self.position(path, key=key)
        return Diagnostic(message, self.display, line, col, hint=hint, severity=severity)


def _key_in(node: CommentedMap, part: PathPart) -> tuple[Any, Any] | None:
    """(key, value) of ``part`` in ``node``; keys that YAML read as numbers or booleans are
    strings in the plain data."""
    if part in node:
        return part, node[part]
    for key, value in node.items():
        if str(key) == str(part):
            return key, value
    return None


def read_source(path: Path, display: str | None = None) -> Source:
    """Read and parse ``path``; broken YAML becomes a SpecError at the right line.

    The file is read in one bounded read (``-f /dev/zero`` or a pipe never grows memory past
    the limit) and parsed within the limits of ``spec.limits``.
    """
    shown = display or path.name
    content = _read_bounded(path, shown)
    decoded = _decode(content, shown)
    data = _parse(decoded, shown)
    if data is None:  # an empty file, or only comments: not a release that does nothing
        raise SpecError(f"{shown} declares nothing: it is empty or only comments",
                        diagnostics=[Diagnostic(
                            "an empty release.yml would plan a release that does nothing",
                            shown, 1, 1, hint="run `scalpel init --force` for a commented "
                            "starter made from this repository (its version files, changelog "
                            "and tags), or see the README's quick start")])
    if not isinstance(data, dict):
        raise SpecError(f"{shown} must be a mapping",
                        diagnostics=[Diagnostic("the top level must be a mapping of keys "
                                                "(project, version, stages, publish, notify, ...)",
                                                shown, 1, 1)])
    return Source(path, shown, decoded, to_plain(data), hashlib.sha256(content).hexdigest())


def _read_bounded(path: Path, shown: str) -> bytes:
    try:
        with path.open("rb") as fh:
            content = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(
            f"{shown} not found", hint="run `scalpel init` to write a starter release.yml, "
            "or point at another file with -f"
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if len(content) > MAX_BYTES:
        line, col = _byte_position(content, MAX_BYTES)
        raise SpecError(f"{shown} is too large", diagnostics=[Diagnostic(
            f"the file goes on past {MAX_BYTES // (1024 * 1024)} MiB, the most release.yml "
            "may hold", shown, line, col,
            hint="a release.yml is a few kilobytes: is -f pointing at the right file?")])
    return content


def _decode(content: bytes, shown: str) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(f"{shown} is not UTF-8", diagnostics=[Diagnostic(
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark)", shown, 1, 1,
            hint="save it as UTF-8")])
    if content.startswith(b"\xef\xbb\xbf\xef\xbb\xbf"):  # one mark is UTF-8's; two are an accident
        raise SpecError(f"{shown} is not valid YAML", diagnostics=[Diagnostic(
            "the file starts with two byte-order marks (U+FEFF)", shown, 1, 1,
            hint="remove the extra one: save the file as UTF-8 (with or without one mark)")])
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(content, exc.start)
        byte = content[exc.start:exc.start + 1].hex()
        raise SpecError(f"{shown} is not UTF-8", diagnostics=[Diagnostic(
            f"byte 0x{byte} is not UTF-8 text", shown, line, col,
            hint="save the file as UTF-8 (it may be Latin-1 or a binary file)")]) from None


def _byte_position(content: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, col) of byte ``offset``, the column counted in characters."""
    start = content.rfind(b"\n", 0, offset) + 1
    column = len(content[start:offset].decode("utf-8", errors="replace"))
    return content.count(b"\n", 0, offset) + 1, column + 1


def _parse(text: str, shown: str) -> Any:
    plain = fast_yaml.load(text)  # None: anything beyond plain YAML, or near a limit
    if plain is not None:
        return plain
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import Reader, ReaderError

    from scalpel_plan.spec.limits import GuardedParser, LimitError

    loader = YAML(typ="safe", pure=True)
    loader.Parser = GuardedParser
    try:
        return loader.load(text)
    except ReaderError:
        found = Reader.NON_PRINTABLE.search(text)
        index = found.start() if found else 0
        line = text.count("\n", 0, index) + 1
        col = index - text.rfind("\n", 0, index)
        code = ord(text[index]) if found else 0
        raise SpecError(f"{shown} is not valid YAML", diagnostics=[Diagnostic(
            f"control character U+{code:04X} is not allowed in YAML text", shown, line, col,
            hint=f'remove it, or write it as "\\x{code:02x}" inside double quotes'
            if code < 0x100 else f'remove it, or write it as "\\u{code:04x}" inside double '
            'quotes')]) from None
    except LimitError as exc:
        raise SpecError(f"{shown} cannot be loaded",
                        diagnostics=[_yaml_diagnostic(exc, shown)]) from None
    except MarkedYAMLError as exc:
        found = [_yaml_diagnostic(exc, shown)]
        if (odd := UNICODE_BREAK.search(text)) is not None:  # YAML reads them as new lines
            line = text.count("\n", 0, odd.start()) + 1
            col = odd.start() - text.rfind("\n", 0, odd.start())
            found.append(Diagnostic(
                f"U+{ord(odd[0]):04X}, a Unicode line break, which YAML reads as a new line",
                shown, line, col, hint="remove it (or write it as \"\\u2028\" inside "
                "double quotes)"))
        raise SpecError(f"{shown} is not valid YAML", diagnostics=found) from None
    except YAMLError as exc:
        raise SpecError(f"{shown}: not valid YAML: {exc}") from None


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
    from scalpel_plan.spec.limits import LimitError

    if isinstance(exc, LimitError):
        message, hint = problem, exc.hint
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
