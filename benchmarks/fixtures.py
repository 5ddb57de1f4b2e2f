"""Generated inputs for the benchmarks: git repositories, large specs, long state histories."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

PINNED_GIT = {
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, **PINNED_GIT})


def make_repo(root: Path, spec: str, previous_tag: str | None = None) -> Path:
    """A work tree with a bare `origin`, ``spec`` as release.yml and a feat commit to release
    (after ``previous_tag``, when given)."""
    root.mkdir(parents=True, exist_ok=True)
    remote, work = root / "remote.git", root / "work"
    git(root, "init", "-q", "--bare", str(remote))
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    (work / ".gitignore").write_text(".scalpel/\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "chore: start")
    if previous_tag:
        git(work, "tag", "-a", "-m", previous_tag, previous_tag)
    (work / "release.yml").write_text(spec)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "feat: something to release")
    git(work, "push", "-q", "origin", "main")
    return work


def big_spec(nodes: int) -> str:
    """``nodes`` nodes: stages in chains of 10 (each needs the one before), a tag and notices."""
    notices = max(1, nodes // 100)
    stages = nodes - 1 - notices
    lines = ["project: {name: big}", "stages:"]
    for i in range(stages):
        needs = f", needs: [stage.s{i - 1}]" if i % 10 else ""
        lines.append(f"  s{i}: {{run: 'true', timeout: 60{needs}}}")
    lines += ["publish:", "  git.tag: {push: origin}", "notify:"]
    lines += [f"  console.n{i}: {{message: 'notice {i}: {{version}}'}}" for i in range(notices)]
    return "\n".join(lines) + "\n"


def history_state(spec_nodes: int, releases: int) -> dict[str, object]:
    """A state file after ``releases`` releases of a spec with ``spec_nodes`` nodes."""
    addresses = [f"stage.s{i}" for i in range(spec_nodes - 1 - max(1, spec_nodes // 100))]
    notices = [f"console.n{i}" for i in range(max(1, spec_nodes // 100))]
    last = f"0.{releases}.0"
    resources = {a: {"address": a, "provider": "stage", "release": last, "updated_at": "x",
                     "attributes": {"release": last, "command": "true", "exit_code": 0}}
                 for a in addresses}
    resources.update({a: {"address": a, "provider": "console", "release": last,
                          "updated_at": "x", "attributes": {"release": last, "message": "m"}}
                      for a in notices})
    history = [{"version": f"0.{r}.0", "commit": "0" * 40, "tag": f"v0.{r}.0",
                "status": "succeeded", "started_at": "x", "finished_at": "x"}
               for r in range(1, releases + 1)]
    points = [{"name": f"v0.{r}.0", "version": f"0.{r}.0", "commit": "0" * 40,
               "created_at": "x", "resources": {
                   "git.tag": {"tag": f"v0.{r}.0", "commit": "0" * 40, "remote": "origin"},
                   **{a: {"release": f"0.{r}.0", "message": "m"} for a in notices}}}
              for r in range(1, releases + 1)]
    return {"format_version": 1, "lineage": str(uuid.uuid4()), "serial": releases * spec_nodes,
            "releases": history, "resources": resources, "rollback_points": points,
            "active_apply": None}


def write_state(work: Path, state: dict[str, object]) -> None:
    folder = work / ".scalpel"
    folder.mkdir(exist_ok=True)
    (folder / "state.json").write_text(json.dumps(state))


def release_history(folder: Path, releases: int) -> None:
    """``folder``/.scalpel after ``releases`` releases of a typical project (build and test
    stages, a git tag, PyPI, a docker image, a Slack announcement), written through Scalpel's
    own state, journal and metrics code, as that many applies would have left it."""
    from scalpel_plan.state.journal import Journal
    from scalpel_plan.state.local import LocalBackend
    from scalpel_plan.state.model import ReleaseRecord, Resource, RollbackPoint, State

    backend = LocalBackend(folder / ".scalpel")
    folder.joinpath(".scalpel").mkdir(parents=True, exist_ok=True)
    state = State().with_lineage()
    metrics = []
    for n in range(releases):
        version = f"{n // 100}.{n % 100}.0"
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        apply_id = f"2026{n:06d}-{uuid.uuid4().hex[:6]}"
        attrs = {
            "git.tag": ("git", {"tag": f"v{version}", "commit": commit, "remote": "origin",
                                "message": f"Release {version}", "object": commit}),
            "pypi.widgets": ("pypi", {"release": version, "package": "widgets", "files": {
                f"widgets-{version}-py3-none-any.whl": uuid.uuid4().hex * 2,
                f"widgets-{version}.tar.gz": uuid.uuid4().hex * 2}}),
            "docker.app": ("docker", {"release": version, "image": "ghcr.io/acme/widgets",
                                      "digest": "sha256:" + uuid.uuid4().hex * 2, "digests": {
                                          version: "sha256:" + uuid.uuid4().hex * 2,
                                          "latest": "sha256:" + uuid.uuid4().hex * 2}}),
            "slack.announce": ("slack", {"release": version, "status": "sent"}),
        }
        for address, (provider, values) in attrs.items():
            state.resources[address] = Resource(address=address, provider=provider,
                                                release=version, attributes=values)
        state.releases.append(ReleaseRecord(version=version, tag=f"v{version}", commit=commit,
                                            status="succeeded", apply_id=apply_id,
                                            finished_at="2026-11-26T00:00:00+00:00"))
        state.rollback_points.append(RollbackPoint(
            name=f"v{version}", version=version, commit=commit,
            resources={a: r.attributes for a, r in state.resources.items()}))
        state.live = version
        for kind, seconds in (("total", 95.0), ("build", 30.0), ("test", 50.0),
                              ("publish", 12.0), ("custom", 0.5)):
            name = "release.duration" if kind == "total" else f"{kind}.duration"
            metrics.append({"name": name, "value": seconds + n % 7, "type": kind,
                            "release": version, "operation": "release",
                            "outcome": "succeeded", "run": apply_id,
                            "recorded_at": "2026-11-26T00:00:00+00:00", "unit": "seconds"})
    backend.write(state)
    backend.append_metrics(metrics)
    journal = Journal(backend.journal_path(state.releases[-1].apply_id or ""))
    needs = {"stage.build": [], "stage.test": ["stage.build"], "git.tag": ["stage.test"],
             "pypi.widgets": ["stage.test"], "docker.app": ["stage.test"],
             "slack.announce": ["git.tag", "pypi.widgets", "docker.app"]}
    journal.append("apply_started", apply_id=state.releases[-1].apply_id, mode="release",
                   version=state.releases[-1].version, parallelism=4, nodes=6, needs=needs)
    for address in needs:
        journal.append("step_pending", durable=False, address=address, action="create")
        journal.append("step_done", address=address, action="create", duration=0.01)
    journal.append("apply_finished", durable=False, status="succeeded", done=6, failed=0,
                   skipped=0)
    journal.close()


def quickstart_history(folder: Path, releases: int) -> None:
    """``folder``/.scalpel after ``releases`` releases of examples/quickstart (a test stage, a
    git tag, an announcement), written through Scalpel's own state and metrics code as that
    many applies would have left it (without running them). The last version is
    ``{(releases - 1) // 100}.{(releases - 1) % 100}.0``."""
    from scalpel_plan.state.local import LocalBackend
    from scalpel_plan.state.model import ReleaseRecord, Resource, RollbackPoint, State

    folder.joinpath(".scalpel").mkdir(parents=True, exist_ok=True)
    backend = LocalBackend(folder / ".scalpel")
    state = State().with_lineage()
    metrics = []
    for n in range(releases):
        version = f"{n // 100}.{n % 100}.0"
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        apply_id = f"2026{n:06d}-{uuid.uuid4().hex[:6]}"
        attrs = {
            "stage.test": ("stage", {"release": version, "exit_code": 0,
                                     "command": "python -c \"print('42 tests passed')\""}),
            "git.tag": ("git", {"tag": f"v{version}", "commit": commit, "remote": "origin",
                                "message": f"Release {version}", "object": commit}),
            "console.announce": ("console", {"release": version,
                                             "message": f"widgets {version} is out: v{version}"}),
        }
        for address, (provider, values) in attrs.items():
            state.resources[address] = Resource(address=address, provider=provider,
                                                release=version, attributes=values)
        state.releases.append(ReleaseRecord(version=version, tag=f"v{version}", commit=commit,
                                            status="succeeded", apply_id=apply_id,
                                            finished_at="2026-11-26T00:00:00+00:00"))
        state.rollback_points.append(RollbackPoint(
            name=f"v{version}", version=version, commit=commit,
            resources={a: r.attributes for a, r in state.resources.items()}))
        state.live = version
        for name, seconds in (("release.duration", 20.0), ("test.duration", 12.0)):
            metrics.append({"name": name, "value": seconds + n % 7, "type": name.split(".")[0]
                            .replace("release", "total"), "release": version,
                            "operation": "release", "outcome": "succeeded", "run": apply_id,
                            "recorded_at": "2026-11-26T00:00:00+00:00", "unit": "seconds"})
    state.serial = releases * 8
    backend.write(state)
    backend.append_metrics(metrics)
