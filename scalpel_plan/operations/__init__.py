"""Operations: what a user asks Scalpel to do, as library functions over an opened project.

Each operation holds the state lock, reads the state, plans (or checks a saved plan is still
fresh), lets the caller review, applies, records metrics, and on failure writes the incident
report and sends the alerts. The CLI parses, calls one of these, renders, and exits::

    from scalpel_plan.operations import open_project, plan, apply

    project = open_project(Path("release.yml"))
    the_plan = plan(project)
    outcome = apply(project)            # plans again, applies, alerts on failure
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HOMES = {  # name → its module; loaded on first use, so that opening the records of a
    # project (status, history) does not import the planner
    "Outcome": "release", "apply": "release", "plan": "release",
    "Project": "project", "Records": "project", "open_project": "project",
    "open_records": "project", "plan_rollback": "rollbacks", "rollback": "rollbacks",
    "start_hotfix": "hotfix", "finish_hotfix": "hotfix",
}
__all__ = ["Outcome", "Project", "Records", "apply", "finish_hotfix", "open_project",
           "open_records", "plan", "plan_rollback", "rollback", "start_hotfix"]

if TYPE_CHECKING:
    from scalpel_plan.operations.hotfix import finish_hotfix, start_hotfix
    from scalpel_plan.operations.project import Project, Records, open_project, open_records
    from scalpel_plan.operations.release import Outcome, apply, plan
    from scalpel_plan.operations.rollbacks import plan_rollback, rollback

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value
