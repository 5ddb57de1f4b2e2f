"""A Plan as Terraform-like text with rich markup: what `scalpel plan` prints on a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalpel_plan.ui.common import COUNTED, change_block, commit_title, escape, tag_target

if TYPE_CHECKING:
    from scalpel_plan.plan.model import Plan


def plan_text(plan: Plan) -> str:
    """Terraform-like text with rich markup."""
    lines = [f"[yellow]Warning:[/] {escape(d.message)}" + (f"\n  [dim]{escape(d.hint)}[/]"
                                                        if d.hint else "")
             for d in plan.diagnostics]
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
    elif plan.release.packages is not None:  # a monorepo: a section per package that moves
        from scalpel_plan.ui.plan_packages import packages_text

        lines += packages_text(plan)
    else:
        lines += _release_header(plan)
    actionable = [c for c in plan.changes if c.actionable]
    if actionable:
        lines += ["Scalpel will perform the following actions:", ""]
        for change in actionable:
            lines += [*change_block(change), ""]
    else:
        lines += [_nothing_to_carry_out(plan), ""]
    if plan.rollback is not None and plan.rollback.by_hand:
        lines += ["[bold]Cannot be undone[/] (do this by hand if it matters):", ""]
        lines += [f"  [yellow]![/] {escape(d.address or '')}: {escape(d.message)}"
                  for d in plan.rollback.by_hand]
        lines.append("")
    lines.append(_counts_line(plan))
    return "\n".join(lines)


def _nothing_to_carry_out(plan: Plan) -> str:
    """What applying a plan without a step does: a rollback or a release an earlier apply
    started is recorded; any other release is not (nothing would have made it)."""
    from scalpel_plan.content.versioning import CONTINUES

    if plan.release is None or plan.release.reason.startswith(CONTINUES):
        return f"Every node is up to date; applying records the {plan.mode}."
    return "Every node is up to date: there is no step to carry out, and applying records " \
        "no release."


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
             f"  (tag {escape(r.tag)} at {escape(tag_target(plan))})",
             f"  {escape(r.reason)}"]
    for c in r.commits[:20]:
        lines.append(f"    [dim]{c.sha[:8]}[/] {escape(commit_title(c))}  [dim]({c.bump})[/]")
    if len(r.commits) > 20:
        lines.append(f"    … and {len(r.commits) - 20} more")
    for title, text in (("Changelog", r.changelog), ("Release notes", r.notes)):
        if text:
            lines += ["", f"  [bold]{title}[/] [dim](published with the release)[/]"]
            lines += [f"  [dim]│[/] {escape(line)}" for line in text.rstrip().splitlines()]
    return [*lines, ""]


def _counts_line(plan: Plan) -> str:
    counts = plan.counts()
    parts = [f"{counts[a]} to {a}" for a in COUNTED if counts[a] or a in ("create", "update",
                                                                        "delete")]
    irreversible = sum(1 for c in plan.changes if c.actionable and not c.reversible)
    tail = f"; {irreversible} irreversible" if irreversible else ""
    return f"[bold]Plan:[/] {', '.join(parts)}{tail}."
