"""Commands that change things: plan (read-only, but the review of what will), apply,
rollback and hotfix. Each parses, calls one operation, renders, and returns the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    AutoApprove,
    FullPlanUrl,
    JsonProgress,
    LockTimeout,
    Packages,
    Parallelism,
    PlanFormat,
    Pre,
    SpecFile,
    StageOutput,
    Verbose,
    Version,
    app,
    approved,
    console_ui,
    duration,
    full_plan_url,
    hotfix_app,
    open_at,
    save_plan,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from scalpel_plan.operations.release import Outcome
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.ui import UI


@app.command()
def plan(
    file: SpecFile = DEFAULT_SPEC,
    version: Version = None,
    pre: Pre = None,
    package: Packages = None,
    out: Annotated[Path | None, typer.Option(help="Save the plan as JSON.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    detailed_exitcode: Annotated[bool, typer.Option(
        help="Exit 0 with no changes, 1 on error, 2 with changes.")] = False,
    allow_missing_secrets: Annotated[bool, typer.Option(
        help="Plan without the secrets that are not set (a pull request from a fork): "
        "warnings instead of errors; what needs them to read is not read.")] = False,
    lock_timeout: LockTimeout = "0s",
    branch: Annotated[str | None, typer.Option(
        envvar="GITHUB_BASE_REF", show_envvar=True,
        help="On a detached HEAD (a pull request's merge commit): the branch the release "
        "commit is planned onto (default: the pull request's base branch).")] = None,
    verbose: Verbose = False,
    full_plan: FullPlanUrl = None,
) -> int:
    """Show what the next release will do, as a diff against the state and what is live."""
    from scalpel_plan.cli import plan as command  # `scalpel plan` runs it directly

    return command.run(file=file, version=version, pre=pre, package=package, out=out,
                       format=format.value, detailed_exitcode=detailed_exitcode,
                       allow_missing_secrets=allow_missing_secrets, lock_timeout=lock_timeout,
                       branch=branch, verbose=verbose, full_plan=full_plan)


@app.command()
def show(
    plan_file: Annotated[Path, typer.Argument(
        metavar="PLAN", help="A plan saved with `scalpel plan --out`.")],
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    verbose: Verbose = False,
    full_plan: FullPlanUrl = None,
) -> None:
    """Show a saved plan (checked as apply reads it), as text, Markdown or JSON."""
    from scalpel_plan.plan.file import load_plan

    console_ui().plan(load_plan(plan_file), format.value, verbose=verbose,
                      full_plan_url=full_plan_url(full_plan))


@app.command()
def apply(
    plan_file: Annotated[Path | None, typer.Argument(
        metavar="[PLAN]", help="A plan saved with `scalpel plan --out`.")] = None,
    file: SpecFile = DEFAULT_SPEC,
    version: Version = None,
    pre: Pre = None,
    package: Packages = None,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    verbose: StageOutput = False,
    lock_timeout: LockTimeout = "0s",
    reviewed: Annotated[Path | None, typer.Option(
        metavar="PLAN", help="A plan reviewed elsewhere (a pull request's, saved with `scalpel "
        "plan --out`): plan afresh here and apply only if it makes the same release (the same "
        "release.yml, version, tag and changes to each node).")] = None,
) -> int:
    """Carry out the plan: every step journaled; re-run after a crash to finish the job."""
    from scalpel_plan import operations
    from scalpel_plan.plan.file import load_plan

    saved = load_plan(plan_file) if plan_file is not None else None
    shown = load_plan(reviewed) if reviewed is not None else None
    project = open_at(file)
    ui = console_ui()
    with ui.progress("json" if json else "auto", verbose) as progress:
        outcome = operations.apply(
            project, saved, version=version, pre=pre, packages=package,
            review=_review(ui, show=not json, auto_approve=auto_approve),
            parallelism=parallelism, observer=progress, lock_timeout=duration(lock_timeout),
            console=ui.alert, reviewed=shown)
    if saved is not None and not saved.has_changes:
        ui.info("The plan has no changes; nothing to apply.")
    elif outcome.result is None and not outcome.cancelled:  # a plan with no step to carry out
        if saved is None and not json:
            ui.plan(outcome.plan)
        if (release := outcome.plan.release) is not None:
            ui.info(f"No changes. Nothing was applied and no release recorded: the plan of "
                    f"{release.project} {release.version} has no step to carry out.")
    return _report(ui, outcome, "Apply cancelled.")


@app.command()
def rollback(
    to: Annotated[str, typer.Option("--to", help="A rollback point: its tag or version "
                                    "(in a monorepo, a package's: b@1.0.1).")],
    file: SpecFile = DEFAULT_SPEC,
    out: Annotated[Path | None, typer.Option(
        help="Save the rollback plan instead; apply it with `scalpel apply FILE`.")] = None,
    package: Annotated[str | None, typer.Option(
        "--package", help="In a monorepo, roll back this package only (--to its version); "
        "the other packages are left as they are.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    verbose: StageOutput = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Plan the way back to a rollback point, then apply it on confirmation."""
    from scalpel_plan import operations

    project = open_at(file)
    ui = console_ui()
    if out:
        the_plan = operations.plan_rollback(project, to, package=package,
                                            lock_timeout=duration(lock_timeout))
        ui.plan(the_plan, format.value)
        save_plan(the_plan, out)
        ui.info(f"Saved the rollback plan to {out}. Apply exactly this with "
                f"`scalpel apply {out}`.")
        return 0
    with ui.progress("json" if json else "auto", verbose) as progress:
        outcome = operations.rollback(
            project, to, package=package,
            review=_review(ui, show=not json, auto_approve=auto_approve, fmt=format.value,
                           always=True),
            parallelism=parallelism, observer=progress, lock_timeout=duration(lock_timeout),
            console=ui.alert)
    return _report(ui, outcome, "Rollback cancelled.")


@hotfix_app.command("start")
def hotfix_start(
    from_: Annotated[str, typer.Option("--from", help="The rollback point to fix.")],
    file: SpecFile = DEFAULT_SPEC,
) -> None:
    """Create and switch to hotfix/<version> at a rollback point's commit."""
    from scalpel_plan import operations

    hotfix = operations.start_hotfix(open_at(file), from_)
    console_ui().info(f"Switched to {hotfix.branch} at {hotfix.point} ({hotfix.commit[:12]}). "
                      "Commit the fix, then `scalpel plan` proposes the next patch version and "
                      "`scalpel hotfix finish` releases it.")


@hotfix_app.command("finish")
def hotfix_finish(
    file: SpecFile = DEFAULT_SPEC,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    verbose: StageOutput = False,
) -> int:
    """Release the hotfix branch you are on and record which release it fixes."""
    from scalpel_plan import operations

    project = open_at(file)
    ui = console_ui()
    with ui.progress("json" if json else "auto", verbose) as progress:
        outcome = operations.finish_hotfix(
            project, review=_review(ui, show=not json, auto_approve=auto_approve),
            parallelism=parallelism, observer=progress, console=ui.alert)
    return _report(ui, outcome, "Hotfix release cancelled.")


def _review(ui: UI, *, show: bool, auto_approve: bool, fmt: str = "text",
            always: bool = False) -> Callable[[Plan], bool]:
    """Show the plan (unless progress goes out as JSON) and ask, unless auto-approved."""
    def review(the_plan: Plan) -> bool:
        if show:
            ui.plan(the_plan, fmt)
        return auto_approve or not (the_plan.has_changes or always) or approved(ui)
    return review


def _report(ui: UI, outcome: Outcome, cancelled: str) -> int:
    """The summary; on failure where the incident report is and what the alert did. Under
    GitHub Actions, failures are annotations too, and the job summary says it all."""
    from scalpel_plan.ui import github_actions

    if github_actions.active():
        github_actions.report(outcome, cancelled)
    if outcome.cancelled:
        ui.info(cancelled)
        return 1
    if outcome.result is None:
        return 0
    ui.apply_summary(outcome.result, outcome.plan)
    if outcome.alert_error is not None:
        ui.info("The incident report could not be written, nor the alert sent: "
                f"{outcome.alert_error}")
    elif outcome.report is not None and outcome.alert is not None:
        ui.alert_outcome(outcome.report, outcome.alert)
    return outcome.exit_code
