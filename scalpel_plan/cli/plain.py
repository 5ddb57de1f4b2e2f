"""What the commands share that needs no typer: the UI and the runner's mask. (`scalpel
changelog` runs without importing typer at all: see ``cli.changelog``.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scalpel_plan.ui import UI


def console_ui() -> UI:
    from scalpel_plan.ui import UI

    return UI()


def runner_mask() -> Callable[[str], None] | None:
    """Under GitHub Actions each secret value is also registered with the runner
    (``::add-mask::``), so that the runner's own log masks it."""
    return console_ui().add_mask if os.environ.get("GITHUB_ACTIONS") == "true" else None
