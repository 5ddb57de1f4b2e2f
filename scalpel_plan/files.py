"""The one way Scalpel replaces a file: whole or not at all, even if the process is killed or
the machine stops.

The bytes go to a temp file in the same folder (so the rename stays on one file system), which
is fsync'd and renamed over the target; then the folder is fsync'd, so that the rename itself
lasts. A reader sees the old file or the new one, never half of either.

A replaced file keeps its permissions; a new one gets what ``open()`` would give it (the umask
applies), so a user's CHANGELOG.md or release.yml reads as it did before Scalpel wrote it.

Ground layer: the standard library, errors and the mask only.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

NEW_FILE_MODE = 0o666  # what open() asks for a new file; the umask takes its share
TEMP_ATTEMPTS = 100  # names are random: a clash is a surprise, a hundred are a bug


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    _replace(path, lambda out: out.write(data), _mode(path))


def atomic_copy(src: Path, dst: Path) -> None:
    """Replace ``dst`` with a copy of ``src`` atomically and durably; the copy gets the
    permissions of ``src``."""
    with src.open("rb") as source:
        _replace(dst, lambda out: shutil.copyfileobj(source, out), _mode(src))


def _replace(path: Path, fill: Callable[[BinaryIO], object], mode: int | None) -> None:
    """Write a temp file beside ``path`` with ``fill``, give it ``mode`` (None: as created),
    fsync it, rename it over ``path`` and fsync the folder. On any failure, even an
    interrupt, the temp file goes and ``path`` is as it was."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as out:
            if mode is not None:
                os.chmod(tmp, mode)
            fill(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _temp_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file named after ``path`` in its folder, open for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(TEMP_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {path}")


def _mode(path: Path) -> int | None:
    """The permission bits of ``path``; None when there is no such file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_masked(path: Path, data: bytes) -> None:
    """Write a file the user named (a plan, a changelog, a page), atomically and through the
    secrets mask; a failure is theirs to fix, not a bug."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.masking import mask_bytes

    try:
        atomic_write(path, mask_bytes(data))
    except OSError as exc:
        raise ScalpelError(f"cannot write {path}: {exc.strerror}") from None
