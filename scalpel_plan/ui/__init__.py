"""Everything Scalpel shows: the only package that prints, and the only one that imports rich
(on first use, never at import: `scalpel --version` does not need it)."""

from __future__ import annotations

from scalpel_plan.ui.terminal import UI

__all__ = ["UI"]
