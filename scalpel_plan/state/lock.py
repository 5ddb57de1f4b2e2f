"""The state lock: one operation at a time, with a visible holder.

The lock itself is an OS file lock (flock), so the kernel releases it when its holder dies,
even by SIGKILL. Who holds it is written beside it for others to see.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from scalpel_plan.errors import LockHeldError, StateError, cannot
from scalpel_plan.files import read_document
from scalpel_plan.state.model import now

POLL_SECONDS = 0.1


class LockInfo(BaseModel):
    id: str
    who: str
    host: str
    pid: int
    operation: str
    since: str
    run: str | None = None  # the CI run's URL, when a CI run holds it

    def describe(self) -> str:
        where = f", CI run {self.run}" if self.run else ""
        return (f"{self.who}@{self.host} (pid {self.pid}{where}) for `{self.operation}` "
                f"since {self.since}, lock ID {self.id}")


def new_holder(operation: str) -> LockInfo:
    """Who is taking the lock now: this user, host and process, and the CI run if any."""
    env = os.environ
    run = None
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        run = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return LockInfo(id=str(uuid.uuid4()), who=_user(), host=socket.gethostname(),
                    pid=os.getpid(), operation=operation, since=now(), run=run)


class StateLock:
    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        self.info_path = lock_path.with_name(lock_path.name + ".json")

    def holder(self) -> LockInfo | None:
        """Who holds the lock now, or None when it is free."""
        if not self.info_path.exists() or not self._held_by_someone():
            return None
        return self._read_info()

    def _held_by_someone(self) -> bool:
        if not self.lock_path.exists():
            return False
        fd = os.open(self.lock_path, os.O_RDWR)
        try:
            return not _try_flock(fd)
        finally:
            os.close(fd)  # closing releases a lock this probe took

    @contextmanager
    def hold(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the lock for ``operation``, waiting up to ``timeout`` seconds for it."""
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise cannot("lock", exc, self.lock_path, error=StateError) from None
        try:
            deadline = time.monotonic() + timeout
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    holder = self._read_info()
                    who = holder.describe() if holder else "another process"
                    raise LockHeldError(
                        f"the state is locked by {who}",
                        hint="wait for it to finish, or retry with --lock-timeout 5m")
                time.sleep(POLL_SECONDS)
            info = new_holder(operation)
            try:
                self.info_path.write_text(info.model_dump_json())
            except OSError as exc:
                raise cannot("write", exc, self.info_path, error=StateError) from None
            try:
                yield info
            finally:
                self.info_path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock

    def unlock(self, lock_id: str) -> LockInfo:
        """Clear a lock left behind; refuse while its holder is alive."""
        info = self._read_info()
        if info is None or info.id != lock_id:
            raise StateError(f"no lock with ID {lock_id}",
                             hint="`scalpel state lock` shows the current holder, if any")
        if self._held_by_someone():
            raise StateError(
                f"lock {lock_id} is held by a running process: {info.describe()}",
                hint="a local lock is released when its holder ends; stop that process first")
        self.info_path.unlink(missing_ok=True)
        return info

    def _read_info(self) -> LockInfo | None:
        """Who took the lock, as they wrote it; None when that cannot be read (a damaged or
        hostile file is no holder)."""
        try:
            return LockInfo.model_validate(read_document(self.info_path))
        except (OSError, ValueError):  # DocumentError and pydantic's are ValueErrors
            return None


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
