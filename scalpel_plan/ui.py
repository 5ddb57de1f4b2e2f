"""Everything Scalpel shows: the only module that prints, and the only one that imports rich.

Plans render as Terraform-like text, as Markdown for a pull-request comment, or as JSON.
Apply progress is live on a terminal, plain lines elsewhere, JSON lines with --json.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from scalpel_plan.masking import MaskedStream, forms, mask

if TYPE_CHECKING:  # rich itself is imported on first use: `--version` never needs it
    from rich.console import Console

    from scalpel_plan.apply import ApplyEvent, ApplyResult
    from scalpel_plan.errors import Diagnostic, ScalpelError
    from scalpel_plan.observe.alerts import Alert, AlertOutcome
    from scalpel_plan.observe.dashboard import PublishEvent, ReleaseStatus
    from scalpel_plan.observe.metrics import Metric, Trend
    from scalpel_plan.observe.profile import BuildProfiler, StageChange
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.providers.base import Change

SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "run": ">",
          "adopt": "<=", "no-op": " "}
COLOR = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red",
         "run": "cyan", "adopt": "blue", "no-op": "dim"}
VERB = {"create": "will be created", "update": "will be updated in place",
        "replace": "will be replaced", "delete": "will be deleted", "run": "will run",
        "adopt": "will be adopted (already live; recorded only)", "no-op": "is up to date"}
COUNTED = ("create", "update", "replace", "delete", "run", "adopt")
KNOWN_AFTER_APPLY = "(known after apply)"


def console(file: IO[str] | None = None, *, width: int | None = None,
            color: bool | None = None) -> Console:
    """A rich console whose every write passes through the secrets mask."""
    from rich.console import Console

    masked = cast(IO[str], MaskedStream(file if file is not None else sys.stdout))
    return Console(file=masked, width=width, no_color=color is False, highlight=False,
                   emoji=False, force_terminal=color if color else None, soft_wrap=True)


def escape(text: str) -> str:
    """``text`` with rich's markup characters escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class UI:
    """Writes to stdout (results) and stderr (diagnostics and progress)."""

    def __init__(self, out: Console | None = None, err: Console | None = None) -> None:
        if out is not None:
            self.out = out
        if err is not None:
            self.err = err

    @cached_property
    def out(self) -> Console:
        return console()

    @cached_property
    def err(self) -> Console:
        return console(sys.stderr)

    # errors -------------------------------------------------------------------------------
    def error(self, exc: ScalpelError) -> None:
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

    def add_mask(self, value: str) -> None:
        """Register a secret with the GitHub Actions runner, so that its own log masks it too
        (the one write that must hold the value; each line of it separately, as the runner
        needs)."""
        for form in forms(value):  # raw, URL-encoded, base64: as Scalpel masks it
            for line in form.splitlines():
                if line.strip():
                    sys.stdout.write(f"::add-mask::{line}\n")
        sys.stdout.flush()

    def confirm(self, question: str) -> bool:
        self.err.print(f"{escape(question)} Only 'yes' will be accepted.")
        try:
            answer = input("  Enter a value: ")
        except EOFError:
            return False
        return answer.strip() == "yes"

    # plans --------------------------------------------------------------------------------
    def plan(self, plan: Plan, fmt: str = "text") -> None:
        if fmt == "json":
            self.raw(plan_json(plan))
        elif fmt == "markdown":
            self.raw(plan_markdown(plan))
        else:
            self.out.print(plan_text(plan))

    # apply progress ----------------------------------------------------------------------
    def progress(self, mode: str) -> Progress:
        return Progress(self, mode)

    def apply_summary(self, result: ApplyResult, plan: Plan) -> None:
        for address, text in result.announcements:
            self.out.print(f"[bold]📣 {escape(text)}[/]  [dim]({escape(address)})[/]")
        done, failed = result.where("done"), result.where("failed")
        skipped, waiting = result.where("skipped"), result.where("not started")
        acted = [a for a in done if plan.change(a).actionable]
        release = plan.release
        if result.ok and plan.rollback is not None:
            r = plan.rollback
            self.out.print(f"[green bold]Rollback complete![/] {len(acted)} step"
                           f"{'s' * (len(acted) != 1)} done; {escape(r.project)} "
                           f"{escape(r.to_version)} is live again.")
            return
        if result.ok:
            what = f"{release.project} {release.version} released" if release else "nothing to do"
            self.out.print(f"[green bold]Apply complete![/] {len(acted)} step"
                           f"{'s' * (len(acted) != 1)} done; {escape(what)}.")
            return
        what = "Rollback" if plan.rollback is not None else "Apply"
        self.err.print(f"[red bold]{what} failed.[/] {len(acted)} done, {len(failed)} failed, "
                       f"{len(skipped)} skipped, {len(waiting)} not started.")
        for address in failed:
            exc = result.errors[address]
            self.err.print(f"  [red]✗ {escape(address)}[/]: {escape(exc.message)}")
            if exc.hint:
                self.err.print(f"    [dim]{escape(exc.hint)}[/]")
        remaining = skipped + waiting
        if remaining:
            self.err.print(f"  Remaining: {escape(', '.join(remaining))}")
        self.err.print("  What was done is recorded; run `scalpel plan` to see what remains and "
                       "`scalpel apply` to finish the release.")

    # alerts ------------------------------------------------------------------------------
    def alert(self, alert: Alert) -> None:
        """The console alert channel (and the fallback when another channel fails)."""
        self.err.print(f"[red bold]ALERT[/] [bold]{escape(alert.title)}[/]")
        self.err.print(f"  {escape(alert.error)}")
        if alert.report:
            self.err.print(f"  Incident report: {escape(alert.report)}")

    def alert_outcome(self, report: Path, outcome: AlertOutcome) -> None:
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
        what = f"{status.operation} {status.version}" if status.version else "no release yet"
        self.out.print(f"[bold]{escape(status.project)}[/]: {escape(what)} "
                       f"[{color} bold]{escape(status.status)}[/]"
                       + (f"  (live: {escape(status.live)})" if status.live else ""))
        if status.started_at:
            self.out.print(f"  started {escape(status.started_at)}"
                           + (f", finished {escape(status.finished_at)}"
                              if status.finished_at else ""))
        self.events(status.events)

    def events(self, events: Iterable[PublishEvent]) -> None:
        for event in events:
            where = f" {escape(event.address)}" if event.address else ""
            detail = f": {escape(event.detail)}" if event.detail else ""
            self.out.print(f"  [dim]{escape(event.at[11:23])}[/] {escape(event.kind)}{where}"
                           f"{detail}")

    def profile(self, profile: BuildProfiler, width: int = 40) -> None:
        critical = profile.critical_path()
        on_path = {s.address for s in critical}
        span = max([profile.wall, *(s.end for s in profile.stages)]) or 1.0
        name_width = max([len(s.address) for s in profile.stages] + [4])
        self.out.print(f"[bold]Profile of {escape(profile.version)}[/] "
                       f"(apply {escape(profile.apply_id)})")
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

    def metrics(self, by_release: dict[str, dict[str, Metric]], trends: list[Trend],
                last: int) -> None:
        names = ["release.duration", "build.duration", "test.duration", "publish.duration",
                 "deploy.duration", "custom.duration"]
        shown = [n for n in names if any(n in row for row in by_release.values())]
        rows = []
        for version, row in list(by_release.items())[-last:]:
            outcome = next((m.outcome for m in row.values() if m.outcome), "")
            rows.append([version, *(f"{row[n].value:.2f}" if n in row else "" for n in shown),
                         outcome or ""])
        if not rows:
            self.info("No metrics yet: every apply records them.")
            return
        titles = {"release.duration": "TOTAL (s)"}
        self.table(["RELEASE", *(titles.get(n, n.split(".")[0].upper() + " (s)")
                                 for n in shown), "OUTCOME"], rows)
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
    """Apply progress: live status on a terminal, plain lines otherwise, JSON lines with --json."""

    def __init__(self, ui: UI, mode: str) -> None:
        self.ui = ui
        self.mode = mode if mode != "auto" else ("live" if ui.err.is_terminal else "plain")
        self._lock = threading.Lock()
        self._running: dict[str, None] = {}
        self._status: Any = None

    def __enter__(self) -> Progress:
        return self  # the live status starts with the first step: the review comes before

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, event: ApplyEvent) -> None:
        with self._lock:
            if self.mode == "json":
                self.ui.raw(json.dumps({"event": event.kind, "address": event.address,
                                        "action": event.action,
                                        "duration": round(event.duration, 3),
                                        "message": event.message}))
                return
            if self.mode == "live" and self._status is None:
                self._status = self.ui.err.status("Applying…")
                self._status.__enter__()
            if event.kind == "started":
                self._running[event.address] = None
            else:
                self._running.pop(event.address, None)
            line = _event_line(event)
            if line:
                self.ui.err.print(line)
            if self._status is not None:
                running = ", ".join(self._running) or "…"
                self._status.update(f"Applying: {escape(running)}")


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
    return None


# Plan renderings, as plain functions over a Plan ---------------------------------------------
def plan_json(plan: Plan) -> str:
    return plan.model_dump_json(indent=2)


def plan_text(plan: Plan) -> str:
    """Terraform-like text with rich markup."""
    lines = [f"[yellow]Warning:[/] {escape(d.message)}" for d in plan.diagnostics]
    lines += [""] if lines else []
    if plan.drift:
        lines += ["[bold]Changes outside Scalpel[/] since they were recorded:", ""]
        lines += [f"  [yellow]# {escape(d.address)}[/]: {escape(d.message)}" for d in plan.drift]
        lines += [""]
    if plan.rollback is not None:
        lines += _rollback_header(plan)
    elif plan.release is None:
        lines.append(f"[green bold]No changes.[/] Nothing to release: "
                     f"{escape(plan.nothing_to_release or '')}.")
        return "\n".join(lines)
    else:
        lines += _release_header(plan)
    actionable = [c for c in plan.changes if c.actionable]
    if actionable:
        lines += ["Scalpel will perform the following actions:", ""]
        for change in actionable:
            lines += [*_change_block(change), ""]
    else:
        lines += [f"Every node is up to date; applying records the {plan.mode}.", ""]
    if plan.rollback is not None and plan.rollback.by_hand:
        lines += ["[bold]Cannot be undone[/] (do this by hand if it matters):", ""]
        lines += [f"  [yellow]![/] {escape(d.address or '')}: {escape(d.message)}"
                  for d in plan.rollback.by_hand]
        lines.append("")
    lines.append(_counts_line(plan))
    return "\n".join(lines)


def _rollback_header(plan: Plan) -> list[str]:
    r = plan.rollback
    assert r is not None
    return [f"[bold]Rollback {escape(r.project)} {escape(r.from_version or '(none)')} → "
            f"{escape(r.to_version)}[/]  (rollback point {escape(r.point)} at {r.commit[:12]})",
            f"  puts back what {escape(r.to_version)} recorded, where it can be put back", ""]


def _release_header(plan: Plan) -> list[str]:
    r = plan.release
    assert r is not None
    frm = r.previous or "(none)"
    lines = [f"[bold]Release {escape(r.project)} {escape(frm)} → {escape(r.version)}[/]"
             f"  (tag {escape(r.tag)} at {r.commit[:12]})",
             f"  {escape(r.reason)}"]
    for c in r.commits[:20]:
        lines.append(f"    [dim]{c.sha[:8]}[/] {escape(_commit_title(c))}  [dim]({c.bump})[/]")
    if len(r.commits) > 20:
        lines.append(f"    … and {len(r.commits) - 20} more")
    for title, text in (("Changelog", r.changelog), ("Release notes", r.notes)):
        if text:
            lines += ["", f"  [bold]{title}[/] [dim](published with the release)[/]"]
            lines += [f"  [dim]│[/] {escape(line)}" for line in text.rstrip().splitlines()]
    return [*lines, ""]


def _commit_title(c: Any) -> str:
    scope = f"({c.scope})" if c.scope else ""
    return f"{c.type}{scope}{'!' if c.breaking else ''}: {c.description}"


def _change_block(change: Change) -> list[str]:
    color = COLOR[change.action]
    mark = " [red bold](irreversible)[/]" if not change.reversible else ""
    lines = [f"  [bold]# {escape(change.address)}[/] {VERB[change.action]}{mark}"]
    if change.reason:
        lines.append(f"  [dim]# {escape(change.reason)}[/]")
    lines.append(f"  [{color}]{escape(SYMBOL[change.action])}[/] {escape(change.address)} {{")
    rows = _attribute_rows(change)
    width = max((len(k) for k, _, _ in rows), default=0)
    for key, before, after in rows:
        name = key.ljust(width)
        if change.action in ("update", "replace") and before != after:
            lines.append(f"      [yellow]~[/] {escape(name)} = {escape(before)} → {escape(after)}")
        elif change.action == "delete":
            lines.append(f"      [red]-[/] {escape(name)} = {escape(before)}")
        else:
            sign = f"[{color}]{escape(SYMBOL[change.action][-1])}[/] "
            value = change.after.get(key) if key not in change.unknown else None
            block = _block(value) if isinstance(value, dict | str) else None
            if block:
                lines.append(f"      {sign}{escape(name)} = {escape(block[0])}")
                lines += [f"        {' ' * width}{escape(line)}" for line in block[1:]]
            else:
                lines.append(f"      {sign}{escape(name)} = {escape(after)}")
    lines.append("    }")
    return lines


def _block(value: Any, depth: int = 0) -> list[str] | None:
    """Multi-line renderings: heredocs for text, nested blocks for mappings, diffs for edits
    (``[{line, old, new}]``). None when one line says it best."""
    if isinstance(value, str):
        if "\n" not in value.rstrip("\n"):
            return None
        return ["<<-EOT", *(f"  {line}" for line in value.rstrip("\n").splitlines()), "EOT"]
    if not value or depth > 2:
        return None
    lines = ["{"]
    for key in sorted(value):
        item = value[key]
        if isinstance(item, list) and item and all(_is_edit(e) for e in item):
            lines.append(f"  {key}:")
            for e in item:
                lines += [f"    @@ line {e['line']} @@", f"    - {e['old']}", f"    + {e['new']}"]
            continue
        inner = _block(item, depth + 1) if isinstance(item, dict | str) else None
        if inner:
            lines += [f"  {key} = {inner[0]}", *(f"  {line}" for line in inner[1:])]
        else:
            lines.append(f"  {key} = {_value(item)}")
    return [*lines, "}"]


def _is_edit(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"line", "old", "new"}


def _attribute_rows(change: Change) -> list[tuple[str, str, str]]:
    keys = sorted(set(change.before) | set(change.after) | set(change.unknown))
    rows = []
    for key in keys:
        before = _value(change.before[key]) if key in change.before else "null"
        after = (KNOWN_AFTER_APPLY if key in change.unknown
                 else _value(change.after[key]) if key in change.after else "null")
        rows.append((key, before, after))
    return rows


def _value(value: Any) -> str:
    if isinstance(value, str) and value.startswith("${secrets.") and value.endswith("}"):
        return f"(sensitive value: {value[2:-1]})"  # read from the environment at apply
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return f"(known after apply: {value[2:-1]})"  # another node's attribute
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _counts_line(plan: Plan) -> str:
    counts = plan.counts()
    parts = [f"{counts[a]} to {a}" for a in COUNTED if counts[a] or a in ("create", "update",
                                                                        "delete")]
    irreversible = sum(1 for c in plan.changes if c.actionable and not c.reversible)
    tail = f"; {irreversible} irreversible" if irreversible else ""
    return f"[bold]Plan:[/] {', '.join(parts)}{tail}."


def plan_markdown(plan: Plan) -> str:
    """A pull-request comment: the summary first, the details folded."""
    out = [f"> ⚠️ {_md_escape(d.message)}" for d in plan.diagnostics]
    out += [""] if out else []
    if plan.rollback is not None:
        return "\n".join([*out, *_md_rollback(plan)]) + "\n"
    if plan.release is None:
        out += ["### Scalpel plan: no changes", "",
                f"Nothing to release: {plan.nothing_to_release}."]
        out += _md_drift(plan)
        return "\n".join(out) + "\n"
    r = plan.release
    counts = plan.counts()
    summary = ", ".join(f"{counts[a]} to {a}" for a in COUNTED if counts[a]) or "nothing to change"
    irreversible = [c for c in plan.changes if c.actionable and not c.reversible]
    out += [f"### Scalpel plan: {r.project} {r.previous or '(none)'} → **{r.version}**", "",
            f"**Plan:** {summary}" + (f" · ⚠️ {len(irreversible)} irreversible"
                                      if irreversible else ""),
            f"**Tag:** `{r.tag}` at `{r.commit[:12]}` · **Why:** {r.reason}", ""]
    if r.commits:
        out += [f"<details><summary>Commits that decide {r.version} ({len(r.commits)})"
                "</summary>", ""]
        out += [f"- `{c.sha[:8]}` {_md_escape(_commit_title(c))} ({c.bump})" for c in r.commits]
        out += ["", "</details>", ""]
    for title, text in (("Changelog", r.changelog), ("Release notes", r.notes)):
        if text:
            out += [f"<details><summary>{title} for {r.version}</summary>", "", text.rstrip(),
                    "", "</details>", ""]
    out += _md_drift(plan)
    actionable = [c for c in plan.changes if c.actionable]
    if actionable:
        out += [f"<details><summary>Changes by node ({len(actionable)})</summary>", "",
                "| Node | Action | Note |", "| --- | --- | --- |"]
        for c in sorted(actionable, key=lambda c: (COUNTED.index(c.action), c.address)):
            note = ("irreversible. " if not c.reversible else "") + c.reason
            out.append(f"| `{c.address}` | {c.action} | {_md_escape(note)} |")
        out += ["", "</details>", "",
                "<details><summary>Full plan</summary>", "", "```diff"]
        for c in actionable:
            out += [*_plain(_change_block(c)), ""]
        out += ["```", "", "</details>"]
    return "\n".join(out) + "\n"


def _md_rollback(plan: Plan) -> list[str]:
    r = plan.rollback
    assert r is not None
    out = [f"### Scalpel rollback: {r.project} {r.from_version or '(none)'} → "
           f"**{r.to_version}**", "", f"**Rollback point:** `{r.point}` at `{r.commit[:12]}`",
           "", "| Node | Action | Note |", "| --- | --- | --- |"]
    out += [f"| `{c.address}` | {c.action} | {_md_escape(c.reason)} |"
            for c in plan.changes if c.actionable]
    if r.by_hand:
        out += ["", "**Cannot be undone** (by hand if it matters):", ""]
        out += [f"- `{d.address}`: {_md_escape(d.message)}" for d in r.by_hand]
    return out


def _md_drift(plan: Plan) -> list[str]:
    if not plan.drift:
        return []
    lines = ["", f"<details open><summary>⚠️ Changed outside Scalpel ({len(plan.drift)})"
             "</summary>", ""]
    lines += [f"- `{d.address}`: {_md_escape(d.message)}" for d in plan.drift]
    return [*lines, "", "</details>", ""]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _plain(lines: list[str]) -> list[str]:
    """Markup-free copies of rendered lines (for code blocks)."""
    from rich.text import Text

    return [Text.from_markup(line).plain for line in lines]
