"""The git state backend: the state in the repository's own remote, under ``refs/scalpel/*``.

``refs/scalpel/state`` is a parentless commit whose tree holds ``state.json``, ``metrics.jsonl``,
the journal of an apply under way and of the last few finished ones (``journal/``), and the
documents kept beside the state (``records/``). ``refs/scalpel/lock`` exists only while an
operation holds the lock; its ``lock.json`` says who.

Reading is one fetch of those refs. Every write is a compare-and-swap: a push naming the object
id the writer read (``--force-with-lease``), which the receiving side checks under its ref
lock; a lost race re-reads, says who wrote, and overwrites nothing. The lock is a push that
expects the ref absent. The journal is written locally first (fsync'd, as with the local
backend) and travels with the next snapshot; once an apply ends it is folded into the state
and only the last few journals are kept, so the ref stays small.

A state write the remote does not take (the network is down, the server refuses for a while)
is tried again, with a line on stderr each time, for ``SCALPEL_STATE_RETRY`` seconds (60 by
default), as Terraform's remote backends retry; what was applied stays in the local journal
meanwhile, and goes out with the next write that gets through. A lock left by a process of
this host that is gone (a ``kill -9``) is taken over, with a line saying so; one left by
another host is named, for ``scalpel state unlock``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalpel_plan import git
from scalpel_plan.errors import GitError, LockHeldError, StateError
from scalpel_plan.files import quiet_gc
from scalpel_plan.masking import mask
from scalpel_plan.state import format as state_format
from scalpel_plan.state.journal import Event, Journal, read_journal
from scalpel_plan.state.local import LocalBackend, metrics_lines
from scalpel_plan.state.lock import LockInfo, new_holder
from scalpel_plan.state.model import State
from scalpel_plan.state.overview import INDEX_NAME, Overview, indexed

DAMAGED = "it was written by hand or damaged"
STATE_REF = "refs/scalpel/state"
LOCK_REF = "refs/scalpel/lock"
KEEP_JOURNALS = 3  # finished applies whose journal stays in the ref (for `scalpel profile`)
POLL_SECONDS = 1.0
APPEND_TRIES = 5  # metrics and records are appends: a lost race is re-read and tried again
RETRY_ENV = "SCALPEL_STATE_RETRY"  # seconds a state write is tried again while the remote fails
RETRY_SECONDS = 60.0
PUSH_TIMEOUT = 120.0  # one push that hangs (a dropped network) counts as a failed try


class GitBackend:
    """State in ``remote``'s ``refs/scalpel/*``; ``folder`` keeps this run's journal on disk."""

    snapshot_interval = 0.0  # every change reaches the remote: a CI runner's disk is not kept

    def __init__(self, repo: Path, remote: str, folder: Path) -> None:
        self.repo = repo
        self.remote = remote
        self.folder = folder
        self.local = LocalBackend(folder)  # the journal's local copy and the records' copies
        self.mirror = f"refs/scalpel-remote/{remote}"
        self._seen: str | None = None  # the state commit last read (the expected value)
        self._read_once = False
        self._operation = "write"
        self._journaling: str | None = None  # the apply whose journal this run writes
        self._resumed: str | None = None  # an unfinished apply's journal this run folded

    def describe(self) -> str:
        return f"{STATE_REF} on {self.remote}"

    # reading -----------------------------------------------------------------------------
    def _fetch(self) -> None:
        try:
            git.fetch_refs(self.repo, self.remote, "refs/scalpel/*", f"{self.mirror}/*")
        except GitError as exc:
            raise StateError(f"cannot read the state from {self.remote}: {exc}",
                             hint=f"check that `git fetch {self.remote}` works from here") from None

    def _remote_state(self) -> str | None:
        """The state commit on the remote now (one fetch)."""
        self._fetch()
        return git.ref_oid(self.repo, f"{self.mirror}/state")

    def read(self) -> State:
        """The latest state on the remote, with an unfinished apply's journal folded in; the
        commit read is what the next write expects to replace."""
        self._seen = self._remote_state()
        self._read_once = True
        return self._loaded(self._file("state.json"))

    def read_overview(self, points: bool = True, every_release: bool = True) -> Overview:
        """What `status` and `history` show of the latest state (``state.overview``), from
        the local index when it was made from this state.json; one fetch, as ``read``."""
        self._seen = self._remote_state()
        self._read_once = True
        text = self._file("state.json")
        return indexed(None if text is None else text.encode(), self.folder / INDEX_NAME,
                       lambda data: self._loaded(data.decode()), points, every_release)

    def _loaded(self, text: str | None) -> State:
        state = self._snapshot(text)
        if state.active_apply:
            journal = state.active_apply.journal
            self._resumed = Path(journal).stem  # its local lines go out with the next write
            state = state_format.folded(
                state, self.read_journal(Path(journal).stem),
                f"the journal {journal} in {self.describe()}",
                "it was damaged; `scalpel state show` shows the state without it")
        return state_format.checked(state, self.describe(), DAMAGED)

    def _snapshot(self, text: str | None) -> State:
        if text is None:
            return State()
        with quiet_gc():
            return state_format.decoded(
                text, f"state.json in {self.describe()} ({self._seen})",
                f"it was written by hand or damaged; `git log {self.mirror}/state` shows who "
                "wrote it")

    def _file(self, path: str) -> str | None:
        """``path`` in the state last read (or, before any read, the remote's now)."""
        revision = self._seen if self._read_once else self._remote_state()
        return git.read_blob(self.repo, revision, path) if revision else None

    # writing: compare-and-swap -----------------------------------------------------------
    def write(self, state: State) -> None:
        """Replace the state on the remote, if nobody wrote it since it was read."""
        if not self._read_once:  # nothing read: what is there now is what it replaces
            self._seen, self._read_once = self._remote_state(), True

        active = Path(state.active_apply.journal).stem if state.active_apply else None
        # the apply under way, or the one that just ended; and an unfinished one this run
        # folded in (lines a failed write left only here): every try of this write carries
        # them, and they are done with only once it got through
        carried = {active or self._journaling, self._resumed} - {None}

        def change(files: dict[str, str], base: str | None) -> None:
            files["state.json"] = git.hash_blob(self.repo,
                                                state_format.dump(state).decode())
            self._carry_journals(files, state, active, carried)

        self._commit(change, f"{self._operation}: state serial {state.serial}", append=False)
        self._journaling, self._resumed = active, None

    def _carry_journals(self, files: dict[str, str], state: State, active: str | None,
                        carried: set[str | None]) -> None:
        """The journals ``carried`` (the apply under way, so any clone can fold it), and the
        last KEEP_JOURNALS finished ones; older ones are folded into the state and dropped."""
        for name in carried:
            assert name is not None
            path = self.local.journal_path(name)
            if path.exists():
                files[f"journal/{name}.jsonl"] = git.hash_blob(
                    self.repo, path.read_text(errors="replace"))
        if not any(name.startswith("journal/") for name in files):
            self._bring_journals(files, state)  # a state that arrives without them (migrate)
        journals = sorted(name for name in files if name.startswith("journal/"))
        finished = [name for name in journals if name != f"journal/{active}.jsonl"]
        for name in finished[:-KEEP_JOURNALS]:
            del files[name]

    def _bring_journals(self, files: dict[str, str], state: State) -> None:
        """The local copies of the last KEEP_JOURNALS applies ``state`` records, for a state
        written where it had none (``scalpel state migrate``)."""
        runs = sorted([(r.started_at, r.apply_id) for r in state.releases if r.apply_id]
                      + [(r.started_at, r.id) for r in state.rollbacks])
        for _started, apply_id in runs[-KEEP_JOURNALS:]:
            path = self.local.journal_path(apply_id)
            if path.exists():
                files[f"journal/{apply_id}.jsonl"] = git.hash_blob(
                    self.repo, path.read_text(errors="replace"))

    def _commit(self, change: Callable[[dict[str, str], str | None], None], what: str, *,
                append: bool) -> None:
        """Push a new state commit: ``change`` edits the files of the state last read, or
        for an ``append`` (metrics, records) of the remote's latest, re-read and tried again
        when another writer came first. A state write that lost its race goes on top of the
        remote's latest when that run only appended, and is reported otherwise."""
        for attempt in range(APPEND_TRIES):
            base = self._remote_state() if append or attempt else self._seen
            if not append and attempt and not self._same_state(base):
                break  # another run changed the state itself: never overwritten
            files = git.tree_files(self.repo, base) if base else {}
            change(files, base)
            writer = new_holder(self._operation)
            run = f", CI run {writer.run}" if writer.run else ""
            message = mask(f"scalpel {what}\n\nby {writer.who}@{writer.host} (pid {writer.pid}"
                           f"{run}) for `{writer.operation}` at {writer.since}\n")
            commit = git.commit_tree(self.repo, git.write_tree(self.repo, files), message,
                                     writer.who)
            if self._push_retrying(STATE_REF, commit, base) is None:
                # a state write moves what this run has read; an append only when it was
                # made on that (else the state this run read is stale: its write races)
                if not append or base == self._seen:
                    self._seen = commit
                return
        latest = self._remote_state()
        lines = git.commit_message(self.repo, latest).splitlines() if latest else []
        who = " ".join(line for line in lines[1:] if line).removeprefix("by ") or "someone"
        raise StateError(
            f"{self.describe()} was written by {who} after this run read it; nothing was "
            "overwritten",
            hint="run the command again: it reads the new state first")

    def _same_state(self, latest: str | None) -> bool:
        """Whether ``latest`` holds the state.json this run read: another run only appended
        (metrics, records), so a state write goes on top of it."""
        def state_blob(commit: str | None) -> str | None:
            return git.tree_files(self.repo, commit).get("state.json") if commit else None

        return latest is not None and state_blob(latest) == state_blob(self._seen)

    def _push(self, ref: str, new: str | None, expected: str | None) -> git.RefRace | None:
        try:
            return git.push_ref(self.repo, self.remote, ref, new, expected,
                                timeout=PUSH_TIMEOUT)
        except GitError as exc:
            raise StateError(f"cannot write {ref} to {self.remote}: {exc}",
                             hint=f"check that `git push {self.remote}` works from here; "
                             "what was applied is in the local journal") from None

    def _push_retrying(self, ref: str, new: str, expected: str | None) -> git.RefRace | None:
        """``_push``, tried again with a growing wait while the remote fails (not when it
        refuses a lost race), for ``SCALPEL_STATE_RETRY`` seconds; each wait said on stderr.
        A try that failed after the remote took the push finds the ref at ``new``: done."""
        deadline = time.monotonic() + _retry_seconds()
        wait, tries = 1.0, 0
        while True:
            try:
                race = git.push_ref(self.repo, self.remote, ref, new, expected,
                                    timeout=PUSH_TIMEOUT)
            except GitError as exc:
                failure = str(exc)
            else:
                if race is not None and tries and self._remote_has(ref, new):
                    return None  # an earlier try got through; only its answer was lost
                return race
            tries += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise StateError(
                    f"cannot write the state to {self.remote} ({_tried(tries)}): {failure}",
                    hint=f"what was applied is in the journal under {self.local.journal_dir}; "
                    f"once `git push {self.remote}` works from here, run the command again in "
                    "this clone: it writes that journal first and does nothing twice")
            pause = min(wait, left)
            said = f"cannot write the state to {self.remote}: {failure}" if tries == 1 else \
                f"still cannot write the state to {self.remote}"
            sys.stderr.write(mask(f"Warning: {said}; trying again in {pause:.0f} s (for "
                                  f"{left:.0f} s more; {RETRY_ENV} sets how long); what was "
                                  "applied is in the local journal meanwhile.\n"))
            sys.stderr.flush()
            time.sleep(pause)
            wait = min(wait * 2, 15.0)

    def _remote_has(self, ref: str, oid: str) -> bool:
        try:
            self._fetch()
        except StateError:
            return False
        return git.ref_oid(self.repo, f"{self.mirror}/{ref.removeprefix('refs/scalpel/')}") \
            == oid

    # locking -------------------------------------------------------------------------------
    @contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Create ``refs/scalpel/lock`` only if it is absent, for as long as ``operation``.
        A plan only reads (a job with read-only rights plans too): it takes no lock; a saved
        plan's fingerprint (serial, lineage) refuses it if the state moved since."""
        info = new_holder(operation)
        if operation == "plan":
            yield info
            return
        text = info.model_dump_json()
        tree = git.write_tree(self.repo, {"lock.json": git.hash_blob(self.repo, text)})
        commit = git.commit_tree(self.repo, tree, mask(f"scalpel lock\n\n{text}\n"), info.who)
        deadline = time.monotonic() + timeout
        while self._push(LOCK_REF, commit, None) is not None:
            if self._took_over(commit):
                break
            if time.monotonic() >= deadline:
                holder = self.lock_holder()
                who = holder.describe() if holder else "another run"
                raise LockHeldError(
                    f"the state in {self.describe()} is locked by {who}",
                    hint="wait for it to finish, or retry with --lock-timeout 5m; if its holder "
                    "is gone, `scalpel state unlock LOCK_ID` clears it")
            time.sleep(POLL_SECONDS)
        self._operation = operation
        try:
            yield info
        finally:
            self._operation = "write"
            try:
                self._push(LOCK_REF, None, commit)  # a race here: someone cleared it already
            except StateError:  # never in place of the operation's own outcome
                import sys

                sys.stderr.write(mask(f"Warning: the lock {info.id} on {self.remote} could not "
                                      f"be released; `scalpel state unlock {info.id}` clears "
                                      "it.\n"))

    def _took_over(self, commit: str) -> bool:
        """Replace a lock whose holder was a process of this host that is gone (killed: it
        could not release it), as the local backend's lock goes with its process."""
        found = self._lock_read()
        if found is None or found[1] is None or not _gone(found[1]):
            return False
        if self._push(LOCK_REF, commit, found[0]) is not None:
            return False  # someone else moved it meanwhile: wait as for any holder
        sys.stderr.write(mask(f"Note: took over the lock {found[1].id} on {self.remote}, left "
                              f"by {found[1].describe()}: that process is gone.\n"))
        return True

    def _lock_read(self) -> tuple[str, LockInfo | None] | None:
        self._fetch()  # the state read stays what it was: only a read() moves it
        oid = git.ref_oid(self.repo, f"{self.mirror}/lock")
        if oid is None:
            return None
        text = git.read_blob(self.repo, oid, "lock.json")
        try:
            return oid, LockInfo.model_validate_json(text or "")
        except ValueError:
            return oid, None

    def lock_holder(self) -> LockInfo | None:
        found = self._lock_read()
        if found is None:
            return None
        oid, info = found
        return info or LockInfo(id=oid, who="unknown", host="unknown", pid=0,
                                operation="unknown", since="unknown")

    def unlock(self, lock_id: str) -> LockInfo:
        """Clear a lock whose holder is gone (refused while it runs on this host)."""
        found = self._lock_read()
        info = None
        if found is not None:
            info = found[1] or LockInfo(id=found[0], who="unknown", host="unknown", pid=0,
                                        operation="unknown", since="unknown")
        if found is None or info is None or info.id != lock_id:
            raise StateError(f"no lock with ID {lock_id} in {self.describe()}",
                             hint="`scalpel state lock` shows the current holder, if any")
        if info.host == socket.gethostname() and info.pid and _alive(info.pid):
            raise StateError(f"lock {lock_id} is held by a running process: {info.describe()}",
                             hint="stop that process first; its lock is released when it ends")
        if self._push(LOCK_REF, None, found[0]) is not None:
            raise StateError(f"lock {lock_id} changed while it was being cleared",
                             hint="`scalpel state lock` shows the current holder")
        return info

    # the journal -----------------------------------------------------------------------------
    def open_journal(self, apply_id: str) -> Journal:
        return self.local.open_journal(apply_id)

    def read_journal(self, apply_id: str) -> list[Event]:
        """This machine's copy when it has one (it is ahead of the ref), else the ref's."""
        path = self.local.journal_path(apply_id)
        if path.exists():
            return read_journal(path)
        text = self._file(f"journal/{apply_id}.jsonl")
        return _lines(text) if text else []

    # metrics and records: appends, retried on a lost race ------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        added = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)

        def change(files: dict[str, str], base: str | None) -> None:
            old = git.read_blob(self.repo, base, "metrics.jsonl") if base else None
            files["metrics.jsonl"] = git.hash_blob(self.repo, (old or "") + added)

        self._commit(change, f"metrics: {len(records)} records", append=True)

    def read_metrics(self) -> list[dict[str, Any]]:
        latest = self._remote_state()
        text = git.read_blob(self.repo, latest, "metrics.jsonl") if latest else None
        return _lines(text) if text else []

    def write_record(self, name: str, data: bytes) -> str:
        where = self.local.write_record(name, data)  # also checks the name

        def change(files: dict[str, str], base: str | None) -> None:
            files[f"records/{name}"] = git.hash_blob(self.repo, data.decode(errors="replace"))

        self._commit(change, f"record {name}", append=True)
        return where

    def read_record(self, name: str) -> bytes | None:
        self.local._record_path(name)  # the same names as the local backend's
        text = self._file(f"records/{name}")
        return text.encode() if text is not None else self.local.read_record(name)


def _lines(text: str) -> list[dict[str, Any]]:
    return metrics_lines(text.encode())


def _retry_seconds() -> float:
    value = os.environ.get(RETRY_ENV, "").strip()
    try:
        seconds = float(value) if value else RETRY_SECONDS
    except ValueError:
        seconds = RETRY_SECONDS
    return seconds if 0 <= seconds <= 86_400 else RETRY_SECONDS


def _tried(tries: int) -> str:
    return "tried once" if tries == 1 else f"tried {tries} times"


def _gone(holder: LockInfo) -> bool:
    """Whether ``holder`` was a process of this host that no longer runs."""
    return holder.host == socket.gethostname() and holder.pid > 0 and not _alive(holder.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
