"""The command line: the only module that imports typer. Each command is a thin shell over
library functions; errors a user can cause exit 1, bugs exit 3 with a log, Ctrl-C exits 130."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalpel_plan import __version__

if TYPE_CHECKING:
    from scalpel_plan.apply import ApplyResult
    from scalpel_plan.plan import Plan
    from scalpel_plan.release.changelog import ChangelogGenerator
    from scalpel_plan.release.secrets import SecretsManager
    from scalpel_plan.state.model import HotfixRecord, State
    from scalpel_plan.ui import UI
    from scalpel_plan.workspace import Project, Records

app = typer.Typer(
    name="scalpel", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Release engineering as a reviewable plan: validate, plan, apply, resume.",
)
state_app = typer.Typer(help="Inspect the recorded state and its lock.", no_args_is_help=True)
app.add_typer(state_app, name="state")
hotfix_app = typer.Typer(help="Fix a released version on a branch of its own.",
                         no_args_is_help=True)
app.add_typer(hotfix_app, name="hotfix")
metrics_app = typer.Typer(help="Release metrics: durations by category, trends, export.")
app.add_typer(metrics_app, name="metrics")

SpecFile = Annotated[Path, typer.Option("--file", "-f", help="The release spec.",
                                        show_default=True)]
LockTimeout = Annotated[str, typer.Option(help="Wait this long for the state lock (e.g. 30s, 5m).")]
Pre = Annotated[str | None, typer.Option(
    "--pre", help="Make a pre-release with this label (rc → 1.3.0-rc.1, then rc.2, ...).")]
Version = Annotated[str | None, typer.Option(
    "--version", help="Release this version instead of the computed one.")]
AutoApprove = Annotated[bool, typer.Option(help="Do not ask for confirmation.")]
Parallelism = Annotated[int, typer.Option(min=1, help="Steps run at once.")]
JsonProgress = Annotated[bool, typer.Option("--json", help="Progress as JSON lines.")]
DEFAULT_SPEC = Path("release.yml")


class PlanFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class ChangelogFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"


class MetricsFormat(StrEnum):
    json = "json"
    csv = "csv"
    openmetrics = "openmetrics"


class GraphFormat(StrEnum):
    dot = "dot"
    mermaid = "mermaid"


def _ui() -> UI:
    from scalpel_plan.ui import UI

    return UI()


def _open(file: Path, *, need_repo: bool = True) -> Project:
    from scalpel_plan.workspace import open_project

    return open_project(file, need_repo=need_repo)


def _secrets(project: Project, ui: UI) -> SecretsManager:
    """The command's one secrets manager: every declared value (and the providers' default
    variables) loaded and masked before anything is printed; under GitHub Actions each value
    is also registered with the runner (``::add-mask::``) so that its own log masks it."""
    from scalpel_plan.release.secrets import SecretsManager

    on_load = ui.add_mask if os.environ.get("GITHUB_ACTIONS") == "true" else None
    manager = SecretsManager(project.loaded.spec.secrets, on_load=on_load)
    manager.load_all()
    return manager


def _records(file: Path) -> Records:
    from scalpel_plan.workspace import open_records

    return open_records(file)


def _seconds(text: str) -> float:
    from scalpel_plan.errors import ScalpelError

    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    if text.replace(".", "", 1).isdigit():
        return float(text)
    raise ScalpelError(f"--lock-timeout {text!r} is not a duration", hint="for example 30s or 5m")


def _version_callback(value: bool) -> None:
    if value:
        _ui().raw(f"scalpel {__version__}")
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
    """Write a commented starter release.yml for this repository."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.starter import ignore_state_folder, starter_spec

    if file.exists() and not force:
        raise ScalpelError(f"{file} already exists", hint="use --force to overwrite it")
    _write(file, starter_spec(file.resolve().parent))
    ui = _ui()
    ui.info(f"Wrote {file}.")
    ignore = file.resolve().parent / ".gitignore"
    if ignore_state_folder(ignore):  # as goreleaser init does for dist/
        ui.info(f"Added .scalpel/ (local state, journal, logs) to {ignore.name}.")
    ui.info("Next: `scalpel plan` shows the first release.")


@app.command()
def validate(file: SpecFile = DEFAULT_SPEC) -> None:
    """Check release.yml against the schema and compile its graph; report every problem."""
    project = _open(file, need_repo=False)
    nodes = len(project.graph.nodes)
    _ui().info(f"{file} is valid: {nodes} node{'s' * (nodes != 1)}.")


@app.command()
def schema() -> None:
    """Print the JSON Schema of release.yml for the installed providers (for editors and CI)."""
    import json as json_lib

    from scalpel_plan.providers.registry import default_registry
    from scalpel_plan.spec.schema import build_schema

    _ui().raw(json_lib.dumps(build_schema(default_registry().node_configs()), indent=2))


@app.command()
def graph(file: SpecFile = DEFAULT_SPEC,
          format: Annotated[GraphFormat, typer.Option("--format")] = GraphFormat.dot) -> None:
    """Print the compiled dependency graph (Graphviz DOT or Mermaid)."""
    from scalpel_plan.graph import graph_dot, graph_mermaid

    project = _open(file, need_repo=False)
    render = graph_dot if format is GraphFormat.dot else graph_mermaid
    _ui().raw(render(project.graph))


@app.command()
def plan(
    file: SpecFile = DEFAULT_SPEC,
    version: Version = None,
    pre: Pre = None,
    out: Annotated[Path | None, typer.Option(help="Save the plan as JSON.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    detailed_exitcode: Annotated[bool, typer.Option(
        help="Exit 0 with no changes, 1 on error, 2 with changes.")] = False,
    allow_missing_secrets: Annotated[bool, typer.Option(
        help="Plan without the secrets that are not set (a pull request from a fork): "
        "warnings instead of errors; what needs them to read is not read.")] = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Show what the next release will do, as a diff against the state and what is live."""
    from scalpel_plan.plan import make_plan

    project = _open(file)
    ui = _ui()
    secrets = _secrets(project, ui)
    with project.backend.lock("plan", _seconds(lock_timeout)):
        state = project.backend.read()
        the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                             project.workspace, version=version, pre=pre, secrets=secrets,
                             allow_missing_secrets=allow_missing_secrets)
    ui.plan(the_plan, format.value)
    if out:
        _save_plan(the_plan, out)
        ui.info(f"Saved the plan to {out}. Apply exactly this with `scalpel apply {out}`.")
    return 2 if detailed_exitcode and the_plan.has_changes else 0


def _save_plan(the_plan: Plan, out: Path) -> None:
    from scalpel_plan.ui import plan_json

    _write(out, plan_json(the_plan))


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode())


def _write_bytes(path: Path, data: bytes) -> None:
    """Write a file the user named, atomically, through the secrets mask; a failure is their
    error to fix, not a bug."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.masking import mask_bytes

    data = mask_bytes(data)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScalpelError(f"cannot write {path}: {exc.strerror}") from None


@app.command()
def apply(
    plan_file: Annotated[Path | None, typer.Argument(
        metavar="[PLAN]", help="A plan saved with `scalpel plan --out`.")] = None,
    file: SpecFile = DEFAULT_SPEC,
    version: Version = None,
    pre: Pre = None,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Carry out the plan: every step journaled; re-run after a crash to finish the job."""
    from scalpel_plan import git
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.plan import check_fresh, load_plan, make_plan

    if plan_file is not None and (version or pre):
        raise ScalpelError("--version and --pre cannot be combined with a saved plan",
                           hint="the saved plan already fixes the version")
    project = _open(file)
    ui = _ui()
    secrets = _secrets(project, ui)
    with project.backend.lock("apply", _seconds(lock_timeout)):
        state = project.backend.read()
        if plan_file is not None:  # exactly what was reviewed, or nothing
            the_plan = load_plan(plan_file)
            check_fresh(the_plan, state, project.loaded.source.sha256,
                        git.head(project.workspace.repo))
        else:
            the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                                 project.workspace, version=version, pre=pre, secrets=secrets)
            if not json:
                ui.plan(the_plan)
            if the_plan.has_changes and not auto_approve and not _approved(ui):
                ui.info("Apply cancelled.")
                return 1
        if not the_plan.has_changes:
            if plan_file is not None:
                ui.info("The plan has no changes; nothing to apply.")
            return 0
        result = _carry_out(project, the_plan, state, secrets, ui, parallelism, json)
    return _report(project, the_plan, result, state, secrets, ui)


def _carry_out(project: Project, the_plan: Plan, state: State, secrets: SecretsManager,
               ui: UI, parallelism: int, json: bool) -> ApplyResult:
    """Apply a release or rollback plan (under the caller's lock), showing progress."""
    from scalpel_plan.apply import apply_plan

    with ui.progress("json" if json else "auto") as progress:
        return apply_plan(the_plan, project.registry, project.backend, state,
                          project.workspace, parallelism=parallelism, observer=progress,
                          secrets=secrets)


def _report(project: Project, the_plan: Plan, result: ApplyResult, state: State,
            secrets: SecretsManager, ui: UI) -> int:
    """The summary; on failure the incident report and the alert. The exit code."""
    ui.apply_summary(result, the_plan)
    if not result.ok:
        _alert_failure(project, the_plan, result, state, secrets, ui)
    return 0 if result.ok else 1


@app.command()
def rollback(
    to: Annotated[str, typer.Option("--to", help="A rollback point: its tag or version.")],
    file: SpecFile = DEFAULT_SPEC,
    out: Annotated[Path | None, typer.Option(
        help="Save the rollback plan instead; apply it with `scalpel apply FILE`.")] = None,
    format: Annotated[PlanFormat, typer.Option("--format")] = PlanFormat.text,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
    lock_timeout: LockTimeout = "0s",
) -> int:
    """Plan the way back to a rollback point, then apply it on confirmation."""
    from scalpel_plan.release.rollback import make_rollback_plan

    project = _open(file)
    ui = _ui()
    secrets = _secrets(project, ui)
    with project.backend.lock("rollback", _seconds(lock_timeout)):
        state = project.backend.read()
        the_plan = make_rollback_plan(project.loaded, project.registry, state,
                                      project.workspace, to)
        if not json:
            ui.plan(the_plan, format.value)
        if out:
            _save_plan(the_plan, out)
            ui.info(f"Saved the rollback plan to {out}. Apply exactly this with "
                    f"`scalpel apply {out}`.")
            return 0
        if not auto_approve and not _approved(ui):
            ui.info("Rollback cancelled.")
            return 1
        result = _carry_out(project, the_plan, state, secrets, ui, parallelism, json)
    return _report(project, the_plan, result, state, secrets, ui)


def _alert_failure(project: Project, the_plan: Plan, result: ApplyResult, state: State,
                   secrets: SecretsManager, ui: UI) -> None:
    """The incident report, and the failure alert routed as release.yml says."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.observe.alerts import alert_failure

    try:
        report, outcome = alert_failure(the_plan, result, state, project.backend,
                                        project.loaded.spec, project.registry, secrets,
                                        workdir=project.workspace.workdir, console=ui.alert)
    except (OSError, ScalpelError) as exc:  # never hides the failure it reports on
        ui.info(f"The incident report could not be written, nor the alert sent: {exc}")
        return
    ui.alert_outcome(report, outcome)


def _approved(ui: UI) -> bool:
    from scalpel_plan.errors import ScalpelError

    if not sys.stdin.isatty():
        raise ScalpelError("apply needs confirmation but there is no terminal",
                           hint="pass --auto-approve, or apply a saved plan file")
    return ui.confirm("Do you want to perform these actions?")


@app.command()
def changelog(
    file: SpecFile = DEFAULT_SPEC,
    all_: Annotated[bool, typer.Option("--all", help="The whole history, by release tag.")] = False,
    from_: Annotated[str | None, typer.Option("--from", help="From this tag or commit.")] = None,
    to: Annotated[str, typer.Option("--to", help="Up to this tag or commit.")] = "HEAD",
    format: Annotated[ChangelogFormat, typer.Option("--format")] = ChangelogFormat.markdown,
    version: Version = None,
    pre: Pre = None,
    write: Annotated[bool, typer.Option(
        help="Insert the next release's section into the changelog file (under its marker; "
        "every other byte stays).")] = False,
) -> None:
    """Print the changelog of the next release (or of --all history, or a --from/--to range)."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.release import history, versioning
    from scalpel_plan.release.changelog import ChangelogGenerator
    from scalpel_plan.release.content import release_changes

    project = _open(file)
    spec, repo = project.loaded.spec, project.workspace.repo
    generator = ChangelogGenerator(spec.changelog)
    if all_ or from_:
        revisions = f"{from_}..{to}" if from_ else to
        releases = history.releases(repo, spec, generator, revisions=revisions,
                                    cache=project.workspace.workdir / "cache")
    else:
        decision = versioning.decide(repo, spec, project.backend.read(), version, pre=pre)
        releases = [release_changes(spec, decision, generator)]
    if write:
        if all_ or from_ or format is not ChangelogFormat.markdown:
            raise ScalpelError("--write adds the next release's Markdown section",
                               hint="drop --all, --from and --format with --write")
        _write_changelog(project.loaded.root / generator.config.file, generator,
                         generator.markdown_section(releases[0]))
        return
    if format is ChangelogFormat.json:
        text = generator.json(releases)
    elif format is ChangelogFormat.html:
        text = generator.html(releases, title=f"{project.loaded.project_name} changelog")
    else:
        text = generator.markdown(releases, header=all_)
    _ui().raw(text)


def _write_changelog(path: Path, generator: ChangelogGenerator, section: str) -> None:
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.release.changelog import insert_section

    try:  # surrogateescape: bytes that are not UTF-8 come back out exactly as they were
        existing = path.read_bytes().decode("utf-8", "surrogateescape") if path.exists() else ""
    except OSError as exc:
        raise ScalpelError(f"cannot read {path}: {exc.strerror}") from None
    text = insert_section(existing, section, generator.config.marker)
    _write_bytes(path, text.encode("utf-8", "surrogateescape"))
    _ui().info(f"Updated {path}.")


@app.command()
def notes(
    file: SpecFile = DEFAULT_SPEC,
    template: Annotated[str | None, typer.Option(
        help="default, minimal, detailed, breaking, or a template file.")] = None,
    version: Version = None,
    pre: Pre = None,
) -> None:
    """Print the release notes of the next release."""
    from scalpel_plan.release import versioning
    from scalpel_plan.release.content import release_changes, release_notes

    project = _open(file)
    spec = project.loaded.spec
    decision = versioning.decide(project.workspace.repo, spec, project.backend.read(), version,
                                 pre=pre)
    changes = release_changes(spec, decision)
    _ui().raw(release_notes(spec, project.loaded.root, changes, project.loaded.project_name,
                            decision.previous, template))


@app.command()
def secrets(file: SpecFile = DEFAULT_SPEC) -> int:
    """List the declared secrets and their status (set, missing, expires in N days); never a
    value. Exits 1 when one is missing, invalid or expired."""
    project = _open(file, need_repo=False)
    ui = _ui()
    statuses = _secrets(project, ui).statuses()
    if not statuses:
        ui.info(f"{file} declares no secrets.")
        return 0
    ui.table(["SECRET", "ENV", "STATUS", "DETAIL"],
             ([s.name, f"${s.env}", s.status, s.detail] for s in statuses))
    return 0 if all(s.ok for s in statuses) else 1


@app.command()
def history(file: SpecFile = DEFAULT_SPEC,
            json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False) -> None:
    """List the releases (newest last), which is live, the rollback points, the rollbacks and
    the hotfixes."""
    import json as json_lib

    state = _records(file).backend.read()
    ui = _ui()
    if json:
        ui.raw(json_lib.dumps({
            "live": state.live_version(),
            "releases": [r.model_dump(mode="json") for r in state.releases],
            "rollback_points": [{"name": p.name, "version": p.version, "commit": p.commit,
                                 "created_at": p.created_at, "artifacts": sorted(p.resources)}
                                for p in state.rollback_points],
            "rollbacks": [r.model_dump(mode="json") for r in state.rollbacks],
            "hotfixes": [h.model_dump(mode="json") for h in state.hotfixes]}, indent=1))
        return
    live = state.live_version()
    points = {p.version: p.name for p in state.rollback_points}
    fixes = {h.version: h.fixes for h in state.hotfixes if h.version}
    ui.table(["VERSION", "STATUS", "TAG", "COMMIT", "FINISHED", "ROLLBACK POINT", "NOTE"],
             ([r.version, r.status.replace("_", " "), r.tag or "", r.commit[:12],
               _when(r.finished_at), points.get(r.version, ""),
               "; ".join(n for n in ("live" if r.version == live else "",
                                     f"hotfix of {fixes[r.version]}" if r.version in fixes
                                     else "") if n)]
              for r in state.releases))
    if state.rollbacks:
        ui.print("")
        ui.table(["ROLLBACK", "FROM", "TO", "STATUS", "FINISHED"],
                 ([r.id, r.from_version or "", r.to_version, r.status, _when(r.finished_at)]
                  for r in state.rollbacks))
    if state.hotfixes:
        ui.print("")
        ui.table(["HOTFIX BRANCH", "FROM POINT", "FIXES", "RELEASED AS"],
                 ([h.branch, h.point, h.fixes, h.version or "(unfinished)"]
                  for h in state.hotfixes))


def _when(iso: str | None) -> str:
    """A recorded time as a table shows it: to the minute, UTC."""
    return iso[:16].replace("T", " ") if iso else ""


@app.command()
def status(
    file: SpecFile = DEFAULT_SPEC,
    json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
    watch: Annotated[bool, typer.Option(
        help="Follow a running apply live (from another terminal) until it ends.")] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write a self-contained HTML page (timeline, Gantt, metrics).")] = None,
) -> None:
    """The current or last release or rollback: its status and event timeline."""
    import json as json_lib
    import time

    from scalpel_plan.observe.dashboard import StatusDashboard

    project = _records(file)
    ui = _ui()
    dashboard = StatusDashboard(project.project_name, project.backend)
    if html is not None:
        _write(html, dashboard.html())
        ui.info(f"Wrote {html}.")
        return
    current = dashboard.current()
    if json:
        ui.raw(json_lib.dumps(current.to_dict(), indent=1))
        return
    ui.status(current)
    shown = len(current.events)
    while watch and current.status == "running":
        time.sleep(0.5)
        current = StatusDashboard(project.project_name, project.backend).current()
        ui.events(current.events[shown:])
        shown = len(current.events)
    if watch:
        ui.info(f"{current.operation.capitalize()} {current.version or ''}: {current.status}.")


@app.command()
def profile(
    version: Annotated[str | None, typer.Argument(help="A release (default: the last run).")]
    = None,
    file: SpecFile = DEFAULT_SPEC,
    compare: Annotated[tuple[str, str] | None, typer.Option(
        help="Compare two releases' profiles stage by stage: --compare 1.2.0 1.3.0.")] = None,
    threshold: Annotated[float, typer.Option(
        help="With --compare: flag a stage slower by more than this fraction.")] = 0.2,
) -> int:
    """Each node's start, end and wait; the critical path (the bottleneck); the parallelism."""
    from scalpel_plan.observe.profile import BuildProfiler

    project = _records(file)
    state = project.backend.read()
    ui = _ui()
    if compare:
        before, after = (BuildProfiler.from_journal(project.backend.read_journal(
            _apply_of(state, v))) for v in compare)
        changes = before.compare(after)
        ui.profile_comparison(compare, changes, threshold)
        return 1 if any(c.regressed(threshold) for c in changes) else 0
    ui.profile(BuildProfiler.from_journal(project.backend.read_journal(
        _apply_of(state, version))))
    return 0


def _apply_of(state: State, version: str | None) -> str:
    """The apply id of ``version``'s release (its last apply), or of the last run."""
    from scalpel_plan.errors import ScalpelError

    if version is None:
        runs = [(r.started_at, r.apply_id) for r in state.releases[-1:]] + \
               [(b.started_at, b.id) for b in state.rollbacks[-1:]]
        if not runs:
            raise ScalpelError("nothing has been applied yet", hint="run `scalpel apply` first")
        return str(max(runs)[1])
    record = state.release(version)
    if record is None or record.apply_id is None:
        known = ", ".join(r.version for r in state.releases[-10:]) or "none yet"
        raise ScalpelError(f"no release {version} in the state", hint=f"releases: {known}")
    return record.apply_id


@metrics_app.callback(invoke_without_command=True)
def metrics(ctx: typer.Context, file: SpecFile = DEFAULT_SPEC,
            last: Annotated[int, typer.Option(help="Show this many newest releases.")] = 20,
            ) -> None:
    """Durations per release by category, with trends (median, p90, change)."""
    from scalpel_plan.observe.metrics import MetricsTracker

    if ctx.invoked_subcommand is not None:
        return
    tracker = MetricsTracker(_records(file).backend)
    by_release = tracker.by_release()
    _ui().metrics(by_release, tracker.trends(by_release), last)


@metrics_app.command("export")
def metrics_export(
    file: SpecFile = DEFAULT_SPEC,
    format: Annotated[MetricsFormat, typer.Option("--format")] = MetricsFormat.json,
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: stdout).")]
    = None,
) -> None:
    """All metrics history at once, as JSON, CSV or OpenMetrics text."""
    from scalpel_plan.observe.metrics import MetricsTracker

    text = MetricsTracker(_records(file).backend).export(format.value)
    if out is None:
        _ui().raw(text)
    else:
        _write(out, text)


@hotfix_app.command("start")
def hotfix_start(
    from_: Annotated[str, typer.Option("--from", help="The rollback point to fix.")],
    file: SpecFile = DEFAULT_SPEC,
) -> None:
    """Create and switch to hotfix/<version> at a rollback point's commit."""
    from scalpel_plan.release.rollback import RollbackManager
    from scalpel_plan.state.model import HotfixRecord

    project = _open(file)
    with project.backend.lock("hotfix"):
        state = project.backend.read()
        hotfix = RollbackManager(state).start_hotfix(project.workspace, from_)
        record = HotfixRecord(branch=hotfix.branch, point=hotfix.point, fixes=hotfix.fixes,
                              commit=hotfix.commit)
        _record_hotfix(project, state, record)
    _ui().info(f"Switched to {hotfix.branch} at {hotfix.point} ({hotfix.commit[:12]}). Commit "
               "the fix, then `scalpel plan` proposes the next patch version and "
               "`scalpel hotfix finish` releases it.")


@hotfix_app.command("finish")
def hotfix_finish(
    file: SpecFile = DEFAULT_SPEC,
    auto_approve: AutoApprove = False,
    parallelism: Parallelism = 4,
    json: JsonProgress = False,
) -> int:
    """Release the hotfix branch you are on and record which release it fixes."""
    from scalpel_plan import git
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.plan import make_plan
    from scalpel_plan.release.rollback import finished, hotfix_on

    project = _open(file)
    ui = _ui()
    secrets = _secrets(project, ui)
    with project.backend.lock("hotfix"):
        state = project.backend.read()
        branch = git.current_branch(project.workspace.repo)
        record = hotfix_on(state, branch)
        if record is None:
            raise ScalpelError(f"{branch or 'HEAD'} is not an unfinished hotfix branch",
                               hint="`scalpel hotfix start --from POINT` makes one; "
                               "`scalpel history` lists them")
        the_plan = make_plan(project.loaded, project.graph, project.registry, state,
                             project.workspace, secrets=secrets)
        if the_plan.release is None:
            raise ScalpelError(f"nothing to release on {branch}: {the_plan.nothing_to_release}",
                               hint="commit the fix (fix: ...) first")
        if not json:
            ui.plan(the_plan)
        if not auto_approve and not _approved(ui):
            ui.info("Hotfix release cancelled.")
            return 1
        result = _carry_out(project, the_plan, state, secrets, ui, parallelism, json)
        if result.ok:
            _record_hotfix(project, project.backend.read(),
                           finished(record, the_plan.release.version))
    return _report(project, the_plan, result, state, secrets, ui)


def _record_hotfix(project: Project, state: State, record: HotfixRecord) -> None:
    """Journal the hotfix and write it into the state."""
    from scalpel_plan.state.checkpoint import Checkpointer

    checkpoint = Checkpointer(project.backend, state, _operation_id("hotfix"))
    checkpoint.record("hotfix", record=record.model_dump(mode="json"))
    checkpoint.close()


def _operation_id(kind: str) -> str:
    import time
    import uuid

    return f"{time.strftime('%Y%m%dT%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"


@state_app.command("list")
def state_list(file: SpecFile = DEFAULT_SPEC) -> None:
    """List the recorded resources."""
    project = _records(file)
    state = project.backend.read()
    _ui().table(["ADDRESS", "PROVIDER", "RELEASE", "UPDATED"],
                ([r.address, r.provider, r.release, r.updated_at]
                 for r in state.resources.values()))


@state_app.command("show")
def state_show(address: str, file: SpecFile = DEFAULT_SPEC) -> None:
    """Show one recorded resource."""
    import json as json_lib

    from scalpel_plan.errors import ScalpelError

    project = _records(file)
    state = project.backend.read()
    resource = state.resources.get(address)
    if resource is None:
        raise ScalpelError(f"no resource {address} in the state",
                           hint=f"recorded: {', '.join(state.resources) or 'none yet'}")
    _ui().raw(json_lib.dumps(resource.model_dump(mode="json"), indent=2))


@state_app.command("lock")
def state_lock(file: SpecFile = DEFAULT_SPEC) -> None:
    """Show who holds the state lock, if anyone."""
    project = _records(file)
    holder = project.backend.lock_holder()
    _ui().info(f"locked by {holder.describe()}" if holder else "the state is not locked")


@state_app.command("unlock")
def state_unlock(lock_id: str, file: SpecFile = DEFAULT_SPEC) -> None:
    """Clear a lock whose holder is gone."""
    project = _records(file)
    info = project.backend.unlock(lock_id)
    _ui().info(f"Cleared lock {info.id} ({info.describe()}).")


def main(argv: list[str] | None = None) -> int:
    """The console script: runs the app and maps every outcome to an exit code."""
    from scalpel_plan.errors import ScalpelError

    try:
        code = app(args=argv, prog_name="scalpel", standalone_mode=False)
    except ScalpelError as exc:
        _ui().error(exc)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: say so, exit 1 (2 means "changes")
        exc.show()  # type: ignore[attr-defined]
        return 1
    except (KeyboardInterrupt, typer.Abort):
        _ui().info("Interrupted. What was done is recorded; `scalpel apply` finishes the job.")
        return 130
    except Exception:
        log = Path(tempfile.gettempdir()) / f"scalpel-crash-{os.getpid()}.log"
        from scalpel_plan.masking import mask

        log.write_text(mask(f"scalpel {__version__}\nargv: {sys.argv}\n\n"
                            f"{traceback.format_exc()}"))
        try:
            _ui().bug(str(log))
        except Exception:  # the UI itself is broken: still say where the log is
            sys.stderr.write(f"scalpel: internal error; details in {log}\n")
        return 3
    return code if isinstance(code, int) else 0

