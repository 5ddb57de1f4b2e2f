"""Commands that read what happened: history, status, profile, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    MetricsFormat,
    SpecFile,
    app,
    console_ui,
    metrics_app,
    records_at,
    write_text,
)

if TYPE_CHECKING:
    from scalpel_plan.operations.project import Records


@app.command()
def history(file: SpecFile = DEFAULT_SPEC,
            json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False) -> None:
    """List the releases (newest last), which is live, the rollback points, the rollbacks and
    the hotfixes."""
    from scalpel_plan.files import quiet_gc

    with quiet_gc():  # tens of thousands of records and rows, read, laid out, printed: no cycles
        _history(file, json)


def _history(file: Path, json: bool) -> None:
    import json as json_lib

    backend = records_at(file).backend
    state = backend.read_overview(points=True)
    points_of = state.points or []
    ui = console_ui()
    interrupted = state.interrupted_rollback()
    if interrupted is not None and interrupted.status == "in_progress" and \
            backend.lock_holder() is not None:
        interrupted = None  # (it may be running now)
    if json:
        ui.raw(json_lib.dumps({
            "live": state.live_version(),
            "interrupted_rollback": None if interrupted is None else {
                "id": interrupted.id, "point": interrupted.point,
                "message": interrupted.interruption(), "finish": interrupted.finish_command},
            "releases": [r.model_dump(mode="json") for r in state.releases],
            "rollback_points": [p.model_dump(mode="json") for p in points_of],
            "rollbacks": [r.model_dump(mode="json") for r in state.rollbacks],
            "hotfixes": [h.model_dump(mode="json") for h in state.hotfixes]}, indent=1))
        return
    live = state.live_version()
    points = {p.version: p.name for p in points_of}
    fixes = {h.version: h.fixes for h in state.hotfixes if h.version}
    ui.table(["VERSION", "STATUS", "TAG", "COMMIT", "FINISHED", "ROLLBACK POINT", "NOTE"],
             ([r.version, r.status.replace("_", " "), r.tag or "", r.commit[:12],
               _when(r.finished_at), points.get(r.version, ""),
               "; ".join(n for n in ("live" if r.version == live else "",
                                     f"hotfix of {fixes[r.version]}" if r.version in fixes
                                     else "", "" if r.apply_id else "imported from its tag")
                                     if n)]
              for r in state.releases))
    if state.rollbacks:
        ui.print("")
        ui.table(["ROLLBACK", "FROM", "TO", "STATUS", "FINISHED", "NOTE"],
                 ([r.id, r.from_version or "", r.to_version, r.status.replace("_", " "),
                   _when(r.finished_at),
                   f"interrupted: run `{r.finish_command}` to finish it"
                   if interrupted is not None and r.id == interrupted.id else ""]
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
    every: Annotated[bool, typer.Option(
        "--all", help="Every project's last release, from a state database that holds many "
        "(the postgres backend).")] = False,
) -> None:
    """The current or last release or rollback: its status and event timeline."""
    import json as json_lib
    import time

    from scalpel_plan.observe.dashboard import StatusDashboard

    project = records_at(file)
    ui = console_ui()
    if every:
        _every_project(project, json, watch or html is not None)
        return
    dashboard = StatusDashboard(project.project_name, project.backend)
    if html is not None:
        write_text(html, dashboard.html())
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


def _every_project(project: Records, json: bool, one_project_option: bool) -> None:
    import json as json_lib

    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.operations.project import every_project

    if one_project_option:
        raise ScalpelError("--watch and --html show one project; --all lists every project",
                           hint="use `scalpel status --all` alone, or without --all")
    rows = every_project(project)
    ui = console_ui()
    if json:
        ui.raw(json_lib.dumps({"projects": rows}, indent=1))
        return
    if not rows:
        ui.info(f"No project has recorded a release in {project.backend.describe()} yet.")
        return
    ui.table(["PROJECT", "LIVE", "LAST RELEASE", "STATUS", "TAG", "FINISHED"],
             ([r["project"] or "", r["live"] or "", r["last_release"] or "",
               (r["status"] or "").replace("_", " "), r["tag"] or "", _when(r["finished_at"])]
              for r in rows))


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
    """Each node's start, end and wait; the critical path (the bottleneck); the parallelism.
    A release finished by several applies shows each of them."""
    from scalpel_plan.observe.profile import BuildProfiler, profiles

    project = records_at(file)
    state = project.backend.read()
    ui = console_ui()
    if compare:
        before, after = (BuildProfiler.merged(profiles(project.backend, state, v))
                         for v in compare)
        changes = before.compare(after)
        ui.profile_comparison(compare, changes, threshold)
        return 1 if any(c.regressed(threshold) for c in changes) else 0
    for number, found in enumerate(attempts := profiles(project.backend, state, version), 1):
        ui.profile(found, attempt=(number, len(attempts)))
    return 0


@metrics_app.callback(invoke_without_command=True)
def metrics(ctx: typer.Context, file: SpecFile = DEFAULT_SPEC,
            last: Annotated[int, typer.Option(help="Show this many newest releases.")] = 20,
            ) -> None:
    """Durations per release by category, with trends (median, p90, change)."""
    from scalpel_plan.observe.metrics import MetricsTracker

    if ctx.invoked_subcommand is not None:
        return
    tracker = MetricsTracker(records_at(file).backend)
    by_release = tracker.by_release()
    console_ui().metrics(by_release, tracker.trends(by_release), last, tracker.attempts())


@metrics_app.command("export")
def metrics_export(
    file: SpecFile = DEFAULT_SPEC,
    format: Annotated[MetricsFormat, typer.Option("--format")] = MetricsFormat.json,
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: stdout).")]
    = None,
) -> None:
    """All metrics history at once, as JSON, CSV or OpenMetrics text."""
    from scalpel_plan.observe.metrics import MetricsTracker

    text = MetricsTracker(records_at(file).backend).export(format.value)
    if out is None:
        console_ui().raw(text)
    else:
        write_text(out, text)

