"""What the plan renderings share: markup escaping, the order actions are counted in, commit
titles, and the Terraform-like block of one change (the Markdown folds it into a diff)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scalpel_plan.plan.model import CommitSummary, Plan
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
# What a block without --verbose leaves out: the release's version (in the plan's header), the
# kind of a node and a stage's exit code (always known after apply only).
COMPACT_HIDDEN = frozenset({"release", "kind", "exit_code"})


def escape(text: str) -> str:
    """``text`` with rich's markup characters escaped (as ``rich.markup.escape`` does, without
    importing rich: a test checks they agree)."""
    if "[" not in text and not text.endswith("\\"):
        return text  # nothing rich would read as markup (most values: a plan has thousands)
    escaped = ESCAPED.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


ESCAPED = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")  # rich.markup.escape's pattern


def plain(markup: str) -> str:
    """What rich prints for ``markup`` with no colour and no wrapping (tags dropped, escapes
    undone, control characters it strips stripped, tabs expanded), in linear time: rich's
    own rendering of a plan of 8,000 nodes takes seconds (and rich is not imported for it)."""
    out: list[str] = []
    position = 0
    for match in RE_TAGS.finditer(markup):
        full_text, escapes, _ = match.groups()
        start, end = match.span()
        if start > position:
            out.append(markup[position:start].replace("\\[", "["))
        position = end
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            out.append("\\" * backslashes)
            if escaped:
                out.append(full_text[len(escapes):])
    if position < len(markup):
        out.append(markup[position:].replace("\\[", "["))
    text = STRIPPED.sub("", "".join(out))
    return "\n".join(line.expandtabs(8) for line in text.split("\n")) if "\t" in text else text


STRIPPED = re.compile("[\x07\x08\x0b\x0c\x0d]")  # the control codes rich drops from text
# rich's markup tags (rich.markup.RE_TAGS: the same pattern; importing rich costs more than a
# whole apply's progress lines written without it)
RE_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])", re.VERBOSE)


def commit_title(c: CommitSummary) -> str:
    return c.title


class Reference(str):
    """An attribute value shown once elsewhere in the plan (the changelog section, the
    release notes): a block names it instead of repeating it."""


def references(plan: Plan) -> dict[str, Reference]:
    """The texts a plan shows once, in its header, and how a change's block refers to them."""
    r = plan.release
    shown = [(r.changelog, "the changelog section"), (r.notes, "the release notes")] if r else []
    found: dict[str, Reference] = {}
    for text, what in shown:
        if text and text.strip():
            lines = len(text.strip().splitlines())
            found.setdefault(text.strip(), Reference(f"({what} above, {lines} lines)"))
    return found


def change_block(change: Change, refer: dict[str, Reference] | None = None,
                 max_lines: int | None = None) -> list[str]:
    """One change as a Terraform-like block, a line of rich markup each. A value in ``refer``
    is named, not repeated; with ``max_lines`` (a plan without --verbose), a longer
    multi-line value is cut there, the release's version (in the plan's header) is not
    repeated, and what is known only after apply is named on one line."""
    if refer:
        change = change.model_copy(update={"after": _referred(change.after, refer),
                                           "before": _referred(change.before, refer)})
    later: list[str] = []
    if max_lines is not None and change.action in ("create", "run", "adopt"):
        later = sorted(k for k in change.after.keys() | set(change.unknown)
                       if k not in COMPACT_HIDDEN and (k in change.unknown or
                                                       _is_reference(change.after.get(k))))
        hidden = {*later, *COMPACT_HIDDEN}
        change = change.model_copy(update={
            "after": {k: v for k, v in change.after.items() if k not in hidden},
            "before": {k: v for k, v in change.before.items() if k not in hidden},
            "unknown": []})
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
            block = _block(value, max_lines=max_lines) if isinstance(value, dict | str) \
                else None
            if block:
                lines.append(f"      {sign}{escape(name)} = {escape(block[0])}")
                lines += [f"        {' ' * width}{escape(line)}" for line in block[1:]]
            else:
                lines.append(f"      {sign}{escape(name)} = {escape(after)}")
    if later:
        lines.append(f"      [dim]({KNOWN_AFTER_APPLY[1:-1]}: {escape(', '.join(later))})[/]")
    lines.append("    }")
    return lines


def _is_reference(value: Any) -> bool:
    """Another node's attribute, known after apply (``${git.commit.branch}``)."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}") and \
        not value.startswith("${secrets.")


def _referred(value: Any, refer: dict[str, Reference]) -> Any:
    """``value`` with every text ``refer`` names replaced by its reference."""
    if isinstance(value, str):
        return refer.get(value.strip(), value) if "\n" in value.strip() else value
    if isinstance(value, dict):
        return {k: _referred(v, refer) for k, v in value.items()}
    if isinstance(value, list):
        return [_referred(v, refer) for v in value]
    return value


def _block(value: Any, depth: int = 0, max_lines: int | None = None) -> list[str] | None:
    """Multi-line renderings: heredocs for text, nested blocks for mappings, diffs for edits
    (``[{line, old, new}]``). None when one line says it best."""
    if isinstance(value, str):
        if isinstance(value, Reference) or "\n" not in value.rstrip("\n"):
            return None
        text = value.rstrip("\n").splitlines()
        shown = text if max_lines is None or len(text) <= max_lines else text[:max_lines]
        cut = [f"  … {len(text) - len(shown)} more lines (--verbose shows them)"] * \
            (len(shown) < len(text))
        return ["<<-EOT", *(f"  {line}" for line in shown), *cut, "EOT"]
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
        inner = _block(item, depth + 1, max_lines) if isinstance(item, dict | str) else None
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
    if isinstance(value, Reference):
        return str(value)
    if isinstance(value, str) and value.startswith("${secrets.") and value.endswith("}"):
        return f"(sensitive value: {value[2:-1]})"  # read from the environment at apply
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return f"(known after apply: {value[2:-1]})"  # another node's attribute
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def tag_target(plan: Plan, tag: str | None = None) -> str:
    """Where the release tag (or ``tag``, a monorepo package's) goes: a commit, or the
    release commit still to be made on top of HEAD (the tag never goes on HEAD then)."""
    r = plan.release
    assert r is not None
    tag = tag or r.tag
    tagged = next((c.after.get("commit") for c in plan.changes
                   if c.provider == "git" and c.after.get("tag") == tag), None)
    if isinstance(tagged, str) and tagged.startswith("${"):
        replaced = next((c.after.get("replaces") for c in plan.changes
                         if c.provider == "git_commit" and c.after.get("replaces")), None)
        if isinstance(replaced, str):
            return f"the release commit, made again in place of {replaced[:12]}"
        branch = next((c.after.get("branch") for c in plan.changes
                       if c.provider == "git_commit" and c.actionable), None)
        if isinstance(branch, str) and branch.startswith("("):  # "(detached)": on no branch
            return f"the release commit, made on top of {r.commit[:12]} (HEAD, detached)"
        onto = f" onto {branch}" if isinstance(branch, str) and branch else ""
        return f"the release commit{onto}, made on top of {r.commit[:12]}"
    return (tagged if isinstance(tagged, str) and tagged else r.commit)[:12]
