"""The state: atomic writes with a backup, the journal folded back in, versions, the lock."""

from __future__ import annotations

import json

import pytest

from scalpel_plan.errors import LockHeldError, StateError
from scalpel_plan.state.checkpoint import Checkpointer
from scalpel_plan.state.journal import Journal, read_journal
from scalpel_plan.state.local import LocalBackend
from scalpel_plan.state.model import Resource, State


def resource(address: str, release: str = "1.0.0") -> dict:
    return Resource(address=address, provider="stage", release=release,
                    attributes={"release": release}).model_dump(mode="json")


def test_a_missing_state_is_empty_and_gets_a_lineage_on_first_write(tmp_path):
    backend = LocalBackend(tmp_path / ".scalpel")
    assert backend.read() == State()
    checkpoint = Checkpointer(backend, backend.read(), "a1")
    state = checkpoint.close()
    assert state.lineage and backend.read().lineage == state.lineage


def test_writes_keep_the_previous_state_as_backup(tmp_path):
    backend = LocalBackend(tmp_path)
    backend.write(State(lineage="L", serial=1))
    backend.write(State(lineage="L", serial=2))
    assert json.loads(backend.backup_path.read_text())["serial"] == 1
    assert backend.read().serial == 2
    assert not list(tmp_path.glob(".state.json.*.tmp"))  # no temp file left behind


def test_steps_are_journaled_at_once_and_folded_back_after_a_crash(tmp_path):
    backend = LocalBackend(tmp_path)
    checkpoint = Checkpointer(backend, State(), "a1", interval=3600)  # no snapshot mid-apply
    checkpoint.record("step_done", address="stage.a", resource=resource("stage.a"))
    checkpoint.record("step_done", address="stage.b", resource=resource("stage.b"))
    # killed here: the snapshot knows nothing of the steps, the journal does
    snapshot = json.loads(backend.state_path.read_text())
    assert snapshot["resources"] == {} and snapshot["active_apply"]["id"] == "a1"
    state = backend.read()
    assert set(state.resources) == {"stage.a", "stage.b"}
    assert state.serial == checkpoint.state.serial == 2
    checkpoint.journal.close()


def test_a_torn_last_journal_line_is_ignored_and_repaired(tmp_path):
    backend = LocalBackend(tmp_path)
    checkpoint = Checkpointer(backend, State(), "a1", interval=3600)
    checkpoint.record("step_done", address="stage.a", resource=resource("stage.a"))
    checkpoint.journal.close()
    journal = backend.journal_path("a1")
    with journal.open("ab") as fh:
        fh.write(b'{"seq":2,"event":"step_done","address":"stage.b","reso')  # killed mid-write
    assert set(backend.read().resources) == {"stage.a"}
    reopened = Journal(journal)
    reopened.append("step_pending", address="stage.c")
    reopened.close()
    assert [e["seq"] for e in read_journal(journal)] == [1, 2]


def test_folding_never_applies_an_event_twice(tmp_path):
    backend = LocalBackend(tmp_path)
    checkpoint = Checkpointer(backend, State(), "a1", interval=0)  # snapshot after every step
    checkpoint.record("step_done", address="stage.a", resource=resource("stage.a"))
    checkpoint.record("step_done", address="stage.a", resource=resource("stage.a", "2.0.0"))
    state = backend.read()
    assert state.serial == 2 and state.resources["stage.a"].release == "2.0.0"
    checkpoint.journal.close()


def test_a_state_from_a_newer_scalpel_is_refused(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(StateError, match="newer Scalpel"):
        LocalBackend(tmp_path).read()


def test_a_corrupt_state_points_at_the_backup(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StateError) as caught:
        LocalBackend(tmp_path).read()
    assert "state.json.backup" in (caught.value.hint or "")


def test_the_lock_shows_its_holder_and_refuses_a_second_holder(tmp_path):
    backend = LocalBackend(tmp_path)
    with backend.lock("apply") as info:
        holder = backend.lock_holder()
        assert holder is not None and holder.id == info.id and holder.operation == "apply"
        with pytest.raises(LockHeldError, match="for `apply`"), backend.lock("plan"):
            pass
        with pytest.raises(StateError, match="held by a running process"):
            backend.unlock(info.id)
    assert backend.lock_holder() is None


def test_unlock_clears_a_lock_left_by_a_dead_holder(tmp_path):
    backend = LocalBackend(tmp_path)
    (tmp_path / "state.lock.json").write_text(json.dumps({
        "id": "dead-1", "who": "ci", "host": "runner", "pid": 999999, "operation": "apply",
        "since": "2026-01-01T00:00:00Z"}))
    with pytest.raises(StateError, match="no lock with ID nope"):
        backend.unlock("nope")
    assert backend.unlock("dead-1").who == "ci"
    assert not (tmp_path / "state.lock.json").exists()


def test_lines_written_at_the_same_moment_share_one_fsync_and_each_waits_for_its_own(
        tmp_path, monkeypatch):
    """Group commit: eight steps finishing together cost fewer fsyncs than lines, and none
    returns before an fsync that began with its line already written."""
    import os
    import threading
    import time

    backend = LocalBackend(tmp_path)
    checkpoint = Checkpointer(backend, State(), "a1", interval=3600)
    journal_path = backend.journal_path("a1")
    syncs: list[tuple[int, float]] = []  # (bytes in the journal when it began, when it ended)

    def slow(real):  # type: ignore[no-untyped-def]
        def sync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}") != str(journal_path):
                return real(fd)
            size = journal_path.stat().st_size
            time.sleep(0.05)
            real(fd)
            syncs.append((size, time.monotonic()))
        return sync

    real = {name: getattr(os, name) for name in ("fsync", "fdatasync")}
    for name, call in real.items():
        monkeypatch.setattr(os, name, slow(call))
    start = threading.Barrier(8)
    returned: dict[str, tuple[int, float]] = {}

    def step(i: int) -> None:
        start.wait()
        entry = checkpoint.record("step_done", address=f"stage.s{i}",
                                  resource=resource(f"stage.s{i}"))
        returned[entry["address"]] = (entry["seq"], time.monotonic())

    threads = [threading.Thread(target=step, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, call in real.items():
        monkeypatch.setattr(os, name, call)
    lines = journal_path.read_bytes().splitlines(keepends=True)
    ends = {json.loads(line)["seq"]: sum(map(len, lines[:i + 1])) for i, line in enumerate(lines)}
    assert len(returned) == 8 and len(syncs) < 8
    for seq, at in returned.values():  # on disk before record returned
        assert any(size >= ends[seq] and ended <= at for size, ended in syncs), (seq, syncs)
    checkpoint.close()
    assert len(backend.read().resources) == 8


def test_a_local_snapshot_is_written_aside_and_no_step_waits_for_it(tmp_path, monkeypatch):
    import threading
    import time

    backend = LocalBackend(tmp_path)
    checkpoint = Checkpointer(backend, State(), "a1", interval=0.001)
    real_write = LocalBackend.write
    writing = threading.Event()

    def slow_write(self: LocalBackend, state: State) -> None:
        writing.set()
        time.sleep(0.5)
        real_write(self, state)

    monkeypatch.setattr(LocalBackend, "write", slow_write)
    time.sleep(0.01)
    began = time.monotonic()
    for i in range(5):
        checkpoint.record("step_done", address=f"stage.s{i}", resource=resource(f"stage.s{i}"))
    assert writing.wait(5) and time.monotonic() - began < 0.4  # (one snapshot takes 0.5 s)
    state = checkpoint.close()
    assert set(state.resources) == {f"stage.s{i}" for i in range(5)}
    assert set(json.loads(backend.state_path.read_text())["resources"]) == set(state.resources)
    assert backend.read().active_apply is None
