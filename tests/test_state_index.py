"""The state's overview (``state.overview``) and its index, ``.scalpel/state.index.json``: used
while it was made from the very state file read, made again from a full read otherwise; a
stale, damaged or torn index never changes what `status` and `history` show, a kill while it
is written leaves the state as it was, and the git and postgres backends give the same
overview as the local folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from scalpel_plan.state.events import EventKind
from scalpel_plan.state.git_backend import GitBackend
from scalpel_plan.state.journal import Journal
from scalpel_plan.state.local import LocalBackend
from scalpel_plan.state.model import (
    ActiveApply,
    HotfixRecord,
    ReleaseRecord,
    Resource,
    RollbackPoint,
    RollbackRecord,
    State,
)
from scalpel_plan.state.overview import INDEX_NAME, Overview

COMMANDS = [("history",), ("history", "--json"), ("status",), ("status", "--json"),
            ("status", "--html", "page.html")]


def long_state(releases: int = 30, lineage: str = "0b5e4f52-8f0e-4c43-9d2b-3f1f7bb0a111",
               interrupted: bool = True) -> State:
    """``releases`` releases with their rollback points, a finished rollback, a hotfix and
    (``interrupted``) a rollback that stopped half-way, newest of all."""
    state = State(lineage=lineage)
    for n in range(releases):
        version, commit = f"1.{n}.0", f"{n:040x}"
        state.resources["git.tag"] = Resource(address="git.tag", provider="git",
                                              release=version,
                                              attributes={"tag": f"v{version}",
                                                          "commit": commit})
        state.resources["stage.build"] = Resource(address="stage.build", provider="stage",
                                                  release=version,
                                                  attributes={"exit_code": 0})
        state.releases.append(ReleaseRecord(
            version=version, tag=f"v{version}", commit=commit, status="succeeded",
            apply_id=f"a{n:04d}", attempts=[f"a{n:04d}"], started_at=f"2026-01-01T00:{n:02d}",
            finished_at=f"2026-01-01T00:{n:02d}:30"))
        state.rollback_points.append(RollbackPoint(
            name=f"v{version}", version=version, commit=commit,
            created_at=f"2026-01-01T00:{n:02d}:30",
            resources={a: r.attributes for a, r in state.resources.items()}))
        state.serial += 3
    state.rollbacks.append(RollbackRecord(id="rb1", from_version=f"1.{releases - 1}.0",
                                          to_version="1.0.0", point="v1.0.0",
                                          status="succeeded", started_at="2026-02-01",
                                          finished_at="2026-02-01T00:01"))
    state.hotfixes.append(HotfixRecord(branch="hotfix/1.0.1", point="v1.0.0", fixes="1.0.0",
                                       commit="f" * 40, version=None))
    if interrupted:
        state.rollbacks.append(RollbackRecord(id="rb2", from_version="1.0.0", to_version="1.1.0",
                                              point="v1.1.0", status="in_progress",
                                              started_at="2026-03-01"))
    state.live = "1.0.0"
    return state


@pytest.fixture
def project(repo) -> Path:
    repo.write_spec("project: {name: demo}\n")
    LocalBackend(repo.path / ".scalpel").write(long_state())
    return repo.path


def shown(cli, where: Path) -> list[tuple[int, str]]:
    """Every command's exit code and output (the page's text for --html)."""
    found = []
    for command in COMMANDS:
        done = cli(where, *command)
        page = where / "page.html"
        found.append((done.code, page.read_text() if page.exists() else done.out))
        page.unlink(missing_ok=True)
    return found


def no_full_reads(monkeypatch) -> None:
    def refused(self, data):
        raise AssertionError("the state file was read in full")

    monkeypatch.setattr(LocalBackend, "_loaded", refused)


def test_the_index_is_made_once_and_then_used_while_the_state_file_is_as_it_was(
        project, cli, monkeypatch):
    index = project / ".scalpel" / INDEX_NAME
    before = shown(cli, project)
    assert index.exists()
    header = json.loads(index.read_bytes().split(b"\n", 1)[0])
    state_bytes = (project / ".scalpel" / "state.json").read_bytes()
    assert header["state_sha256"] == hashlib.sha256(state_bytes).hexdigest()
    assert (header["lineage"], header["serial"]) == (long_state().lineage, long_state().serial)
    made = index.stat().st_mtime_ns
    with monkeypatch.context() as patched:
        no_full_reads(patched)
        assert shown(cli, project) == before  # all from the index
    assert index.stat().st_mtime_ns == made
    assert json.loads(before[1][1])["rollback_points"][3]["artifacts"] == ["git.tag",
                                                                           "stage.build"]
    assert "interrupted: run `scalpel rollback --to v1.1.0` to finish it" in before[0][1]


def test_what_is_shown_is_what_a_full_read_shows(project, cli):
    assert shown(cli, project) == full_reads(cli, project)


def full_reads(cli, where: Path) -> list[tuple[int, str]]:
    """What the commands show without any index: each reads the state in full."""
    index = where / ".scalpel" / INDEX_NAME
    found = []
    for command in COMMANDS:
        index.unlink(missing_ok=True)
        done = cli(where, *command)
        page = where / "page.html"
        found.append((done.code, page.read_text() if page.exists() else done.out))
        page.unlink(missing_ok=True)
    index.unlink(missing_ok=True)
    return found


def _edited_by_hand(state_file: Path) -> None:
    state_file.write_text(state_file.read_text().replace('"tag": "v1.7.0"', '"tag": "v1.7.0-x"'))


def _other_lineage(state_file: Path) -> None:
    LocalBackend(state_file.parent).write(long_state(lineage="11111111-2222-4333-8444-555555555555"))


def _next_serial(state_file: Path) -> None:
    state = LocalBackend(state_file.parent).read()
    state.releases[-1] = state.releases[-1].model_copy(update={"status": "rolled_back"})
    state.serial += 1
    LocalBackend(state_file.parent).write(state)


def _same_serial_other_content(state_file: Path) -> None:
    state = LocalBackend(state_file.parent).read()
    state.hotfixes[0] = state.hotfixes[0].model_copy(update={"version": "1.0.1"})
    LocalBackend(state_file.parent).write(state)


@pytest.mark.parametrize("change", [_edited_by_hand, _other_lineage, _next_serial,
                                    _same_serial_other_content])
def test_a_state_file_changed_since_the_index_was_made_is_read_in_full(project, cli, change):
    state_file = project / ".scalpel" / "state.json"
    before = shown(cli, project)
    change(state_file)
    after = shown(cli, project)
    assert after != before
    assert after == full_reads(cli, project)
    shown(cli, project)
    header = json.loads((project / ".scalpel" / INDEX_NAME).read_bytes().split(b"\n", 1)[0])
    assert header["state_sha256"] == hashlib.sha256(state_file.read_bytes()).hexdigest()


def _truncated(index: Path) -> None:
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


def _header_only(index: Path) -> None:
    index.write_bytes(index.read_bytes().split(b"\n", 1)[0] + b"\n")


def _empty(index: Path) -> None:
    index.write_bytes(b"")


def _garbage(index: Path) -> None:
    index.write_bytes(os.urandom(4096))


def _a_version_changed(index: Path) -> None:  # the body no longer what its hash says
    index.write_bytes(index.read_bytes().replace(b'"1.7.0"', b'"9.7.0"'))


def _an_artifact_dropped(index: Path) -> None:
    index.write_bytes(index.read_bytes().replace(b'["git.tag","stage.build"]', b'["git.tag"]',
                                                 1))


def _other_serial_in_header(index: Path) -> None:  # the hashes right, the key not
    header, rest = index.read_bytes().split(b"\n", 1)
    key = json.loads(header)
    key["serial"] += 1
    index.write_bytes(json.dumps(key).encode() + b"\n" + rest)


def _other_lineage_in_header(index: Path) -> None:
    header, rest = index.read_bytes().split(b"\n", 1)
    key = json.loads(header)
    key["lineage"] = "11111111-2222-4333-8444-555555555555"
    index.write_bytes(json.dumps(key).encode() + b"\n" + rest)


def _a_folder(index: Path) -> None:
    index.unlink(missing_ok=True)
    index.mkdir()


@pytest.mark.parametrize("damage", [_truncated, _header_only, _empty, _garbage,
                                    _a_version_changed, _an_artifact_dropped,
                                    _other_serial_in_header, _other_lineage_in_header])
def test_a_damaged_or_torn_index_never_changes_what_is_shown(project, cli, damage):
    expected = full_reads(cli, project)
    shown(cli, project)  # the index made
    damage(project / ".scalpel" / INDEX_NAME)
    assert shown(cli, project) == expected
    assert shown(cli, project) == expected  # and once it was made again


def test_a_stale_index_of_an_earlier_state_is_not_used(project, cli):
    shown(cli, project)
    index = project / ".scalpel" / INDEX_NAME
    stale = index.read_bytes()
    _next_serial(project / ".scalpel" / "state.json")
    expected = full_reads(cli, project)
    index.write_bytes(stale)
    assert shown(cli, project) == expected


def test_an_index_that_cannot_be_written_costs_only_the_time(project, cli):
    expected = full_reads(cli, project)
    _a_folder(project / ".scalpel" / INDEX_NAME)
    assert shown(cli, project) == expected


def test_a_state_with_an_apply_to_fold_in_is_read_in_full_and_never_indexed(project, cli):
    folder = project / ".scalpel"
    state = LocalBackend(folder).read()
    state.active_apply = ActiveApply(id="a9999", journal="journal/a9999.jsonl")
    LocalBackend(folder).write(state)
    journal = Journal(folder / "journal" / "a9999.jsonl")
    journal.append(EventKind.RELEASE, record=ReleaseRecord(
        version="2.0.0", tag="v2.0.0", commit="e" * 40, apply_id="a9999",
        started_at="2026-04-01").model_dump(mode="json"))
    journal.close()
    first = shown(cli, project)
    assert not (folder / INDEX_NAME).exists()
    assert "2.0.0" in first[0][1]
    journal = Journal(folder / "journal" / "a9999.jsonl")
    journal.append(EventKind.RELEASE, record=ReleaseRecord(
        version="2.0.0", tag="v2.0.0", commit="e" * 40, apply_id="a9999", status="succeeded",
        started_at="2026-04-01", finished_at="2026-04-01T00:05").model_dump(mode="json"))
    journal.close()
    assert '"status": "succeeded"' in cli(project, "status", "--json").out  # the journal's news


KILLED_WRITING_INDEX = """
import os, signal, sys
real = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith("state.index.json"):
        os.kill(os.getpid(), signal.SIGKILL)  # the temp file written, not yet renamed
    return real(src, dst, *args, **kwargs)
os.replace = replace
from scalpel_plan.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("had_index", [False, True])
def test_a_kill_while_the_index_is_written_leaves_the_state_and_the_output_as_they_were(
        project, cli, had_index):
    folder = project / ".scalpel"
    index = folder / INDEX_NAME
    if had_index:
        shown(cli, project)
        stale = index.read_bytes()
        _next_serial(folder / "state.json")
    expected = full_reads(cli, project)
    if had_index:
        index.write_bytes(stale)
    state_bytes = (folder / "state.json").read_bytes()
    backup = folder / "state.json.backup"
    backup_bytes = backup.read_bytes() if backup.exists() else None
    done = subprocess.run([sys.executable, "-c", KILLED_WRITING_INDEX, "history"], cwd=project,
                          capture_output=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              sys.path)})
    assert done.returncode == -9
    assert (folder / "state.json").read_bytes() == state_bytes
    assert (backup.read_bytes() if backup.exists() else None) == backup_bytes
    assert index.exists() == had_index  # the old one, or none: never half of one
    assert shown(cli, project) == expected


def test_the_git_backend_gives_the_same_overview_and_indexes_it(repo, tmp_path, monkeypatch):
    state = long_state()
    local = LocalBackend(tmp_path / "local")
    local.write(state)
    git(repo.path, "push", "-q", "origin", "main")
    on_git = GitBackend(repo.path, "origin", repo.path / ".scalpel")
    on_git.write(state)
    for points, every in ((True, True), (False, True), (True, False), (False, False)):
        assert on_git.read_overview(points, every) == local.read_overview(points, every) == \
            Overview.of(local.read(), points, every)
    assert (repo.path / ".scalpel" / INDEX_NAME).exists()

    def refused(self, text):
        raise AssertionError("the state was read in full")

    monkeypatch.setattr(GitBackend, "_loaded", refused)
    assert GitBackend(repo.path, "origin", repo.path / ".scalpel").read_overview() == \
        local.read_overview()


def test_the_postgres_backend_gives_the_same_overview_from_a_query(postgres_url, tmp_path,
                                                                   monkeypatch):
    from scalpel_plan.state.postgres_backend import PostgresBackend

    local = LocalBackend(tmp_path / "local")
    store = PostgresBackend(postgres_url, "demo", tmp_path / "pg")
    assert store.read_overview() == Overview(points=[])
    for state in (long_state(), long_state(interrupted=False)):
        local.write(state)
        store.read()
        store.write(state)
        with monkeypatch.context() as patched:
            patched.setattr(PostgresBackend, "read", lambda self: pytest.fail("read in full"))
            for points, every in ((True, True), (False, True), (True, False), (False, False)):
                found = PostgresBackend(postgres_url, "demo", tmp_path / "pg").read_overview(
                    points, every)
                assert found == local.read_overview(points, every) == \
                    Overview.of(local.read(), points, every)
    state = local.read()
    state.active_apply = ActiveApply(id="a9999", journal="journal/a9999.jsonl")
    store.read()
    store.write(state)
    assert PostgresBackend(postgres_url, "demo", tmp_path / "pg").read_overview() == \
        Overview.of(PostgresBackend(postgres_url, "demo", tmp_path / "pg").read())


@pytest.mark.parametrize("data", [
    b"", b"\n", b'{"a":1}\n{"b":2}\n', b'{"a":1}\r\n{"b":2}\r\n', b'{"a":1}\n\n{"b":2}',
    b'{"a":1}\n{"b":', b"1\n2\n3", b'  {"a":1}  \n', b'{"a":1},{"b":2}\n{"c":3}\n',
    b'{"a": [1\n2]}\n', b'[1,\n2]\n{"c":3}\n', b'{"a":1}\n\x00\n{"b":2}\n'])
def test_metrics_read_in_one_call_are_those_read_line_by_line(data):
    from scalpel_plan.state.local import metrics_lines

    def one_by_one(lines: bytes) -> list[object]:
        found = []
        for line in lines.splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    assert metrics_lines(data) == one_by_one(data)
