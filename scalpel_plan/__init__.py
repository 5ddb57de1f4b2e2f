"""Scalpel: a software release as a reviewable plan.

The flow runs one way: ``spec`` loads and validates release.yml, ``graph`` compiles it,
``plan`` diffs it against the recorded ``state`` and what ``providers`` read live, and
``apply`` carries the plan out, journaling every step. ``cli`` is the only command-line
parser and ``ui`` the only module that prints.
"""

from __future__ import annotations

__version__ = "0.1.0"
