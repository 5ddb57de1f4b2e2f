"""Versions: semantic-version order and bumps, and commit parsing that never crashes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scalpel_plan.release.commits import parse
from scalpel_plan.release.semver import SemVer


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


def test_conventional_commits():
    assert parse("a", "feat(cli): add --json").bump == "minor"
    assert parse("a", "fix: a crash").bump == "patch"
    assert parse("a", "perf: faster").bump == "patch"
    assert parse("a", "refactor!: drop py3.10").bump == "major"
    assert parse("a", "chore: x", "BREAKING CHANGE: config moved").bump == "major"
    assert parse("a", "docs: typo").bump is None
    not_conventional = parse("a", "Merge branch 'x'")
    assert not_conventional.type is None and not_conventional.bump is None


@given(st.text(), st.text())
def test_parsing_never_crashes(subject, body):
    commit = parse("sha", subject, body)
    assert commit.bump in (None, "patch", "minor", "major")


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
    from scalpel_plan.release.commits import cancel_reverts

    feat = parse("1234567890" * 4, "feat: a")
    revert = parse("b" * 40, 'Revert "feat: a"', f"This reverts commit {feat.sha}.")
    fix = parse("c" * 40, "fix: b")
    assert revert.type == "revert" and revert.reverts == feat.sha
    assert cancel_reverts([revert, fix, feat]) == [fix]
    assert cancel_reverts([revert, fix]) == [revert, fix]  # what it reverts shipped earlier
