"""A monorepo in the state: the packages each release and rollback point moved, each
package's live version, and the rollback points of one package.

A release records the packages it moved (``packages``: name → version, previous, tag). A
record written before it did names them only in its version, the release's name
(``a-1.1.0+b-2.0.1``, see ``plan.packages.release_name``): ``read_back`` gives such records
their packages again, from the names of the packages release.yml declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from scalpel_plan.errors import ScalpelError
from scalpel_plan.state.model import (
    PackagePart,
    ReleaseRecord,
    RollbackPoint,
    RollbackRecord,
    State,
)

JOIN = "+"  # between the packages' versions in a release's name
JOIN_MORE = "-more-"  # in a name shortened to a digest: a-1.1.0+12-more-<digest>
DEFAULT_TAG = "{name}@{version}"


@dataclass(frozen=True)
class PackageLive:
    """A package's version in use now: its last release, or a rollback's target."""

    name: str
    version: str
    tag: str | None
    released_at: str | None  # when the release (or the rollback) that made it live finished
    rolled_back: bool = False  # live by a rollback


def parts_in_name(name: str, packages: Sequence[str],
                  valid: Callable[[str, str], bool] = lambda _, version: version[:1].isdigit()
                  ) -> dict[str, str] | None:
    """package → version in a release's name (``a-1.1.0+b-2.0.1``), the longest declared
    package name first (``a-b-1.0.0`` is a-b's) whose rest is a ``valid`` version of it (by
    default: one that starts with a digit); None when a piece names no package of
    ``packages`` (a single-package version, or a name shortened to a digest)."""
    found: dict[str, str] = {}
    for piece in name.split(JOIN):
        for package in sorted(packages, key=len, reverse=True):
            version = piece[len(package) + 1:] if piece.startswith(f"{package}-") else ""
            if version and valid(package, version):
                found[package] = version
                break
        else:
            return None
    return found or None


def read_back(state: State, tag_formats: Mapping[str, Sequence[str]]) -> State:
    """``state`` with its monorepo releases and rollback points all in the per-package form:
    those recorded without ``packages`` (before they were) read back from their names, for
    the packages of ``tag_formats`` (name → its tag formats, {version} in them). Nothing
    changes for a state without such records."""
    names = list(tag_formats)
    if not names:
        return state
    previous: dict[str, str] = {}
    releases, changed = [], False
    for record in state.releases:
        parts = record.packages or _parts(record.version, names, tag_formats, previous)
        if parts and not record.packages:
            record = record.model_copy(update={"packages": parts})
            changed = True
        if record.released:
            previous.update((n, p.version) for n, p in record.packages.items())
        releases.append(record)
    by_name = {r.version: r.packages for r in releases if r.packages}
    points = []
    for point in state.rollback_points:
        if not point.packages and (moved := by_name.get(point.version)):
            point = point.model_copy(update={"packages": moved})
            changed = True
        points.append(point)
    if not changed:
        return state
    return state.model_copy(update={"releases": releases, "rollback_points": points})


def _parts(name: str, names: list[str], tag_formats: Mapping[str, Sequence[str]],
           previous: dict[str, str]) -> dict[str, PackagePart]:
    found = parts_in_name(name, names) or {}
    return {package: PackagePart(version=version, previous=previous.get(package),
                                 tag=_tag(tag_formats.get(package, ()), package, version))
            for package, version in found.items()}


def _tag(formats: Sequence[str], package: str, version: str) -> str:
    first = formats[0] if formats else DEFAULT_TAG.replace("{name}", package)
    return first.replace("{version}", version)


def packages_in(state: State) -> list[str]:
    """Every package the state records a release of, in the order they first appear."""
    seen: dict[str, None] = {}
    for record in state.releases:
        seen.update(dict.fromkeys(record.packages))
    return list(seen)


def releases_of(state: State, packages: Iterable[str]) -> list[ReleaseRecord]:
    """The releases that moved one of ``packages``, oldest first."""
    wanted = set(packages)
    return [r for r in state.releases if wanted & set(r.packages)]


def live_packages(state: State) -> dict[str, PackageLive]:
    """Each package's version in use now, from the releases and rollbacks in the order they
    finished: a release that finished moves its packages; a package's rollback moves it back;
    a rollback of the whole release, every package to what it was at that point."""
    events: list[tuple[str, int, ReleaseRecord | RollbackRecord]] = []
    for record in state.releases:
        if record.released and record.packages and record.finished_at:
            events.append((record.finished_at, 0, record))
    for rollback in state.rollbacks:
        if rollback.status == "succeeded" and rollback.finished_at:
            events.append((rollback.finished_at, 1, rollback))
    live: dict[str, PackageLive] = {}
    for at, _, what in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(what, ReleaseRecord):
            for name, part in what.packages.items():
                live[name] = PackageLive(name, part.version, part.tag, at)
        elif what.package:
            live[what.package] = PackageLive(what.package, what.to_version, what.point, at, True)
        elif (point := state.point(what.point)) is not None:
            for name, part in as_of(state, point).items():
                live[name] = PackageLive(name, part.version, part.tag, at, True)
    return live


def as_of(state: State, point: RollbackPoint) -> dict[str, PackagePart]:
    """Every package's part as the release of ``point`` left them."""
    found: dict[str, PackagePart] = {}
    for record in state.releases:
        if record.released and record.finished_at and record.finished_at <= point.created_at:
            found.update(record.packages)
    return found


@dataclass(frozen=True)
class PackagePoint:
    """One package's rollback point: the package, its part, the point holding it."""

    package: str
    part: PackagePart
    point: RollbackPoint

    @property
    def name(self) -> str:
        """What the rollback is recorded by and finished with (`--to NAME`)."""
        return f"{self.package}@{self.part.version}" if not self.part.tag else self.part.tag


def package_point(state: State, ref: str, package: str | None = None) -> PackagePoint | None:
    """The newest rollback point where ``package`` (or any package, for a ``ref`` that names
    one) was released as ``ref``: its tag, ``name@version``, or (with ``package``) its
    version. None when ``ref`` names no package's point."""
    for point in reversed(state.rollback_points):
        for name, part in point.packages.items():
            if package is not None and name != package:
                continue
            names = {part.tag, f"{name}@{part.version}"}
            if package is not None:
                names.add(part.version)
            if ref in names:
                return PackagePoint(name, part, point)
    return None


def points_of(state: State, package: str) -> list[str]:
    """``package``'s rollback points, as ``--to`` names them, oldest first."""
    found: dict[str, None] = {}
    for point in state.rollback_points:
        if (part := point.packages.get(package)) is not None:
            found[PackagePoint(package, part, point).name] = None
    return list(found)


def checked_packages(wanted: Sequence[str], known: Sequence[str], *,
                     what: str = "--package") -> list[str]:
    """``wanted`` (--package), once each is a package release.yml or the state knows; a
    ScalpelError naming the known ones otherwise (``what``: where the name was given)."""
    unknown = [n for n in wanted if n not in known]
    if unknown:
        one_per_option(unknown[0], known)
        raise ScalpelError(f"{what} {unknown[0]}: no such package",
                           hint=f"packages: {', '.join(known)}" if known else
                           "release.yml declares no packages (packages: in release.yml)")
    return list(wanted)


def one_per_option(name: str, known: Sequence[str]) -> None:
    """A ScalpelError when ``name`` (one --package) lists several packages (cli,types)."""
    import re

    parts = [p for p in re.split(r"[,;\s]+", name) if p]
    if len(parts) > 1 and all(p in known for p in parts):
        raise ScalpelError(f"--package {name}: give one package per --package",
                           hint="repeat it for more: "
                           + " ".join(f"--package {p}" for p in parts))
