"""Crash safety on every state backend (issue 14): the same kill -9 sweep on each, a kill
during a state write, and a remote that stops answering in the middle of an apply.

The backends come from tests/crash_backends.py's ``BACKENDS`` through the ``backend`` fixture;
a new backend is one line there. Run with `-s` to see the figures;
`python benchmarks/crash.py --backend NAME` runs every kill point.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import crash_backends
import pytest
from conftest import git, wait_for
from servers import free_port


@pytest.fixture(scope="module")
def fakes():
    with crash_backends.fakes() as running:
        yield running


@pytest.fixture(scope="module", params=list(crash_backends.BACKENDS))
def backend(request, tmp_path_factory):
    """(the backend, the folder its scenarios go in)."""
    folder = tmp_path_factory.mktemp(f"crash-{request.param}")
    with crash_backends.BACKENDS[request.param](folder) as running:
        yield running, folder


def sample(backend: crash_backends.Backend, points: list[tuple[str, str]]
           ) -> list[tuple[str, str, str]]:
    """What the suite tries (`benchmarks/crash.py --backend NAME` tries every point, each
    resumed in both clones). On git over file://: the first journal line of each kind, the
    tag's step done, the message being sent, and a kill in a state push; on the others: the message
    being sent, the release's last record, and one state push. A shared backend's resumes
    alternate between the same clone and a fresh one."""
    lines = [p for p in points if p[0].startswith("line:")]
    pushes = [p for p in points if p[0].startswith("during:")]
    if backend.name == "git-file":
        seen: set[str] = set()
        chosen = []
        for point, label in lines:
            kind = label.split(" ")[0]
            if kind not in seen or label == "step_done git.tag" or "sending" in label:
                seen.add(kind)
                chosen.append((point, label))
        chosen += pushes[2:3]
    else:
        sending = [p for p in lines if "sending" in p[1]][:1]
        chosen = [*sending, lines[-3], *pushes[2:3]]
    resumes = ("fresh", "same") if backend.shared else ("same",)
    return [(point, label, resumes[i % len(resumes)])
            for i, (point, label) in enumerate(chosen)]


def test_a_release_killed_anywhere_finishes_once_resumed_here_or_in_a_fresh_clone(
        backend, fakes):
    running, folder = backend
    probe, points = crash_backends.probe(fakes, running, folder)
    assert probe.correct, probe.explain()
    kinds = {label.split(" ")[0] for point, label in points if point.startswith("line:")}
    assert {"apply_started", "step_pending", "step_progress", "step_done",
            "apply_finished"} <= kinds
    if running.name.startswith("git"):
        assert any(p.startswith("during:state push") for p, _ in points)
        assert any(p.startswith("effect:git commit-tree") for p, _ in points)  # (benchmark)
    outcomes = crash_backends.sweep(fakes, running, folder, sample(running, points),
                                    workers=3)
    report = crash_backends.summary(running, outcomes, probe)
    print("\n" + report)
    figures = crash_backends.figures(outcomes)
    assert figures["kill points reached"] == figures["kill points tried"], report
    assert figures["% finished correctly"] == 100.0, report
    assert figures["side effects done twice"] == 0, report
    assert figures["announcements lost without a warning"] == 0, report


# ------------------------------------------------------------------ a remote out of reach


def _daemon(base: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["git", "daemon", "--export-all", "--enable=receive-pack",
                             f"--base-path={base}", "--listen=127.0.0.1", f"--port={port}",
                             "--reuseaddr", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    crash_backends.crash_wait_port(port)
    return proc


def _remote_steps_done(remote: Path) -> list[str]:
    """The steps done in every journal of origin's state ref."""
    names = git(remote, "ls-tree", "-r", "--name-only", "refs/scalpel/state").split()
    events = [json.loads(line) for n in names if n.startswith("journal/")
              for line in git(remote, "show", f"refs/scalpel/state:{n}").splitlines()]
    return [e["address"] for e in events if e["event"] == "step_done"]


def test_the_network_down_in_the_middle_of_an_apply_it_waits_and_finishes(fakes, tmp_path):
    """origin's `git daemon` stops while the build runs and comes back 3 s later: the state
    write of the build's step is tried again, saying so, and the release goes on."""
    port = free_port()
    backend = crash_backends.Backend(
        "git-daemon", crash_backends.ON_GIT,
        lambda bare: f"git://127.0.0.1:{port}/{bare.relative_to(tmp_path)}")
    daemon = _daemon(tmp_path, port)
    try:
        work = crash_backends.scenario(
            tmp_path / "down", fakes, backend, "down",
            build="touch ../started; while [ ! -f ../go ]; do sleep 0.05; done")
        apply = threading.Thread(target=lambda: done.append(crash_backends.scalpel(
            work, backend, "apply", "--auto-approve", env={"SCALPEL_STATE_RETRY": "60"})))
        done: list[crash_backends.Run] = []
        apply.start()
        wait_for(lambda: (work.parent / "started").exists(), timeout=60)
        daemon.terminate()
        daemon.wait(10)
        (work.parent / "go").touch()
        time.sleep(3)
        daemon = _daemon(tmp_path, port)
        apply.join(120)
    finally:
        daemon.terminate()
        daemon.wait(10)
    (run,) = done
    assert run.code == 0, run.err
    assert "cannot write the state to origin" in run.err and "trying again in" in run.err
    assert "what was applied is in the local journal meanwhile" in run.err
    remote = work.parent / "origin.git"
    outcome = crash_backends.Outcome("network down 3 s", "", "same", runs=[run])
    crash_backends.check(fakes, remote, "down", outcome)
    assert outcome.correct and not outcome.warned, outcome.explain()
    state = json.loads(git(remote, "show", "refs/scalpel/state:state.json"))
    assert state["live"] == "0.1.0" and state["active_apply"] is None


def test_a_remote_that_refuses_for_longer_stops_the_apply_and_the_resume_does_nothing_twice(
        fakes, tmp_path):
    """origin refuses every state write (a pre-receive hook, like a server in maintenance)
    from the build's step on, for longer than the retries: the apply starts nothing more,
    says how to resume, and exits 1; the build's step stays in the local journal. Once origin
    takes writes again, `scalpel apply` in the same clone writes that journal first and
    finishes without building again."""
    backend = crash_backends.Backend("git-file", crash_backends.ON_GIT,
                                     lambda bare: bare.as_uri())
    remote = tmp_path / "refused" / "origin.git"
    work = crash_backends.scenario(tmp_path / "refused", fakes, backend, "refused",
                                   build=f"echo built >> ../builds.log && touch {remote}/down")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(hook.read_text().replace("cat > /dev/null", (
        'while read old new ref; do\n'
        '  if [ "$ref" = refs/scalpel/state ] && [ -f "$GIT_DIR/down" ]; then\n'
        '    echo "origin is in maintenance" >&2; exit 1\n'
        '  fi\n'
        'done')))
    first = crash_backends.scalpel(work, backend, "apply", "--auto-approve",
                                   env={"SCALPEL_STATE_RETRY": "1"})
    assert first.code == 1, first.out + first.err
    said = " ".join((first.out + first.err).split())
    assert "origin is in maintenance" in said and "trying again in" in said
    assert "stopping after the running steps" in said
    assert "run the command again in this clone" in said and "does nothing twice" in said
    assert "Traceback" not in said
    assert "refs/tags/v0.1.0" not in git(remote, "for-each-ref")  # nothing new started
    assert _remote_steps_done(remote) == []  # the build's step is only here, for now
    (remote / "down").unlink()
    resumed = crash_backends.scalpel(work, backend, "apply", "--auto-approve")
    assert resumed.code == 0, resumed.err
    assert (work.parent / "builds.log").read_text() == "built\n"  # not built again
    outcome = crash_backends.Outcome("refused", "", "same", runs=[first, resumed])
    crash_backends.check(fakes, remote, "refused", outcome)
    assert outcome.correct and not outcome.warned, outcome.explain()
    # the first apply's line, written at the next contact (the resume did not build)
    assert _remote_steps_done(remote).count("stage.build") == 1


def test_a_state_write_refused_once_without_retries_stops_the_apply_then_writes_it_all(
        fakes, tmp_path):
    """With SCALPEL_STATE_RETRY=0 a refused write is not tried again: the apply starts nothing
    new, as after a Ctrl-C; its last write gets through with every step done, and it says that
    `scalpel apply` finishes the release."""
    backend = crash_backends.Backend("git-file", crash_backends.ON_GIT,
                                     lambda bare: bare.as_uri())
    remote = tmp_path / "once" / "origin.git"
    work = crash_backends.scenario(tmp_path / "once", fakes, backend, "once",
                                   build=f"echo built >> ../builds.log && touch {remote}/down")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(hook.read_text().replace("cat > /dev/null", (
        'while read old new ref; do\n'
        '  if [ "$ref" = refs/scalpel/state ] && [ -f "$GIT_DIR/down" ]; then\n'
        '    rm "$GIT_DIR/down"; echo "try later" >&2; exit 1\n'
        '  fi\n'
        'done')))
    first = crash_backends.scalpel(work, backend, "apply", "--auto-approve",
                                   env={"SCALPEL_STATE_RETRY": "0"})
    said = " ".join((first.out + first.err).split())
    assert first.code == 130, said  # stopped, as by an interrupt
    assert "refs/scalpel/state on origin cannot be written: stopping after the running " \
        "steps" in said
    assert "`scalpel apply` finishes the job" in said and "trying again" not in said
    assert "refs/tags/v0.1.0" not in git(remote, "for-each-ref")  # nothing new started
    assert _remote_steps_done(remote) == ["stage.build"]  # the last write took it
    resumed = crash_backends.scalpel(work, backend, "apply", "--auto-approve")
    assert resumed.code == 0, resumed.err
    assert (work.parent / "builds.log").read_text() == "built\n"
    outcome = crash_backends.Outcome("refused once", "", "same", runs=[first, resumed])
    crash_backends.check(fakes, remote, "once", outcome)
    assert outcome.correct and not outcome.warned, outcome.explain()
