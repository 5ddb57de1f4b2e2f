"""The stage provider and the walk: timeouts kill the whole process group, failures skip what
depends on them, independent stages run in parallel."""

from __future__ import annotations

import json
from itertools import combinations

from conftest import alive, git, journal, spans, wait_for


def commit_spec(repo, spec: str) -> None:
    repo.write_spec(spec)
    (repo.path / ".gitignore").write_text(".scalpel/\n*.pid\n*.out\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: spec")


def test_a_timeout_kills_the_stage_and_its_children(repo, cli):
    # the child would write finished.out after a minute: the apply must not wait for it
    commit_spec(repo, "stages:\n  hang:\n    timeout: 1\n"
                      "    run: ((sleep 60; echo late > finished.out) & echo $! > child.pid; wait)"
                      "\n")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "stage.hang timed out after 1 s; its process group was killed" in result.err
    assert not (repo.path / "finished.out").exists()  # returned before the child was done
    step = spans(journal(repo.path))["stage.hang"]
    assert step.status == "failed" and step.duration >= 1  # not before its timeout
    child = int((repo.path / "child.pid").read_text())
    wait_for(lambda: not alive(child), what="the stage's child outlived its timeout")
    assert not (repo.path / "finished.out").exists()  # killed, not finished


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
    # Each stage waits until all four have started: run fewer at once, and the first one
    # waits until its timeout and fails.
    barrier = "touch {name}.out; until [ $(ls s?.out | wc -l) -ge 4 ]; do sleep 0.02; done"
    stages = "".join(f"  s{i}: {{run: '{barrier.format(name=f's{i}')}', timeout: 30}}\n"
                     for i in range(4))
    commit_spec(repo, f"stages:\n{stages}")
    result = cli(repo.path, "apply", "--auto-approve", "--parallelism", "4")
    assert result.code == 0, result.err
    steps = spans(journal(repo.path))
    assert sorted(steps) == ["stage.s0", "stage.s1", "stage.s2", "stage.s3"]
    assert all(a.overlaps(b) for a, b in combinations(steps.values(), 2))


def test_a_stage_sees_the_release_in_its_environment(repo, cli):
    commit_spec(repo, "stages:\n  env:\n"
                      "    run: echo $SCALPEL_VERSION $SCALPEL_TAG $GREETING > env.out\n"
                      "    env: {GREETING: hello}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert (repo.path / "env.out").read_text().split() == ["0.1.0", "v0.1.0", "hello"]


def test_a_phase_budget_bounds_the_phase_command(repo, cli):
    commit_spec(repo, """
stages:
  - {name: build, timeout: 1, run: "sleep 30 && echo late > built.out"}
  - {name: test, timeout: 60}
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "stage.build timed out after 1 s" in result.err
    assert not (repo.path / "built.out").exists()  # the command was cut short
    events = journal(repo.path)
    assert spans(events)["stage.build"].status == "failed"
    assert [e["address"] for e in events if e["event"] == "step_skipped"] == ["stage.test"]


def test_a_phase_budget_is_shared_by_its_members(repo, cli, monkeypatch):
    """git.tag runs in the `build` phase after its command: it gets what is left of the
    phase's 30 s, which the journal bounds on both sides."""
    from scalpel_plan import git as git_cli

    seen = []
    real_push = git_cli.push_tag
    monkeypatch.setattr(git_cli, "push_tag", lambda repo, remote, tag, timeout=None, **kw: (
        seen.append(timeout), real_push(repo, remote, tag, timeout, **kw)))
    commit_spec(repo, """
stages:
  - {name: build, timeout: 30, run: sleep 1}
  - {name: test, timeout: 60}
publish:
  git.tag: {push: origin, phase: build}
""")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    [timeout] = seen
    steps = spans(journal(repo.path))
    build, tag = steps["stage.build"], steps["git.tag"]
    assert build.end < tag.start  # the member started once the phase's command was done
    assert timeout is not None
    # no more than the budget less the command's time (the full 30 s is the bug)...
    assert timeout <= 30 - build.duration + 0.001
    # ...and no less than the budget less the time from the phase's start to the push's end
    assert timeout >= 30 - (tag.ended_at - build.started_at) - 0.01


def test_a_check_runs_again_when_commits_came_after_the_one_it_ran_on(repo, cli):
    """A release stopped after its checks, then a teammate's fix is pulled in: the checks
    run again on the code that will be released, not on what they saw."""
    repo.write_spec('stages:\n  test: {run: "true"}\n  fail: {run: "test -f ok", '
                    'needs: [stage.test]}\npublish:\n  git.tag: {push: origin}\n')
    git(repo.path, "add", "release.yml")
    git(repo.path, "commit", "-qm", "feat: release it")
    git(repo.path, "push", "-q", "origin", "HEAD")
    assert cli(repo.path, "apply", "--auto-approve").code == 1  # stage.fail: no `ok` file
    (repo.path / "ok").write_text("")
    git(repo.path, "add", "ok")
    git(repo.path, "commit", "-qm", "fix: the missing file")
    git(repo.path, "push", "-q", "origin", "HEAD")
    plan = cli(repo.path, "plan")
    assert "stage.test will run" in plan.out
    assert "1 commit came after the one it ran on" in plan.out


def test_timeouts_need_no_thread_per_command_and_the_soonest_ends_first(tmp_path, monkeypatch):
    """One watcher ends every command whose time is up: a step does not wait for a timer
    thread of its own to start (a thread start is a wait for the scheduler on a busy
    machine), and a long timeout never delays a short one."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from scalpel_plan import process

    process.run("true", cwd=tmp_path, timeout=5)  # (the watcher, if it was not running yet)
    started: list[str] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    for _ in range(10):
        assert process.run("true", cwd=tmp_path, timeout=600).ok
    assert started == []
    monkeypatch.setattr(threading.Thread, "start", real_start)

    def timed(limit: float) -> tuple[bool, float]:
        began = time.monotonic()
        done = process.run("sleep 30", cwd=tmp_path, timeout=limit)
        return done.timed_out, time.monotonic() - began

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(timed, [1.6, 0.2, 0.8]))
    assert all(expired for expired, _ in results)
    assert [round(took) for _, took in results] == [2, 0, 1]
