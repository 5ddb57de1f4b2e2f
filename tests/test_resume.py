"""Crashes and concurrency: kill -9 during apply then resume, two applies at once, stale plans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import git, run_scalpel, scalpel_cmd, wait_for

STEP = """#!/bin/sh
# step.sh NAME: log start and end; hold while the file `hold-NAME` exists
echo "start $1" >> steps.log
echo $$ > "pid-$1"
while [ -e "hold-$1" ]; do sleep 0.05; done
echo "end $1" >> steps.log
"""

SPEC = """
stages:
  first: {run: sh step.sh first}
  slow:  {run: sh step.sh slow, needs: [stage.first]}
publish:
  git.tag: {push: origin}
notify:
  console.announce: {}
"""


@pytest.fixture
def steps_repo(repo):
    (repo.path / "step.sh").write_text(STEP)
    repo.write_spec(SPEC)
    (repo.path / ".gitignore").write_text("steps.log\npid-*\nhold-*\n.scalpel/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: release it")
    return repo


def start_apply(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (the lock file: it is in the lock's wait)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())
    except FileNotFoundError:  # the process is gone, or a descriptor closed as we looked
        return False


def log_lines(repo) -> list[str]:
    return (repo.path / "steps.log").read_text().splitlines()


def crash_during_slow(repo) -> None:
    """kill -9 the apply while stage.slow runs, taking the stage down with it."""
    (repo.path / "hold-slow").touch()
    proc = start_apply(repo.path)
    wait_for(lambda: (repo.path / "pid-slow").exists())
    os.kill(proc.pid, signal.SIGKILL)  # the orchestrator dies mid-step...
    proc.communicate()
    pgid = os.getpgid(int((repo.path / "pid-slow").read_text()))
    os.killpg(pgid, signal.SIGKILL)  # ...and the machine takes the running step with it
    (repo.path / "hold-slow").unlink()


def test_kill_9_during_apply_then_resume_does_no_step_twice(steps_repo):
    repo = steps_repo
    crash_during_slow(repo)

    plan = run_scalpel(repo.path, "plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    actions = {c["address"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
    assert actions == {"stage.first": "no-op", "stage.slow": "run", "git.tag": "create",
                       "console.announce": "create"}
    text = run_scalpel(repo.path, "plan").stdout
    assert "continues the unfinished release 0.1.0" in text

    resumed = run_scalpel(repo.path, "apply", "--auto-approve")
    assert resumed.returncode == 0, resumed.stderr
    assert log_lines(repo) == ["start first", "end first", "start slow", "start slow",
                               "end slow"]
    assert repo.remote_tags() == {"v0.1.0": git(repo.path, "rev-parse", "HEAD")}
    assert run_scalpel(repo.path, "plan", "--detailed-exitcode").returncode == 0


def test_a_tag_pushed_before_the_crash_is_adopted_not_pushed_again(steps_repo, cli):
    repo = steps_repo
    crash_during_slow(repo)
    # as if the killed apply had pushed the tag just before it died, unrecorded
    head = git(repo.path, "rev-parse", "HEAD")
    git(repo.path, "tag", "-a", "-m", "Release 0.1.0", "v0.1.0", head)
    git(repo.path, "push", "-q", "origin", "v0.1.0")
    tag_object = git(repo.path, "rev-parse", "v0.1.0")
    plan = cli(repo.path, "plan")
    assert "git.tag will be adopted" in plan.out
    assert "Plan: 1 to create, 0 to update, 0 to delete, 1 to run, 1 to adopt" in plan.out
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    state = json.loads((repo.path / ".scalpel" / "state.json").read_text())
    assert state["resources"]["git.tag"]["attributes"]["object"] == tag_object
    assert git(repo.path, "ls-remote", "origin", "refs/tags/v0.1.0").split()[0] == tag_object


def test_a_tag_elsewhere_is_never_moved(steps_repo, cli):
    repo = steps_repo
    git(repo.path, "tag", "-a", "-m", "stray", "v0.1.0", "HEAD~1")
    git(repo.path, "push", "-q", "origin", "v0.1.0")
    # the stray tag is on HEAD~1, so the next release is computed from it: force 0.1.0
    plan = cli(repo.path, "plan", "--version", "0.1.0")
    assert plan.code == 1
    assert "tag v0.1.0 already exists locally" in plan.err and "never moves" in plan.err


def test_a_second_apply_fails_at_once_naming_the_holder_then_waits_with_a_timeout(steps_repo):
    repo = steps_repo
    (repo.path / "hold-first").touch()
    first = start_apply(repo.path)
    wait_for(lambda: (repo.path / "pid-first").exists())
    second = run_scalpel(repo.path, "apply", "--auto-approve")  # the first holds on
    assert second.returncode == 1
    assert first.poll() is None  # it failed while the lock was held: it did not wait
    assert "the state is locked by" in second.stderr and "for `apply`" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    holder = run_scalpel(repo.path, "state", "lock")
    assert f"pid {first.pid}" in holder.stderr
    as_json = json.loads(run_scalpel(repo.path, "state", "lock", "--json").stdout)
    assert as_json["locked"] is True and as_json["holder"]["pid"] == first.pid
    assert as_json["holder"]["operation"] == "apply"

    waiting = start_apply(repo.path, "--lock-timeout", "60s")
    wait_for(lambda: has_open(waiting.pid, repo.path / ".scalpel" / "state.lock"),
             what="the second apply never reached the lock")
    assert waiting.poll() is None  # at the lock the first holds: waiting, not failed
    (repo.path / "hold-first").unlink()
    first.communicate(timeout=30)
    assert first.returncode == 0
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert log_lines(repo).count("end first") == 1  # the waiter saw the release done


def test_a_stale_plan_is_refused_with_the_reason(steps_repo, cli):
    repo = steps_repo
    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    repo.commit("fix: moved on", "other.txt")
    stale = cli(repo.path, "apply", "plan.json")
    assert stale.code == 1 and "stale" in stale.err and "HEAD moved since" in stale.err

    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    repo.write_spec(SPEC + "\n# edited\n")
    stale = cli(repo.path, "apply", "plan.json")
    assert stale.code == 1 and "release.yml changed since" in stale.err
    git(repo.path, "commit", "-qam", "chore: edit the spec")  # a dirty tree is refused too

    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    assert cli(repo.path, "apply", "plan.json").code == 0  # a fresh plan applies as saved
    stale = cli(repo.path, "apply", "plan.json")  # the state moved on since
    assert stale.code == 1 and "the state changed since" in stale.err


def test_apply_without_a_terminal_needs_auto_approve(steps_repo):
    result = run_scalpel(steps_repo.path, "apply")
    assert result.returncode == 1 and "--auto-approve" in result.stderr
