"""The release commit: version files bumped, the changelog section added, the tag on it."""

from __future__ import annotations

import json

from conftest import git, kill_before_recording

SPEC = """
project: {name: widgets}
version:
  files:
    - pyproject.toml
    - src/widgets/__init__.py
    - {path: docs/conf.py, pattern: 'release = "(?P<version>[^"]+)"'}
changelog: {}
publish:
  git.tag: {push: origin}
"""


def prepare(repo) -> None:
    (repo.path / "src" / "widgets").mkdir(parents=True)
    (repo.path / "docs").mkdir()
    (repo.path / "pyproject.toml").write_text(
        '[project]\nname = "widgets"\nversion = "0.1.0"\n\n[tool.x]\nversion = "keep"\n')
    (repo.path / "src" / "widgets" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (repo.path / "docs" / "conf.py").write_text('project = "w"\nrelease = "0.1.0"\n')
    (repo.path / "CHANGELOG.md").write_text(
        "# Changelog\n\n<!-- scalpel: new releases go below this line -->\n\n"
        "## [0.1.0] - 2026-01-01\n\n- hand-written\n")
    repo.write_spec(SPEC)
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: project files")
    git(repo.path, "tag", "-a", "-m", "v0.1.0", "v0.1.0")
    repo.commit("feat(api): widgets endpoint")


def test_the_plan_shows_each_file_diff_and_apply_commits_them(repo, cli):
    prepare(repo)
    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    assert "git.commit will be created" in plan.out
    assert '- version = "0.1.0"' in plan.out and '+ version = "0.2.0"' in plan.out
    assert '+ __version__ = "0.2.0"' in plan.out and '+ release = "0.2.0"' in plan.out
    assert "(known after apply: branch, commit, object)" in plan.out  # the tag, on git.commit
    data = json.loads(cli(repo.path, "plan", "--format", "json").out)
    needs = {c["address"]: c["needs"] for c in data["changes"]}
    assert needs["git.tag"] == ["git.commit"]

    assert cli(repo.path, "apply", "--auto-approve").code == 0
    head = git(repo.path, "rev-parse", "HEAD")
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): 0.2.0"
    assert repo.remote_tags()["v0.2.0"] == head  # the tag is on the release commit
    assert git(repo.path, "ls-remote", "origin", "refs/heads/main").split()[0] == head
    pyproject = (repo.path / "pyproject.toml").read_text()
    assert pyproject == ('[project]\nname = "widgets"\nversion = "0.2.0"\n\n'
                         '[tool.x]\nversion = "keep"\n')  # only [project]'s version
    assert '__version__ = "0.2.0"' in (repo.path / "src/widgets/__init__.py").read_text()
    assert 'release = "0.2.0"' in (repo.path / "docs/conf.py").read_text()
    changelog = (repo.path / "CHANGELOG.md").read_text()
    assert changelog.index("## [0.2.0]") < changelog.index("## [0.1.0]")
    assert "widgets endpoint" in changelog and "- hand-written\n" in changelog
    assert git(repo.path, "status", "--porcelain") == ""
    assert cli(repo.path, "plan", "--detailed-exitcode").code == 0


def test_a_release_commit_made_before_a_crash_is_adopted(repo, cli, monkeypatch):
    prepare(repo)
    restore = kill_before_recording(monkeypatch, "git.commit")
    assert cli(repo.path, "apply", "--auto-approve").code == 130
    restore()
    release_commit = git(repo.path, "rev-parse", "HEAD")
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): 0.2.0"
    plan = json.loads(cli(repo.path, "plan", "--format", "json").out)
    actions = {c["address"]: c["action"] for c in plan["changes"]}
    assert actions["git.commit"] == "adopt" and actions["git.tag"] == "create"
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert git(repo.path, "rev-parse", "HEAD") == release_commit  # no second commit
    assert repo.remote_tags()["v0.2.0"] == release_commit


def test_version_file_problems_are_clear_errors(repo, cli):
    repo.write_spec("version:\n  files: [VERSION]\n")
    result = cli(repo.path, "plan")
    assert result.code == 1 and "version file VERSION: no known way to find its version" in \
        result.err
    (repo.path / "VERSION").write_text("nothing here\n")
    repo.write_spec("version:\n  files: [{path: VERSION, pattern: 'v=(?P<version>.*)'}]\n")
    result = cli(repo.path, "plan")  # never read from the disk: what the plan shows is committed
    assert result.code == 1 and "version file VERSION is not in HEAD" in result.err
    assert "git add VERSION" in result.err
    git(repo.path, "add", "VERSION")
    git(repo.path, "commit", "-qm", "chore: version file")
    result = cli(repo.path, "plan")
    assert result.code == 1 and "no version found" in result.err
    repo.write_spec("version:\n  files: [{path: VERSION, pattern: 'nothing'}]\n")
    result = cli(repo.path, "plan")
    assert result.code == 1 and "has no (?P<version>...) group" in result.err


def test_a_broken_version_pattern_is_a_user_error(repo, cli):
    (repo.path / "VERSION").write_text("v=1\n")
    repo.write_spec("version:\n  files: [{path: VERSION, pattern: 'v=(?P<version>[0-9'}]\n")
    result = cli(repo.path, "plan")
    assert result.code == 1 and "the pattern is not a valid regex" in result.err
