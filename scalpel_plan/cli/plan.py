"""`scalpel plan`, which runs without typer: importing the command framework was a sixth of a
small project's plan.

``cli.release`` declares the command to typer (its help, its usage errors); ``arguments``
reads the same options when they are all well formed, and ``main`` then runs the command
without loading typer at all. Anything else (``--help``, an unknown option, a missing or bad
value) is left to typer, as for ``cli.changelog``. A test checks that both know the same
options, with the same defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scalpel_plan.cli.arguments import read_options
from scalpel_plan.cli.plain import console_ui, duration, full_plan_url, open_at, save_plan

FORMATS = ("text", "markdown", "json")
VALUED = {"--file": "file", "-f": "file", "--version": "version", "--pre": "pre",
          "--package": "package", "--out": "out", "--format": "format",
          "--lock-timeout": "lock_timeout", "--branch": "branch",
          "--full-plan-url": "full_plan"}
FLAGS = {"--detailed-exitcode": ("detailed_exitcode", True),
         "--no-detailed-exitcode": ("detailed_exitcode", False),
         "--allow-missing-secrets": ("allow_missing_secrets", True),
         "--no-allow-missing-secrets": ("allow_missing_secrets", False),
         "--verbose": ("verbose", True), "-v": ("verbose", True)}
DEFAULTS: dict[str, Any] = {"file": Path("release.yml"), "version": None, "pre": None,
                            "package": None, "out": None, "format": "text",
                            "detailed_exitcode": False, "allow_missing_secrets": False,
                            "lock_timeout": "0s", "branch": None, "verbose": False,
                            "full_plan": None}
BRANCH_VAR = "GITHUB_BASE_REF"  # --branch's default, as typer reads it (an empty one is none)


def arguments(args: list[str]) -> dict[str, Any] | None:
    """The options of ``scalpel plan ARGS`` (after the command's name), or None when they are
    not all well-formed options that typer would read the same way."""
    found = read_options(args, VALUED, FLAGS, {**DEFAULTS,
                                               "branch": os.environ.get(BRANCH_VAR) or None},
                         repeated=frozenset({"package"}))
    if found is None or found["format"] not in FORMATS:
        return None
    found["file"] = Path(found["file"])
    found["out"] = Path(found["out"]) if found["out"] is not None else None
    return found


def run(*, file: Path, version: str | None, pre: str | None, package: list[str] | None,
        out: Path | None, format: str, detailed_exitcode: bool, allow_missing_secrets: bool,
        lock_timeout: str, branch: str | None, verbose: bool, full_plan: str | None) -> int:
    """Plan the next release and print it; the exit code (2: changes, with
    ``detailed_exitcode``)."""
    from scalpel_plan import operations

    project = open_at(file)
    ui = console_ui()
    the_plan = operations.plan(project, version=version, pre=pre, packages=package,
                               allow_missing_secrets=allow_missing_secrets,
                               lock_timeout=duration(lock_timeout), branch=branch or None)
    ui.plan(the_plan, format, verbose=verbose, full_plan_url=full_plan_url(full_plan))
    if out:
        save_plan(the_plan, out)
        ui.info(f"Saved the plan to {out}. Apply exactly this with `scalpel apply {out}`.")
    return 2 if detailed_exitcode and the_plan.has_changes else 0
