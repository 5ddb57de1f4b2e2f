"""apply: carry a Plan out, walking the graph in dependency order, independent nodes in parallel.

Every step is journaled (pending before, done or failed after) and checkpointed into the
state. A failed step skips what depends on it; steps already running finish. Events go out
to an observer (the UI) as they happen.

Interrupts are handled as Terraform does: during the walk, the first Ctrl-C (SIGINT) starts
nothing new and lets the running steps finish; a second one (or a SIGTERM) stops the running
commands at once, with their process groups. Either way the walk ends normally, journaled.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal

from scalpel_plan import process
from scalpel_plan.errors import ScalpelError, resource_error
from scalpel_plan.plan.model import Plan, package_parts, package_releases, step_release
from scalpel_plan.providers.base import (
    RELEASE_COMMIT,
    Change,
    Release,
    StepContext,
    resolve,
)
from scalpel_plan.providers.registry import Registry
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.state import StateBackend
from scalpel_plan.state.checkpoint import Checkpointer, operation_id
from scalpel_plan.state.events import EventKind
from scalpel_plan.state.model import (
    ReleaseRecord,
    Resource,
    RollbackPoint,
    RollbackRecord,
    State,
    now,
)
from scalpel_plan.workspace import Workspace

StepStatus = Literal["done", "failed", "skipped", "not started"]
INTERRUPT_POLL_SECONDS = 0.1  # how soon the walk heeds a Ctrl-C while steps run
FIRST_INTERRUPT = ("Interrupt received: stopping after the running steps (press Ctrl-C again "
                   "to stop them now)")
STOP_NOW = "stopping the running steps now"


@dataclass(frozen=True)
class ApplyEvent:
    """What the UI hears: a step started, finished, failed or was skipped."""

    kind: Literal["started", "done", "failed", "skipped", "announce", "interrupt", "output"]
    address: str
    action: str = ""
    duration: float = 0.0
    message: str = ""


Observer = Callable[[ApplyEvent], None]


@dataclass
class ApplyResult:
    apply_id: str
    steps: dict[str, StepStatus] = field(default_factory=dict)
    errors: dict[str, ScalpelError] = field(default_factory=dict)
    announcements: list[tuple[str, str]] = field(default_factory=list)
    state: State | None = None
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.interrupted

    def where(self, status: StepStatus) -> list[str]:
        return [a for a, s in self.steps.items() if s == status]


def apply_plan(plan: Plan, registry: Registry, backend: StateBackend, state: State,
               workspace: Workspace, *, parallelism: int = 4,
               observer: Observer | None = None,
               secrets: SecretsManager | None = None) -> ApplyResult:
    """Carry out ``plan`` (a release or a rollback); the caller holds the state lock and has
    checked the plan is fresh. An interrupt stops the walk (running steps finish; at a second
    one they are stopped) and is returned as ``result.interrupted``, everything recorded."""
    apply_id = operation_id()
    result = ApplyResult(apply_id)
    if not plan.has_changes:
        result.state = state
        return result
    checkpoint = Checkpointer(backend, state, apply_id)
    run = _RollbackRun(plan, workspace, apply_id) if plan.rollback else \
        _ReleaseRun(plan, workspace, apply_id, state)
    checkpoint.note(EventKind.APPLY_STARTED, apply_id=apply_id, mode=plan.mode,
                    version=run.release.version, parallelism=parallelism,
                    nodes=len(plan.changes),
                    needs={c.address: c.needs for c in plan.changes if c.actionable})
    # Interrupts are counted, not raised, from the first step to the last journal line: one
    # that comes as the release finishes cannot cut its record short.
    with _Interrupts() as interrupts:
        try:
            run.begin(checkpoint)
            try:
                _Walk(plan, registry, checkpoint, run.release, parallelism,
                      observer or _ignore, result, secrets or SecretsManager({}),
                      interrupts).run()
            except KeyboardInterrupt:
                result.interrupted = True
            run.finish(checkpoint, result, registry)
            checkpoint.note(EventKind.APPLY_FINISHED,
                            status="succeeded" if result.ok else "failed",
                            done=len(result.where("done")), failed=len(result.where("failed")),
                            skipped=len(result.where("skipped")))
        except BaseException:  # the journal refused (a full disk...): it keeps what it has
            checkpoint.abandon()
            raise
        result.state = checkpoint.close()
    return result


class _ReleaseRun:
    """A release: recorded as it starts; once it succeeds, a rollback point."""

    def __init__(self, plan: Plan, workspace: Workspace, apply_id: str, state: State) -> None:
        summary = plan.release
        assert summary is not None
        self.release = step_release(summary, workspace)
        self.record = ReleaseRecord(version=summary.version, previous=summary.previous,
                                    tag=summary.tag, commit=summary.commit, apply_id=apply_id,
                                    packages=package_parts(summary))
        if (known := state.release(summary.version)) is not None:  # an attempt after others
            self.record = self.record.model_copy(update={
                "started_at": known.started_at,
                "attempts": [a for a in known.runs if a != apply_id] + [apply_id]})
        else:
            self.record = self.record.model_copy(update={"attempts": [apply_id]})

    def begin(self, checkpoint: Checkpointer) -> None:
        checkpoint.record(EventKind.RELEASE, record=self.record.model_dump(mode="json"))

    def finish(self, checkpoint: Checkpointer, result: ApplyResult, registry: Registry) -> None:
        status = "succeeded" if result.ok else "failed"
        finished = self.record.model_copy(update={"status": status, "finished_at": now(),
                                                  "commit": self._tagged(checkpoint.state)})
        checkpoint.record(EventKind.RELEASE, record=finished.model_dump(mode="json"))
        if result.ok:
            kept = {a: r.attributes for a, r in checkpoint.state.resources.items()
                    if _keeps_history(registry, r.provider)}
            point = RollbackPoint(name=self.record.tag or self.record.version,
                                  version=self.record.version, commit=finished.commit,
                                  resources=kept, packages=self.record.packages)
            checkpoint.record(EventKind.ROLLBACK_POINT, point=point.model_dump(mode="json"))

    def _tagged(self, state: State) -> str:
        """The release's commit: the one its tag points at (the release commit when there is
        one), as this or an earlier apply recorded it; HEAD at plan time until then."""
        version = self.record.version
        for resource in state.resources.values():
            if resource.release == version and resource.provider == "git" and \
                    resource.attributes.get("tag") == self.record.tag and \
                    isinstance(resource.attributes.get("commit"), str):
                return str(resource.attributes["commit"])
        made = state.recorded(RELEASE_COMMIT)
        if made and made.get("release") == version and isinstance(made.get("sha"), str):
            return str(made["sha"])
        return self.record.commit


class _RollbackRun:
    """A rollback: recorded as it starts; once it succeeds, the point is live again."""

    def __init__(self, plan: Plan, workspace: Workspace, apply_id: str) -> None:
        summary = plan.rollback
        assert summary is not None
        self.release = step_release(summary, workspace)
        self.record = RollbackRecord(id=apply_id, from_version=summary.from_version,
                                     to_version=summary.to_version, point=summary.point,
                                     package=summary.package)

    def begin(self, checkpoint: Checkpointer) -> None:
        checkpoint.record(EventKind.ROLLBACK, record=self.record.model_dump(mode="json"))

    def finish(self, checkpoint: Checkpointer, result: ApplyResult, registry: Registry) -> None:
        status = "succeeded" if result.ok else "failed"
        finished = self.record.model_copy(update={"status": status, "finished_at": now()})
        checkpoint.record(EventKind.ROLLBACK, record=finished.model_dump(mode="json"))


def _keeps_history(registry: Registry, provider: str) -> bool:
    found = registry.find(provider)
    return found.keeps_history if found else True


def _ignore(event: ApplyEvent) -> None:
    """The observer when nobody listens."""


class _Walk:
    """One walk over the plan's graph with a bounded pool of workers."""

    def __init__(self, plan: Plan, registry: Registry, checkpoint: Checkpointer,
                 release: Release, parallelism: int, emit: Observer,
                 result: ApplyResult, secrets: SecretsManager, interrupts: _Interrupts) -> None:
        self.secrets = secrets
        self.interrupts = interrupts
        self.changes = {c.address: c for c in plan.changes}
        self.registry = registry
        self.checkpoint = checkpoint
        self.release = release
        # a monorepo package's nodes run with its own release (version, tag)
        self.own = package_releases(plan.release, release) if plan.release else {}
        self.parallelism = max(1, parallelism)
        self.emit = emit
        self.result = result
        self.waiting = {a: set(c.needs) for a, c in self.changes.items()}
        self.dependents: dict[str, list[str]] = {a: [] for a in self.changes}
        for address, change in self.changes.items():
            for need in change.needs:
                self.dependents[need].append(address)
        self.phase_deadline: dict[str, float] = {}
        self.confirmed: bool | None = None  # the check before the first irreversible step
        self._interrupts = 0  # heeded so far
        self.halted = False  # a state write failed: nothing new starts
        self.log_dir = release.workdir / "logs" / release.version

    def run(self) -> None:
        ready = deque(a for a, needs in self.waiting.items() if not needs)
        running: dict[Future[_Done], tuple[str, float]] = {}
        interrupts = self.interrupts
        with ThreadPoolExecutor(self.parallelism, thread_name_prefix="scalpel-step") as pool:
            try:
                while running or (ready and not self._stopping()):
                    while ready and not self._stopping() and len(running) < self.parallelism:
                        address = ready.popleft()
                        change = self.changes[address]
                        if address in self.result.steps:  # failed or skipped meanwhile
                            continue
                        if not change.actionable:
                            ready += self._finish(address, "done")
                            continue
                        if self._publishes(change) and not self._confirm(address):
                            continue
                        started = time.monotonic()
                        running[self._start(pool, change, started)] = (address, started)
                    if not running:
                        continue
                    finished, _ = wait(running, interrupts.poll, return_when=FIRST_COMPLETED)
                    for future in finished:
                        address, started = running.pop(future)
                        ready += self._settle(address, future, time.monotonic() - started)
                    self._heed(interrupts.count)
            except KeyboardInterrupt:
                for future in running:  # steps already running finish; nothing new starts
                    future.cancel()
                wait(running)
                for future, (address, started) in running.items():
                    if not future.cancelled():
                        self._settle(address, future, time.monotonic() - started)
                raise
            finally:
                process.resume_running()
                for address in self.changes:
                    self.result.steps.setdefault(address, "not started")
        if interrupts.count and set(self.result.steps.values()) != {"done"}:
            self._heed(interrupts.count)  # (one that came as the last step finished)
            self.result.interrupted = True
        if self.halted:
            self.result.interrupted = True  # recorded as stopped; apply_plan's caller is told

    def _stopping(self) -> bool:
        """Whether to start nothing new: an interrupt, or a state the backend cannot take
        (said once; the running steps finish, journaled)."""
        unsaved = self.checkpoint.unsaved
        if unsaved is not None and not self.halted:
            self.halted = True
            self.emit(ApplyEvent("interrupt", "", message=(
                f"{self.checkpoint.backend.describe()} cannot be written: stopping after the "
                "running steps (what they do is journaled here)")))
        return bool(self.interrupts.count) or self.halted

    def _heed(self, count: int) -> None:
        """Say and journal each new interrupt; at the second, stop the running commands (two
        at once, as a SIGTERM counts, say only the second)."""
        while self._interrupts < min(count, 2):
            again = self._interrupts == 1
            self._interrupts = 2 if count >= 2 else self._interrupts + 1
            now_ = self._interrupts >= 2
            self.checkpoint.note(EventKind.APPLY_INTERRUPTED,
                                 stopping="running steps" if now_ else "after running steps")
            message = FIRST_INTERRUPT if not now_ else \
                f"Interrupt received{' again' if again else ''}: {STOP_NOW}"
            self.emit(ApplyEvent("interrupt", "", message=message))
            if now_:
                process.stop_running()

    def _publishes(self, change: Change) -> bool:
        return self.registry.get(change.provider).publishes

    def _confirm(self, starting: str) -> bool:
        """Once, before the first irreversible step: every publishing change still to do
        confirms that what it would publish is as planned. Any that cannot fails, and
        ``starting`` and everything that needs it are skipped: nothing irreversible is done."""
        if self.confirmed is None:
            problems: dict[str, ScalpelError] = {}
            for address, change in self.changes.items():
                if change.actionable and address not in self.result.steps and \
                        self._publishes(change):
                    try:
                        self.registry.get(change.provider).confirm(
                            self._resolved(change), self.own.get(address, self.release))
                    except ScalpelError as problem:
                        problems[address] = problem
            for address, error in problems.items():
                self._fail(address, self.changes[address], error, 0.0)
            self.confirmed = not problems
        if not self.confirmed and starting not in self.result.steps:
            self._skip(starting, "a check before the first irreversible step failed")
        return self.confirmed

    def _start(self, pool: ThreadPoolExecutor, change: Change, started: float) -> Future[_Done]:
        self.checkpoint.note(EventKind.STEP_PENDING, address=change.address, action=change.action)
        self.emit(ApplyEvent("started", change.address, change.action))
        ctx = StepContext(release=self.own.get(change.address, self.release),
                          timeout=self._timeout(change),
                          announce=self._announce, log_dir=self.log_dir, secrets=self.secrets,
                          record=lambda attributes: self._progress(change, attributes),
                          output=lambda text: self.emit(ApplyEvent("output", change.address,
                                                                   message=text)))
        return pool.submit(self._apply, change, ctx, started)

    def _apply(self, change: Change, ctx: StepContext, started: float) -> _Done:
        """In a worker: fill in what earlier steps made known (``${git.commit.sha}``), apply,
        and journal the step done (steps finishing together share the fsync, and the walk's
        thread only hears of it once it is on disk)."""
        resolved = change.model_copy(update={"after": resolve(change.after, self._recorded)})
        recorded = self.registry.get(change.provider).apply(resolved, ctx)
        duration = time.monotonic() - started
        resource = None
        if change.action != "delete":
            resource = Resource(address=change.address, provider=change.provider,
                                release=self.release.version, attributes=recorded)
        try:
            self.checkpoint.record(EventKind.STEP_DONE, address=change.address,
                                   action=change.action, duration=round(duration, 3),
                                   resource=resource.model_dump(mode="json") if resource else None)
        except Exception as refused:  # the journal cannot be written: the walk raises it
            return _Done(duration, refused)
        return _Done(duration)

    def _resolved(self, change: Change) -> Change:
        """``change`` with what earlier steps recorded filled in, as far as it is known."""
        try:
            return change.model_copy(update={"after": resolve(change.after, self._recorded)})
        except ScalpelError:
            return change

    def _recorded(self, address: str) -> dict[str, Any] | None:
        return self.checkpoint.state.recorded(address)

    def _timeout(self, change: Change) -> float | None:
        """The node's own timeout, cut to what is left of its phase's time budget."""
        now_ = time.monotonic()
        if change.phase and change.phase not in self.phase_deadline and \
                change.address == f"stage.{change.phase}" and change.after.get("timeout"):
            self.phase_deadline[change.phase] = now_ + float(change.after["timeout"])
        limits = [t for t in (change.timeout,) if t]
        if change.phase in self.phase_deadline:
            limits.append(max(0.001, self.phase_deadline[change.phase] - now_))
        return min(limits) if limits else None

    def _progress(self, change: Change, attributes: dict[str, Any]) -> None:
        """A step's progress, recorded in the state before the step finishes."""
        resource = Resource(address=change.address, provider=change.provider,
                            release=self.release.version, attributes=attributes)
        self.checkpoint.record(EventKind.STEP_PROGRESS, address=change.address,
                               resource=resource.model_dump(mode="json"))

    def _announce(self, address: str, text: str) -> None:
        self.result.announcements.append((address, text))
        self.emit(ApplyEvent("announce", address, message=text))

    def _settle(self, address: str, future: Future[_Done],
                duration: float) -> list[str]:
        change = self.changes[address]
        try:
            done = future.result()
        except ScalpelError as exc:
            return self._fail(address, change, exc, duration)
        except OSError as exc:  # a full disk, a read-only folder: said as such
            if (refused := resource_error(exc)) is None:
                refused = ScalpelError(f"{address}: {type(exc).__name__}: {exc}")
            return self._fail(address, change, refused, duration)
        except Exception as exc:  # a provider bug must not lose what was recorded so far
            return self._fail(address, change, ScalpelError(f"{address}: {type(exc).__name__}: "
                                                            f"{exc}"), duration)
        if done.refused is not None:
            raise done.refused
        self.emit(ApplyEvent("done", address, change.action, done.duration))
        return self._finish(address, "done")

    def _fail(self, address: str, change: Change, exc: ScalpelError,
              duration: float) -> list[str]:
        """Record a failed step; its words pass through the secrets mask first (a provider's
        bug or a command's log tail may quote a value)."""
        mask = self.secrets.mask
        exc = ScalpelError(mask(exc.message), hint=mask(exc.hint) if exc.hint else None)
        self.result.errors[address] = exc
        self.checkpoint.note(EventKind.STEP_FAILED, address=address, action=change.action,
                             duration=round(duration, 3), error=exc.message, hint=exc.hint)
        self.emit(ApplyEvent("failed", address, change.action, duration, exc.message))
        self.result.steps[address] = "failed"
        self._skip_dependents(address)
        return []

    def _skip_dependents(self, address: str) -> None:
        what = "failed" if self.result.steps.get(address) == "failed" else "was skipped"
        for dependent in self.dependents[address]:
            if dependent not in self.result.steps:
                self._skip(dependent, f"needs {address}, which {what}", because=address)

    def _skip(self, address: str, why: str, *, because: str | None = None) -> None:
        """Skip ``address`` and, transitively, what needs it."""
        self.result.steps[address] = "skipped"
        self.checkpoint.note(EventKind.STEP_SKIPPED, address=address, because=because or why)
        self.emit(ApplyEvent("skipped", address, self.changes[address].action, message=why))
        self._skip_dependents(address)

    def _finish(self, address: str, status: StepStatus) -> list[str]:
        """Mark ``address`` finished; return the dependents that are now ready."""
        self.result.steps[address] = status
        ready = []
        for dependent in self.dependents[address]:
            self.waiting[dependent].discard(address)
            if not self.waiting[dependent] and dependent not in self.result.steps:
                ready.append(dependent)
        return ready


@dataclass(frozen=True)
class _Done:
    """A step a worker carried out: how long it took, and the error that kept it out of the
    journal (a full disk), if any."""

    duration: float
    refused: Exception | None = None


class _Interrupts:
    """While the walk runs (in the main thread): SIGINT and SIGTERM are counted instead of
    raised, so that nothing is cut short in the middle of a journal line; a SIGTERM counts as
    two (a service manager stopping Scalpel waits for nobody). The old handlers come back at
    the end. Elsewhere (another thread, SIGINT ignored) nothing changes."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.count = 0
        self.poll: float | None = None  # how long the walk may wait before looking
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._received)
            self.poll = INTERRUPT_POLL_SECONDS if self._previous else None
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _received(self, signum: int, frame: FrameType | None) -> None:
        self.count += 2 if signum == signal.SIGTERM else 1
