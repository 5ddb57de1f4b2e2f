"""State: the model, the versioned file format, the journal, the lock and the backends."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from scalpel_plan.state.journal import Event, Journal
from scalpel_plan.state.lock import LockInfo
from scalpel_plan.state.model import State
from scalpel_plan.state.overview import Overview


class StateBackend(Protocol):
    """Where state lives. The local folder is the default; a shared backend implements the same."""

    def describe(self) -> str: ...
    def read(self) -> State: ...
    def read_overview(self, points: bool = True, every_release: bool = True) -> Overview:
        """What status and history show of the latest state (``state.overview``): the
        rollback points only when ``points``; the newest release and rollback alone unless
        ``every_release``."""
        ...
    def write(self, state: State) -> None: ...
    def lock(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        ...
    def lock_holder(self) -> LockInfo | None: ...
    def unlock(self, lock_id: str) -> LockInfo: ...
    def open_journal(self, apply_id: str) -> Journal: ...
    def read_journal(self, apply_id: str) -> list[Event]: ...
    def append_metrics(self, records: list[dict[str, Any]]) -> None: ...
    def write_record(self, name: str, data: bytes) -> str:
        """Keep a document beside the state (an incident report, the alert history) under
        ``name`` (a relative path); returns where it is, for people to open."""
        ...
    def read_record(self, name: str) -> bytes | None: ...
    def read_metrics(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class ManyProjects(Protocol):
    """A backend whose store holds many projects' states (`scalpel status --all`)."""

    def project_states(self) -> dict[str, State]: ...


__all__ = ["LockInfo", "ManyProjects", "State", "StateBackend"]
