"""Releases by ancestry (issue 12, item 1): each release of `scalpel changelog --all` holds the
commits reachable from its tag and from no earlier release tag, what `git log PREV..TAG` gives
(PREV: the highest release tag that is an ancestor of TAG; git-cliff's semantics), whatever the
commit dates say. The ground truth is asked of git in each test, never of Scalpel.

The histories are real git repositories, made with `git commit-tree` (no work tree needed), with
dates set explicitly so that they can run backwards."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

SPEC = "project: {name: widgets}\nchangelog: {other: keep}\n"


class History:
    """A repository built commit by commit: ``commit`` takes the parents and a date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        (path / "release.yml").write_text(SPEC)
        self.clock = 1_700_000_000
        self.tree = self.git("mktree")  # the empty tree (every commit has it)

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True,
                              check=True, env={**os.environ, **(env or {})},
                              stdin=subprocess.DEVNULL)
        return done.stdout.strip()

    def commit(self, message: str, *parents: str, at: int | None = None) -> str:
        self.clock += 60
        stamp = f"{at if at is not None else self.clock} +0000"
        args = [a for p in parents for a in ("-p", p)]
        return self.git("commit-tree", self.tree, *args, "-m", message,
                        env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
                             "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
                             "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com"})

    def tag(self, name: str, sha: str, *, annotated: bool = True) -> None:
        self.git("tag", *(("-a", "-m", name) if annotated else ()), name, sha)

    def head(self, sha: str) -> None:
        self.git("update-ref", "refs/heads/main", sha)

    def log(self, revisions: str) -> set[str]:
        return set(self.git("log", "--format=%H", revisions).split())

    def truth(self, *, exact: bool = True) -> dict[str, set[str]]:
        """tag → ``git log PREV..TAG`` for every release tag in HEAD's history, and
        "Unreleased" → the commits of HEAD in no release tag (asked of git; ancestry from
        `git log` itself: `git tag --merged` cuts its walk by commit date and misses tags
        in a history dated out of order).

        Where a lower tag that is not an ancestor of PREV is one of TAG's (a maintenance
        branch merged later), ``PREV..TAG`` would list its commits a second time: they stay
        in the lower release (``TAG --not`` every lower tag); ``exact`` asserts that this
        never happens, that each release is exactly ``PREV..TAG``."""
        every = self.git("tag").split()
        reach = {t: self.log(t) for t in every}
        head = self.log("HEAD")
        tags = [t for t in every if self.git("rev-parse", f"{t}^{{commit}}") in head]
        version = {t: tuple(int(n) for n in t[1:].split(".")) for t in tags}
        expected = {}
        commit = {t: self.git("rev-parse", f"{t}^{{commit}}") for t in tags}
        for tag in tags:
            lower = [t for t in tags if version[t] < version[tag]]
            below = [t for t in lower if commit[t] in reach[tag]]
            prev = max(below, key=version.__getitem__) if below else None
            own = reach[tag] - set().union(*(reach[t] for t in lower))
            if exact:
                assert own == self.log(f"{prev}..{tag}" if prev else tag), tag
            expected[tag] = own
        expected["Unreleased"] = head - set().union(*(reach[t] for t in tags))
        return {k: v for k, v in expected.items() if v or k != "Unreleased"}


def scalpel(history: History, cli) -> tuple[dict[str, list[str]], str]:
    """tag (or "Unreleased") → the shas `scalpel changelog --all --format json` lists, and
    what it said on stderr."""
    result = cli(history.path, "changelog", "--all", "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    releases = data["releases"] if isinstance(data, dict) else data
    listed = {(r["tag"] or "Unreleased"): [e["sha"] for s in r["sections"] for e in s["entries"]]
              for r in releases}
    return listed, result.err


def check(history: History, cli, *, exact: bool = True) -> dict[str, list[str]]:
    listed, _ = scalpel(history, cli)
    assert {k: set(v) for k, v in listed.items()} == history.truth(exact=exact)
    everything = [sha for shas in listed.values() for sha in shas]
    assert len(everything) == len(set(everything))  # each commit once
    assert set(everything) == history.log("HEAD")  # and none lost
    return listed


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "work")


def test_a_branch_merged_after_a_tag_is_in_the_release_that_merged_it(history, cli):
    """The minimal case of the issue."""
    root = history.commit("feat: first")
    history.tag("v1.0.0", root)
    fork = history.commit("fix: on main before the branch", root)
    branch = history.commit("feat: on the branch", fork)
    main = history.commit("fix: on main", fork)
    history.tag("v1.1.0", main)
    merge = history.commit("feat: merge the branch", main, branch)
    history.tag("v1.2.0", merge)
    history.head(merge)
    listed = check(history, cli)
    assert branch in listed["v1.2.0"] and branch not in listed["v1.1.0"]
    assert set(listed["v1.2.0"]) == {branch, merge}
    assert set(listed["v1.1.0"]) == {fork, main}


def test_commit_dates_running_backwards_do_not_move_commits(history, cli):
    root = history.commit("feat: first", at=1_800_000_000)
    history.tag("v0.1.0", root)
    a = history.commit("feat: a", root, at=1_500_000_000)  # dated before its parent
    late = history.commit("feat: dated after everything", root, at=2_100_000_000)
    b = history.commit("fix: b merges it", a, late, at=1_900_000_000)
    history.tag("v0.2.0", b)
    c = history.commit("feat: c", b, at=1_000_000_000)  # dated before every tag
    d = history.commit("fix: d", c, at=1_200_000_000)
    history.tag("v0.3.0", d, annotated=False)
    e = history.commit("feat: e", d, at=900_000_000)
    history.head(e)
    listed = check(history, cli)
    assert set(listed["v0.2.0"]) == {a, late, b} and set(listed["v0.3.0"]) == {c, d}
    assert listed["Unreleased"] == [e]


def test_a_long_lived_branch_merged_after_two_later_tags(history, cli):
    root = history.commit("feat: first")
    history.tag("v1.0.0", root)
    long = [history.commit("feat: long-lived 1", root)]
    main = history.commit("fix: main 1", root)
    history.tag("v1.1.0", main)
    long.append(history.commit("feat: long-lived 2", long[-1]))
    main = history.commit("fix: main 2", main)
    history.tag("v1.2.0", main)
    long.append(history.commit("feat: long-lived 3", long[-1]))
    merge = history.commit("feat: merge long-lived", main, long[-1])
    after = history.commit("fix: after the merge", merge)
    history.tag("v2.0.0", after)
    history.head(after)
    listed = check(history, cli)
    assert set(listed["v2.0.0"]) == {*long, merge, after}
    assert len(listed["v1.1.0"]) == 1 and len(listed["v1.2.0"]) == 1


def test_a_tag_on_another_branch_is_left_out_with_a_note(history, cli):
    root = history.commit("feat: first")
    history.tag("v1.0.0", root)
    fix = history.commit("fix: on the maintenance branch", root)
    history.tag("v1.0.1", fix)
    main = history.commit("feat: on main", root)
    history.tag("v1.1.0", main)
    history.head(main)
    listed, err = scalpel(history, cli)
    assert "v1.0.1" not in listed and fix not in {s for v in listed.values() for s in v}
    assert "v1.0.1" in err and "Left out" in err
    check(history, cli)


def generate(history: History, seed: int, commits: int = 200) -> None:
    """A history with merges of short and long-lived branches (some merged after later tags),
    commits dated at random, ~10 release tags on main and one on a maintenance branch."""
    rng = random.Random(seed)
    main = history.commit("feat: first", at=rng.randrange(10**9, 2 * 10**9))
    branches: list[str] = []
    minor, made = 0, 1
    while made < commits:
        at = rng.randrange(10**9, 2 * 10**9)
        roll = rng.random()
        if roll < 0.1 and len(branches) < 4:
            branches.append(history.commit(f"feat: start branch {made}", main, at=at))
        elif roll < 0.45 and branches:
            i = rng.randrange(len(branches))
            branches[i] = history.commit(f"fix: branch work {made}", branches[i], at=at)
        elif roll < 0.55 and branches:
            tip = branches.pop(rng.randrange(len(branches)))
            main = history.commit(f"feat: merge {made}", main, tip, at=at)
        else:
            main = history.commit(f"fix: main work {made}", main, at=at)
        made += 1
        if made % 20 == 0:
            minor += 1
            history.tag(f"v0.{minor}.0", main, annotated=rng.random() < 0.5)
            if minor == 3:  # a maintenance release off this one, never merged
                history.tag("v0.3.1", history.commit("fix: maintenance", main, at=at))
    history.head(main)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_release_of_a_generated_history_is_git_log_prev_to_tag(history, cli, seed):
    generate(history, seed)
    listed = check(history, cli)
    assert len([t for t in listed if t != "Unreleased"]) >= 9
    assert len(history.log("HEAD")) >= 150
    merges = history.git("rev-list", "--merges", "HEAD").split()
    assert merges and all(any(m in shas for shas in listed.values()) for m in merges)


def test_the_cache_gives_the_same_releases_and_a_merged_maintenance_tag_is_seen(history, cli,
                                                                              monkeypatch):
    generate(history, 7, commits=80)
    check(history, cli)
    cache = history.path / ".scalpel" / "cache" / "history-v2.marshal"
    assert not cache.exists()  # a tag outside HEAD's history: nothing cached
    maintenance = history.git("rev-parse", "v0.3.1^{commit}")
    merge = history.commit("feat: merge the maintenance branch", "main", maintenance)
    history.head(merge)
    listed = check(history, cli, exact=False)  # v0.4.0..HEAD has v0.3.1's commit too
    assert listed["v0.3.1"] == [maintenance] and listed["Unreleased"] == [merge]
    assert not cache.exists()  # v0.3.1 is not an ancestor of v0.4.0: "after v0.4.0" is wrong
    history.tag("v0.5.0", merge)
    first = check(history, cli, exact=False)
    assert cache.exists() and first["v0.5.0"] == [merge]
    from scalpel_plan import git as git_module

    walked: list[str] = []
    real_log = git_module.log

    def log(repo, revisions="HEAD"):
        walked.append(revisions)
        return real_log(repo, revisions)

    monkeypatch.setattr(git_module, "log", log)
    assert check(history, cli, exact=False) == first  # again, from the cache
    assert walked == [f"{merge}..HEAD"]  # only what came after the newest release
    history.head(history.commit("fix: after the cache", merge))
    listed = check(history, cli, exact=False)
    assert len(listed["Unreleased"]) == 1 and listed["v0.5.0"] == first["v0.5.0"]


def test_the_tags_in_heads_history_are_found_whatever_the_dates(history):
    """`git tag --merged HEAD` cuts its walk by commit date: in this history it misses eight of
    the ten tags that HEAD contains (so the next version was decided from a wrong base)."""
    from scalpel_plan import git as git_module

    generate(history, 3)
    expected = sorted(t for t in history.truth() if t != "Unreleased")
    assert len(expected) == 10
    assert git_module.tags_merged(history.path) == expected
