"""Conventional Commits: parse a commit message into type, scope, breaking flag and description."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?: +(?P<desc>\S.*)$")
BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ", re.MULTILINE)


@dataclass(frozen=True)
class ConventionalCommit:
    sha: str
    type: str | None  # None: not a conventional message
    scope: str | None
    breaking: bool
    description: str

    @property
    def bump(self) -> str | None:
        """The semver part this commit bumps: "major", "minor", "patch" or None."""
        if self.breaking:
            return "major"
        return {"feat": "minor", "fix": "patch", "perf": "patch"}.get(self.type or "")


def parse(sha: str, subject: str, body: str = "") -> ConventionalCommit:
    match = HEADER.match(subject.strip())
    if not match:
        return ConventionalCommit(sha, None, None, False, subject.strip())
    breaking = bool(match["bang"]) or bool(BREAKING_FOOTER.search(body))
    return ConventionalCommit(sha, match["type"].lower(), match["scope"], breaking, match["desc"])
