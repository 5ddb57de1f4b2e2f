"""Version files: where a project spells its version, and the edits that bump it.

Known by name: pyproject.toml (`version = "..."`), package.json (`"version": "..."`), the lock
files that repeat the project's own version (uv.lock's entry for the project at ".",
package-lock.json's and npm-shrinkwrap.json's top level and root package: `uv sync --locked` and
`npm ci` refuse a lock file that disagrees) and Python modules (`__version__ = "..."`); any other
file by a regex with a `(?P<version>...)` group.
Edits are planned as values (line, old text, new text) and applied only if the file still
says what was planned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scalpel_plan.errors import ScalpelError
from scalpel_plan.files import inside, read_inside, write_inside

LOCK_JSON = (r'(?:\A\s*\{\s*(?:"name"\s*:\s*"[^"]*"\s*,\s*)?'
             r'|"packages"\s*:\s*\{\s*""\s*:\s*\{\s*(?:"name"\s*:\s*"[^"]*"\s*,\s*)?)'
             r'"version"\s*:\s*"(?P<version>[^"]+)"')
KNOWN = {
    # the first `version =` of the [project] or [tool.poetry] table, no other table's
    "pyproject.toml": r"""(?ms)^\[(?:project|tool\.poetry)\][ \t]*$(?:(?!^\[).)*?"""
                      r"""^version\s*=\s*["'](?P<version>[^"']+)["']""",
    "package.json": r'"version"\s*:\s*"(?P<version>[^"]+)"',
    # the [[package]] of the project itself (source "."), not its dependencies'
    "uv.lock": r"""(?m)^\[\[package\]\]\r?\nname = "[^"\r\n]+"\r?\n"""
               r"""version = "(?P<version>[^"\r\n]+)"\r?\n"""
               r"""source = \{ (?:editable|virtual) = "\." \}""",
    # the lock's top level and its root package "", not its dependencies'
    "package-lock.json": LOCK_JSON,
    "npm-shrinkwrap.json": LOCK_JSON,
    ".py": r"""(?m)^__version__\s*=\s*["'](?P<version>[^"']+)["']""",
}


@dataclass(frozen=True)
class Edit:
    line: int  # 1-based
    old: str
    new: str


def pattern_for(path: str, pattern: str | None) -> str:
    if pattern:
        if "(?P<version>" not in pattern:
            raise ScalpelError(f"version file {path}: the pattern has no (?P<version>...) group",
                               hint=r'for example: release = "(?P<version>[^"]+)"')
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ScalpelError(f"version file {path}: the pattern is not a valid regex: {exc}",
                               hint="patterns use Python's re syntax") from None
        return pattern
    name = Path(path).name
    found = KNOWN.get(name) or (KNOWN[".py"] if name.endswith(".py") else None)
    if found is None:
        raise ScalpelError(f"version file {path}: no known way to find its version",
                           hint="give a pattern: {path: FILE, pattern: 'v=(?P<version>.*)'}")
    return found


def plan_edits(root: Path, path: str, pattern: str | None, version: str,
               text: str | None = None) -> list[Edit]:
    """The line edits that make ``path`` (its ``text``, e.g. as committed at HEAD; else the
    file) say ``version`` (none when it already does)."""
    regex = re.compile(pattern_for(path, pattern))
    inside(root, path, what="version file")  # even one git has: never a file outside
    text = _read(root, path) if text is None else text
    edits = []
    for match in regex.finditer(text):
        if match["version"] == version:
            continue
        start, end = match.span("version")
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end == -1 else line_end
        old = text[line_start:line_end]
        new = old[:start - line_start] + version + old[end - line_start:]
        edits.append(Edit(text.count("\n", 0, start) + 1, old, new))
    if not edits and not any(regex.finditer(text)):
        raise ScalpelError(f"version file {path}: no version found with {regex.pattern!r}",
                           hint="check the file, or give a pattern that matches it")
    return edits


def apply_edits(root: Path, path: str, edits: list[Edit]) -> None:
    """Apply planned ``edits``; refuse when the file no longer says what was planned."""
    lines = _read(root, path).split("\n")
    for edit in edits:
        current = lines[edit.line - 1] if edit.line <= len(lines) else None
        if current == edit.new:
            continue  # done by an earlier, interrupted apply
        if current != edit.old:
            raise ScalpelError(f"{path}:{edit.line} changed since the plan was made",
                               hint="make a new plan with `scalpel plan`")
        lines[edit.line - 1] = edit.new
    write_inside(root, path, "\n".join(lines).encode("utf-8"), what="version file")


def _read(root: Path, path: str) -> str:
    """The text of version file ``path`` of the repository at ``root`` (never one outside)."""
    try:
        return read_inside(root, path, what="version file").decode("utf-8")
    except FileNotFoundError as exc:
        raise ScalpelError(f"version file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ScalpelError(f"version file {path} is not UTF-8 text") from None
