"""Checkpointing an apply: every recorded step goes to the journal (fsync'd) at once, and into
the state snapshot at most once per interval and at the end.

A step therefore costs one journal line however large the state is; a killed apply loses
nothing, because reading the state folds the journal back in. Lines written by several steps at
the same moment share one fsync, and a local snapshot is written aside, from a copy, so that
no step's line waits for it (a remote backend's is written at once: every change reaches it).

A snapshot the backend cannot take (a shared backend out of reach once its own retries are
spent) costs nothing recorded: the journal has it. The apply then stops after its running steps
(``unsaved``), as Terraform halts when it cannot persist its state; the final snapshot writes it
all, or fails saying how to resume (the next run in this clone writes the journal first).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from scalpel_plan.errors import StateError
from scalpel_plan.state import StateBackend
from scalpel_plan.state.events import EventKind
from scalpel_plan.state.format import apply_event
from scalpel_plan.state.journal import Event
from scalpel_plan.state.model import ActiveApply, State

SNAPSHOT_INTERVAL = 2.0


def operation_id(kind: str = "") -> str:
    """A new journal's name: when it started, what it is, and a random part."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{kind}-{uuid.uuid4().hex[:6]}" if kind else f"{stamp}-{uuid.uuid4().hex[:6]}"


class Checkpointer:
    def __init__(self, backend: StateBackend, state: State, apply_id: str, *,
                 interval: float | None = None) -> None:
        self.backend = backend
        self.state = state.with_lineage().model_copy(deep=True)
        self.journal = backend.open_journal(apply_id)
        # a remote backend writes after every change: its runner's disk may be gone next time
        self.interval = getattr(backend, "snapshot_interval", SNAPSHOT_INTERVAL) \
            if interval is None else interval
        self._lock = threading.Lock()
        # The snapshot names the journal before anything is journaled (and folds a journal an
        # earlier, killed apply left behind).
        self.state.active_apply = ActiveApply(id=apply_id, journal=f"journal/{apply_id}.jsonl")
        self.backend.write(self.state)
        self._last_snapshot = time.monotonic()
        # the snapshot that failed: what it held is journaled here only; nothing new starts
        self.unsaved: StateError | None = None
        # a local snapshot is written beside the steps, from a copy (the steps' journal lines
        # do not wait for its fsyncs); a remote backend's, at once, under the lock
        self._writer: ThreadPoolExecutor | None = None
        self._written: Future[None] | None = None

    def _snapshot(self, state: State | None = None) -> None:
        """Write ``state`` (the live one by default), never ahead of the journal on disk."""
        state = self.state if state is None else state
        try:
            assert state.active_apply is not None
            self.journal.sync(state.active_apply.folded_seq)
            self.backend.write(state)
        except StateError as exc:
            self.unsaved = exc
        self._last_snapshot = time.monotonic()

    def _snapshot_aside(self) -> None:
        """Under the lock: a copy of the state to the writer thread, unless one is still
        being written."""
        if self._written is not None and not self._written.done():
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="scalpel-snapshot")
        self._last_snapshot = time.monotonic()
        self._written = self._writer.submit(self._snapshot, self.state.model_copy(deep=True))

    def _writer_done(self) -> None:
        """Wait for the snapshot being written aside (a bug in it is raised here)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._written is not None:
            written, self._written = self._written, None
            written.result()

    def record(self, event: EventKind, **fields: Any) -> Event:
        """Journal a change to the state and apply it to the in-memory state; it returns once
        the line is on disk. Changes recorded from several threads at once share one fsync
        (the line is written under the lock, the fsync waited for outside it)."""
        with self._lock:
            entry = self.journal.append(event, durable=False, serial=self.state.serial + 1,
                                        **fields)
            apply_event(self.state, entry)
            assert self.state.active_apply is not None
            self.state.active_apply.folded_seq = entry["seq"]
            if self.unsaved is None and \
                    time.monotonic() - self._last_snapshot >= self.interval:
                if self.interval > 0:
                    self._snapshot_aside()
                else:
                    self._snapshot()
        self.journal.sync(entry["seq"])
        return entry

    def note(self, event: EventKind, **fields: Any) -> Event:
        """Journal something that happened without changing the state (pending, failed...).

        Written through to the OS at once, so a killed process loses none; it reaches the disk
        with the next change to the state (a power cut may lose notes, never a change).
        """
        return self.journal.append(event, durable=False, **fields)

    def abandon(self) -> None:
        """Stop without a final snapshot (the journal could not be written): what was
        journaled stays, and the next read of the state folds it in."""
        with contextlib.suppress(Exception):
            self._writer_done()
        with contextlib.suppress(OSError):
            self.journal.close()

    def close(self) -> State:
        """Fold everything into a final snapshot; the journal stays as the apply's record.
        It raises while the backend is still out of reach (the journal keeps it all)."""
        self._writer_done()
        with self._lock:
            self.journal.sync()  # the notes since the last change too: the apply's record
            self.state.active_apply = None
            self.backend.write(self.state)
            self.unsaved = None
            self.journal.close()
            return self.state
