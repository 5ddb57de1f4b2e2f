"""Commands about the project itself: init, validate, schema, graph, secrets, state."""

from __future__ import annotations

from typing import Annotated

import typer

from scalpel_plan import __version__
from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    GraphFormat,
    LockTimeout,
    SpecFile,
    app,
    console_ui,
    duration,
    open_at,
    records_at,
    state_app,
    write_text,
)
from scalpel_plan.cli.plain import runner_mask


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
    text = json_lib.dumps(build_schema(default_registry().node_configs()), indent=2) + "\n"
    ui = console_ui()
    if schema.exists() and not force and schema.read_text(errors="replace") != text:
        ui.info(f"Wrote {file}; kept {schema}, which is not Scalpel's schema (--force "
                "replaces it).")
    else:
        write_text(schema, text)
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
    written = " ".join(sorted({file.name, SCHEMA_FILE, ".gitignore"}))
    ui.info(f"Next: commit them (`git add {written} && git commit -m 'chore: release with "
            f"scalpel'`: a release needs a clean work tree), then `scalpel plan` shows the "
            f"{'next' if found.tags else 'first'} release.")


SHELLS = ("bash", "zsh", "fish")


@app.command()
def completion(shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print the shell completion script: `eval "$(scalpel completion bash)"` in ~/.bashrc,
    `scalpel completion zsh > "${fpath[1]}/_scalpel"`, `scalpel completion fish >
    ~/.config/fish/completions/scalpel.fish`."""
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    from scalpel_plan.cli import COMPLETE_VAR
    from scalpel_plan.errors import ScalpelError

    if shell not in SHELLS:
        raise ScalpelError(f"there is no completion script for the shell {shell!r}",
                           hint=f"one of: {', '.join(SHELLS)}")
    completion_init()
    console_ui().raw(get_completion_script(prog_name="scalpel", complete_var=COMPLETE_VAR,
                                           shell=shell))


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
def state_lock(file: SpecFile = DEFAULT_SPEC,
               json: Annotated[bool, typer.Option(
                   "--json", help="As JSON on stdout, for scripts: "
                   '{"locked": ..., "holder": {id, who, host, pid, operation, since, run}}.')
               ] = False) -> None:
    """Show who holds the state lock, if anyone."""
    project = records_at(file)
    holder = project.backend.lock_holder()
    if json:
        import json as json_lib

        console_ui().raw(json_lib.dumps({"locked": holder is not None,
                                         "holder": holder.model_dump() if holder else None}))
        return
    console_ui().info(f"locked by {holder.describe()}" if holder else "the state is not locked")


@state_app.command("unlock")
def state_unlock(lock_id: str, file: SpecFile = DEFAULT_SPEC) -> None:
    """Clear a lock whose holder is gone."""
    project = records_at(file)
    info = project.backend.unlock(lock_id)
    console_ui().info(f"Cleared lock {info.id} ({info.describe()}).")



@state_app.command("migrate")
def state_migrate(
    to: Annotated[str, typer.Option("--to", help="Where the state goes, as SCALPEL_STATE "
                                    "names a backend: local, git+REMOTE (e.g. git+origin).")],
    force: Annotated[bool, typer.Option(help="Replace a different state the destination "
                                        "holds.")] = False,
    lock_timeout: LockTimeout = "0s",
    file: SpecFile = DEFAULT_SPEC,
) -> None:
    """Copy the state in use (releases, rollback points, metrics, journals, incident reports)
    to another backend, serial and lineage kept, and verify the copy by reading it back."""
    from scalpel_plan.operations.migrate import migrate, switch_hint

    done = migrate(file, to, force=force, lock_timeout=duration(lock_timeout),
                   on_secret=runner_mask())
    ui = console_ui()
    if done.already:
        ui.info(f"{done.destination} already holds this state (serial {done.serial}, lineage "
                f"{done.lineage}); nothing was copied.")
    else:
        if done.replaced:
            ui.info(f"Replaced the state of lineage {done.replaced} in {done.destination} "
                    "(--force).")
        kept = f", {done.journals_kept} kept there" if done.journals_kept != done.journals \
            else ""
        ui.info(f"Copied the state from {done.source} to {done.destination}: serial "
                f"{done.serial}, lineage {done.lineage}, {done.releases} releases, "
                f"{done.rollback_points} rollback points, {done.metrics} metric records added, "
                f"{len(done.records)} documents, {done.journals} journals{kept}.")
        ui.info(f"Read back from {done.destination} and compared: the same.")
    ui.info(switch_hint(to))
    ui.info(f"{done.source} is left as it was; remove it once every clone and job has switched.")


@state_app.command("import")
def state_import(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be recorded; "
                                          "change nothing.")] = False,
    lock_timeout: LockTimeout = "0s",
    file: SpecFile = DEFAULT_SPEC,
) -> None:
    """Record the releases made before Scalpel from their tags (version, tag, commit, date,
    artifact digests a live read finds), so that they become rollback points."""
    from scalpel_plan.operations.tag_import import import_tags

    project = open_at(file)
    done = import_tags(project, dry_run=dry_run, lock_timeout=duration(lock_timeout))
    ui = console_ui()
    for tag, why in done.skipped:
        if not why.endswith("left as it is"):
            ui.info(f"Skipped {tag}: {why}.")
    known = [tag for tag, why in done.skipped if why.endswith("left as it is")]
    if known:
        ui.info(f"{len(known)} release tag{'s' * (len(known) != 1)} ({', '.join(known[:5])}"
                f"{', ...' * (len(known) > 5)}) recorded already: left as they are.")
    formats = ", ".join(done.looked_at[:3]) + ", ..." * (len(done.looked_at) > 3)
    if not done.found:
        ui.info(f"No release to import: no tag matches the tag formats ({formats})."
                if not done.tags else f"No release to import: every tag of the tag formats "
                f"({formats}) is recorded in {done.backend}.")
        return
    monorepo = any(f.package for f in done.found)
    ui.table([*["PACKAGE"] * monorepo, "VERSION", "TAG", "COMMIT", "DATE", "RECORDED"],
             ([*[f.package or "-"] * monorepo, f.version, f.tag, f.commit[:12], f.date[:10],
               _artifacts(f.resources)] for f in done.found))
    for found in done.found:
        for note in found.unread:
            ui.info(f"{found.tag}: not read: {note}")
    count = f"{len(done.found)} release{'s' * (len(done.found) != 1)} made before Scalpel"
    if done.dry_run:
        ui.info(f"Would record {count} in {done.backend} (--dry-run: nothing was changed).")
        return
    ui.info(f"Recorded {count} in {done.backend} (state serial {done.serial}); "
            f"`scalpel rollback --to {'TAG' if monorepo else 'VERSION'}` plans the way back to "
            "any of them.")


def _artifacts(resources: dict[str, dict[str, object]]) -> str:
    """What a live read found for an imported release, in a few words per node."""
    found = []
    for address, attrs in resources.items():
        if isinstance(attrs.get("digest"), str):
            found.append(f"{address} {str(attrs['digest'])[:19]}")
        elif isinstance(files := attrs.get("files"), dict):
            found.append(f"{address} {len(files)} files")
        else:
            found.append(address)
    return ", ".join(found) or "-"
