"""Rolling back: the plan of the way back to a rollback point, and its apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scalpel_plan.apply import Observer
    from scalpel_plan.observe.alerts import AlertHandler
    from scalpel_plan.operations.project import Project
    from scalpel_plan.operations.release import Outcome, Review
    from scalpel_plan.plan.model import Plan


def plan_rollback(project: Project, to: str, *, package: str | None = None,
                  lock_timeout: float = 0.0) -> Plan:
    """The rollback plan to the point ``to`` (its tag or version; a package's, with
    ``package`` or as ``b@1.0.1``); nothing changes."""
    from scalpel_plan.plan.rollback import make_rollback_plan

    with project.backend.lock("rollback", lock_timeout):
        state = project.backend.read()
        return make_rollback_plan(project.loaded, project.graph, project.registry, state,
                                  project.workspace, to, package=package,
                                  secrets=project.secrets)


def rollback(project: Project, to: str, *, package: str | None = None,
             review: Review | None = None,
             parallelism: int = 4, observer: Observer | None = None,
             lock_timeout: float = 0.0, console: AlertHandler | None = None) -> Outcome:
    """Plan the way back to ``to`` and apply it once ``review`` (when given) agrees."""
    from scalpel_plan.operations.release import Outcome, carry_out
    from scalpel_plan.plan.rollback import make_rollback_plan

    with project.backend.lock("rollback", lock_timeout):
        state = project.backend.read()
        the_plan = make_rollback_plan(project.loaded, project.graph, project.registry, state,
                                      project.workspace, to, package=package,
                                  secrets=project.secrets)
        if review is not None and not review(the_plan):
            return Outcome(the_plan, cancelled=True)
        return carry_out(project, the_plan, state, parallelism=parallelism,
                         observer=observer, console=console)
