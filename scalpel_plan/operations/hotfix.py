"""Hotfixes: a branch from a rollback point, released as the next patch version.

``start_hotfix`` creates and switches to ``hotfix/<version>`` at the point's commit and records
it; a plan there proposes the next patch version; ``finish_hotfix`` releases it and records
which release it fixes. ``RollbackManager`` is the seed's API over one project's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scalpel_plan import git
from scalpel_plan.errors import ScalpelError
from scalpel_plan.plan.rollback import find_point
from scalpel_plan.state.model import HotfixRecord, RollbackPoint, State, now
from scalpel_plan.workspace import Workspace

if TYPE_CHECKING:
    from scalpel_plan.apply import Observer
    from scalpel_plan.observe.alerts import AlertHandler
    from scalpel_plan.operations.project import Project
    from scalpel_plan.operations.release import Outcome, Review

HOTFIX_PREFIX = "hotfix/"


@dataclass(frozen=True)
class Hotfix:
    """A hotfix: a branch from a rollback point, released as the next patch version."""

    branch: str
    point: str
    fixes: str
    commit: str
    version: str | None = None

    @classmethod
    def from_record(cls, record: HotfixRecord) -> Hotfix:
        return cls(record.branch, record.point, record.fixes, record.commit, record.version)


class RollbackManager:
    """Rollback points, rollbacks and hotfixes over one project's state (the seed's API)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def points(self) -> list[RollbackPoint]:
        return list(self.state.rollback_points)

    def point(self, ref: str) -> RollbackPoint:
        return find_point(self.state, ref)

    def live(self) -> str | None:
        return self.state.live_version()

    def hotfixes(self) -> list[Hotfix]:
        return [Hotfix.from_record(h) for h in self.state.hotfixes]

    def start_hotfix(self, workspace: Workspace, ref: str) -> Hotfix:
        """Create and check out ``hotfix/<version>`` at the point's commit (its tag's, when the
        tag is here: the release commit it was cut from)."""
        point = self.point(ref)
        branch = f"{HOTFIX_PREFIX}{point.version}"
        repo = workspace.repo
        if git.git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}",
                   check=False).ok:
            raise ScalpelError(f"branch {branch} already exists",
                               hint=f"`git switch {branch}`, or delete it first")
        if git.git(repo, "status", "--porcelain", "--untracked-files=no").stdout.strip():
            raise ScalpelError("the work tree has uncommitted changes",
                               hint="commit or stash them before starting a hotfix")
        commit = git.tag_commit(repo, point.name) or point.commit  # the tag's, when here
        problem = git.ref_name_problem(branch) or git.ref_name_problem(commit)
        if problem is not None:  # `git switch` takes no `--`: nothing may look like an option
            raise ScalpelError(f"cannot create {branch!r} at {commit!r}: {problem}")
        done = git.git(repo, "switch", "-c", branch, commit, check=False)
        if not done.ok:
            raise ScalpelError(f"cannot create {branch} at {commit[:12]}: "
                               f"{done.stderr.strip()}")
        return Hotfix(branch, point.name, point.version, commit)


def hotfix_on(state: State, branch: str | None) -> HotfixRecord | None:
    """The unfinished hotfix whose branch is ``branch``."""
    return next((h for h in reversed(state.hotfixes)
                 if h.branch == branch and h.version is None), None)


def finished(record: HotfixRecord, version: str) -> HotfixRecord:
    return record.model_copy(update={"version": version, "finished_at": now()})


def start_hotfix(project: Project, point: str) -> Hotfix:
    """Create and switch to ``hotfix/<version>`` at ``point``'s commit, and record it."""
    with project.backend.lock("hotfix"):
        state = project.backend.read()
        hotfix = RollbackManager(state).start_hotfix(project.workspace, point)
        _record(project, state, HotfixRecord(branch=hotfix.branch, point=hotfix.point,
                                             fixes=hotfix.fixes, commit=hotfix.commit))
    return hotfix


def finish_hotfix(project: Project, *, review: Review | None = None, parallelism: int = 4,
                  observer: Observer | None = None,
                  console: AlertHandler | None = None) -> Outcome:
    """Release the hotfix branch checked out, and record which release it fixes."""
    from scalpel_plan.operations.release import Outcome, carry_out
    from scalpel_plan.plan.release import make_plan

    with project.backend.lock("hotfix"):
        state = project.backend.read()
        branch = git.current_branch(project.workspace.repo)
        record = hotfix_on(state, branch)
        if record is None:
            raise ScalpelError(f"{branch or 'HEAD'} is not an unfinished hotfix branch",
                               hint="`scalpel hotfix start --from POINT` makes one; "
                               "`scalpel history` lists them")
        the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                             project.workspace, secrets=project.secrets, for_apply=True)
        if the_plan.release is None:
            raise ScalpelError(f"nothing to release on {branch}: {the_plan.nothing_to_release}",
                               hint="commit the fix (fix: ...) first")
        if review is not None and not review(the_plan):
            return Outcome(the_plan, cancelled=True)
        outcome = carry_out(project, the_plan, state, parallelism=parallelism,
                            observer=observer, console=console)
        if outcome.ok:
            _record(project, project.backend.read(),
                    finished(record, the_plan.release.version))
    return outcome


def _record(project: Project, state: State, record: HotfixRecord) -> None:
    """Journal the hotfix and write it into the state."""
    from scalpel_plan.state.checkpoint import Checkpointer, operation_id
    from scalpel_plan.state.events import EventKind

    checkpoint = Checkpointer(project.backend, state, operation_id("hotfix"))
    checkpoint.record(EventKind.HOTFIX, record=record.model_dump(mode="json"))
    checkpoint.close()
