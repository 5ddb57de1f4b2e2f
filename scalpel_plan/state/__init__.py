"""State: the model, the versioned file format, the journal, the lock and the backends."""

from __future__ import annotations

from typing import Protocol

from scalpel_plan.state.journal import Journal
from scalpel_plan.state.lock import LockInfo
from scalpel_plan.state.model import State


class StateBackend(Protocol):
    """Where state lives. The local folder is the default; a shared backend implements the same."""

    def describe(self) -> str: ...
    def read(self) -> State: ...
    def write(self, state: State) -> None: ...
    def lock(self, operation: str, timeout: float = 0.0):  # type: ignore[no-untyped-def]
        ...
    def lock_holder(self) -> LockInfo | None: ...
    def unlock(self, lock_id: str) -> LockInfo: ...
    def open_journal(self, apply_id: str) -> Journal: ...


__all__ = ["LockInfo", "State", "StateBackend"]
