"""The journal: an append-only, fsync'd log of one apply, one JSON object per line.

It is the write-ahead log that makes a killed apply resumable (state folds it back in), and
the record that metrics, the profiler, the dashboard and incident reports read.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, cast

from scalpel_plan.errors import StateError, cannot
from scalpel_plan.masking import mask
from scalpel_plan.state.model import now

Event = dict[str, Any]


class Journal:
    """Appends events: each line reaches the OS before ``append`` returns (so a killed process
    loses nothing), and with ``durable`` (every change to the state) it is fsync'd to disk.

    Lines written from several threads at the same moment share one fsync (group commit):
    a thread that finds another's fsync under way waits for it and then, unless that one
    already covered its line, does the next for every line written meanwhile."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            existing = read_journal(path)
            self._seq = existing[-1]["seq"] if existing else 0
            self._truncate_torn_tail(path)
            self._fh = path.open("ab")
        except OSError as exc:
            raise _refused(exc, path) from None
        self._lock = threading.Lock()
        self._refused: StateError | None = None  # once a write failed: a torn line may follow
        self._syncing = threading.Lock()  # one fsync at a time
        self._synced = self._seq  # every line up to this one is on disk

    @staticmethod
    def _truncate_torn_tail(path: Path) -> None:
        """Drop a half-written last line (the process was killed mid-write)."""
        if not path.exists():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def append(self, event: str, *, durable: bool = True, **fields: Any) -> Event:
        with self._lock:
            if self._refused is not None:  # nothing may follow a line that may be torn
                raise self._refused
            self._seq += 1
            record = {"seq": self._seq, "ts": now(), "event": event, **fields}
            line = mask(json.dumps(record, separators=(",", ":")))
            try:
                self._fh.write(line.encode() + b"\n")
                self._fh.flush()
            except OSError as exc:
                self._refused = _refused(exc, self.path)
                raise self._refused from None
        if durable:
            self.sync(record["seq"])
        return record

    def sync(self, seq: int | None = None) -> None:
        """Return once line ``seq`` (every line written so far, by default) is on disk; one
        fsync covers every line written before it starts, whichever thread wrote them."""
        with self._lock:
            wanted = self._seq if seq is None else seq
        if self._synced >= wanted:
            return
        with self._syncing:
            if self._synced >= wanted:  # the fsync this thread waited for covered it
                return
            with self._lock:
                if self._refused is not None:
                    raise self._refused
                covered = self._seq  # flushed to the OS: this fsync takes them all
            try:
                _sync_data(self._fh.fileno())
            except OSError as exc:
                with self._lock:
                    self._refused = _refused(exc, self.path)
                raise self._refused from None
            self._synced = covered

    def copy(self, events: list[Event]) -> None:
        """Append ``events`` as another journal recorded them (their seq and time kept; the
        last one fsync'd): a journal moved to another state backend (`scalpel state migrate`)."""
        for i, event in enumerate(events):
            fields = {k: v for k, v in event.items() if k != "event"}
            self.append(str(event["event"]), durable=i == len(events) - 1, **fields)
        with self._lock:
            self._seq = max([self._seq, *(int(e.get("seq", 0)) for e in events)])

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            if self._refused is None:
                raise


def _sync_data(fd: int) -> None:
    """The lines and the file's length to disk: fdatasync (an append needs no other metadata
    to be read back), fsync where there is none."""
    getattr(os, "fdatasync", os.fsync)(fd)


def _refused(exc: OSError, path: Path) -> StateError:
    """The journal cannot be written: what was journaled so far stays; nothing new starts."""
    return cast(StateError, cannot("write", exc, path, error=StateError, then=(
        "then `scalpel apply` again: what the journal recorded is not done twice")))


def read_journal(path: Path) -> list[Event]:
    """Every complete event in ``path``; a torn last line (killed mid-write) is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    events = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            break  # only the last line can be torn; nothing valid follows it
    return events
