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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StatusDashboard:
    """What `scalpel status` shows, from one state backend."""

    def __init__(self, project: str, backend: StateBackend, state: State | None = None) -> None:
        self.project = project
        self.backend = backend
        self.state = state if state is not None else backend.read()

    def current(self) -> ReleaseStatus:
        state = self.state
        live = state.live_version()
        run = _latest_run(state)
        if run is None:
            return ReleaseStatus(self.project, "release", None, "planned", live)
        operation, version, apply_id, recorded, started, finished = run
        status: Status = {"succeeded": "succeeded", "failed": "failed",
                          "rolled_back": "rolled back"}.get(recorded, "running")  # type: ignore[assignment]
        if status == "running" and self.backend.lock_holder() is None:
            status = "interrupted"  # nobody holds the lock: the apply was killed
        events = self.backend.read_journal(apply_id) if apply_id else []
        interrupted = state.interrupted_rollback()
        next_step = interrupted.interruption() if interrupted is not None and \
            operation == "rollback" and interrupted.id == apply_id and \
            status in ("failed", "interrupted") else None
        return ReleaseStatus(self.project, operation, version, status, live, apply_id,
                             started, finished, publish_events(timeline(events)), next_step)

    def profile(self) -> BuildProfiler | None:
        run = _latest_run(self.state)
        if run is None or not run[2]:
            return None
        return BuildProfiler.from_journal(self.backend.read_journal(run[2]))

    def html(self) -> str:
        return mask(render_html(self.current(), self.profile(), MetricsTracker(self.backend)))


def _latest_run(state: State) -> tuple[str, str, str | None, str, str, str | None] | None:
    """(operation, version, apply id, status, started, finished) of the newest run."""
    runs = []
    if state.releases:
        r = state.releases[-1]
        runs.append(("release", r.version, r.apply_id, r.status, r.started_at, r.finished_at))
    if state.rollbacks:
        b = state.rollbacks[-1]
        runs.append(("rollback", b.to_version, b.id, b.status, b.started_at, b.finished_at))
    return max(runs, key=lambda run: run[4]) if runs else None


def publish_events(run: Timeline) -> list[PublishEvent]:
    """The events the dashboard shows, in journal order."""
    return [PublishEvent(e.ts, SHOWN[e.kind], e.address if isinstance(e, StepEntry) else None,
                         _detail(e))
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


def render_html(status: ReleaseStatus, profile: BuildProfiler | None,
                metrics: MetricsTracker) -> str:
    e = html.escape
    title = f"{status.project}: {status.operation} {status.version or ''}".strip()
    badge = status.status.replace(" ", "-")
    cards = [("Status", f'<span class="status {badge}">{e(status.status)}</span>'),
             ("Version", e(status.version or "-")), ("Live", e(status.live or "-")),
             ("Started", e(status.started_at or "-")), ("Finished", e(status.finished_at or "-"))]
    if profile is not None and profile.stages:
        cards.append(("Parallelism", f"{profile.parallelism:.2f}×"))
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
    if profile is not None and profile.stages:
        parts += ["<h2>Gantt</h2>", gantt_svg(profile)]
    parts += ["<h2>Release metrics</h2>", metrics_svg(metrics), trends_table(metrics.trends()),
              "</body></html>"]
    return "".join(parts) + "\n"


def gantt_svg(profile: BuildProfiler) -> str:
    e = html.escape
    critical = {s.address for s in profile.critical_path()}
    row, label, width = 22, 220, 640
    scale = width / max(profile.wall, max(s.end for s in profile.stages), 1e-9)
    height = row * len(profile.stages) + 30
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{label + width + 80}' "
           f"height='{height}' aria-label='Gantt chart of the apply'>"]
    for i, s in enumerate(profile.stages):
        y = i * row + 4
        color = "#cf222e" if s.status == "failed" else "#bc4c00" if s.address in critical \
            else "#0969da"
        out.append(f"<text x='0' y='{y + 13}'>{e(s.address)}</text>"
                   f"<rect x='{label + s.start * scale:.1f}' y='{y}' "
                   f"width='{max(s.duration * scale, 1):.1f}' height='{row - 8}' rx='3' "
                   f"fill='{color}'><title>{e(s.address)}: {s.duration:.2f} s"
                   f"{' (critical path)' if s.address in critical else ''}</title></rect>"
                   f"<text x='{label + s.end * scale + 4:.1f}' y='{y + 13}'>"
                   f"{s.duration:.2f} s</text>")
    out.append(f"<text x='{label}' y='{height - 6}'>0 s</text><text x='{label + width - 40}' "
               f"y='{height - 6}'>{profile.wall:.2f} s</text></svg>")
    out.append("<p>Orange: the critical path (the bottleneck). Red: failed.</p>")
    return "".join(out)


def metrics_svg(metrics: MetricsTracker) -> str:
    """Bars: each of the newest releases' total apply time."""
    rows = [(version, row["release.duration"].value)
            for version, row in metrics.by_release().items() if "release.duration" in row]
    rows = rows[-CHART_RELEASES:]
    if not rows:
        return "<p>No metrics recorded yet.</p>"
    e = html.escape
    bar, gap, height = 14, 4, 160
    top = max(v for _, v in rows) or 1.0
    width = len(rows) * (bar + gap) + 60
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width}' "
           f"height='{height + 40}' aria-label='apply time per release'>"]
    for i, (version, value) in enumerate(rows):
        h = value / top * height
        x = 50 + i * (bar + gap)
        out.append(f"<rect x='{x}' y='{height - h + 10:.1f}' width='{bar}' height='{h:.1f}' "
                   f"fill='#0969da'><title>{e(version)}: {value:.2f} s</title></rect>")
    out.append(f"<text x='0' y='20'>{top:.1f} s</text><text x='0' y='{height + 10}'>0 s</text>"
               f"<text x='50' y='{height + 32}'>{e(rows[0][0])}</text>"
               f"<text x='{width - 60}' y='{height + 32}'>{e(rows[-1][0])}</text></svg>")
    return "".join(out)


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
