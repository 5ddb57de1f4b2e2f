"""Colour as terminal users expect it: on a real pseudo-terminal by default; none at all with
NO_COLOR (no-color.org) or --no-color; colour in a log with FORCE_COLOR, but never a spinner
there (a log is not a terminal)."""

from __future__ import annotations

import re
import subprocess

from conftest import run_scalpel, scalpel_cmd
from test_progress import _in_a_terminal

SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour or style
SPEC = """
stages:
  build: {run: "sleep 0.3"}
publish:
  git.tag: {push: origin, needs: [stage.build]}
"""


def test_a_terminal_gets_colour_by_default(repo):
    repo.write_spec(SPEC)
    code, shown = _in_a_terminal(repo.path, "plan")
    assert code == 0, shown
    assert SGR.search(shown)


def test_no_color_on_a_terminal_prints_no_style_at_all(repo):
    repo.write_spec(SPEC)
    for args, env in ((("plan",), {"NO_COLOR": "1"}),
                      (("--no-color", "plan"), {}),
                      (("plan", "--no-color"), {}),
                      (("apply", "--auto-approve", "--no-color"), {})):
        code, shown = _in_a_terminal(repo.path, *args, env=env)
        assert code == 0, shown
        assert not SGR.search(shown), (args, env, SGR.findall(shown)[:5])
        assert "Plan:" in shown or "Apply complete!" in shown


def test_an_empty_no_color_is_no_choice(repo):
    repo.write_spec(SPEC)
    code, shown = _in_a_terminal(repo.path, "plan", env={"NO_COLOR": ""})
    assert code == 0 and SGR.search(shown)  # no-color.org: only a non-empty value counts


def test_force_color_colours_a_log_without_a_spinner(repo):
    repo.write_spec(SPEC)
    shown = run_scalpel(repo.path, "plan", env={"FORCE_COLOR": "1"})
    assert shown.returncode == 0 and SGR.search(shown.stdout)
    plain = run_scalpel(repo.path, "plan")
    assert not SGR.search(plain.stdout + plain.stderr)  # a pipe, no FORCE_COLOR: plain
    applied = subprocess.run([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                             capture_output=True, text=True, timeout=120,
                             env={**__import__("os").environ, "FORCE_COLOR": "1"})
    assert applied.returncode == 0, applied.stderr
    assert "stage.build: run…" in SGR.sub("", applied.stderr)  # the plain progress lines
    assert not re.search("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", applied.stderr)  # no spinner in a log
