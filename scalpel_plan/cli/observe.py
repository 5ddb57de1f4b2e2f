"""Commands that read what happened: history, status, profile, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    MetricsFormat,
    OfPackages,
    SpecFile,
    app,
    console_ui,
    metrics_app,
    records_at,
    write_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from scalpel_plan.operations.project import Records
    from scalpel_plan.state.model import PackagePart, ReleaseRecord, RollbackPoint, State
    from scalpel_plan.state.overview import Overview, PointSummary


@app.command()
def history(file: SpecFile = DEFAULT_SPEC,
            json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
            package: OfPackages = None) -> None:
    """List the releases (newest last), which is live, the rollback points, the rollbacks and
    the hotfixes; in a monorepo, the packages each release moved."""
    from scalpel_plan.files import quiet_gc

    with quiet_gc():  # tens of thousands of records and rows, read, laid out, printed: no cycles
        _history(records_at(file), json, package)


def _history(records: Records, json: bool, package: list[str] | None) -> None:
    import json as json_lib

    from scalpel_plan.state.model import State
    from scalpel_plan.state.packages import live_packages

    backend = records.backend
    # a monorepo's records are read in full: its old records get their packages back from
    # their names, and its rollback points keep theirs; a project's, from the state's overview
    state = records.read() if records.packages or package else \
        backend.read_overview(points=True)
    everything: list[RollbackPoint | PointSummary] = [
        *(state.rollback_points if isinstance(state, State) else state.points or [])]
    only = records.chosen(package, state) if isinstance(state, State) else []
    releases, points, rollbacks = state.releases, everything, state.rollbacks
    if only:
        releases = [r for r in releases if set(only) & set(r.packages)]
        points = [p for p in points if set(only) & set(_packages_of(p))]
        rollbacks = [r for r in rollbacks if r.package is None or r.package in only]
    ui = console_ui()
    interrupted = state.interrupted_rollback()
    if interrupted is not None and interrupted.status == "in_progress" and \
            backend.lock_holder() is not None:
        interrupted = None  # (it may be running now)
    monorepo = isinstance(state, State) and any(r.packages for r in state.releases)
    if json:
        found: dict[str, object] = {
            "live": state.live_version(),
            "interrupted_rollback": None if interrupted is None else {
                "id": interrupted.id, "point": interrupted.point,
                "message": interrupted.interruption(), "finish": interrupted.finish_command},
            "releases": [r.model_dump(mode="json") for r in releases],
            "rollback_points": [_point_json(p) for p in points],
            "rollbacks": [r.model_dump(mode="json") for r in rollbacks],
            "hotfixes": [h.model_dump(mode="json") for h in state.hotfixes]}
        if monorepo:
            assert isinstance(state, State)
            found["packages_live"] = {n: {"version": p.version, "tag": p.tag,
                                          "released_at": p.released_at,
                                          "rolled_back": p.rolled_back}
                                      for n, p in live_packages(state).items()
                                      if not only or n in only}
        ui.raw(json_lib.dumps(found, indent=1))
        return
    fixes = {h.version: h.fixes for h in state.hotfixes if h.version}

    def noted(r: ReleaseRecord, *more: str) -> str:
        return "; ".join(n for n in (*more, f"hotfix of {fixes[r.version]}" if r.version in
                                     fixes else "", "" if r.apply_id else "imported from its tag")
                         if n)
    if only:
        assert isinstance(state, State)  # (read in full for --package)
        _package_rows(state, releases, only, noted)
    else:
        _release_rows(state, releases, everything, monorepo, noted)
    by_package = any(r.package for r in rollbacks)
    if rollbacks:
        ui.print("")
        ui.table(["ROLLBACK", *(["PACKAGE"] if by_package else []), "FROM", "TO", "STATUS",
                  "FINISHED", "NOTE"],
                 ([r.id, *([r.package or "(all)"] if by_package else []), r.from_version or "",
                   r.to_version, r.status.replace("_", " "), _when(r.finished_at),
                   f"interrupted: run `{r.finish_command}` to finish it"
                   if interrupted is not None and r.id == interrupted.id else ""]
                  for r in rollbacks))
    if state.hotfixes:
        ui.print("")
        ui.table(["HOTFIX BRANCH", "FROM POINT", "FIXES", "RELEASED AS"],
                 ([h.branch, h.point, h.fixes, h.version or "(unfinished)"]
                  for h in state.hotfixes))


def _packages_of(point: RollbackPoint | PointSummary) -> dict[str, PackagePart]:
    return getattr(point, "packages", {})


def _point_json(point: RollbackPoint | PointSummary) -> dict[str, object]:
    """A rollback point as `history --json` lists it: the artifacts it names, not their
    values; a monorepo's, with its packages."""
    from scalpel_plan.state.model import RollbackPoint

    if not isinstance(point, RollbackPoint):
        return point.model_dump(mode="json")
    return {"name": point.name, "version": point.version, "commit": point.commit,
            "created_at": point.created_at, "artifacts": sorted(point.resources),
            **({"packages": {n: part.model_dump(mode="json")
                             for n, part in point.packages.items()}} if point.packages else {})}


def _release_rows(state: State | Overview, releases: list[ReleaseRecord],
                  points: list[RollbackPoint | PointSummary], monorepo: bool,
                  noted: Callable[..., str]) -> None:
    """A row per release. A monorepo's is named by the packages it moved (``a-1.1.0+b-2.0.1``:
    no tag column, the name is no tag, each package has its own; a PACKAGES column when a
    name is shortened to a digest), its rollback point by that name."""
    from scalpel_plan.state.model import State
    from scalpel_plan.state.packages import JOIN_MORE, live_packages

    live = state.live_version()
    now_live = live_packages(state) if isinstance(state, State) and monorepo else {}
    named = {p.version: p.name for p in points}

    def is_live(r: ReleaseRecord) -> str:
        if r.version != live:
            return ""
        back = [f"{n} rolled back to {now_live[n].version}" for n, part in r.packages.items()
                if n in now_live and now_live[n].version != part.version]
        return "; ".join(["live", *back])

    listed = monorepo and any(JOIN_MORE in r.version for r in releases)  # a shortened name

    def point(r: ReleaseRecord) -> str:
        name = named.get(r.version, "")
        return "yes (--to this row's VERSION)" if monorepo and name and name == r.version else name

    console_ui().table(
        ["VERSION", *(["PACKAGES"] if listed else []), "STATUS", *([] if monorepo else ["TAG"]),
         "COMMIT", "FINISHED", "ROLLBACK POINT", "NOTE"],
        ([r.version, *([", ".join(f"{n} {p.version}" for n, p in r.packages.items())]
                       if listed else []), r.status.replace("_", " "),
          *([] if monorepo else [r.tag or ""]), r.commit[:12], _when(r.finished_at), point(r),
          noted(r, is_live(r))]
         for r in releases))


def _package_rows(state: State, releases: list[ReleaseRecord], only: list[str],
                  noted: Callable[..., str]) -> None:
    """A row per release of each package of ``only`` (--package): its version, its tag, its
    rollback point as `rollback --to` names it, and which of its releases is live now."""
    from scalpel_plan.state.packages import PackagePoint, live_packages

    now_live = live_packages(state)
    points = {(n, part.version): PackagePoint(n, part, point).name
              for point in state.rollback_points for n, part in point.packages.items()}
    rows = [(r, n, r.packages[n]) for r in releases for n in only if n in r.packages]
    newest = {(n, part.version): i for i, (_r, n, part) in enumerate(rows)}

    def is_live(i: int, name: str, version: str) -> str:
        live = now_live.get(name)
        if live is None or live.version != version or newest[(name, version)] != i:
            return ""
        return "live (rolled back to it)" if live.rolled_back else "live"

    console_ui().table(
        [*(["PACKAGE"] if len(only) > 1 else []), "VERSION", "STATUS", "TAG", "COMMIT",
         "FINISHED", "ROLLBACK POINT", "NOTE"],
        ([*([n] if len(only) > 1 else []), part.version, r.status.replace("_", " "),
          part.tag or "", r.commit[:12], _when(r.finished_at),
          points.get((n, part.version), ""), noted(r, is_live(i, n, part.version))]
         for i, (r, n, part) in enumerate(rows)))


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
    package: OfPackages = None,
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
    state = project.read() if project.packages or package else None  # (as for history)
    only = project.chosen(package, state) if state is not None else []
    dashboard = StatusDashboard(project.project_name, project.backend, state, only,
                                project.others(only))
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
        current = StatusDashboard(project.project_name, project.backend,
                                  project.read() if state is not None else None, only,
                                  project.others(only)).current()
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
            package: OfPackages = None,
            ) -> None:
    """Durations per release by category, with trends (median, p90, change); in a monorepo,
    of the releases of one or more packages with --package."""
    from scalpel_plan.observe.metrics import MetricsTracker
    from scalpel_plan.state.packages import releases_of

    if ctx.invoked_subcommand is not None:
        return
    records = records_at(file)
    tracker = MetricsTracker(records.backend)
    by_release = tracker.by_release()
    if package:
        state = records.read()
        names = {r.version for r in releases_of(state, records.chosen(package, state))}
        by_release = {v: row for v, row in by_release.items() if v in names}
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

