"""A synthetic repository for the changelog benchmarks, written with git fast-import.

Conventional and non-conventional commits in realistic sizes (subjects of 20-70 characters,
bodies from none to a few paragraphs, footers now and then), with an annotated release tag
every `commits // tags` commits.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

TYPES = ["feat", "fix", "fix", "docs", "chore", "refactor", "perf", "test", "ci", "build"]
SCOPES = [None, None, "api", "cli", "core", "ui", "docs", "parser", "deps"]
WORDS = [
    "add", "remove", "handle", "support", "allow", "fix", "update", "improve", "speed",
    "up", "cache", "parse", "render", "validate", "config", "option", "flag", "error",
    "message", "output", "input", "file", "path", "user", "request", "response", "timeout",
    "retry", "token", "index", "query", "table", "column", "button", "page", "layout",
]


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
        footers.append(f"Closes #{rng.randint(1, 5000)}")
    if rng.random() < 0.05:
        footers.append("Co-authored-by: Grace Hopper <grace@example.com>")
    if rng.random() < 0.005:
        footers.append("BREAKING CHANGE: " + _sentence(rng, 5, 15))
    parts = [subject, *paragraphs, "\n".join(footers)] if footers else [subject, *paragraphs]
    return "\n\n".join(parts) + "\n"


def generate(path: Path, commits: int = 50_000, tags: int = 2_000, seed: int = 7) -> Path:
    """Create the repository at ``path`` (a new folder); return it."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    every = max(1, commits // tags)
    chunks: list[bytes] = []
    when = 1_600_000_000
    for n in range(1, commits + 1):
        when += rng.randint(60, 7200)
        text = message(rng, n).encode()
        blob = f"{n}\n".encode()
        author = rng.choice(["Ada Lovelace <ada@example.com>", "Alan Turing <alan@example.com>",
                             "Edsger Dijkstra <ewd@example.com>"])
        chunks.append(f"commit refs/heads/main\nmark :{n}\n"
                      f"author {author} {when} +0000\ncommitter {author} {when} +0000\n"
                      f"data {len(text)}\n".encode() + text)
        if n > 1:
            chunks.append(f"from :{n - 1}\n".encode())
        chunks.append(f"M 100644 inline counter.txt\ndata {len(blob)}\n".encode() + blob +
                      b"\n")
        if n % every == 0:
            version = f"v{n // every // 100}.{n // every % 100}.0"
            note = f"Release {version}\n".encode()
            chunks.append(f"tag {version}\nfrom :{n}\ntagger Ada Lovelace <ada@example.com> "
                          f"{when} +0000\ndata {len(note)}\n".encode() + note)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(chunks),
                   check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)
    return path


if __name__ == "__main__":
    import sys
    import time

    started = time.perf_counter()
    generate(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:]))
    print(f"generated in {time.perf_counter() - started:.1f} s")
