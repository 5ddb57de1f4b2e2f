"""Versions: semantic-version order and bumps, and commit parsing that never crashes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scalpel_plan.content.commits import parse
from scalpel_plan.content.semver import SemVer


def v(text: str) -> SemVer:
    parsed = SemVer.parse(text)
    assert parsed is not None, text
    return parsed


def test_precedence_follows_the_semver_spec():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
               "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0",
               "2.0.0"]
    assert sorted((v(t) for t in reversed(ordered)), key=lambda x: x) == [v(t) for t in ordered]
    assert v("1.0.0+build.5") == v("1.0.0")


def test_bumps():
    assert str(v("1.2.3").bump("patch")) == "1.2.4"
    assert str(v("1.2.3").bump("minor")) == "1.3.0"
    assert str(v("1.2.3").bump("major")) == "2.0.0"
    assert str(v("1.3.0-rc.1").bump("patch")) == "1.3.0"


def test_invalid_versions_are_rejected():
    for text in ("1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0-01", ""):
        assert SemVer.parse(text) is None, text


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_round_trip(major, minor, patch):
    text = f"{major}.{minor}.{patch}"
    assert str(v(text)) == text


def test_conventional_commits_and_the_parts_they_bump():
    from scalpel_plan.content.versioning import bump_for
    from scalpel_plan.spec.model import Spec, VersionPolicy

    spec = Spec()
    assert bump_for(parse("a", "feat(cli): add --json"), spec) == "minor"
    assert bump_for(parse("a", "fix: a crash"), spec) == "patch"
    assert bump_for(parse("a", "perf: faster"), spec) == "patch"
    assert bump_for(parse("a", "refactor!: drop py3.10"), spec) == "major"
    assert bump_for(parse("a", "chore: x", "BREAKING CHANGE: config moved"), spec) == "major"
    assert bump_for(parse("a", "docs: typo"), spec) is None
    not_conventional = parse("a", "Merge branch 'x'")
    assert not_conventional.type is None and bump_for(not_conventional, spec) is None
    configured = Spec(version=VersionPolicy(bumps={"feat": "minor", "refactor": "patch"}))
    assert bump_for(parse("a", "refactor: tidy"), configured) == "patch"
    assert bump_for(parse("a", "fix: a crash"), configured) is None


@given(st.text(), st.text())
def test_parsing_never_crashes(subject, body):
    commit = parse("sha", subject, body)
    assert commit.type is None or commit.type.isalpha()


def test_footers_issues_prs_and_co_authors():
    entry = parse("a", "feat(cli)!: rename --out (#45)",
                  "Some context.\n\nBREAKING CHANGE: --out is gone.\nUse --output.\n"
                  "Closes #12, #13\nRefs: #3\nCo-authored-by: Dee <dee@example.com>")
    assert entry.breaking and entry.description == "rename --out"
    assert entry.breaking_note == "--out is gone.\nUse --output."
    assert entry.body == "Some context."
    assert entry.issues == (12, 13, 3) and entry.prs == (45,)
    assert entry.co_authors == ("Dee <dee@example.com>",)


def test_reverts_cancel_what_they_revert():
    from scalpel_plan.content.commits import cancel_reverts

    feat = parse("1234567890" * 4, "feat: a")
    revert = parse("b" * 40, 'Revert "feat: a"', f"This reverts commit {feat.sha}.")
    fix = parse("c" * 40, "fix: b")
    assert revert.type == "revert" and revert.reverts == feat.sha
    assert cancel_reverts([revert, fix, feat]) == [fix]
    assert cancel_reverts([revert, fix]) == [revert, fix]  # what it reverts shipped earlier


def test_schemes_bump_and_pre_release():
    import datetime as dt

    from scalpel_plan.content.schemes import SCHEMES

    today = dt.date(2026, 11, 26)
    semver, pep, cal = SCHEMES["semver"], SCHEMES["pep440"], SCHEMES["calver"]
    assert str(semver.pre(semver.parse("1.3.0"), "rc", 1)) == "1.3.0-rc.1"
    assert str(pep.pre(pep.parse("1.3.0"), "rc", 1)) == "1.3.0rc1"
    assert str(pep.bump(pep.parse("1.2.3"), "minor", today)) == "1.3.0"
    assert str(pep.bump(pep.parse("1.3.0rc2"), "patch", today)) == "1.3.0"
    assert pep.pre_number(pep.parse("1.3.0rc2"), "rc") == 2
    assert str(cal.bump(cal.parse("2026.11.0"), "patch", today)) == "2026.11.1"
    assert str(cal.bump(cal.parse("2026.10.4"), "major", today)) == "2026.11.0"
    assert cal.parse("2026.13.0") is None and cal.parse("2026.01.2") < cal.parse("2026.11.0")


def test_pre_releases_count_up_and_pep440_and_calver_plan(repo, cli):
    from conftest import git

    repo.write_spec("publish:\n  git.tag: {push: origin}\n")
    git(repo.path, "tag", "-a", "-m", "v1.2.0", "v1.2.0", "HEAD~1")
    plan = cli(repo.path, "plan", "--pre", "rc")
    assert "1.2.0 → 1.3.0-rc.1" in plan.out
    assert cli(repo.path, "apply", "--auto-approve", "--pre", "rc").code == 0
    repo.commit("fix: after the rc")
    assert "1.2.0 → 1.3.0-rc.2" in cli(repo.path, "plan", "--pre", "rc").out
    assert "1.2.0 → 1.3.0 " in cli(repo.path, "plan").out  # the final release
    repo.write_spec("version: {scheme: pep440}\npublish:\n  git.tag: {push: origin}\n")
    # the semver tag v1.3.0-rc.1 reads as PEP 440's 1.3.0rc1: the next one is rc2
    assert "1.2.0 → 1.3.0rc2" in cli(repo.path, "plan", "--pre", "rc").out
    bad = cli(repo.path, "plan", "--version", "banana")
    assert bad.code == 1 and "is not a pep440 version" in bad.err


def test_tags_outside_the_format_are_ignored_with_a_note(repo, cli):
    from conftest import git

    git(repo.path, "tag", "-a", "-m", "release", "release-2.0.0")
    repo.write_spec("stages:\n  t: {run: 'true'}\n")
    plan = cli(repo.path, "plan")
    assert "→ 0.1.0" in plan.out
    assert "Warning: ignored tag release-2.0.0: not in the tag format 'v{version}'" in plan.out
