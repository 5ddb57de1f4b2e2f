"""Commands that change things: plan (read-only, but the review of what will), apply,
rollback and hotfix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    AutoApprove,
    JsonProgress,
    LockTimeout,
    Parallelism,
    PlanFormat,
    Pre,
    SpecFile,
    Version,
    app,
    approved,
    console_ui,
    duration,
    hotfix_app,
    load_secrets,
    open_at,
    save_plan,
)

if TYPE_CHECKING:
    from scalpel_plan.apply import ApplyResult
    from scalpel_plan.plan import Plan
    from scalpel_plan.release.secrets import SecretsManager
    from scalpel_plan.state.model import HotfixRecord, State
    from scalpel_plan.ui import UI
    from scalpel_plan.workspace import Project


@app.command()
def plan(
    file: SpecFile = DEFAULT_SPEC,
    version: Version = None,
    pre: Pre = None,
    out: Annotated[Path | None, typer.Option(help="Save the plan as JSON.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    detailed_exitcode: Annotated[bool, typer.Option(
        help="Exit 0 with no changes, 1 on error, 2 with changes.")] = False,
    allow_missing_secrets: Annotated[bool, typer.Option(
        help="Plan without the secrets that are not set (a pull request from a fork): "
        "warnings instead of errors; what needs them to read is not read.")] = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Show what the next release will do, as a diff against the state and what is live."""
    from scalpel_plan.plan import make_plan

    project = open_at(file)
    ui = console_ui()
    secrets = load_secrets(project, ui)
    with project.backend.lock("plan", duration(lock_timeout)):
        state = project.backend.read()
        the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                             project.workspace, version=version, pre=pre, secrets=secrets,
                             allow_missing_secrets=allow_missing_secrets)
    ui.plan(the_plan, format.value)
    if out:
        save_plan(the_plan, out)
        ui.info(f"Saved the plan to {out}. Apply exactly this with `scalpel apply {out}`.")
    return 2 if detailed_exitcode and the_plan.has_changes else 0


@app.command()
def apply(
    plan_file: Annotated[Path | None, typer.Argument(
        metavar="[PLAN]", help="A plan saved with `scalpel plan --out`.")] = None,
    file: SpecFile = DEFAULT_SPEC,
    version: Version = None,
    pre: Pre = None,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Carry out the plan: every step journaled; re-run after a crash to finish the job."""
    from scalpel_plan import git
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.plan import check_fresh, load_plan, make_plan

    if plan_file is not None and (version or pre):
        raise ScalpelError("--version and --pre cannot be combined with a saved plan",
                           hint="the saved plan already fixes the version")
    project = open_at(file)
    ui = console_ui()
    secrets = load_secrets(project, ui)
    with project.backend.lock("apply", duration(lock_timeout)):
        state = project.backend.read()
        if plan_file is not None:  # exactly what was reviewed, or nothing
            the_plan = load_plan(plan_file)
            check_fresh(the_plan, state, project.loaded.source.sha256,
                        git.head(project.workspace.repo))
        else:
            the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                                 project.workspace, version=version, pre=pre, secrets=secrets)
            if not json:
                ui.plan(the_plan)
            if the_plan.has_changes and not auto_approve and not approved(ui):
                ui.info("Apply cancelled.")
                return 1
        if not the_plan.has_changes:
            if plan_file is not None:
                ui.info("The plan has no changes; nothing to apply.")
            return 0
        result = _carry_out(project, the_plan, state, secrets, ui, parallelism, json)
    return _report(project, the_plan, result, state, secrets, ui)


def _carry_out(project: Project, the_plan: Plan, state: State, secrets: SecretsManager,
               ui: UI, parallelism: int, json: bool) -> ApplyResult:
    """Apply a release or rollback plan (under the caller's lock), showing progress."""
    from scalpel_plan.apply import apply_plan

    with ui.progress("json" if json else "auto") as progress:
        return apply_plan(the_plan, project.registry, project.backend, state,
                          project.workspace, parallelism=parallelism, observer=progress,
                          secrets=secrets)


def _report(project: Project, the_plan: Plan, result: ApplyResult, state: State,
            secrets: SecretsManager, ui: UI) -> int:
    """The summary; on failure the incident report and the alert. The exit code."""
    ui.apply_summary(result, the_plan)
    if not result.ok:
        _alert_failure(project, the_plan, result, state, secrets, ui)
    return 0 if result.ok else 1


@app.command()
def rollback(
    to: Annotated[str, typer.Option("--to", help="A rollback point: its tag or version.")],
    file: SpecFile = DEFAULT_SPEC,
    out: Annotated[Path | None, typer.Option(
        help="Save the rollback plan instead; apply it with `scalpel apply FILE`.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Plan the way back to a rollback point, then apply it on confirmation."""
    from scalpel_plan.release.rollback import make_rollback_plan

    project = open_at(file)
    ui = console_ui()
    secrets = load_secrets(project, ui)
    with project.backend.lock("rollback", duration(lock_timeout)):
        state = project.backend.read()
        the_plan = make_rollback_plan(project.loaded, project.registry, state,
                                      project.workspace, to)
        if not json:
            ui.plan(the_plan, format.value)
        if out:
            save_plan(the_plan, out)
            ui.info(f"Saved the rollback plan to {out}. Apply exactly this with "
                    f"`scalpel apply {out}`.")
            return 0
        if not auto_approve and not approved(ui):
            ui.info("Rollback cancelled.")
            return 1
        result = _carry_out(project, the_plan, state, secrets, ui, parallelism, json)
    return _report(project, the_plan, result, state, secrets, ui)


def _alert_failure(project: Project, the_plan: Plan, result: ApplyResult, state: State,
                   secrets: SecretsManager, ui: UI) -> None:
    """The incident report, and the failure alert routed as release.yml says."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.observe.alerts import alert_failure

    try:
        report, outcome = alert_failure(the_plan, result, state, project.backend,
                                        project.loaded.spec, project.registry, secrets,
                                        workdir=project.workspace.workdir, console=ui.alert)
    except (OSError, ScalpelError) as exc:  # never hides the failure it reports on
        ui.info(f"The incident report could not be written, nor the alert sent: {exc}")
        return
    ui.alert_outcome(report, outcome)


@hotfix_app.command("start")
def hotfix_start(
    from_: Annotated[str, typer.Option("--from", help="The rollback point to fix.")],
    file: SpecFile = DEFAULT_SPEC,
) -> None:
    """Create and switch to hotfix/<version> at a rollback point's commit."""
    from scalpel_plan.release.rollback import RollbackManager
    from scalpel_plan.state.model import HotfixRecord

    project = open_at(file)
    with project.backend.lock("hotfix"):
        state = project.backend.read()
        hotfix = RollbackManager(state).start_hotfix(project.workspace, from_)
        record = HotfixRecord(branch=hotfix.branch, point=hotfix.point, fixes=hotfix.fixes,
                              commit=hotfix.commit)
        _record_hotfix(project, state, record)
    console_ui().info(f"Switched to {hotfix.branch} at {hotfix.point} ({hotfix.commit[:12]}). "
                      "Commit the fix, then `scalpel plan` proposes the next patch version and "
                      "`scalpel hotfix finish` releases it.")


@hotfix_app.command("finish")
def hotfix_finish(
    file: SpecFile = DEFAULT_SPEC,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
) -> int:
    """Release the hotfix branch you are on and record which release it fixes."""
    from scalpel_plan import git
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.plan import make_plan
    from scalpel_plan.release.rollback import finished, hotfix_on

    project = open_at(file)
    ui = console_ui()
    secrets = load_secrets(project, ui)
    with project.backend.lock("hotfix"):
        state = project.backend.read()
        branch = git.current_branch(project.workspace.repo)
        record = hotfix_on(state, branch)
        if record is None:
            raise ScalpelError(f"{branch or 'HEAD'} is not an unfinished hotfix branch",
                               hint="`scalpel hotfix start --from POINT` makes one; "
                               "`scalpel history` lists them")
        the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                             project.workspace, secrets=secrets)
        if the_plan.release is None:
            raise ScalpelError(f"nothing to release on {branch}: {the_plan.nothing_to_release}",
                               hint="commit the fix (fix: ...) first")
        if not json:
            ui.plan(the_plan)
        if not auto_approve and not approved(ui):
            ui.info("Hotfix release cancelled.")
            return 1
        result = _carry_out(project, the_plan, state, secrets, ui, parallelism, json)
        if result.ok:
            _record_hotfix(project, project.backend.read(),
                           finished(record, the_plan.release.version))
    return _report(project, the_plan, result, state, secrets, ui)


def _record_hotfix(project: Project, state: State, record: HotfixRecord) -> None:
    """Journal the hotfix and write it into the state."""
    from scalpel_plan.state.checkpoint import Checkpointer

    checkpoint = Checkpointer(project.backend, state, _operation_id("hotfix"))
    checkpoint.record("hotfix", record=record.model_dump(mode="json"))
    checkpoint.close()


def _operation_id(kind: str) -> str:
    import time
    import uuid

    return f"{time.strftime('%Y%m%dT%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"

