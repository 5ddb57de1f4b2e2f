"""Where a release is made: the git work tree, and the ``.scalpel`` folder beside release.yml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_FOLDER = ".scalpel"


@dataclass(frozen=True)
class Workspace:
    """The git work tree a release is cut from, and the folder Scalpel keeps its records in."""

    repo: Path
    workdir: Path
