"""What every command module shares: the typer apps, the option types, and the helpers that
open a project, its records and its secrets, write files and ask for confirmation."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# re-exported: what the commands share that needs no typer (`scalpel plan` runs without it)
from scalpel_plan.cli.plain import console_ui as console_ui
from scalpel_plan.cli.plain import duration as duration
from scalpel_plan.cli.plain import full_plan_url as full_plan_url
from scalpel_plan.cli.plain import open_at as open_at
from scalpel_plan.cli.plain import records_at as records_at
from scalpel_plan.cli.plain import save_plan as save_plan

if TYPE_CHECKING:
    from scalpel_plan.ui import UI

app = typer.Typer(
    name="scalpel", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Release engineering as a reviewable plan: validate, plan, apply, resume.",
)
state_app = typer.Typer(help="Inspect the recorded state and its lock.", no_args_is_help=True)
app.add_typer(state_app, name="state")
hotfix_app = typer.Typer(help="Fix a released version on a branch of its own.",
                         no_args_is_help=True)
app.add_typer(hotfix_app, name="hotfix")
metrics_app = typer.Typer(help="Release metrics: durations by category, trends, export.")
app.add_typer(metrics_app, name="metrics")

SpecFile = Annotated[Path, typer.Option("--file", "-f", help="The release spec.",
                                        show_default=True)]
LockTimeout = Annotated[str, typer.Option(help="Wait this long for the state lock (e.g. 30s, 5m).")]
Pre = Annotated[str | None, typer.Option(
    "--pre", help="Make a pre-release with this label (rc → 1.3.0-rc.1, then rc.2, ...).")]
Version = Annotated[str | None, typer.Option(
    "--version", help="Release this version instead of the computed one.")]
Packages = Annotated[list[str] | None, typer.Option(
    "--package", help="In a monorepo, plan this package only (repeatable).")]
OfPackages = Annotated[list[str] | None, typer.Option(
    "--package", help="In a monorepo, this package's releases only (repeatable).")]
AutoApprove = Annotated[bool, typer.Option(help="Do not ask for confirmation.")]
Parallelism = Annotated[int, typer.Option(min=1, help="Steps run at once.")]
JsonProgress = Annotated[bool, typer.Option("--json", help="Progress as JSON lines.")]
StageOutput = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Show each stage's output as it runs, prefixed by its address.")]
Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Show the whole plan: every commit, the whole changelog and "
    "release notes, every line of each value.")]
FullPlanUrl = Annotated[str | None, typer.Option(
    "--full-plan-url",
    help="Where the whole plan is kept (a workflow run's artifacts): the Markdown plan links "
    "it when it has to cut itself to fit a comment; default, under GitHub Actions, the run's "
    "page.")]
DEFAULT_SPEC = Path("release.yml")


class PlanFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class ChangelogFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


class MetricsFormat(StrEnum):
    json = "json"
    csv = "csv"
    openmetrics = "openmetrics"


class GraphFormat(StrEnum):
    dot = "dot"
    mermaid = "mermaid"


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file the user named, atomically, through the secrets mask."""
    from scalpel_plan.files import write_masked

    write_masked(path, data)


def approved(ui: UI) -> bool:
    from scalpel_plan.errors import ScalpelError

    if not sys.stdin.isatty():
        raise ScalpelError("these changes need confirmation but there is no terminal to ask "
                           "at", hint="pass --auto-approve, or save the plan (--out FILE) and "
                           "apply that file")
    return ui.confirm("Do you want to perform these actions?")

