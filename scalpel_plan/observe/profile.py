"""The build profiler: from an apply's journal, when each node started and ended, how long it
waited for what it needs, the critical path through the graph (the bottleneck), and how much of
the parallelism was used. ``--compare`` flags stages that got slower than a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scalpel_plan.errors import ScalpelError
from scalpel_plan.state import StateBackend
from scalpel_plan.state.journal import Event
from scalpel_plan.state.model import State
from scalpel_plan.state.runs import runs
from scalpel_plan.state.timeline import Timeline, seconds, timeline

REGRESSION = 0.2  # slower by more than this fraction...
NOISE_FLOOR = 0.05  # ...and by more than this many seconds: a regression


@dataclass(frozen=True)
class BuildStage:
    """One node of one apply, in seconds from the apply's start."""

    address: str
    start: float
    end: float
    wait: float  # from when everything it needs had finished to when it started
    status: str  # done | failed
    needs: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class StageChange:
    address: str
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        if not self.before or self.after is None:
            return None
        return (self.after - self.before) / self.before

    def regressed(self, threshold: float = REGRESSION) -> bool:
        change = self.change
        return change is not None and change > threshold and \
            (self.after or 0) - (self.before or 0) > NOISE_FLOOR


@dataclass
class BuildProfiler:
    """The profile of one apply (``from_journal``), newest journal format."""

    apply_id: str
    version: str
    wall: float
    stages: list[BuildStage] = field(default_factory=list)
    status: str = ""  # how the apply ended: succeeded | failed | unfinished

    @classmethod
    def from_journal(cls, events: list[Event]) -> BuildProfiler:
        return cls.from_timeline(timeline(events))

    @classmethod
    def from_timeline(cls, run: Timeline) -> BuildProfiler:
        if run.started is None:
            return cls("", "", 0.0)
        origin = seconds(run.started)
        last = max(origin, seconds(run.last)) if run.last else origin
        return cls(run.apply_id, run.version, last - origin, _stages(run, origin), run.status)

    @classmethod
    def merged(cls, attempts: list[BuildProfiler]) -> BuildProfiler:
        """One release's applies as one profile, as the metrics count them: each stage's time
        the sum of its runs in every apply (a stage that failed, then passed, took both), the
        wall time the sum of the applies' (so the parallelism is their average)."""
        stages: dict[str, BuildStage] = {}
        for attempt in attempts:
            for s in attempt.stages:
                if (seen := stages.get(s.address)) is None:
                    stages[s.address] = s
                else:
                    stages[s.address] = BuildStage(
                        s.address, seen.start, seen.start + seen.duration + s.duration,
                        seen.wait + s.wait, s.status, s.needs)
        last = attempts[-1] if attempts else cls("", "", 0.0)
        return cls(last.apply_id, last.version, sum(a.wall for a in attempts),
                   sorted(stages.values(), key=lambda s: (s.start, s.address)), last.status)

    @property
    def busy(self) -> float:
        """Seconds of work done, summed over every node."""
        return sum(s.duration for s in self.stages)

    @property
    def parallelism(self) -> float:
        """How many nodes ran at once on average (busy time over wall time)."""
        return self.busy / self.wall if self.wall > 0 else 0.0

    def critical_path(self) -> list[BuildStage]:
        """The chain of needs whose durations add up the longest: what bounds the wall
        time however wide the parallelism."""
        by_address = {s.address: s for s in self.stages}
        longest: dict[str, tuple[float, str | None]] = {}
        for stage in sorted(self.stages, key=lambda s: s.end):  # a need ends before its user
            best = max(((longest[n][0], n) for n in stage.needs if n in longest),
                       default=(0.0, None))
            longest[stage.address] = (best[0] + stage.duration, best[1])
        if not longest:
            return []
        address: str | None = max(longest, key=lambda a: longest[a][0])
        path = []
        while address is not None:
            path.append(by_address[address])
            address = longest[address][1]
        return path[::-1]

    def compare(self, other: BuildProfiler) -> list[StageChange]:
        """Per stage: this profile's duration (before) against ``other``'s (after)."""
        mine = {s.address: s.duration for s in self.stages}
        theirs = {s.address: s.duration for s in other.stages}
        return [StageChange(a, mine.get(a), theirs.get(a))
                for a in sorted(set(mine) | set(theirs))]


def _stages(run: Timeline, origin: float) -> list[BuildStage]:
    """The steps that started and ended, in seconds from ``origin``, by start."""
    stages: list[BuildStage] = []
    ends: dict[str, float] = {}
    for step in run.settled():
        if step.started is None or step.finished is None:
            continue
        start = seconds(step.started) - origin
        end = start + (step.duration or (seconds(step.finished) - origin - start))
        ends[step.address] = end
        needs = run.needs.get(step.address, ())
        ready = max((ends.get(n, 0.0) for n in needs), default=0.0)
        stages.append(BuildStage(step.address, start, end, max(0.0, start - ready),
                                 step.status, needs))
    return sorted(stages, key=lambda s: (s.start, s.address))


def profiles(backend: StateBackend, state: State, version: str | None) -> list[BuildProfiler]:
    """The profiles of ``version``'s applies, oldest first (of the last release or rollback
    that ran a step, when ``version`` is None). An error when there is none."""
    if version is not None:
        record = state.release(version)
        if record is None or not record.runs:
            known = ", ".join(r.version for r in state.releases[-10:]) or "none yet"
            raise ScalpelError(f"no release {version} in the state", hint=f"releases: {known}")
        if not (found := _kept(backend, record.runs)):
            raise ScalpelError(f"the journal of release {version} is no longer kept, so it "
                               "has no profile", hint="the state keeps the journals of the "
                               "last few applies; `scalpel metrics` still has its times")
        return found
    for run in reversed(runs(state)):
        found = _kept(backend, list(run.applies))
        if any(p.stages for p in found):
            return found
    raise ScalpelError("no apply has run a step yet: there is nothing to profile",
                       hint="run `scalpel apply`, then `scalpel profile`")


def _kept(backend: StateBackend, applies: list[str]) -> list[BuildProfiler]:
    """The profiles of those of ``applies`` whose journal is still kept (a shared backend
    keeps the last few), oldest first."""
    found = [BuildProfiler.from_journal(backend.read_journal(a)) for a in applies]
    return [p for p in found if p.apply_id]
