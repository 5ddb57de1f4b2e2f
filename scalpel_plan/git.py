"""The git repository a release is cut from: read-only questions and the few writes tags need.

Every call goes through the one subprocess helper, with a pinned, non-interactive environment.
"""

from __future__ import annotations

import codecs
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from scalpel_plan import process
from scalpel_plan.errors import GitError

GIT_TIMEOUT = 120.0
FIELD = "\x1f"
RECORD = "\x1e"


def _env() -> dict[str, str]:
    from scalpel_plan.secrets import git_credentials

    env = {**git_credentials(), **os.environ}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"})
    return env


def git(repo: Path, *args: str, check: bool = True, timeout: float | None = None,
        stdin: str | None = None, env: dict[str, str] | None = None) -> process.Completed:
    """Run ``git args`` in ``repo`` (``stdin`` fed to it, ``env`` added to its environment);
    raise GitError (with git's own words) when it fails."""
    limit = min(timeout, GIT_TIMEOUT) if timeout else GIT_TIMEOUT
    done = process.run(["git", *args], cwd=repo, env={**_env(), **(env or {})}, timeout=limit,
                       stdin=stdin)
    if done.stopped:  # whatever the caller checks, an answer it did not get is no answer
        raise GitError(f"`git {' '.join(args)}` was stopped by the interrupt")
    if done.timed_out:
        raise GitError(f"`git {' '.join(args)}` timed out after {limit:g} s")
    if check and not done.ok:
        detail = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise GitError(f"`git {' '.join(args)}` failed: {detail}")
    return done


def find_root(start: Path) -> Path | None:
    """The top of the work tree containing ``start``, or None outside a repository."""
    done = git(start, "rev-parse", "--show-toplevel", check=False)
    return Path(done.stdout.strip()) if done.ok else None


def tracked(repo: Path, paths: list[str] | None = None) -> list[str]:
    """The files git tracks (its index), from the top of the work tree; with ``paths``,
    those under them (a folder, a file or a glob pattern, from the top)."""
    specs = [":(top)" if p.strip("/") in ("", ".") else
             f":(top{',literal' if not re.search(r'[*?[]', p) else ''}){p.strip('/')}"
             for p in paths or []]
    out = git(repo, "ls-files", "-z", "--full-name", "--", *(specs or [":(top)"])).stdout
    return [f for f in out.split("\0") if f]


def current_branch(repo: Path) -> str | None:
    """The branch checked out (None when HEAD is detached): HEAD's file when it names a branch
    (that is no symbolic ref itself) or a commit, else `git symbolic-ref` answers."""
    try:
        folders = _folders(repo)
        value = (folders[0] / "HEAD").read_text().strip() if folders else ""
        name = value[4:].strip() if value.startswith("ref:") else ""
        if name.startswith("refs/heads/") and ".." not in name and folders and \
                not _names_a_ref(folders[1] / name):
            return name.removeprefix("refs/heads/")
    except (OSError, UnicodeDecodeError, ValueError):
        value = ""
    if _OBJECT_ID.fullmatch(value):
        return None  # detached
    done = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return done.stdout.strip() if done.ok else None


def head(repo: Path) -> str | None:
    """The commit HEAD points at, or None in a repository with no commits.

    Read from git's own files when they are of the usual kind (a stage asks at every run: a
    git process each time costs more than the read); `git rev-parse` answers otherwise."""
    try:
        found = _head_from_files(repo)
    except (OSError, UnicodeDecodeError, ValueError):
        found = _ASK_GIT
    if found != _ASK_GIT:
        return found
    done = git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return done.stdout.strip() if done.ok else None


_ASK_GIT = "ask git"  # the files are of a kind only git itself should read
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# refs each worktree keeps for itself (the others are in the common folder)
_PER_WORKTREE = ("refs/worktree/", "refs/bisect/", "refs/rewritten/")
_GIT_VARIABLES = ("GIT_DIR", "GIT_COMMON_DIR", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY",
                  "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM")


def _head_from_files(repo: Path) -> str | None:
    """HEAD's commit from the repository's files: HEAD (a symbolic ref, in a chain, or a
    detached commit), the loose ref, then packed-refs; the git folder found as git finds it
    (``.git`` a folder, or a file naming it as in a worktree or a submodule, with its
    ``commondir``). ``_ASK_GIT`` for anything else: git's variables set, reftable, a ref
    that is not an object id."""
    folders = _folders(repo)
    if folders is None:
        return _ASK_GIT
    folder, common = folders
    value = (folder / "HEAD").read_text().strip()
    for _ in range(5):  # a symbolic ref may name another one
        if not value.startswith("ref:"):
            return value if _OBJECT_ID.fullmatch(value) else _ASK_GIT
        name = value[4:].strip()
        if not name.startswith("refs/") or ".." in name:
            return _ASK_GIT
        where = folder if name.startswith(_PER_WORKTREE) else common
        try:
            value = (where / name).read_text().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            packed = _packed_ref(common, name)
            if packed is None:
                return None  # a branch with no commit yet (or a ref git would read as such)
            value = packed
    return _ASK_GIT


def _names_a_ref(ref: Path) -> bool:
    """Whether the loose ref ``ref`` is a symbolic ref (HEAD → alias → main: git follows)."""
    try:
        return ref.read_bytes().startswith(b"ref:")
    except (FileNotFoundError, NotADirectoryError):
        return False  # packed (never symbolic) or a branch with no commit yet


def _folders(repo: Path) -> tuple[Path, Path] | None:
    """The work tree's git folder and the common one (the same but in a linked worktree), as
    git finds them; None when only git should read them: git's variables set, reftable (the
    refs are not in files of their own), a ``.git`` of a kind not known here, or a folder
    another user owns (git refuses it unless safe.directory says otherwise)."""
    if any(os.environ.get(name) for name in _GIT_VARIABLES):
        return None
    folder = _git_folder(repo)
    if folder is None or folder.stat().st_uid != os.getuid():
        return None
    common = folder
    if (commondir := folder / "commondir").exists():
        common = folder / commondir.read_text().strip()
    if "refstorage" in (common / "config").read_text(errors="replace").lower():
        return None
    return folder, common


def _git_folder(start: Path) -> Path | None:
    """The git folder of the work tree holding ``start``: the first ``.git`` up from it, a
    folder, or a file saying ``gitdir: <path>``."""
    for folder in (start.resolve(), *start.resolve().parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git if (dot_git / "HEAD").is_file() else None
        if dot_git.is_file():
            text = dot_git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            found = folder / text[len("gitdir:"):].strip()
            return found if (found / "HEAD").is_file() else None
    return None


def _packed_ref(common: Path, name: str) -> str | None:
    """``name``'s id in packed-refs (not the peeled ``^`` lines), or None."""
    try:
        text = (common / "packed-refs").read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.endswith(" " + name) and not line.startswith(("#", "^")):
            return line.split(" ", 1)[0]
    return None


def has_commit(repo: Path, sha: str) -> bool:
    return git(repo, "cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}",
               check=False).ok


def tag_commit(repo: Path, tag: str) -> str | None:
    """The commit a local tag points at (peeled), or None when the tag does not exist."""
    done = git(repo, "rev-parse", "--verify", "-q", "--end-of-options",
               f"refs/tags/{tag}^{{commit}}", check=False)
    return done.stdout.strip() if done.ok else None


def tags_merged(repo: Path) -> list[str]:
    """Tags reachable from HEAD. (Not `git tag --merged`: it stops its walk by commit date,
    so in a history dated out of order it misses tags that HEAD does contain; nor
    `--simplify-by-decoration`, which drops a tagged commit whose tree is unchanged.)"""
    reachable = set(git(repo, "rev-list", "HEAD", "--").stdout.split())
    refs = git(repo, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00"
               "%(*objectname)", "refs/tags").stdout
    found = set()
    for line in refs.splitlines():
        name, target, peeled = [*line.split("\0"), "", ""][:3]
        if (peeled or target) in reachable:
            found.add(name)
    return sorted(found)


class Commit(NamedTuple):
    """One commit as git stores it (the message split into subject and body)."""

    sha: str
    parents: tuple[str, ...]  # the history's shape, walked by ``content.history``
    author: str
    email: str
    timestamp: int
    subject: str
    body: str


LOG_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%at%x00%B"  # with -z: each commit ends in a NUL too
LOG_FIELDS = 6


def log(repo: Path, revisions: str = "HEAD") -> Iterator[Commit]:
    """The commits of ``revisions`` (e.g. "v1.0.0..HEAD"), newest first, as git writes them
    (so a caller parses while git still reads history).

    Fields and commits are separated by NUL, the one character a commit message cannot hold,
    so every other byte of a message comes through. Messages that are not UTF-8 are decoded
    with replacement characters, never an error; CRLF and CR line endings read as LF.
    """
    pending = ""
    fields: list[str] = []
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    command = ["git", "log", "-z", f"--format={LOG_FORMAT}", *_whole(revisions),
               "--end-of-options", revisions, "--"]
    try:
        for data in process.stream(command, cwd=repo, env=_env()):
            tokens = (pending + decoder.decode(data)).split("\0")
            pending = tokens.pop()
            fields += tokens
            whole = len(fields) - len(fields) % LOG_FIELDS
            for at in range(0, whole, LOG_FIELDS):
                yield _commit(fields[at:at + LOG_FIELDS])
            del fields[:whole]
    except process.StreamError as exc:
        raise GitError(f"`git log {revisions}` failed: {exc}",
                       hint="check that the revisions exist: `git log " + revisions + "`"
                       ) from None
    pending += decoder.decode(b"", final=True)
    if pending or fields:  # git ends every commit with a NUL: only a cut stream leaves these
        fields.append(pending)
        if len(fields) == LOG_FIELDS:
            yield _commit(fields)


STATUS = re.compile(r"[A-Z][0-9]*")  # a --name-status letter (R100: renamed, 100% alike)


def log_files(repo: Path, revisions: str = "HEAD") -> Iterator[tuple[Commit, tuple[str, ...]]]:
    """``log`` with the paths each commit changed, in the same one read: a rename gives both
    paths (read as a deletion and an addition: no rename detection to pay for); a merge,
    what it brought into its first parent (the paths its branch changed). Newest first."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    command = ["git", "log", "-z", f"--format={LOG_FORMAT}", "--name-status", "--no-renames",
               "--diff-merges=first-parent", *_whole(revisions), "--end-of-options", revisions,
               "--"]
    pending = ""
    fields: list[str] = []
    files: list[str] = []
    want = 0  # paths still to read after a status
    commit: Commit | None = None
    try:
        for data in process.stream(command, cwd=repo, env=_env()):
            tokens = (pending + decoder.decode(data)).split("\0")
            pending = tokens.pop()
            for token in tokens:
                if want:
                    files.append(token)
                    want -= 1
                elif commit is not None and not fields and STATUS.fullmatch(
                        token.removeprefix("\n")) and (token[:1] == "\n" or files):
                    # a status of the commit just read (the first one after a newline; a
                    # sha is never one): one path follows, two for a rename or a copy
                    want = 2 if token.removeprefix("\n")[:1] in "RC" else 1
                else:
                    if commit is not None and not fields:  # the next commit starts
                        yield commit, tuple(files)
                        commit, files = None, []
                    fields.append(token)
                    if len(fields) == LOG_FIELDS:
                        commit, fields = _commit(fields), []
    except process.StreamError as exc:
        raise GitError(f"`git log {revisions}` failed: {exc}",
                       hint="check that the revisions exist: `git log " + revisions + "`"
                       ) from None
    if commit is not None:
        yield commit, tuple(files)


def _whole(revisions: str) -> list[str]:
    """``--date-order`` for a range (A..B): git then walks it whole before it answers. Its
    quick walk stops on A's side by commit date and, in a history dated out of order, lists
    commits that A contains (one tag range in six of benchmarks/history.py)."""
    return ["--date-order"] if ".." in revisions else []


def _commit(fields: list[str]) -> Commit:
    sha, parents, author, email, stamp, message = fields
    if "\r" in message:
        message = message.replace("\r\n", "\n").replace("\r", "\n")
    subject, _, body = message.partition("\n")
    # " \t" only: str.strip() would also take control characters (\x1c-\x1f) off the edges
    return Commit(sha, tuple(parents.split()), author, email, int(stamp or 0),
                  subject.strip(" \t"), body.strip("\n"))


def commits_since(repo: Path, since: str | None) -> list[Commit]:
    """Commits on HEAD after ``since`` (a tag or commit), newest first; all of them for None."""
    return list(log(repo, f"{since}..HEAD" if since else "HEAD"))


def remote_tags(repo: Path, remote: str, timeout: float | None = None) -> dict[str, str]:
    """Tag name → peeled commit on ``remote`` (annotated tags resolved through ``^{}``)."""
    done = git(repo, "ls-remote", "--tags", "--", remote, check=False, timeout=timeout)
    if not done.ok:
        raise GitError(
            f"cannot read tags from remote '{remote}': {done.stderr.strip()}",
            hint=f"check `git remote -v` and that '{remote}' is reachable",
        )
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            found[name[:-3]] = sha  # the peeled commit wins over the tag object
        else:
            found.setdefault(name, sha)
    return found


def remotes(repo: Path) -> list[str]:
    return git(repo, "remote").stdout.split()


def create_tag(repo: Path, tag: str, commit: str, message: str) -> None:
    if (problem := ref_name_problem(tag)) is not None:
        raise GitError(f"refusing to make tag {tag!r}: {problem}")
    git(repo, "tag", "--annotate", "--message", message, "--", tag, commit)


def push_tag(repo: Path, remote: str, tag: str, timeout: float | None = None, *,
             branch: str | None = None, commit: str | None = None) -> None:
    """Push ``tag`` (and, with ``branch``, ``commit`` to that branch) in one atomic push:
    both land or neither does. A branch that moved on the remote (someone pushed first) is a
    GitError in Scalpel's words, saying nothing was pushed."""
    refs = [f"{commit}:refs/heads/{branch}"] if branch and commit else []
    done = git(repo, "push", "--atomic", "--porcelain", "--", remote, *refs, f"refs/tags/{tag}",
               timeout=timeout, check=False)
    if done.ok:
        return
    if branch and _moved(done.stdout + done.stderr, branch):
        raise remote_moved(remote, branch)
    detail = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
    raise GitError(f"`git push --atomic {remote} {' '.join(refs)} refs/tags/{tag}` failed "
                   f"(nothing was pushed: the push is atomic): {detail}",
                   hint=f"fix what {remote} says, then run `scalpel apply` again: it pushes "
                   "the branch and the tag together")


def _moved(output: str, branch: str) -> bool:
    """Whether git refused ``branch`` because the remote has commits we do not."""
    for line in output.splitlines():
        if f"refs/heads/{branch}" in line and ("fetch first" in line
                                               or "non-fast-forward" in line):
            return True
    return "Updates were rejected because the remote contains work" in output or \
        "Updates were rejected because the tip of your current branch is behind" in output


def remote_moved(remote: str, branch: str) -> GitError:
    return GitError(f"{remote}'s {branch} moved since the release commit was made: someone "
                    "pushed first; nothing was pushed (no branch, no tag)",
                    hint=f"run `git pull --rebase {remote} {branch}`, then `scalpel plan` and "
                    "`scalpel apply`: the release commit is prepared again on top")


def remote_branch(repo: Path, remote: str, branch: str,
                  timeout: float | None = None) -> str | None:
    """The commit ``branch`` points at on ``remote`` (None when it has no such branch)."""
    done = git(repo, "ls-remote", "--heads", "--", remote, f"refs/heads/{branch}", check=False,
               timeout=timeout)
    if not done.ok:
        raise GitError(f"cannot read branch {branch} from remote '{remote}': "
                       f"{done.stderr.strip()}",
                       hint=f"check `git remote -v` and that '{remote}' is reachable")
    for line in done.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    """Whether ``ancestor`` is ``descendant`` or one of its ancestors (False when either is
    not a commit here, e.g. one only a remote has)."""
    return git(repo, "merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant,
               check=False).ok


def on_a_remote(repo: Path, commit: str) -> bool:
    """Whether any remote-tracking branch here contains ``commit`` (it was pushed)."""
    return bool(git(repo, "branch", "-r", f"--contains={commit}", check=False).stdout.strip())


def show_file(repo: Path, revision: str, path: str) -> str | None:
    """The text of ``path`` at ``revision`` (None when it is not there)."""
    done = git(repo, "show", "--end-of-options", f"{revision}:{path}", check=False)
    return done.stdout if done.ok else None


def move_tags(repo: Path, tags: list[str], commit: str, remote: str | None,
              timeout: float | None = None) -> None:
    """Point lightweight ``tags`` (moving ones: stable, latest) at ``commit``, here and, with
    ``remote``, there (forced, in one atomic push)."""
    for tag in tags:
        git(repo, "tag", "--force", "--", tag, commit)
    if remote and tags:
        git(repo, "push", "--atomic", "--porcelain", "--force", "--", remote,
            *(f"refs/tags/{t}:refs/tags/{t}" for t in tags), timeout=timeout)


@dataclass(frozen=True)
class Tag:
    name: str
    commit: str  # peeled
    date: str  # ISO date the tag (or, for a lightweight tag, its commit) was made


def tags(repo: Path) -> list[Tag]:
    """Every tag with the commit it points at."""
    fmt = FIELD.join(("%(refname:short)", "%(objectname)", "%(*objectname)",
                      "%(creatordate:short)"))
    out = git(repo, "for-each-ref", f"--format={fmt}", "refs/tags").stdout
    found = []
    for line in out.splitlines():
        name, obj, peeled, date = [*line.split(FIELD), "", "", ""][:4]
        found.append(Tag(name, peeled or obj, date))
    return found


# Pre-flight questions (scalpel_plan.plan.preflight asks them before a plan is made).

def is_shallow(repo: Path) -> bool:
    """Whether ``repo`` is a shallow clone (history and tags cut off, as CI checks out): its
    common git folder holds a ``shallow`` file (naming the commits the history is cut at)."""
    try:
        folders = _folders(repo)
    except (OSError, UnicodeDecodeError, ValueError):
        folders = None
    if folders is not None:
        try:
            return (folders[1] / "shallow").exists()
        except OSError:
            pass
    done = git(repo, "rev-parse", "--is-shallow-repository", check=False)
    return done.ok and done.stdout.strip() == "true"


def changed_files(repo: Path) -> list[str]:
    """Tracked files modified or staged in the work tree (untracked and ignored ones are not
    listed), as paths from the top of the work tree."""
    out = git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=no").stdout
    entries = out.split("\0")
    found: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        found.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy: the next entry is where it came from
            i += 1
    return found


def fetch_branch(repo: Path, remote: str, branch: str, timeout: float) -> str | None:
    """The commit ``branch`` is at on ``remote`` (None when the remote has no such branch),
    fetched into its remote-tracking ref unless this clone has that commit already (as a CI
    checkout of the branch's tip does). A GitError when it cannot be read."""
    if remote.startswith("-") or branch.startswith("-"):
        raise GitError(f"refusing remote {remote!r} / branch {branch!r}")
    listed = git(repo, "ls-remote", "--heads", "--", remote, f"refs/heads/{branch}",
                 timeout=timeout).stdout.split()
    if not listed:
        return None
    if listed[0] == head(repo) or has_commit(repo, listed[0]):
        return listed[0]
    tracking = f"refs/remotes/{remote}/{branch}"
    git(repo, "fetch", "--quiet", "--no-tags", "--", remote, f"+refs/heads/{branch}:{tracking}",
        timeout=timeout)
    return git(repo, "rev-parse", "--verify", "--end-of-options", f"{tracking}^{{commit}}"
               ).stdout.strip()  # where it is now: it may have moved since it was listed


def ahead_behind(repo: Path, commit: str, other: str) -> tuple[int, int]:
    """(commits on ``commit`` not on ``other``, commits on ``other`` not on ``commit``)."""
    out = git(repo, "rev-list", "--left-right", "--count", "--end-of-options",
              f"{commit}...{other}", "--").stdout.split()
    return int(out[0]), int(out[1])


LOCK_WAITS, LOCK_WAIT = 10, 0.2  # how long a lock held by a running git process is waited for


def git_dir(repo: Path) -> Path:
    return Path(git(repo, "rev-parse", "--absolute-git-dir").stdout.strip())


def _lock_files(folder: Path) -> list[Path]:
    """The lock files git leaves in ``folder`` (its .git): the index, HEAD, packed refs, refs."""
    found = [folder / name for name in ("index.lock", "HEAD.lock", "packed-refs.lock",
                                        "config.lock", "shallow.lock")
             if (folder / name).exists()]
    refs = folder / "refs"
    if refs.is_dir():
        found += sorted(refs.rglob("*.lock"))
    return found


def _git_processes(repo: Path, folder: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every running git process working in ``repo`` (its work tree or
    its .git folder), read from /proc."""
    places = {repo.resolve(), folder.resolve()}
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not argv or Path(argv[0].decode(errors="replace")).name not in ("git",
                                                                                  "git.exe"):
                continue
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue  # gone meanwhile, or not ours to look at
        if any(cwd == place or place in cwd.parents for place in places):
            found.append((int(entry.name), " ".join(a.decode(errors="replace")
                                                    for a in argv if a)))
    return found


def clear_stale_locks(repo: Path) -> list[str]:
    """Remove the lock files a dead git process left in ``repo`` (a kill during a commit or a
    tag); a sentence for each one removed. While a git process runs in the repository, its
    locks are its own: a GitError naming the process."""
    folder = git_dir(repo)
    locks = _lock_files(folder)
    if not locks:
        return []
    running = _git_processes(repo, folder)
    for _ in range(LOCK_WAITS):  # a git process at work holds its locks for a moment only
        if not running or not (locks := _lock_files(folder)):
            break
        time.sleep(LOCK_WAIT)
        running = _git_processes(repo, folder)
    if not locks:
        return []
    shown = ", ".join(str(lock.relative_to(folder.parent)) if folder.parent in lock.parents
                      else str(lock) for lock in locks)
    if running:
        pid, command = running[0]
        raise GitError(f"{shown} is held by a running git process: pid {pid} ({command})",
                       hint="wait for it to finish (or stop it), then run `scalpel apply` "
                       "again")
    removed = []
    for lock in locks:
        try:
            lock.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise GitError(f"cannot remove the stale lock file {lock}: {exc.strerror}",
                           hint=f"remove it by hand: rm {lock}") from None
        where = lock.relative_to(folder.parent) if folder.parent in lock.parents else lock
        removed.append(f"removed {where}, left by a git process that is no longer running")
    return removed


REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_name_problem(name: str) -> str | None:
    """Why git refuses ``name`` as a tag or branch name (the rules of `git check-ref-format`,
    and git tag's and branch's own: no leading '-'), or None when it takes it."""
    if not name:
        return "it is empty"
    if len(name.encode()) > 255:
        return "it is longer than 255 bytes"
    if name.startswith("-"):
        return "it starts with '-', which git reads as an option"
    if (found := REF_FORBIDDEN.search(name)) is not None:
        char = found[0]
        shown = "a space" if char == " " else ("a control character" if ord(char) < 32 or
                                                ord(char) == 127 else repr(char))
        return f"it holds {shown}"
    if ".." in name:
        return "it holds '..'"
    if "@{" in name:
        return "it holds '@{'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "it starts or ends with '/', or holds '//'"
    if name.endswith("."):
        return "it ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"a part of it ({part!r}) starts with '.'"
        if part.endswith(".lock"):
            return f"a part of it ({part!r}) ends with '.lock'"
    return None


# Refs outside branches and tags, written only by compare-and-swap (the git state backend) -----
class RefRace(NamedTuple):
    """A push refused because the ref was no longer what the writer expected."""

    ref: str
    detail: str


def fetch_refs(repo: Path, remote: str, pattern: str, into: str,
               timeout: float | None = None) -> None:
    """Mirror ``remote``'s refs matching ``pattern`` (``refs/x/*``) as ``into`` (``refs/y/*``),
    dropping those the remote no longer has: one fetch."""
    git(repo, "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head",
        "--end-of-options", remote, f"+{pattern}:{into}", timeout=timeout)


def ref_oid(repo: Path, ref: str) -> str | None:
    done = git(repo, "rev-parse", "--verify", "-q", "--end-of-options", ref, check=False)
    return done.stdout.strip() if done.ok else None


def read_blob(repo: Path, revision: str, path: str) -> str | None:
    """The text of ``path`` in ``revision``'s tree, or None when it has no such file."""
    done = git(repo, "cat-file", "blob", "--end-of-options", f"{revision}:{path}", check=False)
    return done.stdout if done.ok else None


def tree_files(repo: Path, revision: str) -> dict[str, str]:
    """Every file in ``revision``'s tree: its path and its blob's object id."""
    listing = git(repo, "ls-tree", "-r", "-z", "--end-of-options", revision).stdout
    files = {}
    for entry in listing.split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            files[path] = meta.split()[2]
    return files


def hash_blob(repo: Path, text: str) -> str:
    """Store ``text`` as a blob; its object id."""
    return git(repo, "hash-object", "-w", "--stdin", stdin=text).stdout.strip()


def write_tree(repo: Path, files: dict[str, str]) -> str:
    """A tree object holding ``files`` (relative paths to blob object ids); its object id."""
    nested: dict[str, object] = {}
    for name, oid in files.items():
        *folders, leaf = name.split("/")
        level = nested
        for folder in folders:
            level = level.setdefault(folder, {})  # type: ignore[assignment]
        level[leaf] = oid
    return _mktree(repo, nested)


def _mktree(repo: Path, entries: dict[str, object]) -> str:
    lines = []
    for name, value in sorted(entries.items()):
        if isinstance(value, str):
            lines.append(f"100644 blob {value}\t{name}")
        else:
            lines.append(f"040000 tree {_mktree(repo, value)}\t{name}")  # type: ignore[arg-type]
    return git(repo, "mktree", stdin="".join(f"{line}\n" for line in lines)).stdout.strip()


def commit_tree(repo: Path, tree: str, message: str, who: str) -> str:
    """A parentless commit of ``tree``, by ``who`` (no identity need be configured)."""
    ident = {"GIT_AUTHOR_NAME": who, "GIT_AUTHOR_EMAIL": "scalpel@localhost",
             "GIT_COMMITTER_NAME": who, "GIT_COMMITTER_EMAIL": "scalpel@localhost"}
    return git(repo, "commit-tree", "-F", "-", "--end-of-options", tree, stdin=message,
               env=ident).stdout.strip()


def commit_message(repo: Path, oid: str) -> str:
    return git(repo, "log", "-1", "--format=%B", "--end-of-options", oid, "--").stdout.strip()


RACE_REASONS = ("stale info", "fetch first", "already exists", "non-fast-forward")


def push_ref(repo: Path, remote: str, ref: str, new: str | None, expected: str | None,
             timeout: float | None = None) -> RefRace | None:
    """Set ``remote``'s ``ref`` to ``new`` (delete it when None) only if it is ``expected``
    now (absent when None): a compare-and-swap the receiving side checks under its ref lock.
    Returns the race when the ref had moved; nothing is overwritten then."""
    source = new or ""
    done = git(repo, "push", "--porcelain", "--no-verify", f"--force-with-lease={ref}:"
               f"{expected or ''}", "--end-of-options", remote, f"{source}:{ref}",
               check=False, timeout=timeout)
    if done.ok:
        return None
    output = f"{done.stdout}\n{done.stderr}"
    if any(reason in output for reason in RACE_REASONS):
        return RefRace(ref, output.strip().splitlines()[-1] if output.strip() else "")
    detail = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
    raise GitError(f"`git push {remote} {source}:{ref}` failed: {detail}")
