"""Moving the state to another backend: ``scalpel state migrate --to URL``.

Everything is copied through the backend protocol, so it works between any two backends the
factory opens: the state (its serial and lineage kept), the metrics, the documents kept beside
it (incident reports, the alert history) and the journals. Both locks are held throughout.

The state is written last: until it is there the destination holds no state (at most some of
the metrics and documents copied before it), and running migrate again completes the copy
(what is already there is not copied twice). Each backend's own write is atomic. The copy is
then read back through a fresh instance of the destination (as another clone would read it)
and compared. The source is left as it was.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalpel_plan import git, masking
from scalpel_plan.errors import StateError
from scalpel_plan.observe.alerts import HISTORY_FILE
from scalpel_plan.observe.incidents import FOLDER as INCIDENTS
from scalpel_plan.operations.project import open_records
from scalpel_plan.state import StateBackend
from scalpel_plan.state.choice import open_url
from scalpel_plan.state.journal import Event
from scalpel_plan.state.model import State
from scalpel_plan.workspace import STATE_FOLDER

LOCAL = "local"  # the one backend whose place is the project's .scalpel folder itself


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` copied, and where from and to."""

    source: str
    destination: str
    serial: int
    lineage: str
    releases: int
    rollback_points: int
    metrics: int  # metric records added to the destination
    records: list[str]  # documents written (names)
    journals: int  # journals the source holds
    journals_kept: int  # of those, what the destination gives back (the git backend keeps
    # the last few: the others are folded into the state)
    replaced: str | None = None  # the lineage of another state --force replaced
    already: bool = False  # the destination held this very copy already


def shown(url: str) -> str:
    """``url`` as it may be printed: a password in it replaced by ***."""
    from scalpel_plan.state.postgres_url import masked_url

    return masked_url(url)


def _password(url: str) -> str | None:
    from scalpel_plan.state.postgres_url import url_password

    return url_password(url)


def migrate(spec_path: Path, url: str, *, force: bool = False, lock_timeout: float = 0.0,
            on_secret: Callable[[str], None] | None = None) -> Migration:
    """Copy the state in use now (``SCALPEL_STATE`` or release.yml's ``state:``) to the
    backend ``url`` names, verify it, and say what was copied."""
    password = _password(url)
    if password:
        masking.register(password)  # never printed, whatever fails
    records = open_records(spec_path, on_secret=on_secret)
    source, key = records.backend, records.state_key
    root = spec_path.resolve().parent
    repo, folder = git.find_root(root), root / STATE_FOLDER
    with ExitStack() as stack:
        scratch = stack.enter_context(_scratch())
        # a shared backend keeps its local copies (journals) apart from the source's
        dest = open_url(url, repo, folder if url.strip() == LOCAL else scratch("write"),
                        project=key)
        if dest.describe() == source.describe():
            raise StateError(f"the state is already in {dest.describe()}",
                             hint="name another backend with --to (local, git+REMOTE, ...)")
        stack.enter_context(source.lock("migrate", lock_timeout))
        stack.enter_context(dest.lock("migrate", lock_timeout))
        state = source.read()
        if not state.lineage:
            raise StateError(f"{source.describe()} holds no state to migrate",
                             hint="a first `scalpel apply` (or `scalpel state import`) records one")
        there = dest.read()
        replaced = _refusal(source, dest, state, there, force)
        already = there == state
        metrics = source.read_metrics()
        runs = _runs(state, metrics)
        written = _copy_records(source, dest, runs)
        journals = _copy_journals(source, dest, runs)
        added = _copy_metrics(metrics, dest)
        if not already:
            dest.write(state)
        check = dest if url.strip() == LOCAL else open_url(url, repo, scratch("read"),
                                                           project=key)
        kept = _verify(source, check, state, metrics, runs, journals)
        return Migration(source.describe(), dest.describe(), state.serial, state.lineage,
                         len(state.releases), len(state.rollback_points), added, written,
                         len(journals), kept, replaced, already and not written and not added)
    raise AssertionError("unreachable")  # for mypy: ExitStack may swallow exceptions


@contextmanager
def _scratch() -> Iterator[Callable[[str], Path]]:
    """Folders, removed afterwards, for a shared destination's local copies."""
    with tempfile.TemporaryDirectory(prefix="scalpel-migrate-") as tmp:
        def folder(name: str) -> Path:
            path = Path(tmp) / name
            path.mkdir(exist_ok=True)
            return path
        yield folder


def _refusal(source: StateBackend, dest: StateBackend, state: State, there: State,
             force: bool) -> str | None:
    """None when the copy may go ahead; with --force, the lineage of the state it replaces.
    Refused: a destination holding another state, or a newer copy of this one."""
    if not there.lineage and not there.releases:
        return None
    what = (f"serial {there.serial}, {len(there.releases)} release"
            f"{'s' * (len(there.releases) != 1)}")
    if there.lineage != state.lineage:
        if force:
            return there.lineage
        raise StateError(
            f"{dest.describe()} already holds another state (lineage {there.lineage or '-'}, "
            f"{what}); {source.describe()} has lineage {state.lineage}",
            hint="choose another destination, or pass --force to replace that state with this "
            "one (its releases and rollback points are then gone from there)")
    if there.serial > state.serial and not force:
        raise StateError(
            f"{dest.describe()} holds a newer copy of this state ({what}; here serial "
            f"{state.serial})", hint="migrate the other way round, or pass --force to replace "
            "it with this older copy")
    return None


def _runs(state: State, metrics: list[dict[str, Any]]) -> list[str]:
    """Every apply the state or its metrics name, oldest first: their journals and incident
    reports are what is copied besides the state."""
    found = sorted([(r.started_at, r.apply_id) for r in state.releases if r.apply_id]
                   + [(r.started_at, r.id) for r in state.rollbacks])
    runs = [run for _started, run in found]
    if state.active_apply:
        runs.append(state.active_apply.id)
    runs += [str(m["run"]) for m in metrics if isinstance(m.get("run"), str)]
    return list(dict.fromkeys(runs))


def _record_names(runs: list[str]) -> list[str]:
    return [HISTORY_FILE, *(f"{INCIDENTS}/{run}.md" for run in runs)]


def _copy_records(source: StateBackend, dest: StateBackend, runs: list[str]) -> list[str]:
    written = []
    for name in _record_names(runs):
        data = source.read_record(name)
        if data is not None and dest.read_record(name) != data:
            dest.write_record(name, data)
            written.append(name)
    return written


def _copy_journals(source: StateBackend, dest: StateBackend,
                   runs: list[str]) -> dict[str, list[Event]]:
    """The journals the source holds (by apply), each written where the destination has less."""
    journals = {}
    for run in runs:
        events = source.read_journal(run)
        if not events:
            continue
        journals[run] = events
        have = dest.read_journal(run)
        if have == events:
            continue
        if have != events[:len(have)]:
            raise StateError(f"the journal {run} in {dest.describe()} differs from the one in "
                             f"{source.describe()}", hint="it is another apply's: nothing was "
                             "overwritten; move it away there, then migrate again")
        journal = dest.open_journal(run)
        try:
            journal.copy(events[len(have):])
        finally:
            journal.close()
    return journals


def _key(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)


def _copy_metrics(metrics: list[dict[str, Any]], dest: StateBackend) -> int:
    """The source's metric records the destination lacks, appended in their order."""
    there = dest.read_metrics()
    if there == metrics[:len(there)]:  # empty, or an earlier copy cut short: the rest
        missing = metrics[len(there):]
        if missing:
            dest.append_metrics(missing)
        return len(missing)
    have = Counter(_key(m) for m in there)
    missing = []
    for record in metrics:
        key = _key(record)
        if have[key]:
            have[key] -= 1
        else:
            missing.append(record)
    if missing:
        dest.append_metrics(missing)
    return len(missing)


def _verify(source: StateBackend, check: StateBackend, state: State,
            metrics: list[dict[str, Any]], runs: list[str],
            journals: dict[str, list[Event]]) -> int:
    """The destination, read back, holds what was copied; how many journals it keeps."""
    problems = []
    if check.read() != state:
        problems.append("the state")
    back = check.read_metrics()
    if back != metrics and Counter(_key(m) for m in metrics) - Counter(_key(m) for m in back):
        problems.append("the metrics")
    problems += [name for name in _record_names(runs)
                 if (data := source.read_record(name)) is not None
                 and check.read_record(name) != data]
    kept = 0
    for run, events in journals.items():
        back = check.read_journal(run)
        kept += back == events
        active = state.active_apply and state.active_apply.id == run
        if back != events and (back or active):
            problems.append(f"the journal {run}")
    if problems:
        raise StateError(f"read back from {check.describe()}, the copy differs from "
                         f"{source.describe()} in {', '.join(problems)}",
                         hint="nothing was removed from the source; run the migration again")
    return kept


def switch_hint(url: str) -> str:
    """How to make ``url`` the backend every command uses, once the state is there."""
    value = url.strip()
    if value == LOCAL:
        return ("To use it: remove `state:` from release.yml (or write `state: {backend: "
                "local}`), and unset SCALPEL_STATE.")
    if value == "git" or value.startswith("git+"):
        remote = value[4:] or "origin"
        return (f"To use it: write `state: {{backend: git, remote: {remote}}}` in release.yml "
                f"(every clone and CI job then reads it there), or set SCALPEL_STATE=git+{remote}.")
    return (f"To use it: set SCALPEL_STATE={shown(url)} wherever scalpel runs (or name the "
            "backend in release.yml's `state:`).")
