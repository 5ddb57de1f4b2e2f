"""The first-release story of the issue, end to end through the real CLI in a real repo."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git


def test_init_plan_apply_then_no_changes(repo, cli):
    assert cli(repo.path, "init").code == 0
    assert ".scalpel/" in (repo.path / ".gitignore").read_text().splitlines()
    spec = (repo.path / "release.yml").read_text()
    assert 'tag: "v{version}"' in spec and "push: origin" in spec and "console.announce" in spec
    assert "# " in spec  # commented

    plan = cli(repo.path, "plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "→ 0.1.0" in plan.out and "git.tag will be created" in plan.out
    assert "Plan: 2 to create, 0 to update, 0 to delete, 1 to run; 1 irreversible." in plan.out

    applied = cli(repo.path, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    head = git(repo.path, "rev-parse", "HEAD")
    assert repo.remote_tags() == {"v0.1.0": head}
    assert git(repo.path, "cat-file", "-t", "v0.1.0") == "tag"  # annotated
    assert "work 0.1.0 is released (v0.1.0)" in applied.out

    state = json.loads((repo.path / ".scalpel" / "state.json").read_text())
    assert state["resources"]["git.tag"]["attributes"]["tag"] == "v0.1.0"
    assert state["releases"][-1]["status"] == "succeeded"
    assert state["rollback_points"][-1]["version"] == "0.1.0"
    assert state["active_apply"] is None

    again = cli(repo.path, "plan", "--detailed-exitcode")
    assert again.code == 0, again.err
    assert "No changes." in again.out


def test_init_names_the_project_from_pyproject(repo, cli):
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\n')
    cli(repo.path, "init")
    assert "name: widgets" in (repo.path / "release.yml").read_text()
    assert cli(repo.path, "init").code == 1  # never overwrites without --force


def test_next_release_bumps_from_conventional_commits(repo, cli):
    cli(repo.path, "init")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("fix: a bug")
    plan = cli(repo.path, "plan")
    assert "0.1.0 → 0.1.1" in plan.out and "fix: a bug" in plan.out
    repo.commit("feat(api)!: a breaking change")
    plan = cli(repo.path, "plan")
    assert "0.1.0 → 0.2.0" in plan.out  # breaking while 0.x bumps minor
    assert cli(repo.path, "plan", "--version", "1.0.0").out.count("→ 1.0.0") == 1
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert set(repo.remote_tags()) == {"v0.1.0", "v0.2.0"}
    repo.commit("docs: only docs")
    plan = cli(repo.path, "plan", "--detailed-exitcode")
    assert plan.code == 0 and "no releasable commits since v0.2.0" in plan.out


def test_plan_formats(repo, cli):
    cli(repo.path, "init")
    md = cli(repo.path, "plan", "--format", "markdown")
    assert md.out.startswith("### Scalpel plan: ")
    assert "<details><summary>Changes by node (3)</summary>" in md.out
    data = json.loads(cli(repo.path, "plan", "--format", "json").out)
    assert data["format_version"] == 1 and data["release"]["version"] == "0.1.0"
    assert {c["address"]: c["action"] for c in data["changes"]} == {
        "stage.test": "run", "git.tag": "create", "console.announce": "create"}
    assert data["fingerprint"]["commit"] == git(repo.path, "rev-parse", "HEAD")


def test_the_readmes_release_yml_is_valid(tmp_path, cli):
    """The annotated release.yml in the README compiles: documentation that cannot drift."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    spec = readme.split("## release.yml", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "release.yml").write_text(spec)
    result = cli(tmp_path, "validate")
    assert result.code == 0, result.err
    assert "is valid: 12 nodes" in result.err


def test_the_starters_commented_announcement_and_alerts_work_once_uncommented(repo, cli,
                                                                             monkeypatch):
    import re

    assert cli(repo.path, "init").code == 0
    head, tail = (repo.path / "release.yml").read_text().split("    message: \"{project}", 1)
    first, *rest = tail.splitlines()
    uncommented = [re.sub(r"^(\s*)# ", r"\1", line) for line in rest]
    (repo.path / "release.yml").write_text(
        "\n".join([head + '    message: "{project}' + first, *uncommented]) + "\n")
    result = cli(repo.path, "validate")
    assert result.code == 0, result.err
    monkeypatch.setenv("SLACK_WEBHOOK", "https://hooks.slack.example/services/T/B/X")
    assert "slack.announce will be created (irreversible)" in cli(repo.path, "plan").out
