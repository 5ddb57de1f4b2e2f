"""A monorepo's release in a plan: a summary of the packages that move, then a section per
package (version from → to, why, the commits that decide it, its changelog and notes, its
nodes), for the terminal and for Markdown. The plan renderers call these in place of the
one-release header; the changes below them are rendered as for any plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalpel_plan.masking import mask
from scalpel_plan.ui.common import commit_title, escape, tag_target

if TYPE_CHECKING:
    from scalpel_plan.plan.model import PackageSummary, Plan

MAX_COMMITS = 20  # commits listed per package on a terminal
MAX_UNCHANGED = 20  # unchanged packages named


def moving(plan: Plan) -> list[PackageSummary]:
    r = plan.release
    return [p for p in (r.packages or []) if p.version] if r else []


def unchanged(plan: Plan) -> list[PackageSummary]:
    r = plan.release
    return [p for p in (r.packages or []) if not p.version] if r else []


def _names(packages: list[PackageSummary]) -> str:
    shown = ", ".join(p.name for p in packages[:MAX_UNCHANGED])
    more = len(packages) - MAX_UNCHANGED
    return shown + (f" and {more:,} more" if more > 0 else "")


def packages_text(plan: Plan) -> list[str]:
    """The release's header on a terminal: the packages that move, then each one."""
    r = plan.release
    assert r is not None
    moves = moving(plan)
    width = max((len(p.name) for p in moves), default=0)
    lines = [f"[bold]Release {escape(r.project)}: {len(moves)} of {len(r.packages or [])} "
             f"packages move[/]"]
    for p in moves:
        lines.append(f"  {escape(p.name.ljust(width))}  {escape(p.previous or '(none)')} → "
                     f"[bold]{escape(p.version or '')}[/]  (tag {escape(p.tag)})")
    if still := unchanged(plan):
        lines.append(f"  [dim]unchanged: {escape(_names(still))}[/]")
    lines.append("")
    for p in moves:
        lines += package_text(plan, p)
    return lines


def package_text(plan: Plan, p: PackageSummary) -> list[str]:
    """One package's section on a terminal."""
    lines = [f"[bold]Package {escape(p.name)} {escape(p.previous or '(none)')} → "
             f"{escape(p.version or '')}[/]  (tag {escape(p.tag)} at "
             f"{escape(tag_target(plan, p.tag))})", f"  {escape(p.reason)}"]
    for c in p.commits[:MAX_COMMITS]:
        lines.append(f"    [dim]{c.sha[:8]}[/] {escape(commit_title(c))}  [dim]({c.bump})[/]")
    if len(p.commits) > MAX_COMMITS:
        lines.append(f"    … and {len(p.commits) - MAX_COMMITS} more")
    if p.nodes:
        lines.append(f"  nodes: {escape(', '.join(p.nodes))}")
    for title, text in (("Changelog", p.changelog), ("Release notes", p.notes)):
        if text:
            lines += ["", f"  [bold]{title}[/] [dim](published with {escape(p.tag)})[/]"]
            lines += [f"  [dim]│[/] {escape(line)}" for line in text.rstrip().splitlines()]
    return [*lines, ""]


def packages_markdown(plan: Plan, summary: str) -> list[str]:
    """The release's header in Markdown: a table of the packages that move, then each one.
    ``summary`` is the plan's counts line."""
    r = plan.release
    assert r is not None
    moves = moving(plan)
    out = [f"### Scalpel plan: {_md(r.project)}, {len(moves)} of {len(r.packages or [])} "
           "packages move", "", summary, "",
           "| Package | Version | Tag | Why |", "| --- | --- | --- | --- |"]
    out += [f"| {_md(p.name)} | {_md(p.previous or '(none)')} → **{_md(p.version or '')}** | "
            f"`{_md(p.tag)}` | {_md(p.reason)} |" for p in moves]
    if still := unchanged(plan):
        out += ["", f"Unchanged: {_md(_names(still))}."]
    out.append("")
    for p in moves:
        out += package_markdown(plan, p)
    return out


def package_markdown(plan: Plan, p: PackageSummary) -> list[str]:
    """One package's section in Markdown (its details folded)."""
    target = tag_target(plan, p.tag)
    out = [f"#### {_md(p.name)} {_md(p.previous or '(none)')} → **{_md(p.version or '')}**",
           "", f"**Tag:** `{_md(p.tag)}` at {target if ' ' in target else f'`{target}`'} · "
           f"**Why:** {_md(p.reason)}"
           + (f" · **Nodes:** {', '.join(f'`{n}`' for n in p.nodes)}" if p.nodes else ""), ""]
    if p.commits:
        out += [f"<details><summary>Commits that decide {_md(p.name)} {_md(p.version or '')} "
                f"({len(p.commits)})</summary>", ""]
        out += [f"- `{c.sha[:8]}` {_md(commit_title(c))} ({c.bump})" for c in p.commits]
        out += ["", "</details>", ""]
    for title, text in (("Changelog", p.changelog), ("Release notes", p.notes)):
        if text:
            out += [f"<details><summary>{title} for {_md(p.name)} {_md(p.version or '')}"
                    "</summary>", "", mask(text).rstrip(), "", "</details>", ""]
    return out


def _md(text: str) -> str:
    """Text for a Markdown line or table cell; secrets masked first."""
    return mask(text).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
