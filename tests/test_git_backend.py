"""The git state backend against real remotes: a bare repository over file:// (the `repo`
fixture's origin) and over git:// (a `git daemon` on 127.0.0.1 that the test starts and
stops). Other clones are real `git clone`s; a second apply is a real second process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, run_scalpel, scalpel_cmd, wait_for
from servers import free_port

from scalpel_plan.errors import StateError
from scalpel_plan.state.git_backend import LOCK_REF, STATE_REF, GitBackend

SPEC = """project: {{name: demo}}
{state}stages:
  build: {{run: "{build}"}}
publish:
  git.tag: {{push: origin}}
"""
ON_GIT = "state: {backend: git, remote: origin}\n"


def released_spec(repo, *, state: str = ON_GIT, build: str = "true") -> None:
    repo.write_spec(SPEC.format(state=state, build=build))
    (repo.path / ".gitignore").write_text(".scalpel/\ngo\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: release with scalpel")
    git(repo.path, "push", "-q", "origin", "main")


def clone(remote: str, into: Path) -> Path:
    git(into.parent, "clone", "-q", "-b", "main", remote, str(into))
    return into


def remote_refs(remote: str | Path) -> dict[str, str]:
    out = git(Path.cwd(), "ls-remote", str(remote), "refs/scalpel/*")
    return {line.split("\t")[1]: line.split("\t")[0] for line in out.splitlines()}


def history(cli, where: Path) -> list[dict]:
    done = cli(where, "history", "--json")
    assert done.code == 0, done.err
    return json.loads(done.out)["releases"]


def test_a_release_is_in_the_remote_and_a_fresh_clone_sees_it_and_rolls_back(repo, cli,
                                                                              tmp_path):
    released_spec(repo)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: the second release")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert not (repo.path / ".scalpel" / "state.json").exists()  # nothing kept only here
    refs = remote_refs(repo.remote)
    assert STATE_REF in refs and LOCK_REF not in refs  # the lock went with its apply

    fresh = clone(str(repo.remote), tmp_path / "fresh")
    assert [r["version"] for r in history(cli, fresh)] == ["0.1.0", "0.2.0"]
    status = cli(fresh, "status")
    assert status.code == 0 and "0.2.0" in status.out
    metrics = cli(fresh, "metrics")
    assert metrics.code == 0 and "release.duration" in metrics.out
    profile = cli(fresh, "profile")  # the last apply's journal travels with the state
    assert profile.code == 0 and "stage.build" in profile.out, profile.out
    rollback = cli(fresh, "rollback", "--to", "0.1.0", "--out", "rollback.json")
    assert rollback.code == 0, rollback.err
    assert "0.2.0 → 0.1.0" in rollback.out
    assert cli(fresh, "apply", "rollback.json").code == 0
    assert cli(repo.path, "status").out.count("live: 0.1.0") == 1  # the first clone sees it


def test_the_journal_is_folded_and_only_the_last_few_stay_in_the_ref(repo, cli):
    released_spec(repo)
    for n in range(5):
        repo.commit(f"feat: change {n}")
        assert cli(repo.path, "apply", "--auto-approve").code == 0
    files = git(repo.path, "ls-tree", "-r", "--name-only", STATE_REF.replace(
        "refs/scalpel", "refs/scalpel-remote/origin")).splitlines()
    journals = [f for f in files if f.startswith("journal/")]
    assert len(journals) == 3 and "state.json" in files and "metrics.jsonl" in files
    local = sorted(p.name for p in (repo.path / ".scalpel" / "journal").glob("*.jsonl"))
    assert [j.removeprefix("journal/") for j in sorted(journals)] == local[-3:]
    assert len(history(cli, repo.path)) == 5  # folded into the state, all five are there


def test_two_clones_applying_at_once_one_runs_the_other_names_the_holder(repo, cli, tmp_path):
    # the first apply's build waits for the test's go-ahead (at most 60 s: a safety net)
    released_spec(repo, build="for i in $(seq 1200); do [ -f go ] && break; sleep 0.05; done")
    other = clone(str(repo.remote), tmp_path / "other")
    first = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        wait_for(lambda: LOCK_REF in remote_refs(repo.remote), what="the first apply never "
                 "took the lock")
        second = cli(other, "apply", "--auto-approve")
        assert second.code == 1
        assert "locked by" in second.err and f"(pid {first.pid})" in second.err
        assert "for `apply`" in second.err and "state unlock" in second.err
        held = cli(other, "state", "lock")
        assert held.code == 0 and f"pid {first.pid}" in held.err
    finally:
        (repo.path / "go").touch()
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert list(repo.remote_tags()) == ["v0.1.0"]  # one release: the other did nothing
    assert [r["version"] for r in history(cli, other)] == ["0.1.0"]


def test_a_lost_race_is_reported_with_the_writer_and_nothing_is_overwritten(repo, tmp_path):
    released_spec(repo)
    other = clone(str(repo.remote), tmp_path / "other")
    mine = GitBackend(repo.path, "origin", repo.path / ".scalpel")
    theirs = GitBackend(other, "origin", other / ".scalpel")
    state = mine.read()
    with theirs.lock("hotfix"):  # between my read and my write, the other clone writes
        their_state = theirs.read()
        their_state.serial = 7
        theirs.write(their_state)
    written = remote_refs(repo.remote)[STATE_REF]
    state.serial = 3
    with pytest.raises(StateError) as raised:
        mine.write(state)
    message = str(raised.value)
    assert "was written by" in message and "for `hotfix`" in message
    assert "nothing was overwritten" in message
    assert remote_refs(repo.remote)[STATE_REF] == written
    assert GitBackend(repo.path, "origin", repo.path / ".scalpel").read().serial == 7
    mine.read()  # read again: now the write knows what it replaces
    mine.write(state)
    assert GitBackend(other, "origin", other / ".scalpel").read().serial == 3


def test_another_runs_metrics_between_read_and_write_do_not_abort_the_write(repo, tmp_path):
    """Metrics and records are appends: a state write that finds only them changed goes on
    top (a running apply is not stopped by another run's metrics), keeping them."""
    released_spec(repo)
    other = clone(str(repo.remote), tmp_path / "other")
    mine = GitBackend(repo.path, "origin", repo.path / ".scalpel")
    theirs = GitBackend(other, "origin", other / ".scalpel")
    state = mine.read()
    theirs.append_metrics([{"name": "release.duration", "value": 1.5, "run": "theirs"}])
    state.serial = 4
    mine.write(state)
    fresh = GitBackend(other, "origin", other / ".scalpel")
    assert fresh.read().serial == 4
    assert any(m.get("run") == "theirs" for m in fresh.read_metrics())


def test_a_write_that_goes_on_top_of_an_append_still_carries_the_ended_apply_journal(
        repo, tmp_path):
    """The journal of the apply that just ended travels with the state write that records
    its end, also when that write is tried again on top of another run's metrics."""
    released_spec(repo)
    other = clone(str(repo.remote), tmp_path / "other")
    mine = GitBackend(repo.path, "origin", repo.path / ".scalpel")
    theirs = GitBackend(other, "origin", other / ".scalpel")
    state = mine.read()
    apply_id = "20261202T071500-abcdef"
    journal = mine.open_journal(apply_id)
    journal.append("apply_started", apply_id=apply_id)
    journal.append("apply_finished", status="succeeded")
    journal.close()
    mine._journaling = apply_id  # the apply that just ended: its last write carries it
    theirs.append_metrics([{"name": "release.duration", "value": 1.5, "run": "theirs"}])
    state.serial += 1
    mine.write(state)  # the first try loses to the append; the second goes on top
    fresh = GitBackend(other, "origin", other / ".scalpel")
    assert fresh.read().serial == state.serial
    events = [e["event"] for e in fresh.read_journal(apply_id)]
    assert events == ["apply_started", "apply_finished"]


def left_lock(repo, host: str | None = None) -> str:
    """A lock taken by a process that is gone without releasing it, as a killed CI run's
    (on ``host``, as that process saw its host name, when given); its ID."""
    took = subprocess.run([sys.executable, "-c", (
        "import os, pathlib, socket\n"
        + (f"socket.gethostname = lambda: {host!r}\n" if host else "") +
        "from scalpel_plan.state.git_backend import GitBackend\n"
        "b = GitBackend(pathlib.Path('.'), 'origin', pathlib.Path('.scalpel'))\n"
        "held = b.lock('apply')\n"
        "print(held.__enter__().id, flush=True)\n"
        "os._exit(0)\n")],  # gone without releasing it, as a killed CI run would be
        cwd=repo.path, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return took.stdout.strip()


def test_state_unlock_clears_a_lock_whose_holder_is_gone(repo, cli):
    released_spec(repo)
    lock_id = left_lock(repo, host="ci-runner-7")  # another machine: nobody here can tell
    blocked = cli(repo.path, "apply", "--auto-approve")
    assert blocked.code == 1 and lock_id in blocked.err
    assert cli(repo.path, "state", "unlock", "not-the-id").code == 1
    assert LOCK_REF in remote_refs(repo.remote)
    cleared = cli(repo.path, "state", "unlock", lock_id)
    assert cleared.code == 0, cleared.err
    assert LOCK_REF not in remote_refs(repo.remote)
    assert cli(repo.path, "apply", "--auto-approve").code == 0


def test_a_lock_left_by_a_process_of_this_host_that_is_gone_is_taken_over(repo, cli):
    """As the local backend's lock goes with its process, a kill -9 here blocks nothing."""
    released_spec(repo)
    lock_id = left_lock(repo)
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert f"took over the lock {lock_id}" in done.err and "that process is gone" in done.err
    assert list(repo.remote_tags()) == ["v0.1.0"] and LOCK_REF not in remote_refs(repo.remote)


def test_unlock_refuses_a_lock_whose_holder_still_runs_here(repo, cli):
    released_spec(repo)
    backend = GitBackend(repo.path, "origin", repo.path / ".scalpel")
    with backend.lock("apply") as info:
        refused = cli(repo.path, "state", "unlock", info.id)
        assert refused.code == 1 and "running process" in refused.err
        assert LOCK_REF in remote_refs(repo.remote)
    assert LOCK_REF not in remote_refs(repo.remote)


def test_an_unknown_scalpel_state_is_an_error_that_says_what_to_set(repo, cli, monkeypatch):
    released_spec(repo, state="")
    monkeypatch.setenv("SCALPEL_STATE", "s3://bucket")
    done = cli(repo.path, "history")
    assert done.code == 1 and "SCALPEL_STATE='s3://bucket'" in done.err
    assert "git+REMOTE" in done.err and "Traceback" not in done.err


@pytest.fixture
def daemon(repo, tmp_path) -> Iterator[str]:
    """The repo's bare remote served by `git daemon` on 127.0.0.1, pushes allowed."""
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--export-all", "--enable=receive-pack",
                             f"--base-path={repo.remote.parent}", "--listen=127.0.0.1",
                             f"--port={port}", "--reuseaddr", str(repo.remote.parent)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"git://127.0.0.1:{port}/{repo.remote.name}"
    try:
        wait_for(lambda: subprocess.run(["git", "ls-remote", url], capture_output=True)
                 .returncode == 0, what="git daemon did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_over_git_protocol_with_scalpel_state_from_the_environment(repo, daemon, cli,
                                                                  monkeypatch, tmp_path):
    git(repo.path, "remote", "set-url", "origin", daemon)
    released_spec(repo, state="")  # release.yml says nothing: the environment chooses
    monkeypatch.setenv("SCALPEL_STATE", "git+origin")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert STATE_REF in remote_refs(daemon)
    fresh = clone(daemon, tmp_path / "fresh")
    assert [r["version"] for r in history(cli, fresh)] == ["0.1.0"]
    monkeypatch.setenv("SCALPEL_STATE", "local")  # the local folder of a fresh clone: empty
    assert history(cli, fresh) == []
    done = run_scalpel(fresh, "history", env={"SCALPEL_STATE": "git+origin"})
    assert done.returncode == 0 and "0.1.0" in done.stdout


def test_a_plan_only_reads_a_remote_that_refuses_every_push(repo, cli, tmp_path):
    """A pull request's plan job may read the remote but not push: it plans, takes no lock."""
    released_spec(repo)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: the next one")
    hook = repo.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'read-only token' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = remote_refs(repo.remote)
    planned = cli(repo.path, "plan")
    assert planned.code == 0, planned.err
    assert "0.2.0" in planned.out and remote_refs(repo.remote) == before


def test_validate_outside_a_clone_needs_no_state_remote(tmp_path, cli):
    folder = tmp_path / "tarball"
    folder.mkdir()
    (folder / "release.yml").write_text(SPEC.format(state=ON_GIT, build="true"))
    done = cli(folder, "validate")
    assert done.code == 0, done.err


def test_each_change_reaches_the_remote_at_once(repo):
    """A CI runner's .scalpel/ is gone after the job: the git backend writes the state after
    every change, not every few seconds."""
    from scalpel_plan.state.checkpoint import Checkpointer

    released_spec(repo)
    backend = GitBackend(repo.path, "origin", repo.path / ".scalpel")
    checkpoint = Checkpointer(backend, backend.read(), "a-test")
    try:
        assert checkpoint.interval == 0.0
    finally:
        checkpoint.abandon()
