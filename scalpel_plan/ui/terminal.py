"""The terminal: the UI (results to stdout, diagnostics to stderr, all through the secrets
mask) and the apply progress (live on a terminal, plain lines, or JSON lines with --json)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, cast

from scalpel_plan.masking import MaskedStream, forms, mask
from scalpel_plan.ui.common import escape

if TYPE_CHECKING:  # rich itself is imported on first use: `--version` never needs it
    from rich.console import Console

    from scalpel_plan.apply import ApplyEvent, ApplyResult
    from scalpel_plan.errors import Diagnostic, ScalpelError
    from scalpel_plan.observe.alerts import Alert, AlertOutcome
    from scalpel_plan.observe.dashboard import PublishEvent, ReleaseStatus
    from scalpel_plan.observe.metrics import Metric, Trend
    from scalpel_plan.observe.profile import BuildProfiler, StageChange
    from scalpel_plan.plan.model import Plan


def color_choice(explicit: bool | None = None) -> bool | None:
    """Colour on (True), off (False) or as the terminal decides (None): ``--no-color`` (which
    sets ``NO_COLOR``), then ``NO_COLOR`` (any non-empty value, no-color.org), then
    ``FORCE_COLOR`` (CI logs that show colour), else colour on a terminal only."""
    if explicit is not None:
        return explicit
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "").lower() not in ("", "0", "false", "no"):
        return True
    return None


def console(file: IO[str] | None = None, *, width: int | None = None,
            color: bool | None = None) -> Console | PlainConsole:
    """A console whose every write passes through the secrets mask: rich's on a terminal or
    with colour forced; otherwise plain text (as Terraform's -no-color), written without
    importing rich (a plan in CI need not pay for it)."""
    stream = file if file is not None else sys.stdout
    masked = cast(IO[str], MaskedStream(stream))
    choice = color_choice(color)
    if choice is not True and not interactive(stream):
        return PlainConsole(masked)
    from rich.console import Console

    return Console(file=masked, width=width, no_color=choice is False,
                   color_system=None if choice is False else "auto", highlight=False,
                   emoji=False, force_terminal=True if choice else None, soft_wrap=True)


class PlainConsole:
    """What rich's console prints with no terminal and no colour (``ui.common.plain``: tags
    dropped, escapes undone), one write per print, as rich writes it."""

    is_terminal = False

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def print(self, markup: str = "", *, highlight: bool = False) -> None:  # (rich's call)
        from scalpel_plan.ui.common import plain

        self.file.write(plain(markup) + "\n")
        self.file.flush()  # as rich does: stdout and stderr stay in order


def _regular_file(stream: IO[str]) -> bool:
    """Whether ``stream`` writes to a file on disk (not a pipe or a terminal the runner reads)."""
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, ValueError, OSError):
        return False


def interactive(stream: IO[str]) -> bool:
    """Whether a person watches ``stream`` (a real terminal; FORCE_COLOR does not make one)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class UI:
    """Writes to stdout (results) and stderr (diagnostics and progress)."""

    def __init__(self, out: Console | PlainConsole | None = None,
                 err: Console | PlainConsole | None = None) -> None:
        if out is not None:
            self.out = out
        if err is not None:
            self.err = err

    @cached_property
    def out(self) -> Console | PlainConsole:
        return console()

    @cached_property
    def err(self) -> Console | PlainConsole:
        return console(sys.stderr)

    # errors -------------------------------------------------------------------------------
    def error(self, exc: ScalpelError) -> None:
        from scalpel_plan.ui import github_actions

        if github_actions.active():
            github_actions.annotate_error(exc)
        if exc.diagnostics:
            self.diagnostics(exc.diagnostics)
            count = sum(d.severity == "error" for d in exc.diagnostics)
            self.err.print(f"[red]Error:[/] {escape(exc.message)} "
                           f"({count} problem{'s' * (count != 1)})")
        else:
            self.err.print(f"[red]Error:[/] {escape(exc.message)}")
        if exc.hint:
            self.err.print(f"  [dim]{escape(exc.hint)}[/]")

    def diagnostics(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            color = "red" if d.severity == "error" else "yellow"
            where = f"{escape(d.where)}: " if d.where else ""
            self.err.print(f"{where}[{color}]{d.severity}:[/] {escape(d.message)}")
            if d.hint:
                self.err.print(f"  [dim]{escape(d.hint)}[/]")

    def bug(self, log_path: str) -> None:
        self.err.print("[red]Scalpel hit an internal error[/] (a bug, not your mistake). "
                       f"Details are in {escape(log_path)}; please attach it to a bug report.")

    def info(self, text: str) -> None:
        self.err.print(escape(text))

    def print(self, text: str, *, markup: bool = False) -> None:
        self.out.print(text if markup else escape(text))

    def raw(self, text: str) -> None:
        """Write text to stdout untouched (JSON, Markdown, DOT)."""
        stream = self.__dict__["out"].file if "out" in self.__dict__ else sys.stdout
        text = mask(text)
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()

    def stream(self, chunks: Iterable[str]) -> None:
        """Write ``chunks`` to stdout untouched, each as it comes (a whole history's JSON is
        never held at once); each is masked, so none may cut a secret's value in two."""
        stream = self.__dict__["out"].file if "out" in self.__dict__ else sys.stdout
        for chunk in chunks:
            stream.write(mask(chunk))
        stream.flush()

    def add_mask(self, value: str) -> None:
        """Register a secret with the GitHub Actions runner, so that its own log masks it too
        (the one write that must hold the value; each line of it separately, as the runner
        needs)."""
        target = next((s for s in (sys.stdout, sys.stderr) if not _regular_file(s)), None)
        if target is None:  # both go to files (`> plan.txt 2> errors.txt`), which the runner
            return          # never reads but a workflow may publish: the value stays out
        for form in forms(value):  # raw, URL-encoded, base64: as Scalpel masks it
            for line in form.splitlines():
                if line.strip():
                    target.write(f"::add-mask::{line}\n")
        target.flush()

    def confirm(self, question: str) -> bool:
        self.err.print(f"{escape(question)} Only 'yes' will be accepted.")
        try:
            answer = input("  Enter a value: ")
        except EOFError:
            return False
        return answer.strip() == "yes"

    # plans --------------------------------------------------------------------------------
    def plan(self, plan: Plan, fmt: str = "text", *, verbose: bool = False,
             full_plan_url: str | None = None) -> None:
        """``plan`` as text (``verbose``: nothing cut), Markdown for a pull-request comment
        (under GitHub's limit, linking ``full_plan_url`` when it had to cut) or JSON."""
        from scalpel_plan.ui import github_actions

        if github_actions.active():  # the plan's warnings on the run's page too
            from scalpel_plan.errors import Diagnostic

            github_actions.annotate(Diagnostic(d.message, address=d.address, hint=d.hint,
                                               severity=d.severity)
                                    for d in plan.diagnostics if d.severity == "warning")
        if fmt == "json":
            from scalpel_plan.plan.file import plan_json

            self.raw(plan_json(plan))
        elif fmt == "markdown":
            from scalpel_plan.ui.plan_markdown import plan_markdown

            self.raw(plan_markdown(plan, full_plan_url=full_plan_url))
        else:
            from scalpel_plan.ui.plan_text import plan_text

            self.out.print(plan_text(plan, verbose=verbose))

    # apply progress ----------------------------------------------------------------------
    def progress(self, mode: str, verbose: bool = False) -> Progress:
        return Progress(self, mode, verbose)

    def announcement(self, address: str, text: str) -> None:
        """A console announcement, printed and flushed at once: the step is recorded "sent"
        only after this returns (the progress shows it as it happens, not in the summary)."""
        self.out.print(f"[bold]📣 {escape(text)}[/]  [dim]({escape(address)})[/]")
        self.out.file.flush()

    def apply_summary(self, result: ApplyResult, plan: Plan) -> None:
        done, failed = result.where("done"), result.where("failed")
        skipped, waiting = result.where("skipped"), result.where("not started")
        acted = [a for a in done if plan.change(a).actionable]
        release = plan.release
        if result.ok and plan.rollback is not None:
            r = plan.rollback
            what = f"{r.project} {r.package}" if r.package else r.project
            self.out.print(f"[green bold]Rollback complete![/] {len(acted)} step"
                           f"{'s' * (len(acted) != 1)} done; {escape(what)} "
                           f"{escape(r.to_version)} is live again.")
            return
        if result.ok and release is not None and not acted:  # an earlier apply did the steps
            self.out.print(f"[green bold]Apply complete![/] No step was left to do: an earlier "
                           f"apply did them; {escape(release.project)} "
                           f"{escape(release.version)} is recorded as released.")
            return
        if result.ok:
            what = f"{release.project} {release.version} released" if release else "nothing to do"
            self.out.print(f"[green bold]Apply complete![/] {len(acted)} step"
                           f"{'s' * (len(acted) != 1)} done; {escape(what)}.")
            return
        what = "Rollback" if plan.rollback is not None else "Apply"
        ended = "interrupted" if result.interrupted else "failed"
        self.err.print(f"[red bold]{what} {ended}.[/] {len(acted)} done, {len(failed)} failed, "
                       f"{len(skipped)} skipped, {len(waiting)} not started.")
        for address in failed:
            exc = result.errors[address]
            self.err.print(f"  [red]✗ {escape(address)}[/]: {escape(exc.message)}")
            if exc.hint:
                self.err.print(f"    [dim]{escape(exc.hint)}[/]")
        remaining = skipped + waiting
        if remaining:
            self.err.print(f"  Remaining: {escape(', '.join(remaining))}")
        if result.interrupted:
            again = "scalpel apply" if plan.rollback is None else \
                f"scalpel rollback --to {plan.rollback.point}" if plan.rollback.package else \
                f"scalpel rollback --to {plan.rollback.to_version}"
            self.err.print(f"Interrupted. What was done is recorded; `{escape(again)}` finishes "
                           "the job.")
            return
        self.err.print("  What was done is recorded; run `scalpel plan` to see what remains and "
                       "`scalpel apply` to finish the release.")

    # alerts ------------------------------------------------------------------------------
    def alert(self, alert: Alert) -> None:
        """The console alert channel (and the fallback when another channel fails)."""
        self.err.print(f"[red bold]ALERT[/] [bold]{escape(alert.title)}[/]")
        self.err.print(f"  {escape(alert.error)}")
        if alert.report:
            self.err.print(f"  Incident report: {escape(alert.report)}")

    def alert_outcome(self, report: str, outcome: AlertOutcome) -> None:
        if "console:console" not in outcome.delivered and not outcome.fell_back:
            self.err.print(f"Incident report: {escape(str(report))}")
        if outcome.suppressed_since:
            self.err.print(f"  Not alerted again: the same failure was alerted at "
                           f"{escape(outcome.suppressed_since)} (see alerts.repeat_after).")
            return
        sent = [c for c in outcome.delivered if not c.startswith("console:")]
        if sent:
            self.err.print(f"  Alert sent to {escape(', '.join(sent))}.")
        for channel, why in outcome.failed.items():
            self.err.print(f"  [yellow]Alert channel {escape(channel)} failed:[/] {escape(why)}"
                           f"{' (shown here instead)' if outcome.fell_back else ''}")

    # status, profile, metrics --------------------------------------------------------------
    def status(self, status: ReleaseStatus) -> None:
        color = {"succeeded": "green", "failed": "red", "interrupted": "red",
                 "running": "cyan", "rolled back": "yellow"}.get(status.status, "dim")
        what = f"{status.operation} {status.package + ' ' if status.package else ''}" \
            f"{status.version}" if status.version else "no release yet"
        who = f"{status.project} ({', '.join(status.only)})" if status.only else status.project
        self.out.print(f"[bold]{escape(who)}[/]: {escape(what)} "
                       f"[{color} bold]{escape(status.status)}[/]"
                       + (f"  (live: {escape(status.live)})" if status.live else ""))
        if status.started_at:
            self.out.print(f"  started {escape(status.started_at)}"
                           + (f", finished {escape(status.finished_at)}"
                              if status.finished_at else ""))
        if status.next_step:
            self.out.print(f"  [yellow]{escape(status.next_step)}[/]")
        if status.packages:
            self.table(["PACKAGE", "VERSION", "TAG", "RELEASED AT"],
                       ([p.package, p.version, p.tag or "",
                         (p.released_at or "")[:16].replace("T", " ")
                         + (" (rolled back)" if p.rolled_back else "")]
                        for p in status.packages))
        self.events(status.events)

    def events(self, events: Iterable[PublishEvent]) -> None:
        for event in events:
            where = f" {escape(event.address)}" if event.address else ""
            detail = f": {escape(event.detail)}" if event.detail else ""
            self.out.print(f"  [dim]{escape(event.at[11:23])}[/] {escape(event.kind)}{where}"
                           f"{detail}")

    def profile(self, profile: BuildProfiler, width: int = 40,
                attempt: tuple[int, int] = (1, 1)) -> None:
        """One apply's profile; ``attempt`` (number, of how many) when a release took
        several."""
        critical = profile.critical_path()
        on_path = {s.address for s in critical}
        span = max([profile.wall, *(s.end for s in profile.stages)]) or 1.0
        name_width = max([len(s.address) for s in profile.stages] + [4])
        number, of = attempt
        which = f"apply {number} of {of}, {profile.apply_id}, {profile.status}" if of > 1 \
            else f"apply {profile.apply_id}"
        if number > 1:
            self.out.print("")
        self.out.print(f"[bold]Profile of {escape(profile.version)}[/] ({escape(which)})")
        if not profile.stages:
            self.out.print("  No step ran in this apply.")
            return
        for s in profile.stages:
            lead = int(s.start / span * width)
            bar = max(1, round(s.duration / span * width))
            color = "red" if s.status == "failed" else "yellow" if s.address in on_path \
                else "cyan"
            self.out.print(f"  {escape(s.address):<{name_width}} {' ' * lead}[{color}]"
                           f"{'█' * bar}[/]{' ' * max(0, width - lead - bar)} "
                           f"{s.duration:6.2f} s  [dim]waited {s.wait:.2f} s[/]")
        path = " → ".join(s.address for s in critical)
        self.out.print(f"  Wall {profile.wall:.2f} s, work {profile.busy:.2f} s, parallelism "
                       f"{profile.parallelism:.2f}×.")
        if critical:
            self.out.print(f"  [yellow]Critical path (the bottleneck):[/] {escape(path)} "
                           f"({sum(s.duration for s in critical):.2f} s)")

    def profile_comparison(self, versions: tuple[str, str], changes: list[StageChange],
                           threshold: float) -> None:
        rows = []
        for c in changes:
            flag = "REGRESSION" if c.regressed(threshold) else ""
            rows.append([c.address, "-" if c.before is None else f"{c.before:.2f}",
                         "-" if c.after is None else f"{c.after:.2f}",
                         "" if c.change is None else f"{c.change:+.0%}", flag])
        self.table(["STAGE", f"{versions[0]} (s)", f"{versions[1]} (s)", "CHANGE", ""], rows)
        slower = [c.address for c in changes if c.regressed(threshold)]
        if slower:
            self.err.print(f"[red]Slower by more than {threshold:.0%}:[/] "
                           f"{escape(', '.join(slower))}")

    def metrics(self, by_release: Mapping[str, Mapping[str, Metric]], trends: list[Trend],
                last: int, attempts: dict[str, int] | None = None) -> None:
        names = ["release.duration", "build.duration", "test.duration", "publish.duration",
                 "deploy.duration", "custom.duration"]
        shown = [n for n in names if any(n in row for row in by_release.values())]
        counts = attempts or {}
        several = any(n > 1 for n in counts.values())  # the column only when it says something
        rows = []
        for version, row in list(by_release.items())[-last:]:
            outcome = next((m.outcome for m in row.values() if m.outcome), "")
            rows.append([version, *(f"{row[n].value:.2f}" if n in row else "" for n in shown),
                         *([str(counts.get(version, 1))] if several else []), outcome or ""])
        if not rows:
            self.info("No metrics yet: every apply records them.")
            return
        titles = {"release.duration": "TOTAL (s)"}
        self.table(["RELEASE", *(titles.get(n, n.split(".")[0].upper() + " (s)")
                                 for n in shown), *(["APPLIES"] if several else []),
                    "OUTCOME"], rows)
        if several:
            self.out.print("[dim]A release finished by several applies counts the time of "
                           "all of them.[/]")
        self.out.print("")
        self.table(["METRIC", "RELEASES", "MEDIAN", "P90", "LAST", "CHANGE"],
                   ([t.name, t.count, f"{t.median:.2f}", f"{t.p90:.2f}", f"{t.last:.2f}",
                     "" if t.change is None else f"{t.change:+.0%}"] for t in trends))

    # tables ------------------------------------------------------------------------------
    def table(self, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
        """Columns aligned with two spaces between them, the header in bold. Plain text laid
        out here, not a rich Table: a history of 1,000 releases prints in milliseconds, and
        cells are never cut to the terminal's width (pipes and greps see them whole)."""
        cells = [[str(c) for c in row] for row in rows]
        widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]

        def line(values: list[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        self.out.print(f"[bold]{escape(line(columns))}[/]")
        if cells:
            self.raw("\n".join(line(r) for r in cells))


class Progress:
    """Apply progress: on a terminal, each running step with its elapsed time, updated in
    place; otherwise plain lines, and "still running (1m10s elapsed)" every
    ``STILL_RUNNING_EVERY`` seconds for a step that runs that long (as Terraform does); JSON
    lines with --json. With ``verbose``, each stage's output as it comes, every line prefixed
    by its address."""

    STILL_RUNNING_EVERY = 10.0  # seconds, without a terminal
    REDRAW_EVERY = 0.25  # seconds, on a terminal

    def __init__(self, ui: UI, mode: str, verbose: bool = False) -> None:
        self.ui = ui
        self.mode = mode if mode != "auto" else (
            "live" if ui.err.is_terminal and interactive(ui.err.file) else "plain")
        self.verbose = verbose
        self._lock = threading.Lock()
        self._running: dict[str, list[float]] = {}  # address → [started, next report at]
        self._partial: dict[str, str] = {}  # a stage's output line not ended yet
        self._status: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        return self  # the live status starts with the first step: the review comes before

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, event: ApplyEvent) -> None:
        with self._lock:
            if event.kind == "output":
                if self.verbose:
                    self._output(event.address, event.message)
                return
            if self.mode == "json":
                self.ui.raw(json.dumps({"event": event.kind, "address": event.address,
                                        "action": event.action,
                                        "duration": round(event.duration, 3),
                                        "message": event.message}))
                return
            if event.kind == "announce":
                self.ui.announcement(event.address, event.message)
                return
            if self.mode == "live" and self._status is None:
                self._status = cast("Console", self.ui.err).status("Applying…")  # a terminal
                self._status.__enter__()
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, daemon=True,
                                                name="scalpel-progress")
                self._ticker.start()
            if event.kind == "started":
                started = time.monotonic()
                self._running[event.address] = [started, started + self.STILL_RUNNING_EVERY]
            else:
                self._running.pop(event.address, None)
                self._flush(event.address)
            line = _event_line(event)
            if line:
                self.ui.err.print(line)
            self._redraw()

    def _output(self, address: str, text: str) -> None:
        """Whole lines of a stage's output, prefixed; a partial line waits for its end."""
        if self.mode == "json":
            self.ui.raw(json.dumps({"event": "output", "address": address, "message": text}))
            return
        lines = (self._partial.pop(address, "") + text).replace("\r\n", "\n").split("\n")
        if lines[-1]:
            self._partial[address] = lines[-1]
        for line in lines[:-1]:
            self.ui.err.print(f"[dim]{escape(address)}:[/] {escape(line)}", highlight=False)

    def _flush(self, address: str) -> None:
        if (rest := self._partial.pop(address, None)) is not None:
            self.ui.err.print(f"[dim]{escape(address)}:[/] {escape(rest)}", highlight=False)

    def _tick(self) -> None:
        every = self.REDRAW_EVERY if self.mode == "live" else \
            min(1.0, self.STILL_RUNNING_EVERY / 4)
        while not self._stop.wait(every):
            with self._lock:
                if self.mode == "live":
                    self._redraw()
                    continue
                now = time.monotonic()
                for address, times in self._running.items():
                    if now >= times[1]:
                        times[1] += self.STILL_RUNNING_EVERY
                        self.ui.err.print(f"{escape(address)}: still running "
                                          f"({elapsed(now - times[0])} elapsed)")

    def _redraw(self) -> None:
        if self._status is None:
            return
        now = time.monotonic()
        running = ", ".join(f"{a} ({elapsed(now - t[0])})" for a, t in self._running.items())
        self._status.update(f"Applying: {escape(running or '…')}")


def elapsed(seconds: float) -> str:
    """``42s``, ``1m10s``, ``2h5m0s``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _event_line(event: ApplyEvent) -> str | None:
    address = escape(event.address)
    if event.kind == "started":
        return f"{address}: {event.action}…"
    if event.kind == "done":
        return f"[green]✓[/] {address}: {event.action} done in {event.duration:.1f}s"
    if event.kind == "failed":
        return f"[red]✗[/] {address}: failed after {event.duration:.1f}s: {escape(event.message)}"
    if event.kind == "skipped":
        return f"[yellow]-[/] {address}: skipped ({escape(event.message)})"
    if event.kind == "interrupt":
        return f"[yellow bold]{escape(event.message)}[/]"
    return None
