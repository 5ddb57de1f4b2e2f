"""Planning and applying a release: the lock, the state, the plan or the saved plan checked
fresh, the review, the walk, the metrics, and on failure the incident report and the alerts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalpel_plan.errors import ScalpelError

if TYPE_CHECKING:
    from scalpel_plan.apply import ApplyResult, Observer
    from scalpel_plan.errors import Diagnostic
    from scalpel_plan.observe.alerts import AlertHandler, AlertOutcome
    from scalpel_plan.operations.project import Project
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.state.model import State
    from scalpel_plan.state.timeline import Step

Review = Callable[["Plan"], bool]  # shown a fresh plan with changes: go ahead?


@dataclass
class Outcome:
    """What an apply, a rollback or a hotfix release came to."""

    plan: Plan
    result: ApplyResult | None = None  # None when nothing was applied
    cancelled: bool = False
    report: str | None = None  # where the incident report of a failure is
    alert: AlertOutcome | None = None
    alert_error: str | None = None  # why the report or the alert could not be made
    links: tuple[tuple[str, str], ...] = ()  # (label, URL) of what the release published
    steps: tuple[Step, ...] = ()  # the apply's steps as its journal tells (their timings)
    failures: tuple[Diagnostic, ...] = ()  # each failed step, where release.yml declares it

    @property
    def ok(self) -> bool:
        return not self.cancelled and (self.result is None or self.result.ok)

    @property
    def interrupted(self) -> bool:
        return self.result is not None and self.result.interrupted

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 130 if self.interrupted else 1


def plan(project: Project, *, version: str | None = None, pre: str | None = None,
         allow_missing_secrets: bool = False, lock_timeout: float = 0.0,
         packages: list[str] | None = None, branch: str | None = None) -> Plan:
    """The plan of the next release (nothing changes; the lock keeps an apply from moving the
    state while it is read); ``branch``: on a detached HEAD, the one it is planned onto."""
    from scalpel_plan.plan.release import make_plan

    with project.backend.lock("plan", lock_timeout):
        state = project.backend.read()
        return make_plan(project.loaded, project.graph, project.registry, state,
                         project.workspace, version=version, pre=pre, secrets=project.secrets,
                         allow_missing_secrets=allow_missing_secrets, packages=packages,
                         base=branch)


def apply(project: Project, saved: Plan | None = None, *, version: str | None = None,
          pre: str | None = None, review: Review | None = None, parallelism: int = 4,
          observer: Observer | None = None, lock_timeout: float = 0.0,
          console: AlertHandler | None = None, packages: list[str] | None = None,
          reviewed: Plan | None = None) -> Outcome:
    """Apply ``saved`` (exactly it, or nothing when it is stale), or plan afresh and apply
    that once ``review`` (when given) agrees, and only when it is what ``reviewed`` (a plan
    reviewed elsewhere: a pull request's) showed. ``console`` is the console alert
    channel."""
    from scalpel_plan.plan.release import make_plan

    if (saved is not None or reviewed is not None) and (version or pre or packages):
        raise ScalpelError("--version, --pre and --package cannot be combined with a saved "
                           "or a reviewed plan",
                           hint="the saved plan already fixes the version")
    if saved is not None and reviewed is not None:
        raise ScalpelError("a saved plan and --reviewed cannot be combined",
                           hint="apply a plan made here (`scalpel apply PLAN`), or plan "
                           "afresh against the reviewed one (`scalpel apply --reviewed PLAN`)")
    with project.backend.lock("apply", lock_timeout):
        state = project.backend.read()
        if saved is not None:
            check_saved(project, saved, state)
            the_plan = saved
        else:
            the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                                 project.workspace, version=version, pre=pre,
                                 secrets=project.secrets, for_apply=True, packages=packages)
            if reviewed is not None:
                _check_reviewed(reviewed, the_plan)
            if the_plan.has_changes and not the_plan.does_nothing(state) and \
                    review is not None and not review(the_plan):
                return Outcome(the_plan, cancelled=True)
        return carry_out(project, the_plan, state, parallelism=parallelism, observer=observer,
                         console=console)


def _check_reviewed(reviewed: Plan, the_plan: Plan) -> None:
    from scalpel_plan.plan.review import differences

    problems = differences(reviewed, the_plan)
    if problems:
        raise ScalpelError("the reviewed plan is not what applying here would do; nothing "
                           "was applied", diagnostics=problems)


def check_saved(project: Project, saved: Plan, state: State) -> None:
    """A saved plan applies only to the world it was made from: the same state, release.yml
    and HEAD, a clean work tree on the planned branch, not behind its remote."""
    from scalpel_plan import git
    from scalpel_plan.plan.file import check_fresh
    from scalpel_plan.plan.preflight import saved_plan_problems

    check_fresh(saved, state, project.loaded.source.sha256, git.head(project.workspace.repo))
    problems = saved_plan_problems(saved, project.workspace, project.graph,
                                   project.registry, state)
    if problems:
        raise ScalpelError("the saved plan cannot be applied here", diagnostics=problems)


def carry_out(project: Project, the_plan: Plan, state: State, *, parallelism: int,
              observer: Observer | None, console: AlertHandler | None) -> Outcome:
    """Apply a release or rollback plan under the caller's lock; record its metrics; on
    failure or an interrupt, the incident report and the alerts."""
    from scalpel_plan.apply import apply_plan
    from scalpel_plan.observe.metrics import record_run

    if not the_plan.has_changes or the_plan.does_nothing(state):
        return Outcome(the_plan)  # nothing is done, and nothing recorded
    result = apply_plan(the_plan, project.registry, project.backend, state, project.workspace,
                        parallelism=parallelism, observer=observer, secrets=project.secrets)
    record_run(project.backend, the_plan, result)
    outcome = Outcome(the_plan, result, **_what_happened(project, the_plan, result))
    if not result.ok:  # failed or interrupted (recorded either way: the caller says so)
        _report_failure(project, outcome, state, console)
    return outcome


def _what_happened(project: Project, the_plan: Plan, result: ApplyResult) -> dict[str, Any]:
    """The links, the step timings and the failures (at their place in release.yml) of an
    apply, for a CI job's summary and annotations."""
    from scalpel_plan.errors import Diagnostic
    from scalpel_plan.plan.model import step_release
    from scalpel_plan.plan.release import release_links
    from scalpel_plan.state.timeline import timeline

    links: tuple[tuple[str, str], ...] = ()
    if the_plan.release is not None and result.ok:
        links = release_links(project.graph, project.registry,
                              step_release(the_plan.release, project.workspace))
    source = project.loaded.source
    failures = []
    for address, error in result.errors.items():
        path = project.graph.where.get(address)
        line, col = source.position(path, key=True) if path else (None, None)
        failures.append(Diagnostic(error.message, file=source.display, line=line, col=col,
                                   address=address, hint=error.hint))
    return {"links": links, "failures": tuple(failures),
            "steps": timeline(project.backend.read_journal(result.apply_id)).steps}


def _report_failure(project: Project, outcome: Outcome, state: State,
                    console: AlertHandler | None) -> None:
    """The incident report, and the failure alert routed as release.yml says; neither may
    hide the failure it reports."""
    from scalpel_plan.observe.alerts import alert_failure

    assert outcome.result is not None
    try:
        outcome.report, outcome.alert = alert_failure(
            outcome.plan, outcome.result, state, project.backend, project.loaded.spec,
            project.registry, project.secrets, console=console or _quiet)
    except (OSError, ScalpelError) as exc:
        outcome.alert_error = str(exc)


def _quiet(alert: object) -> None:
    """The console channel when the caller shows none."""
