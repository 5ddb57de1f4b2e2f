"""The one error root, and the diagnostics every user-facing error carries.

A diagnostic says what is wrong, where (file:line:col or a node address) and what to do.
Problems are collected and reported together; a traceback is always a bug.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem, with where it is and what to do about it."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    address: str | None = None
    hint: str | None = None
    severity: str = "error"  # "error" | "warning"

    @property
    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file or self.address or ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ScalpelError(Exception):
    """Root of every error a user can cause. The CLI prints it and exits 1."""

    def __init__(self, message: str, *, hint: str | None = None,
                 diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.diagnostics = diagnostics or []


class SpecError(ScalpelError):
    """release.yml is broken: unreadable, invalid, or does not compile."""


class StateError(ScalpelError):
    """The state cannot be read, written or locked."""


class LockHeldError(StateError):
    """Another operation holds the state lock."""


class StalePlanError(ScalpelError):
    """A saved plan no longer matches the state, the spec or the commit."""


class ProviderError(ScalpelError):
    """A provider could not read or change what it manages."""


class GitError(ScalpelError):
    """A git command failed or the repository is not usable."""


# A file system that refuses: the user's (or the machine's) to fix, never a bug.
RESOURCE_ERRNOS: dict[int, tuple[str, str]] = {  # errno → (what could not be done, what to do)
    errno.ENOSPC: ("write", "free some space on that disk, then run the command again"),
    errno.EDQUOT: ("write", "free some space (the disk quota is used up), then run the "
                   "command again"),
    errno.EROFS: ("write", "that file system is mounted read-only: run where it is writable"),
    errno.EACCES: ("use", "you may not: fix the owner or the permissions of that path"),
    errno.EPERM: ("use", "you may not: fix the owner or the permissions of that path"),
}
GENERIC_HINT = "check that the folder is writable and the disk not full"


def resource_error(exc: OSError) -> ScalpelError | None:
    """``exc`` as what it is to a user when the file system refused (a full disk, a read-only
    folder, a missing permission): "cannot write PATH: No space left on device", and what to
    do. None for any other OSError (that one may be a bug)."""
    if (exc.errno or 0) not in RESOURCE_ERRNOS:
        return None
    return cannot(RESOURCE_ERRNOS[exc.errno or 0][0], exc)


def cannot(verb: str, exc: OSError, path: object = None, *, then: str | None = None,
           error: type[ScalpelError] = ScalpelError) -> ScalpelError:
    """"cannot VERB PATH: REASON" with what to do about it (then ``then``)."""
    where = path if path is not None else exc.filename
    shown = os.fspath(where) if isinstance(where, str | os.PathLike) else "a file"
    _, hint = RESOURCE_ERRNOS.get(exc.errno or 0, ("", GENERIC_HINT))
    reason = exc.strerror or str(exc) or type(exc).__name__
    return error(f"cannot {verb} {shown}: {reason}", hint=f"{hint}; {then}" if then else hint)
