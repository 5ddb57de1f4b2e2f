"""The stage provider and the walk: timeouts kill the whole process group, failures skip what
depends on them, independent stages run in parallel."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conftest import git


def commit_spec(repo, spec: str) -> None:
    repo.write_spec(spec)
    (repo.path / ".gitignore").write_text(".scalpel/\n*.pid\n*.out\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: spec")


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for PID 1 to reap it."""
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return "State:\tZ" not in status


def test_a_timeout_kills_the_stage_and_its_children(repo, cli):
    commit_spec(repo, "stages:\n  hang:\n    run: (sleep 60 & echo $! > child.pid; wait)\n"
                      "    timeout: 1\n")
    started = time.monotonic()
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert time.monotonic() - started < 15
    assert "stage.hang timed out after 1 s; its process group was killed" in result.err
    child = int((repo.path / "child.pid").read_text())
    time.sleep(0.2)
    assert not alive(child)


def test_a_failed_stage_shows_its_log_tail_and_skips_its_dependents(repo, cli):
    commit_spec(repo, """
stages:
  ok:     {run: echo fine > ok.out}
  broken: {run: "echo first line; echo 'assert 1 == 2' >&2; exit 3"}
  after:  {run: echo never > after.out, needs: [stage.broken]}
publish:
  git.tag: {push: origin}
""")
    result = cli(repo.path, "apply", "--auto-approve", "--json")
    assert result.code == 1
    assert "stage.broken failed with exit code 3" in result.err
    assert "assert 1 == 2" in result.err  # the tail of its log
    assert "Remaining: " in result.err and "stage.after" in result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    by_address = {e["address"]: e["event"] for e in events if e["event"] != "started"}
    assert by_address == {"stage.ok": "done", "stage.broken": "failed",
                          "stage.after": "skipped", "git.tag": "skipped"}
    assert not (repo.path / "after.out").exists()
    assert repo.remote_tags() == {}
    log = repo.path / ".scalpel" / "logs" / "0.1.0" / "stage.broken.log"
    assert "first line" in log.read_text()

    # the next plan shows only what remains, and the release is still 0.1.0
    plan = json.loads(cli(repo.path, "plan", "--format", "json").out)
    assert {c["address"]: c["action"] for c in plan["changes"]} == {
        "stage.ok": "no-op", "stage.broken": "run", "stage.after": "run", "git.tag": "create"}


def test_independent_stages_run_in_parallel(repo, cli):
    stages = "".join(f"  s{i}: {{run: sleep 1}}\n" for i in range(4))
    commit_spec(repo, f"stages:\n{stages}")
    started = time.monotonic()
    assert cli(repo.path, "apply", "--auto-approve", "--parallelism", "4").code == 0
    assert time.monotonic() - started < 3.5  # serially it would take 4 s


def test_a_stage_sees_the_release_in_its_environment(repo, cli):
    commit_spec(repo, "stages:\n  env:\n"
                      "    run: echo $SCALPEL_VERSION $SCALPEL_TAG $GREETING > env.out\n"
                      "    env: {GREETING: hello}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert (repo.path / "env.out").read_text().split() == ["0.1.0", "v0.1.0", "hello"]


def test_a_phase_budget_bounds_the_phase_command(repo, cli):
    commit_spec(repo, """
stages:
  - {name: build, timeout: 1, run: sleep 5}
  - {name: test, timeout: 60}
""")
    started = time.monotonic()
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "stage.build timed out after 1 s" in result.err
    assert time.monotonic() - started < 4


def test_a_phase_budget_is_shared_by_its_members(repo, cli, monkeypatch):
    """git.tag runs in the `build` phase after its 2 s command: it gets what is left."""
    from scalpel_plan import git as git_cli

    seen = []
    real_push = git_cli.push_tag
    monkeypatch.setattr(git_cli, "push_tag", lambda repo, remote, tag, timeout=None, **kw: (
        seen.append(timeout), real_push(repo, remote, tag, timeout, **kw)))
    commit_spec(repo, """
stages:
  - {name: build, timeout: 5, run: sleep 2}
  - {name: test, timeout: 60}
publish:
  git.tag: {push: origin, phase: build}
""")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert len(seen) == 1 and seen[0] is not None and 1.5 < seen[0] < 3.1
