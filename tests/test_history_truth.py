"""Golden histories in git-cliff's style (issue 12, Tests): each case is a repository made for
it, and the release every commit belongs to is asked of git in the test itself (`git log
PREV..TAG`, PREV the highest release tag that is an ancestor of TAG, checked against
`rev-list TAG` less `rev-list PREV`), never of Scalpel; then `scalpel changelog --all` and
`--from PREV --to TAG` must say the same.

test_ancestry.py has the shapes one at a time (v-tags only), test_messages.py the messages of
one range, test_tags.py the plan's next version; here they come together in one project's life:
two tag styles, other packages' tags, a beta series as the base of a release, a maintenance
tag, CRLF, CR and byte-order-marked messages, reverts by trailer, and a property test over
arbitrary message bytes across several releases.

Commits are written object by object (`git hash-object -t commit`): messages reach git byte
for byte (an `encoding` header too), and dates can run backwards."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import git

SPEC = ("project: {name: widgets}\n"
        "version:\n"
        "  tag: ['{version}', 'v{version}']\n"
        "  ignore_tags: ['other-pkg@*', 'create-widget@*']\n"
        "changelog: {other: keep}\n")


class Story:
    """A repository written commit object by commit object."""

    def __init__(self, path: Path, spec: str = SPEC) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        (path / "release.yml").write_text(spec)
        self.tree = self.git("mktree", stdin=b"")
        self.clock = 1_700_000_000

    def git(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
            ) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, input=stdin, capture_output=True,
                              check=True, env={**os.environ, **(env or {})})
        return done.stdout.decode().strip()

    def commit(self, message: bytes | str, *parents: str, at: int | None = None,
               encoding: str | None = None) -> str:
        """A commit with exactly ``message``; ``at`` is both its dates (default: a minute
        after the previous commit's)."""
        self.clock += 60
        stamp = f"{at if at is not None else self.clock} +0000"
        raw = message.encode() if isinstance(message, str) else message
        header = f"tree {self.tree}\n" + "".join(f"parent {p}\n" for p in parents) + \
            f"author A <a@example.com> {stamp}\ncommitter A <a@example.com> {stamp}\n" + \
            (f"encoding {encoding}\n" if encoding else "")
        return self.git("hash-object", "-t", "commit", "-w", "--stdin",
                        stdin=header.encode() + b"\n" + raw)

    def tag(self, name: str, target: str, *, annotated: bool = True) -> None:
        self.git("tag", *(("-a", "-m", f"release {name}") if annotated else ()), name, target)

    def head(self, sha: str) -> None:
        self.git("update-ref", "refs/heads/main", sha)

    def shas(self, *args: str) -> set[str]:
        return set(self.git(*args).split())

    def truth(self, releases: list[str], *, log: bool = True) -> dict[str, set[str]]:
        """tag → its commits by git, for the ``releases`` (lowest version first, as the test
        declares them) in HEAD's history; "Unreleased" → HEAD's commits in none of them.
        ``log``: assert that `git log PREV..TAG` says the same."""
        head = self.shas("rev-list", "HEAD")
        inside = [t for t in releases if self.git("rev-parse", f"{t}^{{commit}}") in head]
        found: dict[str, set[str]] = {}
        for i, tag in enumerate(inside):
            below = [t for t in inside[:i] if subprocess.run(
                ["git", "merge-base", "--is-ancestor", t, tag], cwd=self.path).returncode == 0]
            prev = below[-1] if below else None
            # what PREV..TAG means, from two whole walks: git's walk of the range itself
            # stops on PREV's side by commit date, and is wrong where they run far backwards
            own = self.shas("rev-list", tag) - (self.shas("rev-list", prev) if prev else set())
            if log:
                assert own == self.shas("log", "--format=%H", f"{prev}..{tag}" if prev else tag)
            found[tag] = own
        rest = head - set().union(*found.values())
        return {**found, **({"Unreleased": rest} if rest else {})}

    def previous(self, releases: list[str], tag: str) -> str | None:
        """PREV of ``tag``: the highest of ``releases`` below it that is its ancestor."""
        below = releases[:releases.index(tag)]
        return next((t for t in reversed(below) if subprocess.run(
            ["git", "merge-base", "--is-ancestor", t, tag], cwd=self.path).returncode == 0),
            None)


def changelog(cli, story: Story, *args: str) -> tuple[dict[str, dict], str]:
    """tag (or "Unreleased") → sha → entry, from `scalpel changelog ARGS --format json`, and
    what it said on stderr. A commit listed twice fails here."""
    done = cli(story.path, "changelog", *args, "--format", "json")
    assert done.code == 0, done.err
    found: dict[str, dict] = {}
    seen: set[str] = set()
    for release in json.loads(done.out)["releases"]:
        entries = {e["sha"]: e for s in release["sections"] for e in s["entries"]}
        assert not seen & set(entries), "a commit is listed twice"
        seen |= set(entries)
        found[release["tag"] or "Unreleased"] = entries
    return found, done.err


def a_projects_life(story: Story) -> dict[str, str]:
    """The golden history; its commits by name.

        v0.1.0   root
        v0.2.0   crlf (lightweight; other-pkg@1.0.0 on it too)   long-lived: next1, next2
        v0.2.1   backport: on a maintenance branch, never merged
        1.0.0-beta.0   bom
        1.0.0-beta.1   doomed (create-widget@0.3.0 on it, lightweight)
        1.0.0    cr, merge of the long-lived branch (forked before v0.2.0)
        1.1.0    revert of doomed (by trailer, in a later release: both stay), kept, and a
                 commit with its revert (same release: both go)
        Unreleased  dated before every tag
    """
    c: dict[str, str] = {}
    c["root"] = story.commit("chore: initial commit")
    story.tag("v0.1.0", c["root"])
    c["parser"] = story.commit("feat: a parser", c["root"])
    c["next1"] = story.commit("feat(next): long-lived work", c["parser"], at=600_000_000)
    c["crlf"] = story.commit(b"feat(api): new api\r\n\r\nWhy it changed.\r\n\r\n"
                             b"BREAKING CHANGE: the old api is gone\r\nCloses #12\r\n",
                             c["parser"])
    story.tag("v0.2.0", c["crlf"], annotated=False)
    story.tag("other-pkg@1.0.0", c["crlf"])
    c["backport"] = story.commit("fix: backported", c["crlf"])
    story.tag("v0.2.1", c["backport"])
    c["bom"] = story.commit("\ufefffeat(ui): marked with a BOM", c["crlf"])
    story.tag("1.0.0-beta.0", c["bom"])
    c["next2"] = story.commit("fix(next): more long-lived work", c["next1"], at=2_100_000_000)
    c["doomed"] = story.commit("feat: to be reverted", c["bom"])
    story.tag("1.0.0-beta.1", c["doomed"])
    story.tag("create-widget@0.3.0", c["doomed"], annotated=False)
    c["cr"] = story.commit(b"fix: old mac\r\rsome text\r\rFixes #3\r", c["doomed"])
    c["merge"] = story.commit("feat: merge the long-lived branch", c["cr"], c["next2"])
    story.tag("1.0.0", c["merge"])
    c["revert"] = story.commit(f'fix: Revert "feat: to be reverted"\n\nThis reverts commit '
                               f'{c["doomed"]}.\n', c["merge"])
    c["kept"] = story.commit("feat: kept", c["revert"])
    c["short"] = story.commit("feat: short-lived", c["kept"])
    c["undo"] = story.commit(f"chore: undo it\n\nThis reverts commit {c['short']}.\n",
                             c["short"])
    story.tag("1.1.0", c["undo"])
    c["late"] = story.commit("fix: dated before every tag", c["undo"], at=500_000_000)
    story.head(c["late"])
    return c


RELEASES = ["v0.1.0", "v0.2.0", "v0.2.1", "1.0.0-beta.0", "1.0.0-beta.1", "1.0.0", "1.1.0"]
CANCELLED = {"short", "undo"}  # a revert and its commit in one release: neither is listed


def test_a_projects_life_is_what_git_says_release_by_release(tmp_path, cli):
    story = Story(tmp_path / "w")
    c = a_projects_life(story)
    name = {sha: n for n, sha in c.items()}
    truth = story.truth(RELEASES)
    listed, err = changelog(cli, story, "--all")
    expected = {tag: {sha for sha in shas if name[sha] not in CANCELLED}
                for tag, shas in truth.items()}
    assert {tag: set(entries) for tag, entries in listed.items()} == expected
    # the same, spelled out (the golden file): and what git's answer was for each commit
    assert {tag: sorted(name[s] for s in entries) for tag, entries in listed.items()} == {
        "Unreleased": ["late"], "1.1.0": ["kept", "revert"],
        "1.0.0": ["cr", "merge", "next1", "next2"], "1.0.0-beta.1": ["doomed"],
        "1.0.0-beta.0": ["bom"], "v0.2.0": ["crlf", "parser"], "v0.1.0": ["root"]}
    # the maintenance tag is left out with a note; the other packages' tags say nothing
    assert "v0.2.1" in err and "Left out 1" in err
    assert "other-pkg" not in err and "create-widget" not in err
    # messages as git stores them, in the release git gives them
    crlf = listed["v0.2.0"][c["crlf"]]
    assert crlf["breaking"] and crlf["breaking_note"] == "the old api is gone"
    assert crlf["issues"] == [12] and crlf["body"] == "Why it changed."
    cr = listed["1.0.0"][c["cr"]]
    assert (cr["description"], cr["body"], cr["issues"]) == ("old mac", "some text", [3])
    bom = listed["1.0.0-beta.0"][c["bom"]]
    assert (bom["type"], bom["scope"], bom["description"]) == ("feat", "ui", "marked with a BOM")
    assert listed["1.1.0"][c["revert"]]["reverts"] == c["doomed"]
    versions = {tag: version for tag, version in (
        (r["tag"], r["version"]) for r in json.loads(
            cli(story.path, "changelog", "--all", "--format", "json").out)["releases"])}
    assert versions == {None: "Unreleased", "1.1.0": "1.1.0", "1.0.0": "1.0.0",
                        "1.0.0-beta.1": "1.0.0-beta.1", "1.0.0-beta.0": "1.0.0-beta.0",
                        "v0.2.0": "0.2.0", "v0.1.0": "0.1.0"}
    plan = cli(story.path, "plan", "--format", "json")  # the next release, in the new style
    assert plan.code == 0, plan.err
    release = json.loads(plan.out)["release"]
    assert (release["previous"], release["version"], release["tag"]) == ("1.1.0", "1.1.1",
                                                                         "1.1.1")


def test_from_prev_to_tag_is_the_same_release(tmp_path, cli):
    story = Story(tmp_path / "w")
    c = a_projects_life(story)
    name = {sha: n for n, sha in c.items()}
    truth = story.truth(RELEASES)
    for tag in [t for t in RELEASES if t in truth]:
        prev = story.previous(RELEASES, tag)
        if prev is None:
            continue
        listed, _ = changelog(cli, story, "--from", prev, "--to", tag)
        assert list(listed) == [tag]
        assert set(listed[tag]) == {s for s in truth[tag] if name[s] not in CANCELLED}, tag
    listed, _ = changelog(cli, story, "--from", "1.1.0")
    assert set(listed) == {"Unreleased"} and set(listed["Unreleased"]) == truth["Unreleased"]


def test_a_range_dated_backwards_holds_only_its_own_commits(tmp_path, cli):
    """Committer dates that run far backwards: git's quick walk of PREV..TAG stops on PREV's
    side by date (five commits past the last one it lists) and lists `shared`, which PREV
    contains. With a commit-graph (`git gc` writes one) a walk in date order is exact: the
    plan's commits since the last tag and `--from` use it."""
    story = Story(tmp_path / "w")
    shared = story.commit("feat!: shared, released in 1.0.0", at=1_600_000_000)
    old = shared
    for n in range(8):  # more than git's five
        old = story.commit(f"fix: dated long before {n}", old, at=600_000_000 + n)
    prev = story.commit("feat: the release before", old, at=1_610_000_000)
    story.tag("v1.0.0", prev)
    side = story.commit("fix: on a branch", shared, at=1_605_000_000)
    tip = story.commit("feat: merge the branch", prev, side, at=1_620_000_000)
    story.head(tip)
    story.git("commit-graph", "write", "--reachable")
    assert story.truth(["v1.0.0"], log=False)["Unreleased"] == {side, tip}
    plan = cli(story.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    release = json.loads(plan.out)["release"]
    assert release["version"] == "1.1.0", release["reason"]  # not 2.0.0: shared is released
    story.tag("v1.1.0", tip)
    after = story.commit("fix: after", tip, at=1_630_000_000)
    story.head(after)
    story.git("commit-graph", "write", "--reachable")
    truth = story.truth(["v1.0.0", "v1.1.0"], log=False)
    assert truth["v1.1.0"] == {side, tip}
    listed, _ = changelog(cli, story, "--from", "v1.0.0", "--to", "v1.1.0")
    assert set(listed["v1.1.0"]) == {side, tip}
    listed, _ = changelog(cli, story, "--all")
    assert {t: set(e) for t, e in listed.items()} == truth


def test_a_release_tag_on_a_tree_is_an_error_for_all_and_from(tmp_path, cli):
    story = Story(tmp_path / "w")
    root = story.commit("feat: first")
    story.tag("v0.1.0", root)
    story.head(story.commit("fix: second", root))
    tree = story.tree
    story.tag("v0.2.0", tree)  # annotated, on a tree
    story.tag("0.3.0", tree, annotated=False)  # lightweight, on the same tree
    for args in (["--all"], ["--from", "v0.1.0"], ["--from", "v0.1.0", "--to", "HEAD"]):
        done = cli(story.path, "changelog", *args)
        assert done.code == 1, (args, done.out)
        assert "Traceback" not in done.err
        assert "points at a tree, not a commit" in done.err
        assert "v0.2.0" in done.err or "0.3.0" in done.err
        assert "ignore_tags" in done.err
    (story.path / "release.yml").write_text(SPEC.replace("'create-widget@*'",
                                                         "'create-widget@*', 'v0.2.0', '0.3.0'"))
    listed, err = changelog(cli, story, "--all")
    assert set(listed) == {"Unreleased", "v0.1.0"} and "tree" not in err


# -- property: arbitrary bytes in messages, across releases, each commit once where git says --

pieces = st.sampled_from([b"feat: x", b"fix(a)!: y", b"\r\n", b"\r", b"\n", b"\n\n", b"\x1e",
                          b"\x1f", b"\xef\xbb\xbf", b"\xff\xfe", b"\xe9", b"Closes #1",
                          b"BREAKING CHANGE:", b"Merge branch 'x'", b" ", b"\t", b"\x00"])
messages = st.one_of(
    st.binary(max_size=200),
    st.lists(pieces, max_size=10).map(b"".join),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
).map(lambda raw: raw.replace(b"\0", b""))  # NUL: the one byte git cannot keep in a message
steps = st.lists(st.tuples(
    st.sampled_from(["main", "main", "side", "merge", "tag"]), messages,
    st.sampled_from([None, None, "ISO-8859-1", "x-unknown"]),  # the commit's encoding header
    st.integers(500_000_000, 2_000_000_000)), min_size=1, max_size=14)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_every_commit_is_listed_once_under_the_release_git_says(cli, plan):
    with tempfile.TemporaryDirectory() as folder:
        story = Story(Path(folder) / "w")
        main = story.commit("chore: first", at=1_000_000_000)
        side, releases, made = main, [], {main}
        for kind, raw, encoding, at in plan:
            if kind == "tag":
                if releases and story.git("rev-parse", f"{releases[-1]}^{{commit}}") == main:
                    continue  # one release per commit
                releases.append(f"v0.{len(releases) + 1}.0")
                story.tag(releases[-1], main, annotated=len(releases) % 2 == 0)
                continue
            if kind == "merge" and side != main:  # conventional, so that it is listed
                main = side = story.commit("feat: merge the side branch", main, side, at=at)
                made.add(main)
            elif kind in ("side", "merge"):
                side = story.commit(raw, side, at=at, encoding=encoding)
                made.add(side)
            else:
                main = story.commit(raw, main, at=at, encoding=encoding)
                made.add(main)
        story.head(main)
        truth = story.truth(releases, log=False)  # dates at random: see Story.truth
        listed, _ = changelog(cli, story, "--all")
        assert {tag: set(entries) for tag, entries in listed.items()} == truth
        assert set().union(*truth.values()) == made & story.shas("rev-list", "HEAD")


@pytest.mark.parametrize("ref", ["v1.0.0^{tree}", "no-such-tag", "HEAD:file.txt"])
def test_a_range_end_that_is_not_a_commit_is_an_error_naming_it(repo, cli, ref):
    repo.write_spec("stages:\n  test: {run: 'true'}\n")
    git(repo.path, "tag", "v1.0.0")
    for args in (["--from", ref], ["--all", "--to", ref]):
        result = cli(repo.path, "changelog", *args)
        assert result.code == 1, (args, result)
        assert f"{ref} is not a commit of this repository" in result.err
