"""The changelog: ChangeEntry values grouped into sections per release, rendered as Markdown
(Keep a Changelog layout), HTML (escaped, self-contained) or JSON (docs/changelog-format.md).

Pure values in, text out: reading history from git is ``release.history``'s job. The one
exception is ``write_section``, the one writer of the changelog file, which both
`scalpel changelog --write` and the release commit use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scalpel_plan.content.commits import ChangeEntry, cancel_reverts
from scalpel_plan.content.dates import today
from scalpel_plan.errors import ScalpelError
from scalpel_plan.files import atomic_write
from scalpel_plan.masking import MASK, mask
from scalpel_plan.spec.sections import ChangelogSettings

if TYPE_CHECKING:
    from scalpel_plan.spec.sections import ChangelogView

CHANGELOG_FORMAT_VERSION = 1
BREAKING_TITLE = "⚠ Breaking Changes"
DEPENDENCIES_TITLE = "Dependencies"  # a monorepo package's: the packages it depends on that move
OTHER_TITLE = "Other"
HEADER = ("# Changelog\n\nAll notable changes to this project are documented in this file.\n"
          "The format follows [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n")


@dataclass(frozen=True)
class ChangelogSection:
    """One heading of a release's changelog and the entries under it."""

    title: str
    entries: tuple[ChangeEntry, ...]


@dataclass(frozen=True)
class ReleaseChanges:
    """What one release contains: its version, date and sections."""

    version: str  # "Unreleased" for changes after the last tag
    tag: str | None
    date: str | None  # ISO date
    previous_tag: str | None
    sections: tuple[ChangelogSection, ...]
    contributors: tuple[str, ...] = field(default=())
    # a monorepo package's: (package, version) of the packages it depends on that move with it
    dependencies: tuple[tuple[str, str], ...] = field(default=())
    package: str | None = None  # set in a monorepo's changelog of every package: headed by tag

    @property
    def label(self) -> str:
        """What the section is headed by: its version, or (of one package among others) its
        tag, which names the package."""
        return self.tag if self.package and self.tag else self.version

    @property
    def updated(self) -> str | None:
        """The dependencies line, in changesets' words: "Updated dependencies: core 1.2.0"."""
        if not self.dependencies:
            return None
        return "Updated dependencies: " + ", ".join(f"{n} {v}" for n, v in self.dependencies)

    @property
    def entries(self) -> list[ChangeEntry]:
        return [e for s in self.sections for e in s.entries]

    @property
    def breaking(self) -> list[ChangeEntry]:
        return [e for e in self.entries if e.breaking]


class ChangelogGenerator:
    """Builds release sections from entries and renders them."""

    def __init__(self, config: ChangelogView | None = None) -> None:
        self.config: ChangelogView = config or ChangelogSettings()

    # assembling ---------------------------------------------------------------------------
    def sections(self, entries: Iterable[ChangeEntry]) -> tuple[ChangelogSection, ...]:
        """Breaking changes first, then one section per configured type, in its order."""
        kept = [e for e in cancel_reverts(list(entries)) if not (e.merge and not e.conventional)]
        categories, keep = self.config.categories, self.config.other == "keep"
        groups: dict[str, list[ChangeEntry]] = {BREAKING_TITLE: []}
        groups.update({title: [] for title in categories.values()})
        groups[OTHER_TITLE] = []
        for entry in kept:
            if entry.breaking:
                groups[BREAKING_TITLE].append(entry)
            elif (title := categories.get(entry.type or "")) is not None:
                groups[title].append(entry)
            elif keep:  # not conventional, or a type with no section
                groups[OTHER_TITLE].append(entry)
        return tuple(ChangelogSection(t, tuple(es)) for t, es in groups.items() if es)

    def release(self, version: str, entries: Iterable[ChangeEntry], *, tag: str | None = None,
                date: str | None = None, previous_tag: str | None = None,
                dependencies: tuple[tuple[str, str], ...] = ()) -> ReleaseChanges:
        sections = self.sections(entries)
        people: dict[str, None] = {}
        if self.config.contributors:
            for section in sections:
                for entry in section.entries:
                    people[entry.author] = None
                    for co_author in entry.co_authors:
                        people[_name(co_author)] = None
            people.pop("", None)
        return ReleaseChanges(version, tag, date or today().isoformat(), previous_tag,
                              sections, tuple(people), dependencies)

    # Markdown -----------------------------------------------------------------------------
    def markdown(self, releases: Iterable[ReleaseChanges], *, header: bool = False) -> str:
        """Keep a Changelog Markdown for ``releases`` (newest first)."""
        listed = list(releases)
        parts = [HEADER] if header else []
        parts += [self.markdown_section(r) for r in listed]
        links = [self._link_reference(r) for r in listed]
        text = "\n".join(parts)
        return text + ("\n" + "\n".join(x for x in links if x) + "\n" if any(links) else "")

    def markdown_section(self, release: ReleaseChanges) -> str:
        version = release.version
        heading = f"## [{release.label}]" + (f" - {release.date}" if version != "Unreleased"
                                             else "")
        lines = [heading, ""]
        if not release.sections and not release.dependencies:
            lines += ["_No notable changes._", ""]
        for section in release.sections:
            lines += [f"### {section.title}", ""]
            lines += [self._markdown_entry(e, section.title == BREAKING_TITLE)
                      for e in section.entries]
            lines.append("")
        if release.updated:
            lines += [f"### {DEPENDENCIES_TITLE}", "", f"- {_md(release.updated)}", ""]
        if release.contributors:
            lines += ["**Contributors:** " + ", ".join(release.contributors), ""]
        return "\n".join(lines)

    def _markdown_entry(self, entry: ChangeEntry, breaking: bool) -> str:
        config = self.config
        scope = f"**{_md(entry.scope)}:** " if entry.scope else ""
        text = f"- {scope}{_md(entry.description)}"
        commit = _link(entry.sha[:7], config.commits, "sha", entry.sha)
        if entry.prs:
            refs = [_link(f"#{n}", config.pulls or config.issues, "id", n) for n in entry.prs]
            text += " (" + ", ".join([*refs, commit]) + ")"
        else:
            text += f" ({commit})"
        if entry.issues:
            text += ", closes " + ", ".join(
                _link(f"#{n}", config.issues, "id", n) for n in entry.issues)
        if breaking and entry.breaking_note and entry.breaking_note != entry.description:
            text += "\n" + "\n".join(f"  {line}" for line in _md(entry.breaking_note).splitlines())
        return text

    def _link_reference(self, release: ReleaseChanges) -> str | None:
        if not (self.config.compare and release.previous_tag):
            return None
        url = self.config.compare.format_map({"previous": release.previous_tag,
                                              "tag": release.tag or "HEAD"})
        return f"[{release.label}]: {url}"

    # HTML ---------------------------------------------------------------------------------
    def html(self, releases: Iterable[ReleaseChanges], *, title: str = "Changelog") -> str:
        """A self-contained, escaped HTML page (no scripts, no external resources)."""
        body = [f"<h1>{_html(title)}</h1>"]
        for release in releases:
            date = f" <small>{_html(release.date or '')}</small>" \
                if release.version != "Unreleased" else ""
            body.append(f'<section class="release"><h2>{_html(release.label)}{date}</h2>')
            for section in release.sections:
                body.append(f"<h3>{_html(section.title)}</h3><ul>")
                body += [f"<li>{self._html_entry(e)}</li>" for e in section.entries]
                body.append("</ul>")
            if release.updated:
                body.append(f"<h3>{DEPENDENCIES_TITLE}</h3><ul><li>{_html(release.updated)}"
                            "</li></ul>")
            if release.contributors:
                body.append("<p><strong>Contributors:</strong> "
                            f"{_html(', '.join(release.contributors))}</p>")
            body.append("</section>")
        return HTML_PAGE.format(title=_html(title), body="\n".join(body))

    def _html_entry(self, entry: ChangeEntry) -> str:
        scope = f"<strong>{_html(entry.scope)}:</strong> " if entry.scope else ""
        sha = _html(entry.short_sha)
        if self.config.commits:
            url = _html(self.config.commits.format_map({"sha": entry.sha}))
            sha = f'<a href="{url}"><code>{sha}</code></a>'
        else:
            sha = f"<code>{sha}</code>"
        return f"{scope}{_html(entry.description)} ({sha})"

    # JSON ---------------------------------------------------------------------------------
    def json(self, releases: Iterable[ReleaseChanges]) -> str:
        """The changelog as data: see docs/changelog-format.md."""
        return "".join(self.json_chunks(releases))

    def json_chunks(self, releases: Iterable[ReleaseChanges]) -> Iterator[str]:
        """``json``'s text release by release (the whole history's data is never in memory
        at once): the same text as one ``json.dumps(..., indent=2)`` of all of it."""
        yield f'{{\n  "format_version": {CHANGELOG_FORMAT_VERSION},\n  "releases": ['
        before = "\n"
        for release in releases:
            text = json.dumps(_release_data(release), indent=2, ensure_ascii=False)
            yield before + "    " + text.replace("\n", "\n    ")  # no string holds a newline
            before = ",\n"
        yield "]\n}\n" if before == "\n" else "\n  ]\n}\n"


def write_section(path: Path, section: str, marker: str, *, replace: bool = False) -> bool:
    """Insert ``section`` into the changelog file at ``path`` under ``marker`` (see
    ``insert_section``), starting the file if there is none; False, and the file untouched,
    when it already has the section's heading (with ``replace``: when it already has this
    very section; one under the same heading that differs, as a rebase leaves it, is
    replaced). The section passes through the secrets mask (a commit message may quote a
    value); the file is replaced atomically, and bytes that are not UTF-8 are written back
    exactly as they were. A file that cannot be read or written is a ScalpelError naming it."""
    existing = _read_changelog(path)
    section = mask(section)
    heading = section.split("\n", 1)[0]
    if heading in existing:
        if not replace or section_of(existing, heading) == section.rstrip("\n"):
            return False
        text = existing.replace(section_of(existing, heading), section.rstrip("\n"), 1)
    else:
        text = insert_section(existing, section, marker)
    try:
        atomic_write(path, text.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise ScalpelError(f"cannot write {path}: {exc.strerror}") from None
    return True


def section_of(text: str, heading: str) -> str:
    """The section of ``text`` that starts with the line ``heading``, up to the next release
    heading (without the blank lines before it)."""
    start = text.index(heading)
    rest = text[start + len(heading):]
    following = _first_release_heading(rest.split("\n", 1)[1] if "\n" in rest else "")
    if following is None:
        return text[start:].rstrip("\n")
    end = start + len(heading) + 1 + following
    return text[start:end].rstrip("\n")


def _read_changelog(path: Path) -> str:
    """The changelog's text ("" when there is no file yet), non-UTF-8 bytes kept as
    surrogates."""
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ScalpelError(f"cannot read {path}: {exc.strerror}") from None


def insert_section(existing: str, section: str, marker: str) -> str:
    """``existing`` changelog text with ``section`` inserted under ``marker``; every other byte
    stays as it was. Without a marker, it goes before the first release heading (and the
    marker with it, so the next release finds its place)."""
    block = section.rstrip("\n") + "\n"
    if marker in existing:
        at = existing.index(marker) + len(marker)
        rest = existing[at:]
        newline = "\n" if rest.startswith("\n") else ""
        return existing[:at] + "\n\n" + block + newline + rest.removeprefix("\n")
    if not existing.strip():
        return f"{HEADER}\n{marker}\n\n{block}"
    first = _first_release_heading(existing)
    if first is None:
        sep = "" if existing.endswith("\n") else "\n"
        return f"{existing}{sep}\n{marker}\n\n{block}"
    return f"{existing[:first]}{marker}\n\n{block}\n{existing[first:]}"


def _first_release_heading(text: str) -> int | None:
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            return offset
        offset += len(line)
    return None


def _release_data(release: ReleaseChanges) -> dict[str, object]:
    data: dict[str, object] = {
        "version": release.version, "tag": release.tag, "date": release.date,
        "previous_tag": release.previous_tag, "contributors": list(release.contributors),
        "sections": [{"title": s.title, "entries": [_entry_data(e) for e in s.entries]}
                     for s in release.sections],
    }
    if release.package:  # a monorepo's changelog of every package
        data["package"] = release.package
    if release.dependencies:  # a monorepo package's
        data["dependencies"] = [{"package": n, "version": v} for n, v in release.dependencies]
    return data


def _entry_data(entry: ChangeEntry) -> dict[str, object]:
    data = entry._asdict()
    data["footers"] = [{"token": k, "value": v} for k, v in entry.footers]
    for key in ("prs", "issues", "co_authors"):
        data[key] = list(data[key])
    return data


def _link(label: str, template: str | None, key: str, value: object) -> str:
    """``label``, linked to ``template`` filled with ``key`` (when there is a template)."""
    if not template:
        return label
    return f"[{label}]({template.format_map({key: str(value)})})"


def _name(co_author: str) -> str:
    return co_author.split("<", 1)[0].strip()


MARKDOWN_ESCAPES = str.maketrans({"\\": "\\\\", "<": "&lt;", ">": "&gt;", "*": "\\*",
                                  "_": "\\_", "[": "\\[", "]": "\\]"})


def _md(text: str) -> str:
    """Text safe inside Markdown: no raw HTML, no accidental emphasis. Secrets are masked
    first (escaped, ``tok\\_en``, a value would hide from the mask); the mask reads as
    itself."""
    masked = mask(text)
    if "`" in masked:  # a code span shows its text as it is: escapes would show too
        return _md_around_code(masked)
    return _md_escaped(masked)


def _md_escaped(masked: str) -> str:
    if MASK not in masked:
        return masked.translate(MARKDOWN_ESCAPES)
    return MASK.join(part.translate(MARKDOWN_ESCAPES) for part in masked.split(MASK))


CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)


def _md_around_code(masked: str) -> str:
    """``masked`` escaped outside its code spans (`like_this`), which are kept as written."""
    out, at = [], 0
    for span in CODE_SPAN.finditer(masked):
        out += [_md_escaped(masked[at:span.start()]), span.group(0)]
        at = span.end()
    out.append(_md_escaped(masked[at:]))
    return "".join(out)


def _html(text: str) -> str:
    """Text safe inside HTML; secrets masked first, as for ``_md``. Control characters, which
    HTML may not hold (neither raw nor as character references), read as ``\\xNN``."""
    import html  # here: only the HTML page needs it

    return html.escape(mask(text), quote=True).translate(HTML_CONTROLS)


HTML_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]
                 if chr(c) not in "\t\n"}


HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }}
h2 {{ border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }}
small {{ color: #656d76; font-weight: normal; }}
code {{ font-size: .85em; background: #f6f8fa; padding: .1em .3em; border-radius: 4px; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
