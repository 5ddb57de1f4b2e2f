"""Output for GitHub Actions (``GITHUB_ACTIONS=true``): errors and failed steps as workflow
annotations (``::error file=release.yml,line=12,col=5,title=…::…``), which GitHub shows on the
run and on the pull request's diff at that line; and after an apply, rollback or hotfix, a job
summary (the release, its links, every step's time) appended to ``$GITHUB_STEP_SUMMARY``.

Everything written here passes through the secrets mask, as every other output does.
Annotations go to stderr (the runner reads workflow commands on both streams), so that a
``--format json`` on stdout stays pure JSON.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from scalpel_plan.masking import mask

if TYPE_CHECKING:
    from scalpel_plan.errors import Diagnostic, ScalpelError
    from scalpel_plan.operations.release import Outcome

TITLE = "Scalpel"


def active() -> bool:
    """Whether this runs as a step of a GitHub Actions job."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    """A workflow command's message, escaped as the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _workspace_path(file: str) -> str:
    """``file`` relative to the checkout (``GITHUB_WORKSPACE``), as annotations need it."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return file
    try:
        return Path(file).resolve().relative_to(Path(workspace).resolve()).as_posix()
    except (ValueError, OSError):
        return file


def annotation(d: Diagnostic, title: str = TITLE) -> str:
    """One diagnostic as a workflow command: where it is, what is wrong and what to do."""
    level = "warning" if d.severity == "warning" else "error"
    fields = []
    if d.file and d.line:
        fields += [f"file={_property(_workspace_path(d.file))}", f"line={d.line}"]
        if d.col:
            fields.append(f"col={d.col}")
    fields.append(f"title={_property(f'{title}: {d.address}' if d.address else title)}")
    message = f"{d.message}\n{d.hint}" if d.hint else d.message
    return f"::{level} {','.join(fields)}::{_data(message)}"


def annotate(diagnostics: Iterable[Diagnostic]) -> None:
    lines = [annotation(d) for d in diagnostics]
    if lines:
        sys.stderr.write(mask("\n".join(lines)) + "\n")
        sys.stderr.flush()


def annotate_error(exc: ScalpelError) -> None:
    """An error as annotations: one per diagnostic, or the error itself when it has none."""
    from scalpel_plan.errors import Diagnostic

    annotate(exc.diagnostics or [Diagnostic(exc.message, hint=exc.hint)])


def report(outcome: Outcome, cancelled: str) -> None:
    """After an apply, rollback or hotfix: each failed step as an annotation at its place in
    release.yml, and the job summary."""
    annotate(outcome.failures)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    text = mask(job_summary(outcome, cancelled))
    try:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:  # the summary is a courtesy: the outcome is reported anyway
        sys.stderr.write(mask(f"scalpel: cannot write the job summary {summary}: {exc}\n"))


def job_summary(outcome: Outcome, cancelled: str) -> str:
    """The job summary in GitHub-flavoured Markdown."""
    plan, result = outcome.plan, outcome.result
    if plan.rollback is not None:
        r = plan.rollback
        what = f"{r.project}: rollback {r.from_version or '(nothing live)'} → {r.to_version}"
    elif plan.release is not None:
        r_ = plan.release
        what = f"{r_.project} {r_.version}"
    else:
        what = "Scalpel"
    if outcome.cancelled:
        return f"## ⏹ {_md(what)}: cancelled\n\n{_md(cancelled)}\n\n"
    if result is None:
        return f"## ➖ {_md(what)}: nothing to apply\n\n"
    status = "succeeded" if result.ok else "interrupted" if result.interrupted else "failed"
    icon = {"succeeded": "✅", "failed": "❌", "interrupted": "⏸"}[status]
    lines = [f"## {icon} {_md(what)}: {status}", ""]
    if plan.release is not None:
        rel = plan.release
        lines += ["| | |", "|---|---|",
                  f"| Version | {_md(rel.previous or '(first release)')} → {_md(rel.version)} |",
                  f"| Tag | `{_code(rel.tag)}` |", f"| Commit | `{rel.commit[:12]}` |"]
        wall = _wall(outcome)
        if wall is not None:
            lines.append(f"| Took | {wall:.1f} s |")
        lines.append("")
    if outcome.links:
        lines += ["### Links", "", *(f"- [{_md(label)}]({url})" for label, url in outcome.links),
                  ""]
    if outcome.steps:
        lines += ["### Steps", "", "| Step | Action | Result | Time |", "|---|---|---|---:|"]
        for step in outcome.steps:
            took = f"{step.duration:.2f} s" if step.duration is not None else ""
            lines.append(f"| `{_code(step.address)}` | {_md(step.action)} | "
                         f"{_md(step.status)} | {took} |")
        lines.append("")
    if outcome.failures:
        lines += ["### What failed", ""]
        for d in outcome.failures:
            lines.append(f"- `{_code(d.address or '')}` ({_md(d.where)}): {_md(d.message)}")
        lines += ["", "What was done is recorded; re-run `scalpel apply` to finish the job.", ""]
    return "\n".join(lines) + "\n"


def _wall(outcome: Outcome) -> float | None:
    from scalpel_plan.state.timeline import seconds

    times = [t for s in outcome.steps for t in (s.started, s.finished) if t]
    return seconds(max(times)) - seconds(min(times)) if times else None


def _md(text: str) -> str:
    """Text for a Markdown table cell or list item: no pipe, no HTML, no line break."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace(">", "&gt;").replace("\r", " ").replace("\n", " "))


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|").replace("\n", " ")
