"""Shared fixtures: real git repositories with a bare remote, and the real CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scalpel_plan.cli import main

PINNED = {
    "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+00:00",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "SOURCE_DATE_EPOCH": "1795000000",  # release dates in outputs: 2026-11-18
}


@pytest.fixture(autouse=True)
def _pinned_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every git command in a test is deterministic and ignores the machine's config; the
    secrets mask starts empty (values are registered process-wide, as the CLI loads them)."""
    from scalpel_plan import masking, secrets

    masking.forget_all()
    secrets.restore_environment()
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    for key in ("NO_COLOR", "FORCE_COLOR"):  # (`--no-color` sets NO_COLOR for the process)
        monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for key, value in PINNED.items():
        monkeypatch.setenv(key, value)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[tag]\n\tgpgSign = false\n")
    yield
    masking.forget_all()
    secrets.restore_environment()  # before monkeypatch undoes its own settings


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Repo:
    """A work tree with an `origin` bare remote."""

    path: Path
    remote: Path

    def commit(self, message: str, filename: str = "file.txt") -> str:
        target = self.path / filename
        with target.open("a") as fh:
            fh.write(message + "\n")
        git(self.path, "add", filename)
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def write_spec(self, text: str, name: str = "release.yml") -> Path:
        path = self.path / name
        path.write_text(text)
        return path

    def remote_tags(self) -> dict[str, str]:
        out = git(self.path, "ls-remote", "--tags", "origin")
        tags = {}
        for line in out.splitlines():
            sha, ref = line.split("\t")
            if ref.endswith("^{}"):
                tags[ref.removeprefix("refs/tags/")[:-3]] = sha
        return tags


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    r = Repo(work, remote)
    r.commit("chore: initial commit")
    r.commit("feat: a first feature")
    git(work, "push", "-q", "origin", "main")
    return r


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Run the real CLI in-process: ``cli(cwd, "plan", "--format", "json")`` → Result."""

    def run(cwd: Path, *args: str) -> Result:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        from scalpel_plan import secrets

        secrets.restore_environment()  # the next command is a new process: it has them
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run


def scalpel_cmd() -> list[str]:
    """The real console entry point, run as a separate process."""
    return [sys.executable, "-m", "scalpel_plan"]


def run_scalpel(cwd: Path, *args: str, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*scalpel_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver on 127.0.0.1 (its default is "localhost")."""
    return ("127.0.0.1", 0)


def kill_before_recording(monkeypatch: pytest.MonkeyPatch, address: str) -> Callable[[], None]:
    """Make apply die (as by kill -9) after ``address`` did its work, before its journal line
    is written; returns the function that lets the next apply run normally again."""
    from scalpel_plan.state.checkpoint import Checkpointer

    real_record = Checkpointer.record

    def killed(self: Checkpointer, event: str, **fields: object) -> object:
        if event == "step_done" and fields.get("address") == address:
            raise KeyboardInterrupt
        return real_record(self, event, **fields)

    monkeypatch.setattr(Checkpointer, "record", killed)
    return lambda: monkeypatch.setattr(Checkpointer, "record", real_record)


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for PID 1 to reap it."""
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return "State:\tZ" not in status


def wait_for(predicate: Callable[[], object], timeout: float = 20.0,
             what: str = "timed out waiting") -> None:
    """Poll ``predicate`` until it holds; ``timeout`` is a safety net, not a measurement."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# The journal (.scalpel/journal/<apply_id>.jsonl) as tests read it: the order of what happened
# is its `seq`, which no load on the machine can reorder; `ts` and `duration` say how long.

def journal(work: Path, version: str | None = None) -> list[dict[str, Any]]:
    """The events of the last apply in ``work`` (of ``version``, when given)."""
    from scalpel_plan.state.journal import read_journal

    runs = []
    for path in (work / ".scalpel" / "journal").glob("*.jsonl"):
        events = read_journal(path)
        started = next((e for e in events if e["event"] == "apply_started"), None)
        if started and (version is None or started["version"] == version):
            runs.append((started["ts"], events))
    assert runs, f"no apply{f' of {version}' if version else ''} journaled in {work}"
    return max(runs, key=lambda run: run[0])[1]


def seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class Span:
    """One step of an apply as the journal tells it: from step_pending to done or failed."""

    address: str
    start: int  # the seq of its step_pending
    end: int  # the seq of its step_done or step_failed
    status: str  # "done" | "failed"
    duration: float  # as journaled
    started_at: float  # the ts of its step_pending, in seconds
    ended_at: float  # the ts of its end

    def overlaps(self, other: Span) -> bool:
        """Each began before the other ended: they were under way at the same time."""
        return self.start < other.end and other.start < self.end


def spans(events: list[dict[str, Any]]) -> dict[str, Span]:
    """Each step that ended, by address."""
    pending = {e["address"]: e for e in events if e["event"] == "step_pending"}
    found = {}
    for e in events:
        if e["event"] in ("step_done", "step_failed") and e["address"] in pending:
            p = pending[e["address"]]
            found[e["address"]] = Span(e["address"], p["seq"], e["seq"],
                                       e["event"].removeprefix("step_"), float(e["duration"]),
                                       seconds(p["ts"]), seconds(e["ts"]))
    return found


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the session (initdb ~0.7 s); each test that needs
    a state database takes its own with ``postgres_url``."""
    from servers import postgres_cluster

    with postgres_cluster() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a new, empty database in the session's cluster (``SCALPEL_STATE=`` it, or
    release.yml's ``state: {backend: postgres, url: ...}``); its password is in PGPASSWORD,
    as a CI job would have it."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    return str(postgres_server.new_database())
