"""A Plan as Markdown for a pull-request comment: the summary first, the details folded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalpel_plan.masking import mask
from scalpel_plan.ui.common import COUNTED, change_block, commit_title, tag_target

if TYPE_CHECKING:
    from scalpel_plan.plan.model import Plan


def plan_markdown(plan: Plan) -> str:
    """A pull-request comment: the summary first, the details folded."""
    out = [f"> ⚠️ {_md_escape(d.message)}" + (f" ({_md_escape(d.hint)})" if d.hint else "")
           for d in plan.diagnostics]
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
    counts_line = f"**Plan:** {summary}" + (f" · ⚠️ {len(irreversible)} irreversible"
                                            if irreversible else "")
    if r.packages is not None:  # a monorepo: a table, then a section per package that moves
        from scalpel_plan.ui.plan_packages import packages_markdown

        out += packages_markdown(plan, counts_line)
    else:
        out += [f"### Scalpel plan: {r.project} {r.previous or '(none)'} → **{r.version}**",
                "", counts_line,
                f"**Tag:** `{r.tag}` at {_code_if_sha(tag_target(plan))} · **Why:** {r.reason}",
                ""]
    if r.commits:
        out += [f"<details><summary>Commits that decide {r.version} ({len(r.commits)})"
                "</summary>", ""]
        out += [f"- `{c.sha[:8]}` {_md_escape(commit_title(c))} ({c.bump})" for c in r.commits]
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
            out += [*_plain(change_block(c)), ""]
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


def _code_if_sha(text: str) -> str:
    return text if " " in text else f"`{text}`"


def _md_escape(text: str) -> str:
    """Text for a Markdown table cell; secrets masked first (``&lt;`` in a value would hide
    it from the mask)."""
    return mask(text).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _plain(lines: list[str]) -> list[str]:
    """Markup-free copies of rendered lines (for code blocks)."""
    from rich.text import Text

    return [Text.from_markup(line).plain for line in lines]
