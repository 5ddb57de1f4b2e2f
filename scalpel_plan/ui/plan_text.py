"""A Plan as Terraform-like text with rich markup: what `scalpel plan` prints on a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalpel_plan.ui.common import (
    COUNTED,
    change_block,
    commit_title,
    escape,
    references,
    tag_target,
)

if TYPE_CHECKING:
    from scalpel_plan.plan.model import Plan


# Without --verbose, a typical release fits on a screen: these many commits, changelog lines,
# lines of any other multi-line value and characters of a commit title; the rest is said.
SHOWN_COMMITS = 5
SHOWN_LINES = 12  # a changelog section or release notes up to this long are shown whole
SHOWN_VALUE_LINES = 6
TITLE_WIDTH = 100
VERBOSE = "`scalpel plan --verbose`"


def plan_text(plan: Plan, *, verbose: bool = False) -> str:
    """Terraform-like text with rich markup; the changelog shown once (a change's block refers
    to it). Without ``verbose``, long lists and texts are cut, and the cut is said."""
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
        lines += _release_header(plan, verbose)
    actionable = [c for c in plan.changes if c.actionable]
    if actionable:
        lines += ["Scalpel will perform the following actions:", ""]
        refer = references(plan)
        cap = None if verbose else SHOWN_VALUE_LINES
        for change in actionable:
            lines += [*change_block(change, refer, cap), ""]
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
    what = f"{r.project} {r.package}" if r.package else r.project
    lines = [f"[bold]Rollback {escape(what)} {escape(r.from_version or '(none)')} → "
             f"{escape(r.to_version)}[/]  (rollback point {escape(r.point)} at {r.commit[:12]})",
             f"  puts back what {escape(r.package + ' ' if r.package else '')}"
             f"{escape(r.to_version)} recorded, where it can be put back"]
    if r.package:
        lines.append(f"  only {escape(r.package)}'s nodes; "
                     + (f"{escape(', '.join(r.unchanged))} are left as they are"
                        if r.unchanged else "no other package"))
    elif r.packages:  # a monorepo's whole release: what each package goes back from and to
        lines = [f"[bold]Rollback {escape(r.project)} to {escape(r.point)}[/]  (rollback point "
                 f"at {r.commit[:12]}): the packages as that release left them"]
        width = max(len(m.name) for m in r.packages)
        lines += [f"  {escape(m.name.ljust(width))}  {escape(m.from_version or '(none)')} → "
                  f"{escape(m.to_version)}" for m in r.packages]
        if r.unchanged:
            lines.append(f"  [dim]at the point's version already: "
                         f"{escape(', '.join(r.unchanged))}[/]")
    return [*lines, ""]


def _release_header(plan: Plan, verbose: bool) -> list[str]:
    r = plan.release
    assert r is not None
    frm = r.previous or "(none)"
    lines = [f"[bold]Release {escape(r.project)} {escape(frm)} → {escape(r.version)}[/]"
             f"  (tag {escape(r.tag)} at {escape(tag_target(plan))})",
             f"  {escape(r.reason)}"]
    shown = r.commits if verbose else r.commits[:SHOWN_COMMITS]
    for c in shown:
        title = commit_title(c)
        if not verbose and len(title) > TITLE_WIDTH:
            title = title[:TITLE_WIDTH - 1].rstrip() + "…"
        lines.append(f"    [dim]{c.sha[:8]}[/] {escape(title)}  [dim]({c.bump})[/]")
    if len(r.commits) > len(shown):
        lines.append(f"    … and {len(r.commits) - len(shown)} more ({VERBOSE} lists them)")
    if r.changelog:
        title = f"  [bold]Changelog[/] [dim](published with the release{_written(plan)})[/]"
        if verbose or len(r.changelog.strip().splitlines()) <= SHOWN_LINES:
            lines += ["", title, *_quoted(r.changelog)]
        else:
            lines += ["", f"{title}: {_outline(r.changelog)}; {VERBOSE} shows it"]
    if r.notes:
        title = "  [bold]Release notes[/] [dim](published with the release)[/]"
        if verbose or len(r.notes.strip().splitlines()) <= SHOWN_LINES:
            lines += ["", title, *_quoted(r.notes)]
        else:
            text = r.notes.strip().splitlines()
            lines += ["", f"{title}: {len(text)} lines, headed \"{escape(text[0])}\"; "
                      f"{VERBOSE} shows them"]
    return [*lines, ""]


def _written(plan: Plan) -> str:
    """Where the release commit writes the changelog section, when it does."""
    from scalpel_plan.providers.base import RELEASE_COMMIT

    commit = next((c for c in plan.changes if c.address == RELEASE_COMMIT and c.actionable),
                  None)
    changelog = commit.after.get("changelog") if commit else None
    if isinstance(changelog, dict) and changelog.get("file"):
        return f"; {RELEASE_COMMIT} adds it to {changelog['file']}"
    return ""


def _outline(section: str) -> str:
    """A changelog section in a few words: its length and its headings with their entries."""
    headings: list[list[str | int]] = []
    for line in section.splitlines():
        if line.startswith("### "):
            headings.append([line[4:].strip(), 0])
        elif headings and line.startswith(("- ", "* ")):
            headings[-1][1] = int(headings[-1][1]) + 1
    parts = ", ".join(f"{name} {count}" for name, count in headings)
    return f"{len(section.strip().splitlines())} lines" + (f" ({escape(parts)})" if parts
                                                           else "")


def _quoted(text: str) -> list[str]:
    return [f"  [dim]│[/] {escape(line)}" for line in text.rstrip().splitlines()]


def _counts_line(plan: Plan) -> str:
    counts = plan.counts()
    parts = [f"{counts[a]} to {a}" for a in COUNTED if counts[a] or a in ("create", "update",
                                                                        "delete")]
    irreversible = sum(1 for c in plan.changes if c.actionable and not c.reversible)
    tail = f"; {irreversible} irreversible" if irreversible else ""
    return f"[bold]Plan:[/] {', '.join(parts)}{tail}."
