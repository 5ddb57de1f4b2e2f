"""Interrupts as Terraform does them, and a file system that refuses as the user's to fix.

Ctrl-C is a SIGINT sent to the real `python -m scalpel_plan apply` process: the first one
starts nothing new and lets the running stage finish, a second one kills the running stage's
process group at once; either way the journal, the incident report and the resume hint are
written and the next apply finishes the release. A full disk or a read-only state folder exits
1 with what and where, never "internal error", and the state stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import alive, git, journal, scalpel_cmd, wait_for

RESUME_HINT = "Interrupted. What was done is recorded; `scalpel apply` finishes the job."


def commit_spec(repo, spec: str) -> None:
    repo.write_spec(spec)
    (repo.path / ".gitignore").write_text(".scalpel/\n*.out\n*.pid\n*.flag\n*.log\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: spec")


class Apply:
    """`scalpel apply --auto-approve` running in its own process; what it says goes to files,
    so that the test can read it while it runs."""

    def __init__(self, cwd: Path) -> None:
        self.err_path = cwd / "apply-err.log"
        self.out_path = cwd / "apply-out.log"
        with self.err_path.open("wb") as err, self.out_path.open("wb") as out:
            self.proc = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self) -> int:
        return self.proc.wait(timeout=120)  # a safety net far beyond the work, not a measure

    def end(self) -> None:
        """After the test, even a failed one: nothing it started is left running (the stage
        runs in a session of its own, so its group is ended by the pid it wrote down)."""
        cwd = self.err_path.parent
        (cwd / "go.flag").touch()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        stage = cwd / "stage.pid"
        if stage.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(stage.read_text()), signal.SIGKILL)


@pytest.fixture
def start_apply(repo) -> Iterator[Callable[[], Apply]]:
    started: list[Apply] = []

    def start() -> Apply:
        started.append(Apply(repo.path))
        return started[-1]

    yield start
    for apply in started:
        apply.end()


SPEC = """
stages:
  slow:  {{run: '{run}'}}
  after: {{run: echo after > after.out, needs: [stage.slow]}}
publish:
  git.tag: {{push: origin}}
"""


def test_a_first_ctrl_c_lets_the_running_stage_finish_and_starts_nothing_new(repo, cli,
                                                                            start_apply):
    # the stage waits for go.flag, which the test creates only once the interrupt was heard
    run = ("echo $$ > stage.pid; touch started.out; until [ -e go.flag ]; do sleep 0.02; done;"
           " touch finished.out")
    commit_spec(repo, SPEC.format(run=run))
    apply = start_apply()
    wait_for(lambda: (repo.path / "started.out").exists(), what="the stage never started")
    apply.interrupt()
    wait_for(lambda: "Interrupt received" in apply.err, what="the interrupt was not heard")
    assert "stopping after the running steps (press Ctrl-C again to stop them now)" in apply.err
    assert apply.proc.poll() is None  # it waits for the running stage
    (repo.path / "go.flag").touch()
    assert apply.wait() == 130
    err = apply.err
    assert RESUME_HINT in err
    assert "Apply interrupted. 1 done, 0 failed, 0 skipped, 2 not started." in err
    assert "internal error" not in err and "Traceback" not in err
    assert (repo.path / "finished.out").exists()  # the running stage finished
    assert not (repo.path / "after.out").exists()  # what came after it never started
    assert repo.remote_tags() == {}

    events = journal(repo.path)
    heard = next(e["seq"] for e in events if e["event"] == "apply_interrupted")
    started_after = [e["address"] for e in events
                     if e["event"] == "step_pending" and e["seq"] > heard]
    assert started_after == []
    done = {e["address"]: e["seq"] for e in events if e["event"] == "step_done"}
    assert done.keys() == {"stage.slow"} and done["stage.slow"] > heard
    assert events[-1]["event"] in ("apply_finished", "alert_sent")

    apply_id = events[0]["apply_id"]
    report = repo.path / ".scalpel" / "incidents" / f"{apply_id}.md"
    assert "release interrupted" in report.read_text()
    assert "`stage.after`" in report.read_text().split("## What remains")[1]
    status = cli(repo.path, "status")
    assert status.code == 0 and " interrupted" in status.out  # the timeline shows it

    # the next apply finishes the job: the stage is not run again, the rest is
    (repo.path / "finished.out").unlink()
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "Apply complete!" in result.out
    assert (repo.path / "after.out").exists()
    assert not (repo.path / "finished.out").exists()
    assert "v0.1.0" in repo.remote_tags()


@pytest.mark.parametrize("sigterm", [False, True], ids=["ctrl-c twice", "sigterm"])
def test_a_second_ctrl_c_kills_the_running_stage_and_its_children_at_once(repo, cli,
                                                                          start_apply, sigterm):
    # a SIGTERM (a service manager, a cancelled CI job) waits for nobody: it counts as two
    # The first run starts a child that would write finished.out after five minutes and
    # waits for it; a later run (started.out exists) has nothing to wait for.
    run = ("if [ ! -e started.out ]; then echo $$ > stage.pid; (sleep 300; touch finished.out) &"
           " echo $! > child.pid; touch started.out; wait; fi")
    commit_spec(repo, SPEC.format(run=run))
    apply = start_apply()
    wait_for(lambda: (repo.path / "started.out").exists(), what="the stage never started")
    child = int((repo.path / "child.pid").read_text())
    if sigterm:
        apply.proc.send_signal(signal.SIGTERM)
    else:
        apply.interrupt()
        wait_for(lambda: "Interrupt received" in apply.err, what="the interrupt was not heard")
        apply.interrupt()
    assert apply.wait() == 130  # long before the child's five minutes
    err = apply.err
    assert ("Interrupt received: " if sigterm else "Interrupt received again: ") + \
        "stopping the running steps now" in err
    assert ("stopping after the running steps" in err) is not sigterm
    assert "stage.slow was stopped by the interrupt; its process group was killed" in err
    assert RESUME_HINT in err
    assert "internal error" not in err and "Traceback" not in err
    wait_for(lambda: not alive(child), what="the stage's child outlived the interrupt")
    assert not (repo.path / "finished.out").exists()

    events = journal(repo.path)
    kinds = [e["event"] for e in events]
    assert kinds.count("apply_interrupted") == (1 if sigterm else 2)
    failed = next(e for e in events if e["event"] == "step_failed")
    assert failed["address"] == "stage.slow"
    assert failed["seq"] > max(e["seq"] for e in events if e["event"] == "apply_interrupted")
    assert not [e for e in events if e["event"] == "step_pending" and e["address"] != "stage.slow"]
    report = repo.path / ".scalpel" / "incidents" / f"{events[0]['apply_id']}.md"
    assert report.exists()

    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert (repo.path / "after.out").exists()
    assert "v0.1.0" in repo.remote_tags()
    assert not (repo.path / "finished.out").exists()


def released_once(repo, cli) -> bytes:
    """Release 0.1.0 and commit a feature, so that the next apply has work to do; returns
    the state as that release left it."""
    commit_spec(repo, "publish:\n  git.tag: {push: origin}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: a second feature")
    return (repo.path / ".scalpel" / "state.json").read_bytes()


def test_a_state_folder_that_refuses_the_journal_is_a_user_error(repo, cli):
    before = released_once(repo, cli)
    journal_dir = repo.path / ".scalpel" / "journal"
    for path in journal_dir.iterdir():
        path.unlink()
    journal_dir.rmdir()
    journal_dir.write_text("not a folder\n")  # as root, chmod would not stop a write

    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert f"cannot write {journal_dir}/" in result.err
    assert "internal error" not in result.err
    assert (repo.path / ".scalpel" / "state.json").read_bytes() == before
    assert repo.remote_tags().keys() == {"v0.1.0"}

    journal_dir.unlink()
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert repo.remote_tags().keys() == {"v0.1.0", "v0.2.0"}


def test_a_full_disk_under_the_lock_is_a_user_error(repo, cli):
    before = released_once(repo, cli)
    info = repo.path / ".scalpel" / "state.lock.json"
    info.unlink(missing_ok=True)
    info.symlink_to("/dev/full")  # every write there fails with ENOSPC, as on a full disk

    result = cli(repo.path, "plan")
    assert result.code == 1
    assert f"cannot write {info}: No space left on device" in result.err
    assert "free some space on that disk" in result.err
    assert "internal error" not in result.err
    assert (repo.path / ".scalpel" / "state.json").read_bytes() == before


def test_a_disk_that_fills_up_during_apply_keeps_the_state_and_the_next_apply_finishes(
        repo, cli, monkeypatch):
    released_once(repo, cli)

    def full(real):  # type: ignore[no-untyped-def]
        def sync(fd: int) -> None:  # the journal's disk is full; the state's is not
            if os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real(fd)
        return sync

    real = {name: getattr(os, name) for name in ("fsync", "fdatasync")}
    for name, call in real.items():  # (the journal syncs its data only)
        monkeypatch.setattr(os, name, full(call))
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "/.scalpel/journal/" in result.err and ": No space left on device" in result.err
    assert "internal error" not in result.err
    assert repo.remote_tags().keys() == {"v0.1.0"}

    for name, call in real.items():
        monkeypatch.setattr(os, name, call)
    assert cli(repo.path, "plan").code == 0  # the state reads
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert repo.remote_tags().keys() == {"v0.1.0", "v0.2.0"}


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "No space left on device"),
                                             (errno.EROFS, "Read-only file system"),
                                             (errno.EACCES, "Permission denied")])
def test_a_refusing_file_system_anywhere_is_a_user_error_not_a_crash(repo, cli, monkeypatch,
                                                                     code, words):
    # the safety net in main: an OSError no layer turned into words of its own
    from scalpel_plan.plan import release

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(repo.path / "somewhere" / "file"))

    commit_spec(repo, "publish:\n  git.tag: {push: origin}\n")
    monkeypatch.setattr(release, "make_plan", refused)
    result = cli(repo.path, "plan")
    assert result.code == 1
    assert f"{repo.path / 'somewhere' / 'file'}: {words}" in result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
