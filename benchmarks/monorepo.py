"""The monorepo benchmark: 100 packages, 20,000 commits, 2,000 package tags (written with git
fast-import), planned as one release of every package and as a single-package project with
the same history; and one package's whole changelog against one raw `git log --name-only`.

Run: `python benchmarks/monorepo.py` (in a venv with the project installed). Each figure is a
median of repeated runs; both sides of a ratio run here, on the same repository.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCALPEL = shutil.which("scalpel", path=str(Path(sys.executable).parent)) or "scalpel"
TYPES = ["feat", "fix", "fix", "docs", "chore", "refactor", "perf", "test"]
WHO = b"Ada Lovelace <ada@example.com>"


def generate(path: Path, packages: int = 100, commits: int = 20_000, tags: int = 2_000,
             seed: int = 11) -> None:
    """A repository at ``path`` whose commits each touch one or two packages (one in fifty
    a shared file), merged topic branches now and then, and ``tags`` package tags spread
    along the history (each package's versions rising)."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    names = [f"p{i:03}" for i in range(packages)]
    versions = dict.fromkeys(names, (1, 0, 0))
    every = max(1, commits // tags)
    chunks: list[bytes] = []
    stamp = 1_700_000_000
    last = 0
    for n in range(1, commits + 1):
        touched = rng.sample(names, rng.choice([1, 1, 1, 2]))
        files = [f"packages/{p}/src/m{rng.randint(0, 9)}.py" for p in touched]
        if rng.random() < 0.02:
            files.append("shared/util.py")
        kind = rng.choice(TYPES)
        scope = f"({touched[0]})" if rng.random() < 0.3 else ""
        message = f"{kind}{scope}: change {n} in {' and '.join(touched)}\n".encode()
        stamp += 60
        body = [b"commit refs/heads/main\n", f"mark :{n}\n".encode(),
                b"author " + WHO + f" {stamp} +0000\n".encode(),
                b"committer " + WHO + f" {stamp} +0000\n".encode(),
                f"data {len(message)}\n".encode(), message]
        if last:
            body.append(f"from :{last}\n".encode())
        for file in files:
            content = f"{n}\n".encode()
            body += [f"M 100644 inline {file}\n".encode(), f"data {len(content)}\n".encode(),
                     content]
        chunks += [*body, b"\n"]
        last = n
        if n % every == 0:
            package = touched[0]
            major, minor, patch = versions[package]
            versions[package] = (major, minor, patch + 1) if rng.random() < 0.7 else \
                (major, minor + 1, 0)
            tag = f"{package}@{'.'.join(map(str, versions[package]))}"
            chunks += [f"reset refs/tags/{tag}\n".encode(), f"from :{n}\n\n".encode()]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(chunks),
                   check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)


def monorepo_spec(packages: int) -> str:
    lines = ["project: {name: mono}", "changelog: {other: keep}", "paths_shared: [shared]",
             "packages:"]
    lines += [f"  p{i:03}: {{paths: [packages/p{i:03}]}}" for i in range(packages)]
    lines += ["notify:", "  console.done: {message: '{project} {version}'}", ""]
    return "\n".join(lines)


SINGLE_SPEC = ("project: {name: mono}\nversion: {tag: 'p000@{version}'}\n"
               "changelog: {other: keep}\nnotify:\n  console.done: {message: '{version}'}\n")


def wall(cmd: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 2):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr.decode()}")
    return statistics.median(times)


def report(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name:<58} {value:<28} target {target}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scalpel-mono-") as folder:
        repo = Path(folder) / "mono"
        started = time.perf_counter()
        generate(repo, args.packages, args.commits, args.tags)
        print(f"generated {args.commits:,} commits, {args.packages} packages, "
              f"{args.tags:,} tags in {time.perf_counter() - started:.1f} s", flush=True)
        (repo / "single.yml").write_text(SINGLE_SPEC)
        (repo / "release.yml").write_text(monorepo_spec(args.packages))
        single = wall([SCALPEL, "plan", "-f", "single.yml"], repo, args.runs)
        mono = wall([SCALPEL, "plan"], repo, args.runs)
        report("scalpel plan, single package (median wall)", f"{single:.3f} s", "-", True)
        report(f"scalpel plan, {args.packages} packages (median wall)", f"{mono:.3f} s",
               "<= 2x single", mono <= 2 * single)
        raw = wall(["git", "log", "--name-only", "HEAD"], repo, args.runs)
        log = wall([SCALPEL, "changelog", "--package", "p007", "--all"], repo, args.runs)
        report("git log --name-only (median wall)", f"{raw:.3f} s", "-", True)
        report("scalpel changelog --package p007 --all", f"{log:.3f} s ({log / raw:.2f}x)",
               "<= 2.5x git log", log <= 2.5 * raw)


if __name__ == "__main__":
    main()
