"""The one mask every output goes through: terminal, logs, stage logs, journal, state, plan
files, alerts, incident reports, crash logs.

The secrets manager registers each value it loads; every writer calls ``mask`` (or wraps its
stream in ``MaskedStream``). A value is masked raw, URL-encoded, base64-encoded and as it reads
inside a JSON string. A short value is masked only where it stands alone, never inside an
ordinary word (no "[secret]cumentation" for a value "do").
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from typing import IO

MASK = "[secret]"
SHORT = 8  # values shorter than this are masked only as whole words


class _Masker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> bool:
        """Mask ``value`` from now on; False when it already was."""
        if not value or value in self._values:
            return False
        with self._lock:
            self._values.add(value)
            self._pattern = None
        return True

    def mask(self, text: str) -> str:
        if not self._values:
            return text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                pattern = self._pattern = _compile(self._values)
        return pattern.sub(MASK, text)

    def forget_all(self) -> None:
        """For tests: start again with nothing to mask."""
        with self._lock:
            self._values.clear()
            self._pattern = None


def forms(value: str) -> list[str]:
    """Every form of ``value`` that is masked, longest first."""
    found = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
             base64.b64encode(value.encode()).decode(), json.dumps(value)[1:-1]}
    return sorted(found, key=len, reverse=True)


def _compile(values: set[str]) -> re.Pattern[str]:
    alternatives = []
    for form in sorted({f for v in values for f in forms(v)}, key=len, reverse=True):
        escaped = re.escape(form)
        alternatives.append(escaped if len(form) >= SHORT else rf"(?<!\w){escaped}(?!\w)")
    return re.compile("|".join(alternatives))


_MASKER = _Masker()
register = _MASKER.add
mask = _MASKER.mask
forget_all = _MASKER.forget_all


def mask_bytes(data: bytes) -> bytes:
    """``mask`` for bytes that may not be UTF-8 (a command's output): other bytes stay."""
    if not _MASKER._values:
        return data
    return mask(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


class MaskedStream:
    """A text stream whose every write is masked first (stdout and stderr of the CLI)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def raw_stream(self) -> IO[str]:
        """The unmasked stream, for the one thing that must see a value: ::add-mask::."""
        return self._stream
