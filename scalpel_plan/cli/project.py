"""Commands about the project itself: init, validate, schema, graph, secrets, state."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from scalpel_plan import __version__
from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    GraphFormat,
    SpecFile,
    app,
    console_ui,
    open_at,
    records_at,
    state_app,
    write_text,
)


def _version_callback(value: bool) -> None:
    if value:
        console_ui().raw(f"scalpel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_version_callback, is_eager=True, help="Show the version.")] = None,
) -> None:
    """Scalpel makes a release a reviewable plan."""


@app.command()
def init(force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
         file: SpecFile = DEFAULT_SPEC) -> None:
    """Write a commented starter release.yml for this repository, from what it has: version
    files, changelog, tag style, test command; and its schema beside it, for editors."""
    import json as json_lib

    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.operations.init import (
        SCHEMA_FILE,
        ignore_state_folder,
        inspect,
        repository_of,
        starter_spec,
    )
    from scalpel_plan.providers.registry import default_registry
    from scalpel_plan.spec.schema import build_schema

    folder = file.resolve().parent
    if file.exists() and not force:
        raise ScalpelError(f"{file} already exists", hint="use --force to overwrite it")
    found = inspect(folder, repository_of(folder))
    write_text(file, starter_spec(folder, found))
    schema = file.parent / SCHEMA_FILE
    write_text(schema, json_lib.dumps(build_schema(default_registry().node_configs()),
                                      indent=2) + "\n")
    ui = console_ui()
    ui.info(f"Wrote {file}, and {schema} (its schema, for editors).")
    for path, version in found.version_files:
        ui.info(f"  version file: {path} (now {version}), bumped by each release commit")
    for skipped in found.skipped:
        ui.info(f"  not a version file: {skipped}")
    if found.changelog:
        ui.info(f"  changelog: {found.changelog}, each release's section written on top")
    if found.tags:
        ui.info(f"  tags: {found.tag_format} ({found.tags} tag{'s' * (found.tags != 1)}, "
                f"newest {found.newest_tag}): the next release continues from there")
    else:
        ui.info("  tags: none that look like a version yet: the first release is 0.1.0, "
                "tagged v0.1.0")
    ui.info(f"  tests: {found.test}")
    ignore = folder / ".gitignore"
    if ignore_state_folder(ignore):  # as goreleaser init does for dist/
        ui.info(f"Added .scalpel/ (local state, journal, logs) to {ignore.name}.")
    ui.info("Next: `scalpel plan` shows the first release.")


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@app.command()
def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print the shell completion script: `eval "$(scalpel completion bash)"` in ~/.bashrc,
    `scalpel completion zsh > "${fpath[1]}/_scalpel"`, `scalpel completion fish >
    ~/.config/fish/completions/scalpel.fish`."""
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    from scalpel_plan.cli import COMPLETE_VAR

    completion_init()
    console_ui().raw(get_completion_script(prog_name="scalpel", complete_var=COMPLETE_VAR,
                                           shell=shell.value))


@app.command()
def validate(file: SpecFile = DEFAULT_SPEC) -> None:
    """Check release.yml against the schema and compile its graph; report every problem."""
    project = open_at(file, need_repo=False)
    nodes = len(project.graph.nodes)
    console_ui().info(f"{file} is valid: {nodes} node{'s' * (nodes != 1)}.")


@app.command()
def schema() -> None:
    """Print the JSON Schema of release.yml for the installed providers (for editors and CI)."""
    import json as json_lib

    from scalpel_plan.providers.registry import default_registry
    from scalpel_plan.spec.schema import build_schema

    console_ui().raw(json_lib.dumps(build_schema(default_registry().node_configs()), indent=2))


@app.command()
def graph(file: SpecFile = DEFAULT_SPEC,
          format: Annotated[GraphFormat, typer.Option("--format")] = GraphFormat.dot) -> None:
    """Print the compiled dependency graph (Graphviz DOT or Mermaid)."""
    from scalpel_plan.graph import graph_dot, graph_mermaid

    project = open_at(file, need_repo=False)
    render = graph_dot if format is GraphFormat.dot else graph_mermaid
    console_ui().raw(render(project.graph))


@app.command()
def secrets(file: SpecFile = DEFAULT_SPEC) -> int:
    """List the declared secrets and their status (set, missing, expires in N days); never a
    value. Exits 1 when one is missing, invalid or expired."""
    project = open_at(file, need_repo=False)
    ui = console_ui()
    statuses = project.secrets.statuses()
    if not statuses:
        ui.info(f"{file} declares no secrets.")
        return 0
    ui.table(["SECRET", "ENV", "STATUS", "DETAIL"],
             ([s.name, f"${s.env}", s.status, s.detail] for s in statuses))
    return 0 if all(s.ok for s in statuses) else 1


@state_app.command("list")
def state_list(file: SpecFile = DEFAULT_SPEC) -> None:
    """List the recorded resources."""
    project = records_at(file)
    state = project.backend.read()
    console_ui().table(["ADDRESS", "PROVIDER", "RELEASE", "UPDATED"],
                ([r.address, r.provider, r.release, r.updated_at]
                 for r in state.resources.values()))


@state_app.command("show")
def state_show(address: str, file: SpecFile = DEFAULT_SPEC) -> None:
    """Show one recorded resource."""
    import json as json_lib

    from scalpel_plan.errors import ScalpelError

    project = records_at(file)
    state = project.backend.read()
    resource = state.resources.get(address)
    if resource is None:
        raise ScalpelError(f"no resource {address} in the state",
                           hint=f"recorded: {', '.join(state.resources) or 'none yet'}")
    console_ui().raw(json_lib.dumps(resource.model_dump(mode="json"), indent=2))


@state_app.command("lock")
def state_lock(file: SpecFile = DEFAULT_SPEC) -> None:
    """Show who holds the state lock, if anyone."""
    project = records_at(file)
    holder = project.backend.lock_holder()
    console_ui().info(f"locked by {holder.describe()}" if holder else "the state is not locked")


@state_app.command("unlock")
def state_unlock(lock_id: str, file: SpecFile = DEFAULT_SPEC) -> None:
    """Clear a lock whose holder is gone."""
    project = records_at(file)
    info = project.backend.unlock(lock_id)
    console_ui().info(f"Cleared lock {info.id} ({info.describe()}).")

