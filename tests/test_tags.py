"""Tags as projects really make them: several tag formats, other packages' tags ignored,
pre-release tags as the base of the next release, pre-release series that start at .0 or .1,
and tags that are not commits. Real generated git repositories (the `repo` fixture)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import git

SPEC_TAIL = "publish:\n  git.tag: {push: origin}\n"


def tag(repo, name: str, date: str | None = None, target: str = "HEAD") -> None:
    """An annotated tag ``name``, made at ``date`` (its creator date) when given."""
    env = {**os.environ, **({"GIT_COMMITTER_DATE": date} if date else {})}
    import subprocess

    subprocess.run(["git", "tag", "-a", "-m", name, name, target], cwd=repo.path, env=env,
                   check=True, capture_output=True)


def ground_truth(repo, previous: str, release: str) -> list[str]:
    """The subjects `git log PREV..TAG` gives: what belongs to ``release``."""
    out = git(repo.path, "log", "--format=%s", f"{previous}..{release}")
    return [s for s in out.splitlines() if s]


def test_two_tag_styles_read_with_a_list_of_formats(repo, cli):
    # early releases are v1.x, later ones 1.x (the first format is the one new tags get)
    tag(repo, "v1.0.0")
    repo.commit("feat: early one")
    tag(repo, "v1.1.0")
    repo.commit("fix: early two")
    tag(repo, "v1.1.1")
    repo.commit("feat: later one")
    tag(repo, "1.2.0")
    repo.commit("fix: after the last release")
    repo.write_spec('version:\n  tag: ["{version}", "v{version}"]\n' + SPEC_TAIL)

    plan = cli(repo.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    release = json.loads(plan.out)["release"]
    assert (release["previous"], release["version"], release["tag"]) == ("1.2.0", "1.2.1",
                                                                         "1.2.1")

    done = cli(repo.path, "changelog", "--all", "--format", "json")
    assert done.code == 0, done.err
    releases = {r["version"]: r for r in json.loads(done.out)["releases"]}
    assert {"1.2.0", "1.1.1", "1.1.0", "1.0.0"} <= set(releases)

    def subjects(version: str) -> list[str]:
        changes = [c for group in releases[version]["sections"] for c in group["entries"]]
        return sorted(c["description"] for c in changes)

    # not folded into one release: each early release holds what git log PREV..TAG gives
    assert subjects("1.1.1") == ["early two"] == [
        s.split(": ", 1)[1] for s in ground_truth(repo, "v1.1.0", "v1.1.1")]
    assert subjects("1.1.0") == ["early one"]
    assert subjects("1.2.0") == ["later one"]

    # a single string keeps working: the v-tags alone, the 1.x tag unseen (and warned about)
    repo.write_spec('version:\n  tag: "v{version}"\n' + SPEC_TAIL)
    plan = cli(repo.path, "plan", "--format", "json")
    assert json.loads(plan.out)["release"]["previous"] == "1.1.1"


def test_ignore_tags_silences_other_packages_tags(repo, cli):
    tag(repo, "v0.1.0")
    repo.commit("feat: ours")
    tag(repo, "create-vite@5.0.0")
    tag(repo, "plugin-react@4.2.0")
    repo.write_spec(SPEC_TAIL)
    noisy = cli(repo.path, "plan")
    assert noisy.code == 0, noisy.err
    assert "create-vite@5.0.0" in noisy.out and "ignore_tags" in noisy.out
    assert "'create-vite@*'" in noisy.out  # the advice spells the pattern to add

    repo.write_spec("version:\n  ignore_tags: ['create-vite@*', 'plugin-*@*']\n" + SPEC_TAIL)
    quiet = cli(repo.path, "plan")
    assert quiet.code == 0, quiet.err
    assert "0.1.0 → 0.2.0" in quiet.out
    assert "create-vite" not in quiet.out and "plugin-react" not in quiet.out
    assert "ignored tag" not in quiet.out

    # an ignored tag is ignored even when it matches the tag format
    tag(repo, "v9.0.0")
    repo.write_spec("version:\n  ignore_tags: ['create-vite@*', 'plugin-*@*', 'v9.*']\n"
                    + SPEC_TAIL)
    assert "0.1.0 → 0.2.0" in cli(repo.path, "plan").out


def test_unmatched_tags_warning_lists_the_newest_first(repo, cli):
    tag(repo, "v0.1.0", "2026-01-01T00:00:00Z")
    repo.commit("feat: more")
    # alphabetical order (a, b, c) is not the creation order (b, c, a)
    tag(repo, "a-pkg@1.0.0", "2026-03-01T00:00:00Z")
    tag(repo, "b-pkg@1.0.0", "2026-01-02T00:00:00Z")
    tag(repo, "c-pkg@1.0.0", "2026-02-01T00:00:00Z")
    repo.write_spec(SPEC_TAIL)
    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    warning = next(line for line in plan.out.splitlines() if "ignored tags" in line)
    assert "a-pkg@1.0.0, c-pkg@1.0.0, b-pkg@1.0.0" in warning
    assert "set version.tag to match them" not in plan.out
    assert "version.tag as a list" in plan.out and "version.ignore_tags" in plan.out


def test_a_pre_release_tag_is_the_base_of_the_next_release(repo, cli):
    tag(repo, "v1.4.0")
    for n in range(69, 71):
        repo.commit(f"feat!: beta {n}")
        tag(repo, f"v2.0.0-beta.{n}")
    repo.commit("fix: after the last beta")
    repo.write_spec(SPEC_TAIL)

    plan = cli(repo.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    release = json.loads(plan.out)["release"]
    assert release["version"] == "2.0.0"
    assert "first release" not in release["reason"]
    assert "--pre" not in release["reason"] and "v2.0.0-beta.70" in release["reason"]

    pre = json.loads(cli(repo.path, "plan", "--pre", "beta", "--format", "json").out)
    assert pre["release"]["version"] == "2.0.0-beta.71"
    rc = json.loads(cli(repo.path, "plan", "--pre", "rc", "--format", "json").out)
    assert rc["release"]["version"] == "2.0.0-rc.1"

    # nothing since the newest beta: no new beta, but the final release is still there to make
    tag(repo, "v2.0.0-beta.71")
    again = json.loads(cli(repo.path, "plan", "--pre", "beta", "--format", "json").out)
    assert again["release"] is None
    assert again["nothing_to_release"] == "no commits since v2.0.0-beta.71"
    final = json.loads(cli(repo.path, "plan", "--format", "json").out)
    assert final["release"]["version"] == "2.0.0" and final["release"]["previous"] == "1.4.0"


def test_pre_release_tags_alone_are_a_base_not_a_first_release(repo, cli):
    repo.commit("feat: the beta")
    tag(repo, "v2.0.0-beta.70")
    repo.commit("fix: after it")
    repo.write_spec(SPEC_TAIL)
    plan = cli(repo.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    assert json.loads(plan.out)["release"]["version"] == "2.0.0"


def test_a_breaking_change_after_a_minor_pre_release_bumps_major(repo, cli):
    tag(repo, "v1.2.0")
    repo.commit("feat: new")
    tag(repo, "v1.3.0-rc.1")
    repo.commit("feat!: breaks")
    repo.write_spec(SPEC_TAIL)
    plan = cli(repo.path, "plan", "--format", "json")
    assert json.loads(plan.out)["release"]["version"] == "2.0.0"


def test_pre_release_series_start_where_the_repository_starts_them(repo, cli):
    tag(repo, "v1.0.0")
    repo.commit("feat: one")
    tag(repo, "v1.1.0-beta.0")
    repo.commit("fix: two")
    tag(repo, "v1.1.0-beta.1")
    repo.commit("fix: three")
    repo.write_spec(SPEC_TAIL)

    def next_pre(label: str) -> str:
        done = cli(repo.path, "plan", "--pre", label, "--format", "json")
        assert done.code == 0, done.err
        return str(json.loads(done.out)["release"]["version"])

    assert next_pre("beta") == "1.1.0-beta.2"  # the series continues: .N+1
    # a new series of a label the repository starts at .0 starts at .0 too
    git(repo.path, "tag", "-d", "v1.1.0-beta.0", "v1.1.0-beta.1")
    tag(repo, "v1.0.0-beta.0", target="HEAD~3")
    assert next_pre("beta") == "1.1.0-beta.0"
    # a new series of a label never used starts at .1, or at version.pre_start
    assert next_pre("rc") == "1.1.0-rc.1"
    repo.write_spec("version: {pre_start: 0}\n" + SPEC_TAIL)
    assert next_pre("rc") == "1.1.0-rc.0"
    repo.write_spec("version: {pre_start: 1}\n" + SPEC_TAIL)
    assert next_pre("beta") == "1.1.0-beta.1"  # set in the spec: it wins over the habit


def test_a_release_tag_on_a_tree_is_an_error_naming_it(repo, cli):
    tag(repo, "v0.1.0")
    repo.commit("feat: more")
    tree = git(repo.path, "write-tree")
    git(repo.path, "tag", "v0.2.0", tree)  # lightweight, on a tree
    tag(repo, "v0.3.0", target=tree)  # annotated, on a tree
    repo.write_spec(SPEC_TAIL)
    plan = cli(repo.path, "plan")
    assert plan.code == 1
    assert "Traceback" not in plan.err
    assert "v0.3.0 points at a tree, not a commit" in plan.err or \
        "v0.2.0 points at a tree, not a commit" in plan.err
    assert "ignore_tags" in plan.err and "git tag -d" in plan.err

    # once ignored, the plan goes on from the last real release
    repo.write_spec("version: {ignore_tags: ['v0.2.0', 'v0.3.0']}\n" + SPEC_TAIL)
    ok = cli(repo.path, "plan")
    assert ok.code == 0, ok.err
    assert "0.1.0 → 0.2.0" in ok.out

    # a tree tag that is no release tag (linux's v2.6.11-tree style) does not stop a plan
    repo.write_spec(SPEC_TAIL)
    git(repo.path, "tag", "-d", "v0.2.0", "v0.3.0")
    git(repo.path, "tag", "snapshot-tree", tree)
    assert cli(repo.path, "plan").code == 0


def test_ignore_tags_changes_the_cached_changelog(repo, cli):
    tag(repo, "v0.1.0")
    repo.commit("feat: second")
    tag(repo, "v0.2.0")
    repo.write_spec(SPEC_TAIL)

    def versions() -> list[str]:
        done = cli(repo.path, "changelog", "--all", "--format", "json")
        assert done.code == 0, done.err
        return [r["version"] for r in json.loads(done.out)["releases"]]

    assert versions() == ["0.2.0", "0.1.0"]
    assert versions() == ["0.2.0", "0.1.0"]  # from the cache
    repo.write_spec("version: {ignore_tags: ['v0.2.*']}\n" + SPEC_TAIL)
    assert versions() == ["Unreleased", "0.1.0"]  # not the cached grouping


@pytest.mark.parametrize("label", ["a b", "../x", "-rc", "rc.1", "", "😀", "../../ESCAPED"])
def test_a_pre_label_that_makes_no_version_is_refused_before_anything_runs(repo, cli, label):
    """`--pre` is checked as a spec value would be: a label that is not one identifier never
    becomes a version, a tag, a log folder or a recorded release."""
    repo.write_spec("stages:\n  test: {run: 'touch ran'}\n")
    repo.commit("feat: first")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = cli(repo.path, *command, f"--pre={label}")
        assert result.code == 1, (command, result)
        assert "is not a pre-release label" in result.err and "--pre rc" in result.err
    assert not (repo.path / "ran").exists()
    assert not (repo.path / ".scalpel" / "state.json").exists() or \
        "releases" not in (repo.path / ".scalpel" / "state.json").read_text()
    assert not any(p.name.startswith("ESCAPED") for p in repo.path.parent.rglob("ESCAPED*"))


@pytest.mark.parametrize(("scheme", "label", "ok"), [
    ("semver", "beta", True), ("semver", "pre-alpha", True), ("pep440", "rc", True),
    ("pep440", "beta", True), ("pep440", "nightly", False), ("calver", "dev", True)])
def test_a_pre_label_is_one_the_scheme_can_hold(repo, cli, scheme, label, ok):
    repo.write_spec(f"version: {{scheme: {scheme}}}\nstages:\n  test: {{run: 'true'}}\n")
    repo.commit("feat: first")
    result = cli(repo.path, "plan", "--pre", label, "--format", "json")
    assert result.code == (0 if ok else 1), result
    if not ok:
        assert f"--pre {label} makes no {scheme} version" in result.err
