"""The journal's events and the one timeline every reader builds from them: a failed step, the
steps it skipped, a killed apply, a resumed one, and journals written before the types."""

from __future__ import annotations

import json

from scalpel_plan.state.events import (
    ApplyStarted,
    Entry,
    EventKind,
    StepFailed,
    StepSkipped,
    parse,
)
from scalpel_plan.state.journal import Journal, read_journal
from scalpel_plan.state.timeline import Step, timeline

NEEDS = {"stage.check": ["stage.build"], "git.tag": ["stage.check"]}


def write(journal: Journal, *lines: tuple[EventKind, dict[str, object]]) -> None:
    for kind, fields in lines:
        journal.append(kind, **fields)
    journal.close()


def test_a_failed_step_and_the_steps_it_skipped(tmp_path):
    path = tmp_path / "a1.jsonl"
    write(Journal(path),
          (EventKind.APPLY_STARTED, {"apply_id": "a1", "mode": "release", "version": "1.0.0",
                                     "parallelism": 4, "nodes": 3, "needs": NEEDS}),
          (EventKind.STEP_PENDING, {"address": "stage.build", "action": "run"}),
          (EventKind.STEP_DONE, {"address": "stage.build", "action": "run", "duration": 0.25,
                                 "resource": None}),
          (EventKind.STEP_PENDING, {"address": "stage.check", "action": "run"}),
          (EventKind.STEP_FAILED, {"address": "stage.check", "action": "run", "duration": 0.5,
                                   "error": "exit code 1", "hint": "see the log"}),
          (EventKind.STEP_SKIPPED, {"address": "git.tag", "because": "stage.check"}),
          (EventKind.APPLY_FINISHED, {"status": "failed", "done": 1, "failed": 1,
                                      "skipped": 1}),
          (EventKind.ALERT_SENT, {"fingerprint": "f", "channels": ["console:console"],
                                  "failed": []}))
    events = read_journal(path)
    run = timeline(events)

    assert (run.apply_id, run.mode, run.version, run.status) == ("a1", "release", "1.0.0",
                                                                 "failed")
    assert run.started == events[0]["ts"] and run.finished == events[6]["ts"]
    assert run.last == events[7]["ts"]  # the alert came after the end
    assert run.duration is not None and run.duration >= 0
    assert run.needs == {"stage.check": ("stage.build",), "git.tag": ("stage.check",)}
    build, check, tag = run.steps
    assert build == Step("stage.build", "run", "done", events[1]["ts"], events[2]["ts"], 0.25)
    assert check == Step("stage.check", "run", "failed", events[3]["ts"], events[4]["ts"], 0.5,
                         error="exit code 1")
    assert tag == Step("git.tag", "", "skipped", because="stage.check")
    assert [s.address for s in run.settled()] == ["stage.build", "stage.check"]
    assert [type(e).__name__ for e in run.events] == [
        "ApplyStarted", "StepPending", "StepDone", "StepPending", "StepFailed", "StepSkipped",
        "ApplyFinished", "AlertSent"]


def test_a_killed_apply_leaves_its_running_step_pending(tmp_path):
    path = tmp_path / "a1.jsonl"
    write(Journal(path),
          (EventKind.APPLY_STARTED, {"apply_id": "a1", "mode": "release", "version": "1.0.0",
                                     "needs": NEEDS}),
          (EventKind.STEP_PENDING, {"address": "stage.build", "action": "run"}))
    run = timeline(read_journal(path))
    assert (run.status, run.finished, run.duration) == ("unfinished", None, None)
    [build] = run.steps
    assert (build.status, build.finished, build.duration) == ("pending", None, None)
    assert run.settled() == []


def test_a_resumed_apply_has_its_own_timeline_of_what_remained(repo, cli, tmp_path):
    repo.write_spec("""
stages:
  build: {run: "true"}
  check: {run: "test -e ../fixed", needs: [stage.build]}
publish:
  git.tag: {push: origin, needs: [stage.check]}
""")
    assert cli(repo.path, "apply", "--auto-approve").code == 1  # stage.check fails
    (tmp_path / "fixed").touch()
    assert cli(repo.path, "apply", "--auto-approve").code == 0  # the resume finishes it

    journals = sorted((repo.path / ".scalpel" / "journal").iterdir())
    failed, resumed = sorted((timeline(read_journal(p)) for p in journals),
                             key=lambda run: run.status)
    assert (failed.status, resumed.status) == ("failed", "succeeded")
    assert failed.version == resumed.version == "0.1.0"
    assert failed.apply_id != resumed.apply_id
    assert {s.address: s.status for s in failed.steps} == {
        "stage.build": "done", "stage.check": "failed", "git.tag": "skipped"}
    assert "exit code" in (failed.steps[1].error or "")
    assert failed.last is not None and failed.finished is not None
    assert failed.last > failed.finished  # the alert, journaled after the apply
    assert {s.address: s.status for s in resumed.steps} == {  # what was done is not done again
        "stage.check": "done", "git.tag": "done"}
    assert all(s.started and s.finished and s.duration is not None for s in resumed.steps)


def test_the_journal_on_disk_is_what_it_was_and_old_journals_read(tmp_path):
    path = tmp_path / "a1.jsonl"
    write(Journal(path), (EventKind.STEP_DONE, {"address": "stage.a", "action": "run",
                                                "duration": 0.1, "resource": None}))
    line = json.loads(path.read_text())
    assert line["event"] == "step_done" and type(line["event"]) is str

    old = [  # as Scalpel wrote them before the kinds had a type
        {"seq": 1, "ts": "2026-01-02T03:04:05.000+00:00", "event": "apply_started",
         "apply_id": "x", "mode": "rollback", "version": "0.9.0", "parallelism": 4,
         "nodes": 1, "needs": {}},
        {"seq": 2, "ts": "2026-01-02T03:04:05.100+00:00", "event": "step_failed",
         "address": "docker.app", "action": "update", "duration": 0.05, "error": "refused",
         "hint": None},
        {"seq": 3, "ts": "2026-01-02T03:04:05.200+00:00", "event": "step_skipped",
         "address": "git.tag", "because": "docker.app"},
        {"seq": 4, "ts": "2026-01-02T03:04:05.300+00:00", "event": "release", "serial": 2,
         "record": {}},
        {"seq": 5, "ts": "2026-01-02T03:04:05.400+00:00", "event": "from_the_future"},
    ]
    started, failed, skipped, release, unknown = (parse(e) for e in old)
    assert isinstance(started, ApplyStarted) and started.mode == "rollback"
    assert isinstance(failed, StepFailed) and (failed.error, failed.hint) == ("refused", None)
    assert isinstance(skipped, StepSkipped) and skipped.because == "docker.app"
    assert type(release) is Entry and release.kind is EventKind.RELEASE
    assert type(unknown) is Entry and unknown.kind == "from_the_future"
    assert timeline(old).mode == "rollback"
    assert {kind.value for kind in EventKind} >= {e["event"] for e in old[:4]}
