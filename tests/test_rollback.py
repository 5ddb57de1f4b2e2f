"""Rollback and hotfix against the real git remote and the real local registry (Debian's
docker-registry); skopeo, an independent client, checks what the tags point at."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import git, kill_before_recording
from servers import docker_registry, oci_layout
from test_docker import SPEC as DOCKER_SPEC
from test_docker import skopeo_digest

SPEC = DOCKER_SPEC + """  git.tag: {{push: origin}}
stages:
  build: {{run: "true"}}
"""


@pytest.fixture
def registry(tmp_path):
    with docker_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def released_twice(repo, registry, cli, monkeypatch, tmp_path):
    """0.1.0 with one image, then 0.2.0 with another: `latest` points at 0.2.0's."""
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    repo.write_spec(SPEC.format(host=registry.host))
    (repo.path / ".gitignore").write_text(".scalpel/\nbuild/\n*.json\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: images")
    oci_layout(repo.path / "build" / "image", {"app/v.txt": b"one\n"})
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    shutil.rmtree(repo.path / "build" / "image")
    oci_layout(repo.path / "build" / "image", {"app/v.txt": b"two\n"})
    repo.commit("feat: the second release")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    return repo


def state_of(repo) -> dict:
    return json.loads((repo.path / ".scalpel" / "state.json").read_text())


def test_rollback_re_points_latest_and_records_what_is_live(released_twice, registry, cli):
    repo = released_twice
    first, second = skopeo_digest(registry, "0.1.0"), skopeo_digest(registry, "0.2.0")
    assert skopeo_digest(registry, "latest") == second != first

    plan = cli(repo.path, "rollback", "--to", "0.1.0", "--out", "rollback.json")
    assert plan.code == 0, plan.err
    assert "Rollback work 0.2.0 → 0.1.0" in plan.out
    assert "docker.app will be updated in place" in plan.out and "re-points latest" in plan.out
    assert "tag v0.2.0 stays" in plan.out  # what cannot be undone, listed
    result = cli(repo.path, "apply", "rollback.json")
    assert result.code == 0, result.err
    assert skopeo_digest(registry, "latest") == first  # moved back by manifest
    assert skopeo_digest(registry, "0.2.0") == second  # a version tag never moves
    assert repo.remote_tags().keys() == {"v0.1.0", "v0.2.0"}

    state = state_of(repo)
    assert state["live"] == "0.1.0"
    assert [(r["version"], r["status"]) for r in state["releases"]] == [
        ("0.1.0", "succeeded"), ("0.2.0", "rolled_back")]
    assert state["rollbacks"][0]["status"] == "succeeded"
    assert "live" in cli(repo.path, "history").out.splitlines()[1]
    # the next release never reuses the rolled-back version, and the drift check is quiet
    repo.commit("fix: the bug that made us roll back")
    nxt = cli(repo.path, "plan")
    assert "0.2.0 → 0.2.1" in nxt.out and "Changes outside Scalpel" not in nxt.out
    # rollbacks have metrics too: time spent re-pointing counts as deploy
    metrics = [json.loads(line) for line in
               (repo.path / ".scalpel" / "metrics.jsonl").read_text().splitlines()]
    assert {(m["operation"], m["type"]) for m in metrics} >= {
        ("release", "build"), ("release", "publish"), ("release", "total"),
        ("rollback", "deploy"), ("rollback", "total")}


def test_a_killed_rollback_finishes_without_doing_anything_twice(released_twice, registry,
                                                                 cli, monkeypatch):
    repo = released_twice
    first = skopeo_digest(registry, "0.1.0")
    restore = kill_before_recording(monkeypatch, "docker.app")
    assert cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve").code == 130
    restore()
    assert skopeo_digest(registry, "latest") == first  # it happened; the state missed it
    again = cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    assert again.code == 0, again.err
    assert state_of(repo)["live"] == "0.1.0"
    assert skopeo_digest(registry, "latest") == first


def test_a_stale_rollback_plan_is_refused(released_twice, cli):
    repo = released_twice
    assert cli(repo.path, "rollback", "--to", "0.1.0", "--out", "rollback.json").code == 0
    repo.commit("chore: something landed meanwhile")
    result = cli(repo.path, "apply", "rollback.json")
    assert result.code == 1 and "the saved plan is stale: HEAD moved since" in result.err


def test_unknown_points_and_the_live_release_are_clear_errors(released_twice, cli):
    repo = released_twice
    result = cli(repo.path, "rollback", "--to", "9.9.9")
    assert result.code == 1 and "no rollback point 9.9.9" in result.err
    assert "v0.1.0, v0.2.0" in result.err
    result = cli(repo.path, "rollback", "--to", "v0.2.0")
    assert result.code == 1 and "0.2.0 is already the live release" in result.err


def test_a_hotfix_branches_from_a_point_and_releases_the_next_patch(released_twice, cli):
    repo = released_twice
    started = cli(repo.path, "hotfix", "start", "--from", "v0.1.0")
    assert started.code == 0, started.err
    assert git(repo.path, "branch", "--show-current").strip() == "hotfix/0.1.0"
    assert git(repo.path, "rev-parse", "HEAD").strip() == \
        git(repo.path, "rev-parse", "v0.1.0^{commit}").strip()
    repo.commit("fix: the urgent fix")
    assert "0.1.0 → 0.1.1" in cli(repo.path, "plan").out
    finished = cli(repo.path, "hotfix", "finish", "--auto-approve")
    assert finished.code == 0, finished.err
    assert "v0.1.1" in repo.remote_tags()
    state = state_of(repo)
    assert state["hotfixes"][0] | {"started_at": None, "finished_at": None} == {
        "branch": "hotfix/0.1.0", "point": "v0.1.0", "fixes": "0.1.0", "version": "0.1.1",
        "commit": state["hotfixes"][0]["commit"], "started_at": None, "finished_at": None}
    history = json.loads(cli(repo.path, "history", "--json").out)
    assert history["live"] == "0.1.1" and history["hotfixes"][0]["version"] == "0.1.1"
    again = cli(repo.path, "hotfix", "finish", "--auto-approve")
    assert again.code == 1 and "not an unfinished hotfix branch" in again.err


def remote_refs(repo) -> dict[str, str]:
    out = git(repo.path, "ls-remote", "--tags", "origin")
    return {ref.removeprefix("refs/tags/"): sha for sha, ref in
            (line.split("\t") for line in out.splitlines())}


def test_moving_git_tags_follow_releases_and_go_back_on_rollback(repo, cli):
    repo.write_spec("publish:\n  git.tag: {push: origin, moving: [stable, latest]}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    first = git(repo.path, "rev-parse", "HEAD").strip()
    repo.commit("feat: more")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    second = git(repo.path, "rev-parse", "HEAD").strip()
    refs = remote_refs(repo)
    assert refs["stable"] == refs["latest"] == second != first

    plan = cli(repo.path, "rollback", "--to", "v0.1.0")  # no terminal: shows, then refuses
    assert "moves latest, stable back to v0.1.0" in plan.out
    result = cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    assert result.code == 0, result.err
    refs = remote_refs(repo)
    assert refs["stable"] == refs["latest"] == first  # moved back, here and on origin
    assert git(repo.path, "rev-parse", "stable").strip() == first
    assert refs["v0.2.0^{}"] == second  # the release tag itself never moves
    assert "No changes" in cli(repo.path, "plan").out  # nothing drifted


def test_a_rollback_plan_reads_what_is_live_first(released_twice, cli, monkeypatch):
    repo = released_twice
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")
    result = cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    assert result.code == 1 and "the rollback plan cannot be made" in result.err
    assert "docker.app: error: registry" in result.err and "rejected the credentials" in result.err
    assert not (repo.path / ".scalpel" / "incidents").exists()  # nothing was tried
    assert "not-the-password" not in result.err
    assert state_of(repo)["live"] == "0.2.0"


def test_a_failed_rollback_is_an_incident_with_the_command_to_finish_it(released_twice, cli,
                                                                        monkeypatch):
    repo = released_twice
    assert cli(repo.path, "rollback", "--to", "v0.1.0", "--out", "back.json").code == 0
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")  # gone wrong after review
    result = cli(repo.path, "apply", "back.json")
    assert result.code == 1 and "Rollback failed." in result.err
    assert "ALERT work 0.1.0: rollback failed at docker.app" in result.err
    [report] = (repo.path / ".scalpel" / "incidents").iterdir()
    text = report.read_text()
    assert text.startswith("# Incident: work 0.1.0: rollback failed at docker.app")
    assert "`scalpel rollback --to 0.1.0` again" in text
    assert "not-the-password" not in text + result.err
    assert state_of(repo)["live"] == "0.2.0"  # nothing changed what is live
