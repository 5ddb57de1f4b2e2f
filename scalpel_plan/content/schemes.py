"""Version schemes: how versions are spelt, ordered, bumped and pre-released.

semver (1.3.0, 1.3.0-rc.1), PEP 440 (1.3.0, 1.3.0rc1) and calver (YYYY.MM.MICRO, 2026.11.0).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Any, Protocol

from scalpel_plan.content.semver import SemVer

PEP440_LABELS = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "rc": "rc", "c": "rc"}


class Scheme(Protocol):
    name: str
    example: str

    def parse(self, text: str) -> Any | None: ...
    def is_pre(self, version: Any) -> bool: ...
    def bump(self, version: Any, part: str, today: dt.date) -> Any: ...
    def base(self, version: Any) -> Any: ...
    def pre(self, base: Any, label: str, number: int) -> Any: ...
    def pre_number(self, version: Any, label: str) -> int | None: ...


class SemverScheme:
    name, example = "semver", "1.4.0 or 2.0.0-rc.1"

    def parse(self, text: str) -> SemVer | None:
        return SemVer.parse(text)

    def is_pre(self, version: SemVer) -> bool:
        return bool(version.prerelease)

    def bump(self, version: SemVer, part: str, today: dt.date) -> SemVer:
        return version.bump(part)

    def base(self, version: SemVer) -> SemVer:
        return SemVer(version.major, version.minor, version.patch)

    def pre(self, base: SemVer, label: str, number: int) -> SemVer:
        return SemVer(base.major, base.minor, base.patch, (label, str(number)))

    def pre_number(self, version: SemVer, label: str) -> int | None:
        pre = version.prerelease
        return int(pre[1]) if len(pre) == 2 and pre[0] == label and pre[1].isdigit() else None


class Pep440Scheme:
    name, example = "pep440", "1.4.0 or 2.0.0rc1"

    def parse(self, text: str) -> Any | None:
        from packaging.version import InvalidVersion, Version

        try:
            return Version(text)
        except InvalidVersion:
            return None

    def is_pre(self, version: Any) -> bool:
        return bool(version.is_prerelease)

    def bump(self, version: Any, part: str, today: dt.date) -> Any:
        major, minor, micro = [*version.release, 0, 0][:3]
        if part == "major":
            return self.parse(f"{major + 1}.0.0")
        if part == "minor":
            return self.parse(f"{major}.{minor + 1}.0")
        if version.is_prerelease:
            return self.base(version)
        return self.parse(f"{major}.{minor}.{micro + 1}")

    def base(self, version: Any) -> Any:
        return self.parse(version.base_version)

    def pre(self, base: Any, label: str, number: int) -> Any:
        return self.parse(f"{base}{PEP440_LABELS.get(label, label)}{number}")

    def pre_number(self, version: Any, label: str) -> int | None:
        pre = version.pre
        return pre[1] if pre and pre[0] == PEP440_LABELS.get(label, label) else None


@total_ordering
@dataclass(frozen=True)
class CalVer:
    year: int
    month: int
    micro: int
    label: str = ""
    number: int = 0

    def _key(self) -> tuple[int, int, int, bool, str, int]:
        return (self.year, self.month, self.micro, not self.label, self.label, self.number)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CalVer):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.year}.{self.month:02d}.{self.micro}"
        return f"{text}-{self.label}.{self.number}" if self.label else text


class CalverScheme:
    name, example = "calver", "2026.11.0"
    PATTERN = re.compile(r"^(\d{4})\.(\d{1,2})\.(\d+)(?:-([A-Za-z]+)\.(\d+))?$")

    def parse(self, text: str) -> CalVer | None:
        m = self.PATTERN.match(text)
        if not m or not 1 <= int(m[2]) <= 12:
            return None
        return CalVer(int(m[1]), int(m[2]), int(m[3]), m[4] or "", int(m[5] or 0))

    def is_pre(self, version: CalVer) -> bool:
        return bool(version.label)

    def bump(self, version: CalVer, part: str, today: dt.date) -> CalVer:
        """A new month starts at .0; within a month, MICRO counts releases."""
        if (version.year, version.month) == (today.year, today.month):
            return CalVer(today.year, today.month, version.micro + (0 if version.label else 1))
        return CalVer(today.year, today.month, 0)

    def base(self, version: CalVer) -> CalVer:
        return CalVer(version.year, version.month, version.micro)

    def pre(self, base: CalVer, label: str, number: int) -> CalVer:
        return CalVer(base.year, base.month, base.micro, label, number)

    def pre_number(self, version: CalVer, label: str) -> int | None:
        return version.number if version.label == label else None


SCHEMES: dict[str, Scheme] = {s.name: s for s in (SemverScheme(), Pep440Scheme(), CalverScheme())}
