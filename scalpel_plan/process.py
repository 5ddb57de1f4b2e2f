"""The one subprocess helper: every command Scalpel runs goes through ``run``.

Each command gets its own process group, so a timeout (or Ctrl-C) ends it together with
every child it started. A Ctrl-C on the terminal does not reach them (they are in their own
session): ``stop_running`` is how an interrupted apply stops the commands still running.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scalpel_plan.masking import ByteStreamMasker

KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Completed:
    """What a finished (or timed-out) command left behind."""

    command: str
    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    stopped: bool = False  # ended (or never started) by ``stop_running``

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run(
    command: Sequence[str] | str,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_path: Path | None = None,
    stdin: str | None = None,
    on_output: Callable[[bytes], None] | None = None,
) -> Completed:
    """Run ``command`` (a list, or a string for the shell) and wait for it.

    With ``log_path``, stdout and stderr go (merged) to that file instead of being captured,
    and, as they come and masked as the log is, to ``on_output`` when given.
    Never raises for a non-zero exit: callers decide what a failure means.
    """
    shell = isinstance(command, str)
    shown = command if isinstance(command, str) else " ".join(command)
    started = time.monotonic()
    if _running.stopping:
        return Completed(shown, -signal.SIGTERM, "", "not started: stopped by an interrupt", 0.0,
                         stopped=True)
    log = log_path.open("wb") if log_path else None
    try:
        proc = subprocess.Popen(
            command,
            shell=shell,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        if log:
            log.close()
        return Completed(shown, 127, "", str(exc), time.monotonic() - started)
    deadline = _Deadline(proc, timeout)
    if not _running.add(proc):  # stop_running came between the start and now
        _end_group(proc)
    try:
        if log:  # through the stream mask as it comes: a value never reaches the log
            assert proc.stdout is not None
            if stdin is not None and proc.stdin is not None:
                proc.stdin.write(stdin.encode())
                proc.stdin.close()
            _copy_masked(proc.stdout, log, on_output)
            proc.stdout.close()
            proc.wait()
            out, err = b"", b""
        else:
            out, err = proc.communicate(stdin.encode() if stdin is not None else None)
    except BaseException:
        _end_group(proc)
        raise
    finally:
        deadline.cancel()
        stopped = _running.remove(proc)
        if log:
            log.close()
    return Completed(
        shown,
        proc.returncode,
        (out or b"").decode(errors="replace"),
        (err or b"").decode(errors="replace"),
        time.monotonic() - started,
        deadline.expired,
        stopped,
    )


class _Running:
    """The commands ``run`` is waiting for, so that an interrupt can end them all at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._stopped: set[int] = set()
        self.stopping = False

    def add(self, proc: subprocess.Popen[bytes]) -> bool:
        """Register ``proc``; False when a stop is under way (the caller ends it)."""
        with self._lock:
            self._procs[proc.pid] = proc
            if self.stopping:
                self._stopped.add(proc.pid)
            return not self.stopping

    def remove(self, proc: subprocess.Popen[bytes]) -> bool:
        """Forget ``proc``; True when ``stop`` ended it."""
        with self._lock:
            self._procs.pop(proc.pid, None)
            stopped = proc.pid in self._stopped
            self._stopped.discard(proc.pid)
            return stopped

    def stop(self, grace: float) -> int:
        """SIGTERM every running command's group, SIGKILL what is left after ``grace``; no
        command starts until ``resume``. Returns how many commands were running."""
        with self._lock:
            self.stopping = True
            procs = list(self._procs.values())
            self._stopped.update(p.pid for p in procs)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # what ignored SIGTERM, children too
        return len(procs)

    def resume(self) -> None:
        with self._lock:
            self.stopping = False


_running = _Running()


def stop_running(grace: float = KILL_GRACE_SECONDS) -> int:
    """End every command ``run`` is waiting for, in every thread, with its process group
    (SIGTERM, then SIGKILL after ``grace``); until ``resume_running``, ``run`` starts nothing
    and returns ``stopped``. Returns how many commands were running."""
    return _running.stop(grace)


def resume_running() -> None:
    """Let ``run`` start commands again after ``stop_running``."""
    _running.resume()


def _copy_masked(source: IO[bytes], log: IO[bytes],
                 also: Callable[[bytes], None] | None = None, chunk: int = 1 << 16) -> None:
    """Copy a command's output to its log (and to ``also``) as it comes, through the secrets
    mask: a secret cut by a read boundary (or printed line by line) is masked all the same,
    the tail that could be its start waits for the next read."""
    masker = ByteStreamMasker()

    def out(masked: bytes) -> None:
        log.write(masked)
        log.flush()
        if also is not None and masked:
            also(masked)

    while data := source.read1(chunk) if hasattr(source, "read1") else source.read(chunk):
        if masked := masker.feed(data):
            out(masked)
    out(masker.close())


class _Deadline:
    """Ends the command's process group when its time is up.

    One watcher thread does it for every command (``_Watcher``), so that waiting for the
    command is a blocking wait that returns the moment it exits (``communicate(timeout=...)``
    polls, adding up to 50 ms to each run), and no command waits for a thread of its own to
    start.
    """

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float | None) -> None:
        self.proc = proc
        self.expired = False
        self.cancelled = False
        if timeout is not None:  # no NaN, nothing a wait cannot take
            timeout = max(0.0, min(timeout, threading.TIMEOUT_MAX)) \
                if timeout == timeout else threading.TIMEOUT_MAX
            _watcher.watch(time.monotonic() + timeout, self)

    def expire(self) -> None:
        self.expired = True
        _end_group(self.proc)

    def cancel(self) -> None:
        self.cancelled = True
        _watcher.forget(self)


class _Watcher:
    """The thread that ends commands whose time is up, the soonest first; started with the
    first command that has a timeout, asleep while none is due."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Deadline]] = []  # a heap, by when
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._count = 0

    def watch(self, when: float, deadline: _Deadline) -> None:
        with self._changed:
            self._count += 1
            heapq.heappush(self._due, (when, self._count, deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="scalpel-deadlines")
                self._thread.start()
            elif self._due[0][2] is deadline:  # sooner than what the thread sleeps for
                self._changed.notify()

    def forget(self, deadline: _Deadline) -> None:
        """Drop cancelled deadlines once they are most of the heap (a command ended early
        leaves its entry until then)."""
        with self._changed:
            if len(self._due) > 64 and \
                    sum(d.cancelled for _, _, d in self._due) * 2 > len(self._due):
                self._due = [entry for entry in self._due if not entry[2].cancelled]
                heapq.heapify(self._due)

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._due and self._due[0][2].cancelled:
                    heapq.heappop(self._due)
                if not self._due:
                    self._changed.wait()
                    continue
                when, _, deadline = self._due[0]
                left = when - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                heapq.heappop(self._due)
            if not deadline.cancelled:
                threading.Thread(target=deadline.expire, daemon=True,
                                 name="scalpel-timeout").start()  # its grace: not the others'


_watcher = _Watcher()


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, then SIGKILL it after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(KILL_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def stream(command: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
           chunk: int = 1 << 16) -> Iterator[bytes]:
    """Run ``command`` and yield its stdout as it comes, so that the reader works while the
    command still writes. Raises StreamError when it exits non-zero (after all its output)."""
    proc = subprocess.Popen(list(command), cwd=cwd, env=dict(env) if env is not None else None,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while data := proc.stdout.read(chunk):  # unbuffered: whatever is there, at once
            yield data
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise StreamError(err.decode(errors="replace").strip() or f"exit {proc.returncode}")
    finally:
        if proc.poll() is None:  # the reader stopped early
            _end_group(proc)
        proc.stdout.close()
        proc.stderr.close()


class StreamError(Exception):
    """A streamed command failed; its message is what the command said."""


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (empty when there is none)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
