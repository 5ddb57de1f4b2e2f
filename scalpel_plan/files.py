"""The one way Scalpel replaces a file: whole or not at all, even if the process is killed or
the machine stops; the one way it finds a file release.yml names in the repository (never
outside it, never under .git/, never through a symbolic link that leaves it).

The bytes go to a temp file in the same folder (so the rename stays on one file system), which
is fsync'd and renamed over the target; then the folder is fsync'd, so that the rename itself
lasts. A reader sees the old file or the new one, never half of either.

A replaced file keeps its permissions; a new one gets what ``open()`` would give it (the umask
applies), so a user's CHANGELOG.md or release.yml reads as it did before Scalpel wrote it.

Ground layer: the standard library, errors and the mask only.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

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


PRIVATE_MODE = 0o700  # a folder only its owner may list or enter


def private_file(prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file only this user can read, open for writing: in a folder of this user's that
    no one else may enter (``$XDG_STATE_HOME/scalpel``, else ``scalpel-UID`` in the temp
    folder), created with O_CREAT|O_EXCL|O_NOFOLLOW and 0600 under a random name, so that no
    one can guess it, make it beforehand, or have it written through a symbolic link."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=private_folder())
    return fd, Path(name)


def private_folder() -> Path:
    """This user's private folder for Scalpel's own files (crash logs): created 0700; one
    that is a symbolic link, someone else's, or open to others is never used (a new random
    folder is made in the temp folder instead)."""
    state_home = os.environ.get("XDG_STATE_HOME")
    if state_home and os.path.isabs(state_home):
        folder = Path(state_home) / "scalpel"
    else:
        folder = Path(tempfile.gettempdir()) / f"scalpel-{os.getuid()}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(PRIVATE_MODE)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix="scalpel-"))
    if _private(folder):
        return folder
    return Path(tempfile.mkdtemp(prefix="scalpel-"))  # 0700, a random name


def _private(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (no symbolic link) of this user's, closed to
    everyone else."""
    try:
        found = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and \
        not found.st_mode & 0o077


# Files release.yml names: in the repository -------------------------------------------------

IN_REPOSITORY_HINT = ("give a path relative to the repository, e.g. CHANGELOG.md or "
                      "src/pkg/__init__.py: a release never reads or writes a file outside it "
                      "or in .git/, nor follows a symbolic link out of it")
GLOB_CHARS = frozenset("*?[")


def path_problem(root: Path, relative: str, *, base: Path | None = None,
                 glob: bool = False) -> str | None:
    """Why ``relative`` (from ``base``, by default ``root``) is not a file of the repository
    at ``root`` that Scalpel may read or write: absolute, going up with ``..``, under
    ``.git/``, or leading out through a symbolic link (its own or a parent folder's). None
    when it is one. With ``glob``, ``relative`` is a pattern: the folders before its first
    wildcard are what is resolved (each match is checked again when it is used)."""
    problem = lexical_problem(relative)
    if problem is not None:
        return problem
    if glob:
        relative = "/".join(_until_wildcard(PurePosixPath(relative).parts)) or "."
    return _leaves(root, (base or root) / relative)


def lexical_problem(relative: str) -> str | None:
    """Why ``relative``, as written, cannot be a path inside a repository (None when it may
    be one; whether its links lead out is for ``path_problem`` to tell)."""
    if not relative:
        return "is empty"
    if "\0" in relative:
        return "contains a NUL byte"
    if "\\" in relative:
        return "contains a backslash: paths use /"
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).drive:
        return "is an absolute path"
    parts = PurePosixPath(relative).parts
    if ".." in parts:
        return "goes up with '..'"
    if any(part.casefold() == ".git" for part in parts):
        return "is inside .git/, which a release never reads or writes"
    return None


def _until_wildcard(parts: tuple[str, ...]) -> list[str]:
    fixed = []
    for part in parts:
        if GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return fixed


def _leaves(root: Path, path: Path) -> str | None:
    """Why ``path``, its symbolic links followed, is not in ``root`` outside .git/."""
    real_root = Path(os.path.realpath(root))
    try:
        inner = Path(os.path.realpath(path)).relative_to(real_root)
    except ValueError:
        return "leads outside the repository through a symbolic link" if _linked(path) \
            else "is outside the repository"
    if any(part.casefold() == ".git" for part in inner.parts):
        return "leads into .git/ through a symbolic link"
    return None


def _linked(path: Path) -> bool:
    return any(p.is_symlink() for p in (path, *path.parents))


def inside(root: Path, relative: str, *, what: str, base: Path | None = None) -> Path:
    """The real path of ``relative`` (from ``base``, by default ``root``), checked to be in
    the repository at ``root`` right now: a ScalpelError naming ``what`` otherwise. Reading
    and writing go to the path returned, so a link swapped in later is not followed."""
    problem = path_problem(root, relative, base=base)
    if problem is not None:
        from scalpel_plan.errors import ScalpelError

        raise ScalpelError(f"{what} {relative} {problem}", hint=IN_REPOSITORY_HINT)
    return Path(os.path.realpath((base or root) / relative))


def read_inside(root: Path, relative: str, *, what: str, base: Path | None = None) -> bytes:
    """The bytes of a regular file of the repository (see ``inside``), opened without
    following a symbolic link; FileNotFoundError when there is none. A device, a pipe or a
    folder is refused (its reading might never end)."""
    from scalpel_plan.errors import ScalpelError

    path = inside(root, relative, what=what, base=base)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
        getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ScalpelError(f"cannot read {what} {relative}: {exc.strerror}",
                           hint=IN_REPOSITORY_HINT) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ScalpelError(f"{what} {relative} is not a regular file",
                               hint=IN_REPOSITORY_HINT)
        return fh.read()


def write_inside(root: Path, relative: str, data: bytes, *, what: str) -> None:
    """Replace a file of the repository (see ``inside``) atomically: the file a symbolic link
    in the repository points to is replaced, one that leads out of it is refused."""
    atomic_write(inside(root, relative, what=what), data)


def glob_inside(root: Path, pattern: str, *, what: str) -> list[Path]:
    """The files of the repository that ``pattern`` matches, sorted; a ScalpelError when the
    pattern, or one of its matches, leads out of it (see ``path_problem``)."""
    import glob as globbing

    from scalpel_plan.errors import ScalpelError

    problem = path_problem(root, pattern, glob=True)
    if problem is not None:
        raise ScalpelError(f"{what} {pattern} {problem}", hint=IN_REPOSITORY_HINT)
    found = sorted(root / p for p in globbing.glob(pattern, root_dir=root))
    for path in found:
        problem = _leaves(root, path)
        if problem is not None:
            raise ScalpelError(f"{what} {pattern}: {path.relative_to(root)} {problem}",
                               hint=IN_REPOSITORY_HINT)
    return found


# JSON documents Scalpel wrote (a saved plan, the state), read back with limits ------------------

MAX_DOCUMENT_BYTES = 256 * 2**20  # far above any real plan or state (20,000 nodes: ~30 MiB)
MAX_DOCUMENT_DEPTH = 64  # Scalpel writes a dozen levels at most


class DocumentError(ValueError):
    """A JSON document that cannot be what Scalpel wrote: why, said for a user."""


def read_document(path: Path) -> Any:
    """The JSON value in the file at ``path``: a regular file, at most MAX_DOCUMENT_BYTES,
    UTF-8, valid JSON, nested at most MAX_DOCUMENT_DEPTH deep; FileNotFoundError when there
    is none, OSError when it cannot be read, DocumentError (with the line when there is one)
    for anything else."""
    return parse_document(read_document_bytes(path))


def read_document_bytes(path: Path) -> bytes:
    """The bytes of the document at ``path`` (a regular file, at most MAX_DOCUMENT_BYTES),
    errors as ``read_document``'s."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise DocumentError("it is not a regular file")
        data = fh.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"it is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB")
    return data


def parse_document(data: bytes) -> Any:
    """The JSON value of a document's bytes (``read_document``'s checks and errors)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DocumentError(f"line {line} is not UTF-8 text") from None
    too_deep = DocumentError(f"it is nested more than {MAX_DOCUMENT_DEPTH} levels deep")
    try:
        with quiet_gc():
            value = json.loads(text)  # the C parser stops at the recursion limit: never a crash
    except json.JSONDecodeError as exc:
        raise DocumentError(f"line {exc.lineno}, column {exc.colno} is not valid JSON "
                            f"({exc.msg.lower()})") from None
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise DocumentError(f"it is not valid JSON ({exc})") from None
    if _depth(value) > MAX_DOCUMENT_DEPTH:  # what reads it next may recurse as deep
        raise too_deep
    return value


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection while decoding a large document: its millions of new
    containers would start collection after collection, each walking them all, to free
    nothing (JSON makes no cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _depth(value: Any) -> int:
    """How deep the arrays and objects of the decoded JSON ``value`` nest (a walk level by
    level: no recursion)."""
    deepest = 0
    level = [value] if isinstance(value, dict | list) else []
    containers = (dict, list)
    while level:
        deepest += 1
        below: list[Any] = []
        for node in level:
            below += [c for c in (node.values() if type(node) is dict else node)
                      if isinstance(c, containers)]
        level = below
    return deepest
