"""The status dashboard: the current (or last) release or rollback, its overall status and its
event timeline, read from the state and the journal, as text, JSON or one self-contained HTML
page (inline CSS and SVG: no script, no network, no CDN).
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from scalpel_plan.masking import mask
from scalpel_plan.observe.metrics import MetricsTracker, Trend
from scalpel_plan.observe.profile import BuildProfiler
from scalpel_plan.state import StateBackend
from scalpel_plan.state.events import (
    AlertChannelFailed,
    AlertSent,
    Entry,
    EventKind,
    StepDone,
    StepEntry,
    detail,
)
from scalpel_plan.state.model import State
from scalpel_plan.state.overview import Overview
from scalpel_plan.state.packages import live_packages, packages_in
from scalpel_plan.state.runs import latest_run, latest_run_of
from scalpel_plan.state.timeline import Timeline, timeline

Status = Literal["planned", "running", "succeeded", "failed", "rolled back", "interrupted"]
SHOWN: dict[str, str] = {
    EventKind.APPLY_STARTED: "started", EventKind.STEP_PENDING: "step started",
    EventKind.STEP_DONE: "step done", EventKind.STEP_FAILED: "step failed",
    EventKind.STEP_SKIPPED: "step skipped", EventKind.APPLY_INTERRUPTED: "interrupted",
    EventKind.APPLY_FINISHED: "finished",
    EventKind.ALERT_SENT: "alert sent", EventKind.ALERT_CHANNEL_FAILED: "alert channel failed",
    EventKind.ALERT_SUPPRESSED: "alert suppressed"}
CHART_RELEASES = 50  # the metrics chart shows this many newest releases


@dataclass(frozen=True)
class PublishEvent:
    """One thing that happened during a release or rollback."""

    at: str  # ISO time, UTC
    kind: str  # step started, step done, step failed, alert sent, ...
    address: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class PackageRow:
    """One package of a monorepo as `status` lists it: what is live of it now."""

    package: str
    version: str
    tag: str | None
    released_at: str | None
    rolled_back: bool = False


@dataclass
class ReleaseStatus:
    project: str
    operation: str  # release | rollback
    version: str | None
    status: Status
    live: str | None
    apply_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    events: list[PublishEvent] = field(default_factory=list)
    next_step: str | None = None  # what finishes an interrupted rollback
    applies: list[str] = field(default_factory=list)  # every apply at it, oldest first
    packages: list[PackageRow] = field(default_factory=list)  # a monorepo's, live now
    only: list[str] = field(default_factory=list)  # the packages asked for (--package)
    package: str | None = None  # a rollback of one package: that package (version: its)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StatusDashboard:
    """What `scalpel status` shows, from one state backend."""

    def __init__(self, project: str, backend: StateBackend,
                 state: State | Overview | None = None,
                 packages: list[str] | None = None, hidden: set[str] | None = None) -> None:
        """``state``: a monorepo's, read in full (its packages); by default the overview of
        the newest release and rollback, all that a project's status shows."""
        self.project = project
        self.backend = backend
        self.state = state if state is not None else backend.read_overview(
            points=False, every_release=False)
        self.only = list(packages or [])
        self.hidden = hidden or set()  # the nodes of the packages not asked for (--package)

    def package_rows(self) -> list[PackageRow]:
        """Each package's live version (those of --package only, when given)."""
        if not isinstance(self.state, State):
            return []  # (a project's overview: no packages)
        live = live_packages(self.state)
        names = self.only or packages_in(self.state)
        return [PackageRow(n, p.version, p.tag, p.released_at, p.rolled_back)
                for n in names if (p := live.get(n)) is not None]

    def current(self) -> ReleaseStatus:
        state = self.state
        live = state.live_version()
        rows = self.package_rows()
        if rows:  # a monorepo: what is live is each package's (a package may be rolled back)
            live = rows[0].version if len(self.only) == 1 else None
        run = latest_run_of(state, self.only) if self.only else latest_run(state)
        if run is None:
            return ReleaseStatus(self.project, "release", None, "planned", live,
                                 packages=rows, only=self.only)
        status: Status = {"succeeded": "succeeded", "failed": "failed",
                          "rolled_back": "rolled back"}.get(run.status, "running")  # type: ignore[assignment]
        if status == "running" and self.backend.lock_holder() is None:
            status = "interrupted"  # nobody holds the lock: the apply was killed
        events: list[PublishEvent] = []
        for number, applied in enumerate(run.applies, 1):
            events += [e for e in publish_events(timeline(self.backend.read_journal(applied)),
                                                 (number, len(run.applies)))
                       if e.address is None or e.address.split("@")[0] not in self.hidden]
        apply_id = run.applies[-1] if run.applies else None
        interrupted = state.interrupted_rollback()
        next_step = interrupted.interruption() if interrupted is not None and \
            run.operation == "rollback" and interrupted.id == apply_id and \
            status in ("failed", "interrupted") else None
        return ReleaseStatus(self.project, run.operation, run.version, status, live, apply_id,
                             run.started, run.finished, events, next_step, list(run.applies),
                             rows, self.only, next((b.package for b in state.rollbacks
                                                    if b.id == apply_id), None)
                             if run.operation == "rollback" else None)

    def profile(self) -> BuildProfiler | None:
        """The newest run's profile (its applies as one, when it took several); None before
        any apply."""
        found = self.profiles()
        return BuildProfiler.merged(found) if found else None

    def profiles(self) -> list[BuildProfiler]:
        """The newest run's applies, one profile each, oldest first."""
        run = latest_run(self.state)
        found = [] if run is None else [
            BuildProfiler.from_journal(self.backend.read_journal(a)) for a in run.applies]
        return [p for p in found if p.apply_id]  # an apply whose journal is no longer kept

    def html(self) -> str:
        return mask(render_html(self.current(), self.profiles(), MetricsTracker(self.backend)))


def publish_events(run: Timeline, attempt: tuple[int, int] = (1, 1)) -> list[PublishEvent]:
    """The events the dashboard shows, in journal order; ``attempt`` (number, of how many)
    is said where an apply starts, when a release took more than one."""
    number, of = attempt
    return [PublishEvent(e.ts, SHOWN[e.kind], e.address if isinstance(e, StepEntry) else None,
                         f"apply {number} of {of} ({run.apply_id})"
                         if of > 1 and e.kind == EventKind.APPLY_STARTED else _detail(e))
            for e in run.events if e.kind in SHOWN]


def _detail(event: Entry) -> str:
    if isinstance(event, StepDone):
        return f"{event.action} in {event.duration or 0:.2f} s"
    if isinstance(event, AlertSent):
        return ", ".join(event.channels) or "no channel delivered"
    if isinstance(event, AlertChannelFailed):
        return f"{event.channel}: {event.error}"
    return detail(event)


# HTML ----------------------------------------------------------------------------------------
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d1d1f}
h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.status{display:inline-block;padding:.1rem .6rem;border-radius:1rem;color:#fff;font-weight:600}
.succeeded{background:#1f883d}.failed,.interrupted{background:#cf222e}.running{background:#0969da}
.planned{background:#6e7781}.rolled-back{background:#9a6700}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #d0d7de;vertical-align:top}th{background:#f6f8fa}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:.5rem;
padding:.5rem 1rem}.card b{display:block;font-size:1.2rem}svg text{font:12px sans-serif}
"""


def render_html(status: ReleaseStatus, profiles: list[BuildProfiler],
                metrics: MetricsTracker) -> str:
    e = html.escape
    who = f"{status.project} ({', '.join(status.only)})" if status.only else status.project
    what = f"{status.package} {status.version}" if status.package else status.version or ""
    title = f"{who}: {status.operation} {what}".strip()
    badge = status.status.replace(" ", "-")
    cards = [("Status", f'<span class="status {badge}">{e(status.status)}</span>'),
             ("Version", e(status.version or "-")), ("Live", e(status.live or "-")),
             ("Started", e(status.started_at or "-")), ("Finished", e(status.finished_at or "-"))]
    ran = [p for p in profiles if p.stages]
    if len(profiles) > 1:
        cards.append(("Applies", str(len(profiles))))
    if ran:
        cards.append(("Parallelism", f"{BuildProfiler.merged(ran).parallelism:.2f}×"
                      if len(ran) > 1 else f"{ran[0].parallelism:.2f}×"))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1><div class='cards'>",
        *(f"<div class='card'>{k}<b>{v}</b></div>" for k, v in cards), "</div>",
        "<h2>Timeline</h2><table><thead><tr><th>Time (UTC)</th><th>Event</th><th>Node</th>"
        "<th>Detail</th></tr></thead><tbody>",
        *(f"<tr><td>{e(ev.at)}</td><td>{e(ev.kind)}</td><td>{e(ev.address or '')}</td>"
          f"<td>{e(ev.detail)}</td></tr>" for ev in status.events),
        "</tbody></table>",
    ]
    if not status.events:
        parts.append("<p>No events yet.</p>")
    if status.packages:  # a monorepo: what is live of each package
        parts += ["<h2>Packages</h2><table><thead><tr><th>Package</th><th>Version</th>"
                  "<th>Tag</th><th>Released at (UTC)</th></tr></thead><tbody>",
                  *(f"<tr><td>{e(p.package)}</td><td>{e(p.version)}</td><td>{e(p.tag or '')}"
                    f"</td><td>{e(p.released_at or '')}"
                    f"{' (rolled back)' if p.rolled_back else ''}</td></tr>"
                    for p in status.packages), "</tbody></table>"]
    for number, profile in enumerate(profiles, 1):
        if profile.stages:
            heading = "Gantt" if len(profiles) == 1 else \
                f"Gantt: apply {number} of {len(profiles)} ({e(profile.status)})"
            parts += [f"<h2>{heading}</h2>", gantt_svg(profile)]
    if ran:
        parts.append("<p>Orange: the critical path (the bottleneck). Red: failed.</p>")
    parts += ["<h2>Release metrics</h2>", metrics_svg(metrics), trends_table(metrics.trends()),
              "</body></html>"]
    return "".join(parts) + "\n"


CHAR = 7.5  # a generous width of one character of the 12 px sans-serif labels, in px
LINE = 16  # the height of one line of them


def text_width(text: str) -> float:
    return len(text) * CHAR


def gantt_svg(profile: BuildProfiler) -> str:
    """One row per node: its address, its bar, its duration after the bar. The address
    column is as wide as the longest address (cut with an ellipsis past 60 characters, the
    whole in the tooltip); the bars' area leaves room for the duration after the last one."""
    e = html.escape
    critical = {s.address for s in profile.critical_path()}
    names = {s.address: _cut(s.address, 60) for s in profile.stages}
    row, width = 22, 640
    label = max(text_width(n) for n in names.values()) + 12
    scale = width / max(profile.wall, max(s.end for s in profile.stages), 1e-9)
    height = row * len(profile.stages) + 30
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' "
           f"width='{label + width + 70:.0f}' height='{height}' "
           "aria-label='Gantt chart of the apply'>"]
    for i, s in enumerate(profile.stages):
        y = i * row + 4
        color = "#cf222e" if s.status == "failed" else "#bc4c00" if s.address in critical \
            else "#0969da"
        out.append(f"<text x='0' y='{y + 13}'><title>{e(s.address)}</title>"
                   f"{e(names[s.address])}</text>"
                   f"<rect x='{label + s.start * scale:.1f}' y='{y}' "
                   f"width='{max(s.duration * scale, 1):.1f}' height='{row - 8}' rx='3' "
                   f"fill='{color}'><title>{e(s.address)}: {s.duration:.2f} s"
                   f"{' (critical path)' if s.address in critical else ''}</title></rect>"
                   f"<text x='{label + max(s.end * scale, 1) + 4:.1f}' y='{y + 13}'>"
                   f"{s.duration:.2f} s</text>")
    out.append(f"<text x='{label:.0f}' y='{height - 6}'>0 s</text>"
               f"<text x='{label + width:.0f}' y='{height - 6}' text-anchor='end'>"
               f"{profile.wall:.2f} s</text></svg>")
    return "".join(out)


def metrics_svg(metrics: MetricsTracker) -> str:
    """Bars: each of the newest releases' total apply time, each labelled with its version,
    written upwards under its bar (one line of text per bar: labels never overlap, however
    many releases or however long their versions)."""
    rows: list[tuple[str, float]] = []
    for version, row in reversed(metrics.by_release().items()):  # the newest first
        if len(rows) == CHART_RELEASES:
            break
        if "release.duration" in row:
            rows.append((version, row["release.duration"].value))
    rows.reverse()
    if not rows:
        return "<p>No metrics recorded yet.</p>"
    e = html.escape
    bar, gap, height = 14, 6, 160  # bar + gap ≥ LINE: one upright label per bar fits
    top = max(v for _, v in rows) or 1.0
    scale_labels = (f"{top:.1f} s", "0 s")
    left = max(text_width(t) for t in scale_labels) + 10
    below = max(text_width(v) for v, _ in rows) + 10
    width = left + len(rows) * (bar + gap) + 10
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width:.0f}' "
           f"height='{height + 20 + below:.0f}' aria-label='apply time per release'>"]
    for i, (version, value) in enumerate(rows):
        h = value / top * height
        x = left + i * (bar + gap)
        centre = x + bar / 2 + 4  # the text's baseline sits right of the bar's middle
        out.append(f"<rect x='{x:.1f}' y='{height - h + 10:.1f}' width='{bar}' "
                   f"height='{h:.1f}' fill='#0969da'><title>{e(version)}: {value:.2f} s"
                   f"</title></rect><text x='{centre:.1f}' y='{height + 16}' "
                   f"text-anchor='end' transform='rotate(-90 {centre:.1f} {height + 16})'>"
                   f"{e(version)}</text>")
    out.append(f"<text x='{left - 6:.0f}' y='20' text-anchor='end'>{scale_labels[0]}</text>"
               f"<text x='{left - 6:.0f}' y='{height + 10}' text-anchor='end'>"
               f"{scale_labels[1]}</text></svg>")
    return "".join(out)


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def trends_table(trends: list[Trend]) -> str:
    if not trends:
        return ""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(t.name)}</td><td>{t.count}</td><td>{t.median:.2f}</td><td>{t.p90:.2f}</td>"
        f"<td>{t.last:.2f}</td><td>{'' if t.change is None else f'{t.change:+.0%}'}</td></tr>"
        for t in trends)
    return ("<table><thead><tr><th>Metric</th><th>Releases</th><th>Median (s)</th>"
            "<th>p90 (s)</th><th>Last (s)</th><th>Change</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
