"""The CLI's contract: versions, exit codes, errors without tracebacks, this repo's own plan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_scalpel

from scalpel_plan import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_version(tmp_path):
    result = run_scalpel(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"scalpel {__version__}"


def test_bad_usage_exits_1_not_2(tmp_path, cli):
    # 2 means "changes" under --detailed-exitcode: a typo must never look like that
    result = cli(tmp_path, "plan", "--detailed-exitcod")
    assert result.code == 1
    assert "No such option" in result.err or "no such option" in result.err.lower()


def test_plan_outside_a_git_repository_is_a_clear_error(tmp_path, cli):
    (tmp_path / "release.yml").write_text("stages:\n  test: {run: 'true'}\n")
    result = cli(tmp_path, "plan")
    assert result.code == 1 and "is not inside a git repository" in result.err


def test_a_missing_remote_is_named(repo, cli):
    repo.write_spec("publish:\n  git.tag: {push: upstream}\n")
    result = cli(repo.path, "plan")
    assert result.code == 1
    assert "git.tag: the repository has no remote 'upstream'" in result.err
    assert "git remote add upstream" in result.err


def test_an_internal_error_exits_3_with_a_log(repo, cli, monkeypatch):
    import scalpel_plan.plan.release

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(scalpel_plan.plan.release, "make_plan", broken)
    repo.write_spec("stages:\n  test: {run: 'true'}\n")
    result = cli(repo.path, "plan")
    assert result.code == 3
    assert "internal error" in result.err and "Traceback" not in result.err
    log = result.err.split("Details are in ")[1].split(";")[0]
    assert "RuntimeError: boom" in Path(log).read_text()


def test_state_commands(repo, cli):
    repo.write_spec("stages:\n  test: {run: 'true'}\npublish:\n  git.tag: {push: origin}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    listed = cli(repo.path, "state", "list")
    assert "stage.test" in listed.out and "git.tag" in listed.out
    shown = cli(repo.path, "state", "show", "git.tag")
    assert '"tag": "v0.1.0"' in shown.out
    missing = cli(repo.path, "state", "show", "git.tga")
    assert missing.code == 1 and "no resource git.tga" in missing.err
    releases = cli(repo.path, "history")
    assert "0.1.0" in releases.out and "succeeded" in releases.out and "live" in releases.out
    assert "not locked" in cli(repo.path, "state", "lock").err
    assert json.loads(cli(repo.path, "state", "lock", "--json").out) == {"locked": False,
                                                                         "holder": None}


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_this_repository_plans_its_own_release(tmp_path, fmt):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    result = run_scalpel(clone, "plan")
    assert result.returncode == 0, result.stderr
    assert "Release scalpel-plan" in result.stdout
    assert "stage.test will run" in result.stdout and "git.tag will be created" in result.stdout
    graph = run_scalpel(clone, "graph", "--format", fmt)
    assert graph.returncode == 0 and "stage.build" in graph.stdout
