"""Each command imports only what it uses (issue 17, item 2): every command below runs under
`python -X importtime` and fails when a module on its forbidden list is imported.

`scalpel --version` and `scalpel --help` answer without typer, click or rich (``cli.quick``),
and the help they print is typer's own, at every terminal width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalpel_plan.cli import quick

HEAVY = ("typer", "click", "rich", "pydantic", "jsonschema", "networkx", "ruamel", "yaml")
SPEC = ("project: {name: widgets}\nchangelog: {other: keep}\n"
        "stages:\n  test: {run: 'true'}\n  build: {run: 'true', needs: [stage.test]}\n")


def imported(cwd: Path, *args: str, env: dict[str, str] | None = None,
             ) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules ``python -X importtime -m scalpel_plan ARGS`` imports, and its outcome."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "scalpel_plan", *args],
                          cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})}, timeout=120)
    names = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    names.discard("package")  # the header line
    return names, done


def forbidden(names: set[str], tops: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names for top in tops if n == top or n.startswith(top + "."))


def typer_help(columns: int) -> str:
    """`scalpel --help` as the typer app prints it, in a terminal ``columns`` wide."""
    code = ("import sys\nfrom scalpel_plan.cli import _typer_main\n"
            "sys.exit(_typer_main(['--help']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": str(columns)}, timeout=120, check=True)
    return done.stdout


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_nothing_heavy(tmp_path, args):
    names, done = imported(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert forbidden(names, HEAVY) == []
    ours = {n for n in names if n == "scalpel_plan" or n.startswith("scalpel_plan.")}
    assert ours <= {"scalpel_plan", "scalpel_plan.__main__", "scalpel_plan.cli",
                    "scalpel_plan.cli.quick", "scalpel_plan.cli.top_help"}
    if args == ["--version"]:
        from scalpel_plan import __version__

        assert done.stdout == f"scalpel {__version__}\n"
        assert "scalpel_plan.cli.top_help" not in names


def test_the_installed_command_imports_nothing_before_scalpel(tmp_path):
    """The `scalpel` that the install put beside the interpreter (bin/scalpel, a plain script)
    imports nothing of its own before Scalpel's first line: an entry point's wrapper imports
    ``re``, which costs about as much as the interpreter's start-up. Run without ``site`` (-S),
    whose import hooks (an editable install's finder) import ``re`` themselves."""
    script = Path(sys.executable).parent / "scalpel"
    assert script.is_file(), "install the project first: pip install -e ."
    env = {**os.environ, "PYTHONPATH": str(Path(quick.__file__).parents[2])}

    def names(*args: str) -> tuple[set[str], str]:
        done = subprocess.run([sys.executable, "-S", "-X", "importtime", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}, done.stdout

    floor, _ = names("-c", "import os")  # what `site` imports anyway
    ran, out = names(str(script), "--version")
    assert out.startswith("scalpel ")
    assert ran - floor <= {"scalpel_plan", "scalpel_plan.cli", "scalpel_plan.cli.quick",
                           "__future__", "importlib", "warnings"}, sorted(ran - floor)


@pytest.mark.parametrize("columns", [20, 52, 64, 80, 81, 200])
def test_help_is_typers_own(tmp_path, columns):
    done = subprocess.run([sys.executable, "-m", "scalpel_plan", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": str(columns)})
    assert done.returncode == 0 and done.stdout == typer_help(columns)
    assert "Commands:" in done.stdout and "changelog" in done.stdout


def test_help_is_laid_out_as_click_lays_it_out_at_every_width():
    import typer

    from scalpel_plan.cli import load_app

    group = typer.main.get_command(load_app())
    for width in range(50, 79):  # click's widths: the terminal's up to 80, less 2, at least 50
        ctx = group.make_context("scalpel", [], resilient_parsing=True)
        ctx.terminal_width = width
        assert quick.top_help(width) == group.get_help(ctx), width


def test_other_arguments_are_left_to_typer(tmp_path):
    done = imported(tmp_path, "--version", "--help")[1]
    assert done.returncode == 0 and done.stdout.startswith("scalpel ")  # typer's eager option
    names, done = imported(tmp_path, "--nope")
    assert done.returncode == 1 and "No such option" in done.stderr
    assert "typer" in names


@pytest.fixture
def project(repo):
    repo.write_spec(SPEC)
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    repo.commit("fix: a fix (#3)")
    return repo.path


# (arguments, forbidden on a first run, forbidden once the spec is known valid)
COMMANDS = [
    (["changelog", "--all"], ("typer", "click", "rich", "pydantic", "jsonschema", "networkx",
                              "ruamel"), ("yaml",)),
    (["changelog", "--all", "--format", "json"], ("typer", "click", "rich", "pydantic",
                                                  "jsonschema", "networkx", "ruamel"), ()),
    # a spec the models accept strictly needs no schema validation, even on a first run
    # and printed to no terminal, the plan and its warnings need no rich; nor the code of
    # providers, templates and monorepo dependencies the spec does not use
    (["plan"], ("typer", "click", "networkx", "jsonschema", "ruamel", "rich", "jinja2",
                "scalpel_plan.providers.docker", "scalpel_plan.providers.pypi",
                "scalpel_plan.content.notes", "scalpel_plan.content.dependencies"), ()),
    (["validate"], ("networkx", "jsonschema", "ruamel", "rich"), ()),
]


@pytest.mark.parametrize(("args", "first", "again"), COMMANDS)
def test_each_command_imports_only_what_it_needs(project, args, first, again):
    names, done = imported(project, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert forbidden(names, first) == []
    names, done = imported(project, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert forbidden(names, first + again) == []


def test_a_cycle_is_named_with_the_graph_library(project):
    (project / "release.yml").write_text(SPEC.replace("{run: 'true'}",
                                                      "{run: 'true', needs: [stage.build]}", 1))
    names, done = imported(project, "validate")
    assert done.returncode == 1 and "dependency cycle: stage.test → stage.build" in done.stderr
    assert "Traceback" not in done.stderr
    assert "networkx" in names  # only here: a cycle must be named


@pytest.mark.parametrize("name", ["changelog", "plan"])
def test_the_quick_readers_know_the_options_typer_knows(name):
    """`scalpel changelog` and `scalpel plan` read their options without typer
    (``cli.changelog``, ``cli.plan``): the same options, defaults and environment."""
    from importlib import import_module

    import typer

    from scalpel_plan.cli import load_app

    command = import_module(f"scalpel_plan.cli.{name}")
    params = typer.main.get_command(load_app()).commands[name].params  # type: ignore
    names = {o for p in params for o in (*p.opts, *p.secondary_opts)}
    assert names == set(command.VALUED) | set(command.FLAGS)
    defaults = {p.name: p.default for p in params}
    assert {k: str(v) for k, v in defaults.items()} == \
        {k: str(v) for k, v in command.DEFAULTS.items()}
    assert {p.name: p.envvar for p in params if p.envvar} == \
        ({"branch": command.BRANCH_VAR} if name == "plan" else {})


@pytest.mark.parametrize("args", [
    [], ["--format", "markdown"], ["--format=json", "--verbose"], ["-v", "--version", "2.0.0"],
    ["--detailed-exitcode", "--pre", "rc"], ["--package", "a"], ["--lock-timeout", "nope"],
    ["--branch", "main", "--no-allow-missing-secrets", "--out", "plan.json"],
])
def test_a_plan_without_typer_is_the_plan_typer_runs(project, cli, monkeypatch, args):
    """The same arguments through typer and through the quick reader: the same output, the
    same exit code (2 with changes and --detailed-exitcode, 1 for a bad value)."""
    from scalpel_plan import cli as cli_module
    from scalpel_plan.cli import plan as command

    assert command.arguments(args) is not None
    quick = cli(project, "plan", *args)
    monkeypatch.setattr(cli_module, "QUICK_COMMANDS", ())
    typed = cli(project, "plan", *args)
    assert (quick.code, timeless(quick.out), quick.err) == \
        (typed.code, timeless(typed.out), typed.err)
    assert quick.code == (2 if "--detailed-exitcode" in args else 1 if "nope" in args
                          or "--package" in args else 0), quick.err


def timeless(out: str) -> str:
    """A JSON plan without when it was made (and the digests that seal that)."""
    import json

    if not out.startswith("{"):
        return out
    data = json.loads(out)
    data.pop("created_at")
    data.pop("digest")
    data["digests"].pop("created_at")
    return json.dumps(data)
