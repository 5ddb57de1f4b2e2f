"""`git.head` reads HEAD from git's files (a stage asks at every run): it must answer what
`git rev-parse HEAD` answers, in every shape a repository comes in. Real repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git

from scalpel_plan import git as scalpel_git
from scalpel_plan import process


def rev_parse(where: Path) -> str | None:
    done = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD^{commit}"], cwd=where,
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def new_repo(path: Path, commits: int = 2) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(commits):
        (path / "file.txt").write_text(f"{i}\n")
        git(path, "add", "file.txt")
        git(path, "commit", "-qm", f"commit {i}")
    return path


@pytest.fixture
def no_git_process(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every command Scalpel would run, kept: the usual shapes need none."""
    ran: list[object] = []
    real = process.run

    def run(command, **kwargs):  # type: ignore[no-untyped-def]
        ran.append(command)
        return real(command, **kwargs)

    monkeypatch.setattr(process, "run", run)
    return ran


def same_as_git(where: Path) -> str | None:
    found = scalpel_git.head(where)
    assert found == rev_parse(where)
    return found


def test_a_branch_with_loose_and_with_packed_refs(tmp_path: Path, no_git_process) -> None:
    repo = new_repo(tmp_path / "repo")
    assert same_as_git(repo)
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert same_as_git(repo)
    (repo / "file.txt").write_text("after packing\n")  # a loose ref newer than the packed one
    git(repo, "commit", "-qam", "after packing")
    assert same_as_git(repo) == git(repo, "rev-parse", "HEAD")
    (repo / "sub").mkdir()
    assert same_as_git(repo / "sub") == git(repo, "rev-parse", "HEAD")
    assert no_git_process == []


def test_detached_head_and_a_chain_of_symbolic_refs(tmp_path: Path, no_git_process) -> None:
    repo = new_repo(tmp_path / "repo", commits=3)
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert same_as_git(repo) == git(repo, "rev-parse", "main~1")
    git(repo, "checkout", "-q", "main")
    git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
    git(repo, "symbolic-ref", "HEAD", "refs/heads/alias")
    assert same_as_git(repo) == git(repo, "rev-parse", "main")
    git(repo, "pack-refs", "--all")  # the alias stays a loose symbolic ref, main is packed
    assert same_as_git(repo) == git(repo, "rev-parse", "main")
    assert no_git_process == []


def test_worktrees_and_a_git_file(tmp_path: Path, no_git_process) -> None:
    repo = new_repo(tmp_path / "repo")
    git(repo, "branch", "other", "HEAD~1")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "other")
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "detached"), "main")
    assert (tmp_path / "wt" / ".git").is_file()
    assert same_as_git(tmp_path / "wt") == git(repo, "rev-parse", "other")
    assert same_as_git(tmp_path / "detached") == git(repo, "rev-parse", "main")
    assert same_as_git(repo) == git(repo, "rev-parse", "main")
    git(repo, "pack-refs", "--all")  # the worktree's branch now only in the common packed-refs
    assert same_as_git(tmp_path / "wt") == git(repo, "rev-parse", "other")
    # a separate git folder (as `git init --separate-git-dir` and submodules make)
    separate = tmp_path / "separate"
    separate.mkdir()
    git(separate, "init", "-q", "-b", "main", "--separate-git-dir", str(tmp_path / "gitdir"))
    (separate / "a.txt").write_text("a\n")
    git(separate, "add", "a.txt")
    git(separate, "commit", "-qm", "a")
    assert same_as_git(separate)
    assert no_git_process == []


def test_no_commit_yet_an_orphan_branch_and_no_repository(tmp_path: Path) -> None:
    empty = new_repo(tmp_path / "empty", commits=0)
    assert same_as_git(empty) is None
    repo = new_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "--orphan", "fresh")
    assert same_as_git(repo) is None
    outside = tmp_path / "outside"
    outside.mkdir()
    ceiling = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=outside, capture_output=True)
    if ceiling.returncode:  # (tmp_path is not inside some repository)
        assert same_as_git(outside) is None


def test_what_only_git_should_read_is_left_to_git(tmp_path: Path, no_git_process,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo")
    other = new_repo(tmp_path / "other", commits=1)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))  # git's own variable wins over files
    assert scalpel_git.head(repo) == git(repo, "rev-parse", "HEAD") == rev_parse(other)
    assert no_git_process
    monkeypatch.delenv("GIT_DIR")
    no_git_process.clear()
    git(repo, "config", "extensions.refStorage", "reftable")  # refs not in files: git reads
    scalpel_git.head(repo)  # (whatever this git makes of it)
    assert no_git_process


def branch_by_git(where: Path) -> str | None:
    done = subprocess.run(["git", "symbolic-ref", "--quiet", "--short", "HEAD"], cwd=where,
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def shallow_by_git(where: Path) -> bool:
    return git(where, "rev-parse", "--is-shallow-repository") == "true"


def test_the_branch_and_shallowness_are_gits_own_answers(tmp_path: Path, no_git_process
                                                          ) -> None:
    """`current_branch` and `is_shallow` (asked before every plan) answer as `git
    symbolic-ref` and `git rev-parse --is-shallow-repository` do, from the files."""
    repo = new_repo(tmp_path / "repo", commits=3)
    git(repo, "branch", "release/1.x", "HEAD~1")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "release/1.x")
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "detached"), "main")
    empty = new_repo(tmp_path / "empty", commits=0)
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    git(clone, "worktree", "add", "-q", "-b", "side", str(tmp_path / "shallow-wt"))
    shapes = [repo, repo / ".git", tmp_path / "wt", tmp_path / "detached", empty, clone,
              tmp_path / "shallow-wt"]
    for where in shapes:
        assert scalpel_git.current_branch(where) == branch_by_git(where), where
        assert scalpel_git.is_shallow(where) == shallow_by_git(where), where
    assert [scalpel_git.is_shallow(w) for w in shapes] == [False] * 5 + [True] * 2
    assert scalpel_git.current_branch(tmp_path / "wt") == "release/1.x"
    git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/main")  # HEAD → alias → main
    git(repo, "symbolic-ref", "HEAD", "refs/heads/alias")
    assert scalpel_git.current_branch(repo) == branch_by_git(repo) == "main"
    assert len(no_git_process) == 1  # (a chain of symbolic refs: git follows it)
    no_git_process.clear()
    git(repo, "checkout", "-q", "--orphan", "fresh")  # a branch with no commit yet
    assert scalpel_git.current_branch(repo) == branch_by_git(repo) == "fresh"
    git(clone, "fetch", "-q", "--unshallow")
    assert scalpel_git.is_shallow(clone) is shallow_by_git(clone) is False
    assert no_git_process == []
