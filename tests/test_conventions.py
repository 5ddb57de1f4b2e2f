"""The command line behaves like the tools release engineers use: -h, options before the
command, release.yml found upwards (as git finds .git), shell completion loaded by a real bash."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import git

SPEC = """
stages:
  build: {run: "true"}
publish:
  git.tag: {push: origin, needs: [stage.build]}
"""


def test_h_is_help_everywhere(repo, cli):
    top = cli(repo.path, "-h")
    assert top.code == 0 and "Usage: scalpel" in top.out and "plan" in top.out
    sub = cli(repo.path, "plan", "-h")
    assert sub.code == 0 and "Usage: scalpel plan" in sub.out and "--detailed-exitcode" in sub.out


def test_the_file_option_before_the_command(repo, cli):
    (repo.path / "ci").mkdir()
    (repo.path / "ci" / "rel.yml").write_text(SPEC)
    for args in (["-f", "ci/rel.yml", "validate"], ["--file", "ci/rel.yml", "validate"],
                 ["--file=ci/rel.yml", "validate"], ["--no-color", "-f", "ci/rel.yml",
                                                     "state", "list"]):
        done = cli(repo.path, *args)
        assert done.code == 0, (args, done.err)
    assert "ci/rel.yml is valid: 2 nodes" in cli(repo.path, "-f", "ci/rel.yml", "validate").err


def test_release_yml_is_found_upwards_and_its_path_said(repo, cli):
    repo.write_spec(SPEC)
    deep = repo.path / "src" / "pkg"
    deep.mkdir(parents=True)
    done = cli(deep, "validate")
    assert done.code == 0, done.err
    assert "Using ../../release.yml (found in a parent folder)." in done.err
    assert cli(deep, "plan").code == 0
    assert "→ 0.1.0" in cli(deep, "plan").out
    assert cli(deep, "changelog").code == 0  # the fast path too


def test_the_search_stops_at_the_top_of_the_work_tree(repo, cli, tmp_path):
    (tmp_path / "release.yml").write_text(SPEC)  # above the clone: not this project's
    (repo.path / "src").mkdir()
    done = cli(repo.path / "src", "validate")
    assert done.code == 1 and "release.yml not found" in done.err and "Using" not in done.err


def test_init_and_help_do_not_look_upwards(repo, cli):
    repo.write_spec(SPEC)
    (repo.path / "sub").mkdir()
    git(repo.path / "sub", "init", "-q")  # a nested repository of its own
    done = cli(repo.path / "sub", "init")
    assert done.code == 0 and (repo.path / "sub" / "release.yml").exists()


@pytest.fixture
def scalpel_on_path(tmp_path):
    """A `scalpel` command on PATH running this checkout, as the completion scripts call it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "scalpel"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m scalpel_plan \"$@\"\n")
    launcher.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _complete(cwd, env, *words: str) -> list[str]:
    script = (f'eval "$(scalpel completion bash)"; COMP_WORDS=({" ".join(words)}); '
              f"COMP_CWORD={len(words) - 1}; _scalpel_completion scalpel; "
              'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "--norc", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completion_completes_commands_options_and_values(repo, scalpel_on_path):
    repo.write_spec(SPEC)
    env = scalpel_on_path
    assert _complete(repo.path, env, "scalpel", "pl") == ["plan"]
    assert set(_complete(repo.path, env, "scalpel", "st")) == {"state", "status"}
    assert {"--file", "--format"} <= set(_complete(repo.path, env, "scalpel", "plan", "--f"))
    assert _complete(repo.path, env, "scalpel", "plan", "--format", "m") == ["markdown"]
    assert set(_complete(repo.path, env, "scalpel", "state", "")) >= {"list", "show", "lock"}


@pytest.mark.parametrize("shell,marker", [("zsh", "compdef _scalpel_completion scalpel"),
                                          ("fish", "complete --command scalpel")])
def test_zsh_and_fish_scripts(repo, cli, shell, marker):
    done = cli(repo.path, "completion", shell)
    assert done.code == 0 and marker in done.out and "_SCALPEL_COMPLETE" in done.out


def test_an_unknown_shell_is_refused(repo, cli):
    done = cli(repo.path, "completion", "tcsh")
    assert done.code == 1 and "tcsh" in done.err


def test_release_yml_is_looked_for_only_for_commands_that_take_a_file():
    """The upward search adds --file: a command without that option is in NO_SPEC (a new
    command that reads no release.yml must be added there)."""
    import typer

    from scalpel_plan.cli import load_app
    from scalpel_plan.cli.arguments import GROUPS, NO_SPEC

    def walk(group, prefix=()):
        for name, command in getattr(group, "commands", {}).items():
            if getattr(command, "commands", None):
                yield from walk(command, (*prefix, name))
                if getattr(command, "invoke_without_command", False):
                    yield (*prefix, name), command
            else:
                yield (*prefix, name), command

    without = {path[0] for path, command in walk(typer.main.get_command(load_app()))
               if "--file" not in {o for p in command.params for o in getattr(p, "opts", [])}}
    assert without and without <= NO_SPEC | GROUPS


def test_show_from_a_subfolder_needs_no_release_yml(repo, cli):
    repo.write_spec(SPEC)
    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    (repo.path / "sub").mkdir()
    done = cli(repo.path / "sub", "show", "../plan.json")
    assert done.code == 0, done.err
    assert "Plan:" in done.out


def test_a_current_folder_that_was_removed_is_an_error_not_a_traceback(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    done = subprocess.run(["sh", "-c", f'rmdir "$PWD" && exec "{sys.executable}" -m '
                           'scalpel_plan history'], cwd=gone, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              p for p in sys.path if os.path.isabs(p))})
    assert done.returncode == 1, done.stderr
    assert "release.yml not found" in done.stderr and "Traceback" not in done.stderr
