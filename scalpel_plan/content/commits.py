"""Commits as changes: Conventional Commits parsed into ChangeEntry values.

type, scope, `!`, description, body, footers (`Closes #12`, `Refs: #3`, `BREAKING CHANGE:`,
`Co-authored-by:`), pull-request numbers like `(#123)`, reverts and merges. Any message,
however odd (empty, not UTF-8, enormous), parses into an entry; nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from scalpel_plan import git

HEADER = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?: +(?P<desc>\S.*)$")
# a BREAKING CHANGE footer may be empty on its line, its text on the lines that follow
# `Token: value`, `Token #value`, and GitHub's `Fixes owner/repo#12` (another repository's)
OTHER_REPO_REF = r"[ ](?=[\w.-]+/[\w.-]+#\d)"
FOOTER = re.compile(r"^(?P<token>BREAKING[ -]CHANGE|[A-Za-z][\w-]*)"
                    rf"(?::[ ]|[ ](?=#)|{OTHER_REPO_REF}|(?<=^BREAKING[ -]CHANGE):[ \t]*$)"
                    r"(?P<value>.*)$")
FOOTER_TOKEN = (r"(?:BREAKING[ -]CHANGE:[ \t]*(?=\n|\Z)"
                rf"|(?:BREAKING[ -]CHANGE|[A-Za-z][\w-]*)(?::[ ]|[ ](?=#)|{OTHER_REPO_REF}))")
FOOTERS_FIRST = re.compile(FOOTER_TOKEN)  # the body opens with its footers
FOOTERS_AFTER = re.compile(rf"\n\n(?={FOOTER_TOKEN})")  # a paragraph that opens footers

PR_SUFFIX = re.compile(r"\s*\(#(?P<pr>\d+)\)\s*$")
MERGE_PR = re.compile(r"^Merge pull request #(?P<pr>\d+)")
REVERT_SUBJECT = re.compile(r'^Revert "(?P<reverted>.*)"$')
REVERTS_SHA = re.compile(r"This reverts commit (?P<sha>[0-9a-f]{7,40})")
ISSUE_NUMBER = re.compile(r"(?<![\w/.-])#(\d+)")  # not owner/repo#12: not ours
ISSUE_TOKENS = {"close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves",
                "resolved", "ref", "refs", "references", "see", "part-of"}


class ChangeEntry(NamedTuple):
    """One change as a changelog tells it: a commit, parsed. (A named tuple: history can hold
    tens of thousands of them, and tuples are the cheapest immutable values to make.)"""

    sha: str
    type: str | None  # None: not a conventional message
    scope: str | None
    breaking: bool
    description: str
    body: str = ""
    footers: tuple[tuple[str, str], ...] = ()
    breaking_note: str = ""  # what a BREAKING CHANGE footer says (for migration guides)
    prs: tuple[int, ...] = ()
    issues: tuple[int, ...] = ()
    author: str = ""
    email: str = ""
    co_authors: tuple[str, ...] = ()
    timestamp: int = 0
    reverts: str | None = None  # the sha this commit reverts
    merge: bool = False

    @property
    def conventional(self) -> bool:
        return self.type is not None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def title(self) -> str:
        scope = f"({self.scope})" if self.scope else ""
        kind = f"{self.type}{scope}{'!' if self.breaking else ''}: " if self.type else ""
        return kind + self.description


def parse(sha: str, subject: str, body: str = "", *, author: str = "", email: str = "",
          timestamp: int = 0, merge: bool = False) -> ChangeEntry:
    """The ChangeEntry for a commit message (subject line and body). CRLF and CR line endings
    read as LF; a byte-order mark before the subject is no part of it."""
    subject = subject.lstrip(" \t\ufeff").rstrip(" \t\r\n")
    if "\r" in body:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    text, footers = _split_footers(body) if body else ("", ())
    prs = _prs(subject) if "#" in subject else ()
    description = PR_SUFFIX.sub("", subject) if prs else subject
    reverts = _reverted_sha(body, footers) \
        if "This reverts commit" in body or subject[:6].lower() == "revert" else None
    match = HEADER.match(description)
    if match is None and REVERT_SUBJECT.match(subject):
        kind, scope, bang, description = "revert", None, False, subject
    elif match is None:
        kind, scope, bang = None, None, False
    else:
        kind, scope, mark, description = match.groups()
        kind, scope, bang = kind.lower(), scope or None, mark is not None
        description = description.strip()
    note, issues, co_authors = _from_footers(footers) if footers else ("", (), ())
    breaking = kind is not None and (bang or bool(note))
    return ChangeEntry(  # positional: history makes tens of thousands of these
        sha, kind, scope, breaking, description, text, footers,
        note or (description if breaking else ""), prs, issues, author, email, co_authors,
        timestamp, reverts, merge)


def _from_footers(footers: tuple[tuple[str, str], ...]) -> tuple[str, tuple[int, ...],
                                                                 tuple[str, ...]]:
    """(the breaking-change note, the issues referenced, the co-authors) of ``footers``."""
    note = next((v for k, v in footers if k.replace("-", " ").upper() == "BREAKING CHANGE"), "")
    co_authors = tuple(v for k, v in footers if k.lower() == "co-authored-by")
    return note, _issues(footers), co_authors


def from_commit(commit: git.Commit) -> ChangeEntry:
    return parse(commit.sha, commit.subject, commit.body, author=commit.author,
                 email=commit.email, timestamp=commit.timestamp, merge=len(commit.parents) > 1)


def _split_footers(body: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(the body without its footers, the footers), footers being the trailing paragraphs
    from the first one that opens with a `Token: value` line."""
    text = body.strip("\n")
    # one scan in C (most bodies have no footers); cheaper as two patterns than as one
    # with an \A alternative, which the scanner tries at every position
    if FOOTERS_FIRST.match(text):
        cut = begin = 0
    elif start := FOOTERS_AFTER.search(text):
        cut, begin = start.start(), start.end()
    else:
        return text.strip(), ()
    footers: list[tuple[str, str]] = []
    for line in text[begin:].splitlines():
        found = FOOTER.match(line)
        if found:
            footers.append((found["token"], found["value"].strip()))
        elif footers and line.strip():  # a value that runs on over several lines
            token, value = footers[-1]
            footers[-1] = (token, f"{value}\n{line.strip()}" if value else line.strip())
    return text[:cut].strip(), tuple(footers)


def _prs(subject: str) -> tuple[int, ...]:
    found = PR_SUFFIX.search(subject) or MERGE_PR.match(subject)
    return (int(found["pr"]),) if found else ()


def _issues(footers: Iterable[tuple[str, str]]) -> tuple[int, ...]:
    numbers: list[int] = []
    for token, value in footers:
        if token.lower() in ISSUE_TOKENS:
            numbers += [int(n) for n in ISSUE_NUMBER.findall(value) if int(n) not in numbers]
    return tuple(numbers)


def _reverted_sha(body: str, footers: tuple[tuple[str, str], ...]) -> str | None:
    found = REVERTS_SHA.search(body)
    if found:
        return found["sha"]
    refs = next((v for k, v in footers if k.lower() == "refs"), "")
    return refs.split()[0] if re.fullmatch(r"[0-9a-f]{7,40}(\s.*)?", refs) else None


def cancel_reverts(entries: list[ChangeEntry]) -> list[ChangeEntry]:
    """``entries`` without the reverts whose reverted commit is among them, nor that commit.
    (The reverted commit is found by the first seven characters of its sha: a release with
    many reverts is not searched whole for each one.)"""
    reverting = [e for e in entries if e.reverts]
    if not reverting:
        return list(entries)
    by_prefix: dict[str, list[str]] = {}
    for entry in entries:
        by_prefix.setdefault(entry.sha[:7], []).append(entry.sha)
    gone: set[str] = set()
    for entry in reverting:
        sha = entry.reverts or ""
        near = by_prefix.get(sha[:7], ()) if len(sha) >= 7 else [e.sha for e in entries]
        target = next((s for s in near if s.startswith(sha)), None)
        if target and target not in gone:
            gone |= {target, entry.sha}
    return [e for e in entries if e.sha not in gone]
