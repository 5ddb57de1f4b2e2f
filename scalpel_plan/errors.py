"""The one error root, and the diagnostics every user-facing error carries.

A diagnostic says what is wrong, where (file:line:col or a node address) and what to do.
Problems are collected and reported together; a traceback is always a bug.
"""

from __future__ import annotations

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
