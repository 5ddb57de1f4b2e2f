"""A Plan as Markdown for a pull-request comment: the summary first, the details folded, the
changelog once, and the whole under GitHub's limit for a comment whatever the history (what
is cut is said, with a link to the full plan when there is one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scalpel_plan.masking import mask
from scalpel_plan.ui.common import (
    COUNTED,
    change_block,
    commit_title,
    references,
    tag_target,
)

if TYPE_CHECKING:
    from scalpel_plan.plan.model import Plan

COMMENT_LIMIT = 65_536  # GitHub's limit for the body of a comment, in characters
# What a rendering may take: the limit less room for what a workflow adds around it (a marker
# line, a footer). Counted in UTF-8 bytes, never fewer than the characters GitHub counts.
BUDGET = COMMENT_LIMIT - 2_048


@dataclass
class _Section:
    """A part of the comment: ``head`` and ``tail`` (a <details> opening and closing, a code
    fence) are kept whole; the ``body`` of a ``cuttable`` one loses lines from its end when
    the whole is too long (the summary is never cut)."""

    head: list[str]
    body: list[str]
    tail: list[str] = field(default_factory=list)
    cuttable: bool = False
    cut: int = 0  # body lines cut

    def lines(self) -> list[str]:
        return [*self.head, *self.body, *self.tail]


def plan_markdown(plan: Plan, *, full_plan_url: str | None = None,
                  budget: int = BUDGET) -> str:
    """A pull-request comment: the summary first, the details folded, at most ``budget``
    bytes; when something had to be cut, a note at the top says what and links
    ``full_plan_url`` (the workflow run that keeps the whole plan), and each cut part says
    how much of it is missing."""
    sections = _sections(plan)
    text = _joined(sections)
    if _size(text) <= budget:
        return text
    notice = _notice(full_plan_url)
    room = budget - _size(notice) - 2
    _share(sections, room, full_plan_url)
    text = _joined(sections)
    if _size(text) > room:  # the summary alone is too long (thousands of warnings)
        text = _fit(text, room)
    return f"{notice}\n\n{text}"


def _share(sections: list[_Section], room: int, full_plan_url: str | None) -> None:
    """Cut the sections that can be cut so that all fit in ``room`` bytes, sharing it out
    evenly: a section smaller than its share (the table of changes, a short diff) stays
    whole, and what it leaves goes to the larger ones (a long changelog, thousands of
    commits), each cut at a line's end."""
    cuttable = sorted((s for s in sections if s.cuttable), key=lambda s: _body_size(s))
    fixed = sum(_size(line) + 1 for s in sections for line in [*s.head, *s.tail]) + \
        sum(_body_size(s) for s in sections if not s.cuttable)
    remaining = room - fixed - len(cuttable) * (_size(_cut_line(10**6, 10**6, full_plan_url))
                                                + 1)
    for left, section in zip(range(len(cuttable), 0, -1), cuttable, strict=True):
        share = max(0, remaining // left)
        if _body_size(section) > share:
            _shorten(section, share, full_plan_url)
        remaining -= _body_size(section)


def _sections(plan: Plan) -> list[_Section]:
    """The comment's parts, in the order it shows them."""
    warnings = [f"> ⚠️ {_md_escape(d.message)}" + (f" ({_md_escape(d.hint)})" if d.hint else "")
                for d in plan.diagnostics]
    out = [_Section([], [*warnings, ""] if warnings else [], cuttable=True)]
    if plan.rollback is not None:
        return [*out, *_md_rollback(plan)]
    if plan.release is None:
        out.append(_Section(["### Scalpel plan: no changes", "",
                             f"Nothing to release: {plan.nothing_to_release}."], []))
        return [*out, *_md_drift(plan)]
    r = plan.release
    counts = plan.counts()
    summary = ", ".join(f"{counts[a]} to {a}" for a in COUNTED if counts[a]) or "nothing to change"
    irreversible = [c for c in plan.changes if c.actionable and not c.reversible]
    counts_line = f"**Plan:** {summary}" + (f" · ⚠️ {len(irreversible)} irreversible"
                                            if irreversible else "")
    if r.packages is not None:  # a monorepo: a table, then a section per package that moves
        from scalpel_plan.ui.plan_packages import packages_markdown

        out.append(_Section([], packages_markdown(plan, counts_line), cuttable=True))
    else:
        out.append(_Section([
            f"### Scalpel plan: {r.project} {r.previous or '(none)'} → **{r.version}**", "",
            counts_line, f"**Tag:** `{r.tag}` at {_code_if_sha(tag_target(plan))} · "
            f"**Why:** {_md_escape(r.reason)}", ""], []))
    if r.commits:
        out.append(_Section([f"<details><summary>Commits that decide {r.version} "
                             f"({len(r.commits)})</summary>", ""],
                            [f"- `{c.sha[:8]}` {_md_escape(commit_title(c))} ({c.bump})"
                             for c in r.commits], ["", "</details>", ""], cuttable=True))
    if r.changelog:
        out.append(_Section([f"<details><summary>Changelog for {r.version}</summary>", ""],
                            mask(r.changelog).rstrip().splitlines(),
                            ["", "</details>", ""], cuttable=True))
    if r.notes and r.notes.strip() != (r.changelog or "").strip():
        out.append(_Section([f"<details><summary>Release notes for {r.version}</summary>", ""],
                            mask(r.notes).rstrip().splitlines(),
                            ["", "</details>", ""], cuttable=True))
    out += _md_drift(plan)
    actionable = [c for c in plan.changes if c.actionable]
    if actionable:
        rows = sorted(actionable, key=lambda c: (COUNTED.index(c.action), c.address))
        out.append(_Section(
            [f"<details><summary>Changes by node ({len(actionable)})</summary>", "",
             "| Node | Action | Note |", "| --- | --- | --- |"],
            [f"| `{c.address}` | {c.action} | "
             f"{_md_escape(('irreversible. ' if not c.reversible else '') + c.reason)} |"
             for c in rows], ["", "</details>", ""], cuttable=True))
        refer = references(plan)
        block: list[str] = []
        for c in actionable:
            block += [*_plain(change_block(c, refer)), ""]
        out.append(_Section(["<details><summary>Full plan</summary>", "", "```diff"],
                            [mask(line).replace("```", "`\u200b``") for line in block],
                            ["```", "", "</details>"], cuttable=True))
    return out


def _md_rollback(plan: Plan) -> list[_Section]:
    r = plan.rollback
    assert r is not None
    what = f"{r.project} {r.package}" if r.package else r.project
    left = [f"**Left as they are:** {', '.join(r.unchanged)} (only {r.package} goes back)", ""] \
        if r.package and r.unchanged else []
    if r.packages:  # a monorepo's whole release: what each package goes back from and to
        left = ["| Package | Live now → at the point |", "| --- | --- |",
                *(f"| {m.name} | {m.from_version or '(none)'} → **{m.to_version}** |"
                  for m in r.packages), "",
                *([f"**At the point's version already:** {', '.join(r.unchanged)}", ""]
                  if r.unchanged else [])]
    head = _Section([f"### Scalpel rollback: {what} {r.from_version or '(none)'} → "
                     f"**{r.to_version}**" if not r.packages else
                     f"### Scalpel rollback: {what} to **{r.point}**", "",
                     f"**Rollback point:** `{r.point}` at `{r.commit[:12]}`", "", *left], [])
    table = _Section(["| Node | Action | Note |", "| --- | --- | --- |"],
                     [f"| `{c.address}` | {c.action} | {_md_escape(c.reason)} |"
                      for c in plan.changes if c.actionable], cuttable=True)
    if not r.by_hand:
        return [head, table]
    return [head, table, _Section(["", "**Cannot be undone** (by hand if it matters):", ""],
                                  [f"- `{d.address}`: {_md_escape(d.message)}"
                                   for d in r.by_hand], cuttable=True)]


def _md_drift(plan: Plan) -> list[_Section]:
    if not plan.drift:
        return []
    return [_Section(["", f"<details open><summary>⚠️ Changed outside Scalpel "
                      f"({len(plan.drift)})</summary>", ""],
                     [f"- `{d.address}`: {_md_escape(d.message)}" for d in plan.drift],
                     ["", "</details>", ""], cuttable=True)]


def _joined(sections: list[_Section]) -> str:
    return "\n".join(line for s in sections for line in s.lines()) + "\n"


def _size(text: str) -> int:
    return len(text.encode())


def _notice(full_plan_url: str | None) -> str:
    where = (f"the whole plan is in [the workflow run's artifacts]({full_plan_url})"
             if full_plan_url else "`scalpel plan --verbose` shows the whole plan")
    return (f"> ✂️ **Cut to fit a comment** ({COMMENT_LIMIT:,} characters at most): {where}; "
            "each part that was cut says how much of it is missing.")


def _body_size(section: _Section) -> int:
    return sum(_size(line) + 1 for line in section.body)


def _shorten(section: _Section, share: int, full_plan_url: str | None) -> None:
    """Keep the first lines of ``section``'s body that fit in ``share`` bytes, then the line
    that says how many were cut."""
    total, kept, size = len(section.body), [], 0
    for line in section.body:
        size += _size(line) + 1
        if size > share:
            break
        kept.append(line)
    section.cut = total - len(kept)
    section.body = [*kept, _cut_line(section.cut, total, full_plan_url)]


def _cut_line(cut: int, total: int, full_plan_url: str | None) -> str:
    where = f" ([full plan]({full_plan_url}))" if full_plan_url else ""
    return f"… {cut:,} of {total:,} lines cut to fit the comment{where}"


def _fit(text: str, room: int) -> str:
    """The first ``room`` bytes of ``text``, at a line's end, with the cut said."""
    said = "\n… the rest is cut to fit the comment\n"
    data = text.encode()[:max(0, room - _size(said))]
    kept = data.decode(errors="ignore").rsplit("\n", 1)[0]
    return kept + said


def _code_if_sha(text: str) -> str:
    return text if " " in text else f"`{text}`"


def _md_escape(text: str) -> str:
    """Text for a Markdown table cell; secrets masked first (``&lt;`` in a value would hide
    it from the mask)."""
    return mask(text).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _plain(lines: list[str]) -> list[str]:
    """Markup-free copies of rendered lines (for code blocks)."""
    from scalpel_plan.ui.common import plain

    return [plain(line) for line in lines]
