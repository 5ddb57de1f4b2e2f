"""A synthetic repository for the changelog benchmarks that looks like a real one, written with
git fast-import (50,000 commits in a few seconds).

What real histories have and a straight line of commits does not:

* pull requests: short topic branches merged with a "Merge pull request" commit, and
  long-lived branches forked before a tag and merged after one to three later tags;
* commits dated out of order: author dates (branch work written before the tags it lands
  after, a few commits written weeks before they were committed, as rebases and applied
  patches leave them), and now and then a committer's clock an hour behind;
* CRLF messages (with their footers: `Closes #N`, `BREAKING CHANGE:`), subjects of 20-70
  characters, bodies from none to a few paragraphs, non-conventional subjects;
* a release tag every ``every`` commits of main, annotated or lightweight; pre-release series
  (``2.0.0-beta.0`` … ``beta.N``, then ``2.0.0``) before each major release; two tag styles
  (early releases ``v1.2.3``, later ones ``1.2.3``: the spec's ``version.tag`` lists both);
* other packages' tags (``other-pkg@1.0.0``, ``create-widget@0.3.0``), which the spec ignores
  with ``version.ignore_tags``.

Every release tag is on main's first-parent line in version order, so the release before a
tag (the highest release tag that is its ancestor) is the one before it in ``releases``.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TYPES = ["feat", "fix", "fix", "docs", "chore", "refactor", "perf", "test", "ci", "build"]
SCOPES = [None, None, "api", "cli", "core", "ui", "docs", "parser", "deps"]
WORDS = [
    "add", "remove", "handle", "support", "allow", "fix", "update", "improve", "speed",
    "up", "cache", "parse", "render", "validate", "config", "option", "flag", "error",
    "message", "output", "input", "file", "path", "user", "request", "response", "timeout",
    "retry", "token", "index", "query", "table", "column", "button", "page", "layout",
]
AUTHORS = ["Ada Lovelace <ada@example.com>", "Alan Turing <alan@example.com>",
           "Edsger Dijkstra <ewd@example.com>", "Grace Hopper <grace@example.com>"]
OTHER_PACKAGES = ["other-pkg", "create-widget"]
TAG_FORMATS = ["{version}", "v{version}"]  # new tags get the first; early ones have the second
SPEC = ("project: {name: big}\n"
        "version:\n"
        "  tag: ['{version}', 'v{version}']\n"
        "  ignore_tags: ['other-pkg@*', 'create-widget@*']\n"
        "changelog: {other: keep}\n")  # every commit listed: comparable with `git log`


@dataclass
class Generated:
    path: Path
    spec: str  # release.yml for this history (also written into the work tree)
    releases: list[str] = field(default_factory=list)  # release tags, lowest version first
    other_tags: int = 0
    merges: int = 0
    commits: int = 0


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words)


def message(rng: random.Random, n: int) -> str:
    if rng.random() < 0.2:  # not conventional
        subject = rng.choice(["Update ", "Merge branch 'topic-", "WIP ", "Fix "]) + \
            _sentence(rng, 2, 8)
    else:
        kind, scope = rng.choice(TYPES), rng.choice(SCOPES)
        bang = "!" if rng.random() < 0.01 else ""
        subject = f"{kind}{f'({scope})' if scope else ''}{bang}: {_sentence(rng, 3, 9)}"
        if rng.random() < 0.3:
            subject += f" (#{n % 9000 + 1})"
    paragraphs = [_sentence(rng, 8, 40) for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))]
    footers = []
    if rng.random() < 0.2:
        footers.append(f"{rng.choice(['Closes', 'Fixes'])} #{rng.randint(1, 5000)}")
    if rng.random() < 0.05:
        footers.append("Co-authored-by: Grace Hopper <grace@example.com>")
    if rng.random() < 0.005:
        footers.append("BREAKING CHANGE: " + _sentence(rng, 5, 15))
    parts = [subject, *paragraphs, "\n".join(footers)] if footers else [subject, *paragraphs]
    text = "\n\n".join(parts) + "\n"
    return text.replace("\n", "\r\n") if rng.random() < 0.05 else text  # Windows editors


class _Writer:
    """The fast-import stream: commits (one mark each) and tags."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.chunks: list[bytes] = []
        self.marks = 0
        self.merges = 0

    def commit(self, text: str, when: int, parents: list[int], authored: int | None = None
               ) -> int:
        """A commit made at ``when`` (its committer date; now and then a clock an hour
        behind), written at ``authored`` (its author date, by default ``when``)."""
        self.marks += 1
        committed = when - self.rng.randint(60, 3600) if self.rng.random() < 0.005 else when
        mark = self.marks
        data = text.encode()
        author = self.rng.choice(AUTHORS)
        blob = f"{mark}\n".encode()
        self.chunks.append(f"commit refs/heads/work\nmark :{mark}\n"
                           f"author {author} {authored or when} +0000\n"
                           f"committer {author} {committed} +0000\n"
                           f"data {len(data)}\n".encode() + data)
        for i, parent in enumerate(parents):
            self.chunks.append(f"{'from' if i == 0 else 'merge'} :{parent}\n".encode())
        self.merges += len(parents) > 1
        self.chunks.append(f"M 100644 inline counter.txt\ndata {len(blob)}\n".encode() + blob
                           + b"\n")
        return mark

    def tag(self, name: str, mark: int, when: int, annotated: bool) -> None:
        if not annotated:
            self.chunks.append(f"reset refs/tags/{name}\nfrom :{mark}\n\n".encode())
            return
        note = f"Release {name}\n".encode()
        self.chunks.append(f"tag {name}\nfrom :{mark}\ntagger Ada Lovelace <ada@example.com> "
                           f"{when} +0000\ndata {len(note)}\n".encode() + note)


def _versions(rng: random.Random) -> Iterator[str]:
    """Release versions in order: patches and minors, and before each major release (every
    40-70 releases) a beta series starting at .0."""
    major, minor, patch, until_major = 0, 1, 0, rng.randint(40, 70)
    yield "0.1.0"
    while True:
        until_major -= 1
        if until_major <= 0:
            major, minor, patch, until_major = major + 1, 0, 0, rng.randint(40, 70)
            for beta in range(rng.randint(3, 9)):
                yield f"{major}.0.0-beta.{beta}"
        elif rng.random() < 0.25:
            minor, patch = minor + 1, 0
        else:
            patch += 1
        yield f"{major}.{minor}.{patch}"


def generate(path: Path, commits: int = 50_000, every: int = 25, seed: int = 7) -> Generated:
    """Create the repository at ``path`` (a new folder) with ``commits`` commits, all in the
    history of main (HEAD), and a release tag every ``every`` commits of main."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out = _Writer(rng)
    generated = Generated(path, SPEC)
    versions = _versions(rng)
    switch = commits // every * 2 // 5  # the first 40 % of releases are tagged v1.2.3
    when = 1_600_000_000
    main = out.commit("chore: initial commit\n", when, [])
    topics: list[list[int]] = []  # [fork point, tip] of open pull requests
    long_lived: list[list[int]] = []  # [tip, tags still to pass before its merge]
    since_tag = 0  # commits on main since the last release tag
    while out.marks + len(topics) + len(long_lived) < commits:
        when += rng.randint(60, 7200)
        roll = rng.random()
        if roll < 0.12:  # work on a pull request (dated before its merge)
            if not topics or (rng.random() < 0.3 and len(topics) < 4):
                topics.append([main])
            topic = rng.choice(topics)
            topic[-1:] = [out.commit(message(rng, out.marks), when, [topic[-1]],
                                     when - rng.randint(0, 86400 * 3))]
            continue
        if roll < 0.15:  # work on a long-lived branch
            if not long_lived or (rng.random() < 0.05 and len(long_lived) < 3):
                long_lived.append([main, rng.randint(1, 3)])
            branch = rng.choice(long_lived)
            branch[0] = out.commit(message(rng, out.marks), when, [branch[0]],
                                   when - rng.randint(0, 86400 * 30))
            continue
        ready = [b for b in long_lived if b[1] <= 0]
        if roll < 0.16 and ready:  # merged after one to three later tags
            long_lived.remove(ready[0])
            main = out.commit("Merge branch 'next' into main\n", when, [main, ready[0][0]])
        elif roll < 0.19 and topics:  # a pull request merged
            tip = topics.pop(rng.randrange(len(topics)))[-1]
            main = out.commit(f"Merge pull request #{out.marks} from ada/topic-{out.marks}\n",
                              when, [main, tip])
        else:  # a commit straight on main, now and then dated weeks back
            dated = when - rng.randint(86400, 86400 * 60) if rng.random() < 0.03 else when
            main = out.commit(message(rng, out.marks), when, [main], dated)
        since_tag += 1
        if since_tag >= every and commits - out.marks > every // 2:
            since_tag = 0
            version = next(versions)
            name = f"v{version}" if len(generated.releases) < switch else version
            out.tag(name, main, when, annotated=rng.random() < 0.7)
            generated.releases.append(name)
            for branch in long_lived:
                branch[1] -= 1
            if rng.random() < 0.3:
                other = f"{rng.choice(OTHER_PACKAGES)}@{len(generated.releases) // 10}." \
                    f"{len(generated.releases) % 10}.0"
                out.tag(other, main, when, annotated=rng.random() < 0.5)
                generated.other_tags += 1
    for tip in [t[-1] for t in topics] + [b[0] for b in long_lived]:  # merge what is open
        when += 60
        main = out.commit(f"Merge branch 'topic-{tip}'\n", when, [main, tip])
    out.chunks.append(f"reset refs/heads/main\nfrom :{main}\n\n".encode())
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out.chunks),
                   check=True)
    subprocess.run(["git", "update-ref", "-d", "refs/heads/work"], cwd=path, check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)
    (path / "release.yml").write_text(SPEC)
    generated.merges, generated.commits = out.merges, out.marks
    return generated


if __name__ == "__main__":
    import sys
    import time

    started = time.perf_counter()
    made = generate(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:]))
    print(f"generated in {time.perf_counter() - started:.1f} s: {made.commits:,} commits, "
          f"{made.merges:,} merges, {len(made.releases):,} release tags "
          f"({made.releases[0]} … {made.releases[-1]}), {made.other_tags} other packages' tags")
