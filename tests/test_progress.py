"""Long work shows progress: on a real pseudo-terminal each running step with its elapsed
time, redrawn in place; without a terminal a "still running (…elapsed)" line per step every
interval; with --verbose each stage's output as it comes, prefixed by its address and masked."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest
from conftest import scalpel_cmd

from scalpel_plan.ui.terminal import Progress, elapsed

SLOW = """
stages:
  slow: {run: "sleep 3.5"}
  quick: {run: "true"}
publish:
  git.tag: {push: origin, needs: [stage.slow, stage.quick]}
"""

TALK = """
secrets:
  TOKEN: {env: TALK_TOKEN}
stages:
  talk:
    run: >-
      echo line one; printf 'par'; sleep 0.3; printf 'tial\\n';
      echo "token $TALK_TOKEN"; printf 'no newline at the end'
    secrets: [TOKEN]
publish:
  git.tag: {push: origin, needs: [stage.talk]}
"""
SECRET = "tk-5e1f09c2a7d84b36"


def test_elapsed_reads_like_terraform():
    assert [elapsed(s) for s in (0.4, 9.99, 70, 3725)] == ["0s", "9s", "1m10s", "1h2m5s"]


def test_without_a_terminal_a_long_step_says_it_is_still_running(repo, cli, monkeypatch):
    monkeypatch.setattr(Progress, "STILL_RUNNING_EVERY", 1.0)
    repo.write_spec(SLOW)
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0
    lines = done.err.splitlines()
    still = [ln for ln in lines if "still running" in ln]
    assert "stage.slow: still running (1s elapsed)" in still
    assert "stage.slow: still running (2s elapsed)" in still
    assert not [ln for ln in still if "stage.quick" in ln or "git.tag" in ln]
    started, ended = lines.index("stage.slow: run…"), next(
        i for i, ln in enumerate(lines) if ln.startswith("✓ stage.slow"))
    assert all(started < lines.index(ln) < ended for ln in still)  # only while it runs


def test_verbose_streams_each_stage_output_prefixed_and_masked(repo, cli, monkeypatch):
    monkeypatch.setenv("TALK_TOKEN", SECRET)
    repo.write_spec(TALK)
    done = cli(repo.path, "apply", "--auto-approve", "--verbose")
    assert done.code == 0, done.err
    lines = done.err.splitlines()
    assert "stage.talk: line one" in lines
    assert "stage.talk: partial" in lines  # a line printed in two writes, shown whole
    assert "stage.talk: no newline at the end" in lines
    token = next(ln for ln in lines if ln.startswith("stage.talk: token "))
    assert SECRET not in done.err + done.out and SECRET[:10] not in token
    assert lines.index("stage.talk: line one") < next(
        i for i, ln in enumerate(lines) if ln.startswith("✓ stage.talk"))  # as it came


def test_without_verbose_stage_output_stays_in_its_log(repo, cli, monkeypatch):
    monkeypatch.setenv("TALK_TOKEN", SECRET)
    repo.write_spec(TALK)
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0
    assert "stage.talk: line one" not in done.err + done.out  # (the plan shows the command)
    [log] = (repo.path / ".scalpel" / "logs").rglob("stage.talk.log")
    assert "line one" in log.read_text() and SECRET not in log.read_text()


def test_without_a_terminal_progress_is_plain_text_and_rich_is_never_imported(repo):
    """Hundreds of progress lines in a CI log: written as the plain text rich would print
    (no style, nothing wrapped), without importing rich at all."""
    repo.write_spec(SLOW.replace("sleep 3.5", "sleep 0.1") + "notify:\n  console.shout:\n"
                    "    message: \"[bold]{version}[/bold] is out\"\n")
    done = subprocess.run([sys.executable, "-X", "importtime", *scalpel_cmd()[1:], "apply",
                           "--auto-approve"], cwd=repo.path, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    imported = re.findall(r"\|\s+(\S+)$", done.stderr, re.MULTILINE)
    assert "scalpel_plan.apply" in imported
    assert not [m for m in imported if m == "rich" or m.startswith("rich.")]
    lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("import time:")]
    assert "stage.slow: run…" in lines and "\x1b" not in done.stderr + done.stdout
    assert any(ln.startswith("✓ stage.slow: run done in ") for ln in lines)
    assert "Apply complete! 4 steps done" in done.stdout
    assert "[bold]0.1.0[/bold] is out" in done.stdout  # markup in a message is shown as it is


def _in_a_terminal(cwd, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run scalpel with a real pseudo-terminal as its stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*scalpel_cmd(), *args], cwd=cwd, stdin=follower, stdout=follower,
                            stderr=follower, env={**os.environ, "TERM": "xterm-256color",
                                                  "COLUMNS": "120", **(env or {})},
                            start_new_session=True)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(30), out.decode("utf-8", "replace")


def test_on_a_terminal_the_running_step_shows_its_elapsed_time_in_place(repo):
    repo.write_spec(SLOW)
    code, shown = _in_a_terminal(repo.path, "apply", "--auto-approve")
    assert code == 0, shown
    assert "Applying: stage.slow (1s)" in shown and "Applying: stage.slow (2s)" in shown
    assert "\r" in shown or "\x1b[" in shown  # redrawn in place, not line after line
    assert "still running" not in shown  # that is for logs without a terminal


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__]))
