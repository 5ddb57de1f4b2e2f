"""The journal: an append-only, fsync'd log of one apply, one JSON object per line.

It is the write-ahead log that makes a killed apply resumable (state folds it back in), and
the record that metrics, the profiler, the dashboard and incident reports read.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from scalpel_plan.masking import mask
from scalpel_plan.state.model import now

Event = dict[str, Any]


class Journal:
    """Appends events: each line reaches the OS before ``append`` returns (so a killed process
    loses nothing), and with ``durable`` (every change to the state) it is fsync'd to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = read_journal(path)
        self._seq = existing[-1]["seq"] if existing else 0
        self._truncate_torn_tail(path)
        self._fh = path.open("ab")
        self._lock = threading.Lock()

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
            self._seq += 1
            record = {"seq": self._seq, "ts": now(), "event": event, **fields}
            line = mask(json.dumps(record, separators=(",", ":")))
            self._fh.write(line.encode() + b"\n")
            self._fh.flush()
            if durable:
                os.fsync(self._fh.fileno())
            return record

    def close(self) -> None:
        self._fh.close()


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
        except ValueError:
            break  # only the last line can be torn; nothing valid follows it
    return events
