"""A rollback is the release planner in rollback mode: its reverts are ordered by the graph's
`needs`, and its announcement goes out after every revert, once. Driven in-process through the
operations API and end to end through the CLI, against the real registry and git remote; the
webhook receiver is a local fake of the generic webhook contract (POST of JSON)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import git
from servers import docker_registry, oci_layout
from test_docker import skopeo_digest
from werkzeug import Response

from scalpel_plan import operations

SPEC = """
secrets:
  registry_password: {{env: REGISTRY_PASSWORD}}
  hook: {{env: HOOK_URL}}
stages:
  build: {{run: "true"}}
publish:
  git.tag: {{push: origin, moving: [stable]}}
  docker.app:
    image: {host}/acme/app
    source: build/image
    username: pusher
    password: "${{secrets.registry_password}}"
notify:
  webhook.ops: {{url: "${{secrets.hook}}", on: [success, rollback]}}
"""


@pytest.fixture
def released_twice(repo, cli, httpserver, monkeypatch, tmp_path):
    received: list[dict[str, object]] = []

    def receive(request):  # type: ignore[no-untyped-def]
        received.append(json.loads(request.get_data()))
        return Response("ok")

    httpserver.expect_request("/ops", method="POST").respond_with_handler(receive)
    monkeypatch.setenv("HOOK_URL", httpserver.url_for("/ops"))
    with docker_registry(tmp_path / "registry") as registry:
        monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
        repo.write_spec(SPEC.format(host=registry.host))
        (repo.path / ".gitignore").write_text(".scalpel/\nbuild/\n*.json\n")
        git(repo.path, "add", ".")
        git(repo.path, "commit", "-qm", "feat: images")
        for content in (b"one\n", b"two\n"):
            shutil.rmtree(repo.path / "build", ignore_errors=True)
            oci_layout(repo.path / "build" / "image", {"app/v.txt": content})
            assert cli(repo.path, "apply", "--auto-approve").code == 0
            repo.commit("feat: the next one")
        yield repo, registry, received


def journal_of(repo: Path, mode: str) -> list[dict[str, object]]:
    for path in sorted((repo / ".scalpel" / "journal").glob("*.jsonl")):
        events = [json.loads(line) for line in path.read_text().splitlines()]
        if events and events[0].get("mode") == mode:
            return events
    raise AssertionError(f"no {mode} journal")


def test_the_rollback_announcement_follows_every_revert(released_twice, cli):
    repo, registry, received = released_twice
    first = skopeo_digest(registry, "0.1.0")
    plan = cli(repo.path, "rollback", "--to", "v0.1.0", "--out", "back.json", "--format", "json")
    assert plan.code == 0, plan.err
    changes = {c["address"]: c for c in json.loads(plan.out)["changes"]}
    reverts = {"git.tag", "docker.app"}
    assert reverts < set(changes)
    assert set(changes["webhook.ops@rollback"]["needs"]) == reverts

    assert cli(repo.path, "apply", "back.json").code == 0
    events = journal_of(repo.path, "rollback")
    done = {e["address"]: e["seq"] for e in events if e["event"] == "step_done"}
    started = {e["address"]: e["seq"] for e in events if e["event"] == "step_pending"}
    assert all(started["webhook.ops@rollback"] > done[a] for a in reverts)
    assert skopeo_digest(registry, "latest") == first
    rollbacks = [m for m in received if m.get("event") == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["to"] == "0.1.0"

    assert cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve").code == 1  # live now
    assert len([m for m in received if m.get("event") == "rollback"]) == 1


def test_a_rollback_in_process_reads_what_is_live_and_reports_drift(released_twice, monkeypatch):
    repo, _, received = released_twice
    monkeypatch.chdir(repo.path)
    git(repo.path, "push", "-q", "origin", ":refs/tags/v0.2.0")  # deleted by hand since
    project = operations.open_project(Path("release.yml"))
    plan = operations.plan_rollback(project, "0.1.0")
    assert plan.mode == "rollback" and plan.rollback is not None
    assert [d.address for d in plan.drift] == ["git.tag"]  # the live read saw it gone
    assert "v0.2.0 on origin is gone" in plan.drift[0].message
    outcome = operations.rollback(project, "0.1.0")
    assert outcome.ok and outcome.result is not None
    done = outcome.result.where("done")
    assert set(done) == {c.address for c in plan.changes}
    assert done[-1] == "webhook.ops@rollback"  # after the reverts it needs
    assert git(repo.path, "rev-parse", "stable^{commit}").strip() == \
        git(repo.path, "rev-parse", "v0.1.0^{commit}").strip()
    assert [m["event"] for m in received].count("rollback") == 1
