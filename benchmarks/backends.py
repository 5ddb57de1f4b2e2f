"""The state backends side by side (issue 14's figures): `python benchmarks/backends.py`, or
`python benchmarks/run.py --only backends` (in a clean venv with the `postgres` extra).

One state of 1,000 releases of examples/quickstart (generated through Scalpel's state code,
not 1,000 applies) is copied with `scalpel state migrate` to a bare git remote over file://
and to a throwaway PostgreSQL cluster (tests/servers.py's), then, in this one run:

* reading it: the backend's read(), as `scalpel history` and `status` call it (a fresh
  backend each time: the git fetch, the database connection), and `scalpel history` end to
  end, each backend's time over the local backend's (targets: git + 0.3 s, postgres + 0.1 s);
* `scalpel plan` on the quickstart with the git backend over the local one (target 1.5x);
* the size of the git refs after those 1,000 releases (what refs/scalpel/* reach, and the
  bare remote's `git count-objects -v`).

Each figure is a median of --runs runs, the backends taking turns within a round (on a shared
machine the load moves between rounds); the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from fixtures import make_repo, quickstart_history  # noqa: E402

SCALPEL = shutil.which("scalpel", path=str(Path(sys.executable).parent)) or "scalpel"
RELEASES = 1000
TARGETS = {"git": 0.3, "postgres": 0.1}  # seconds over the local backend's read
PLAN_RATIO = 1.5  # git backend's plan over the local backend's


def report(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name:<58} {value:<30} target {target}", flush=True)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + \
        f" ({os.cpu_count()} cores)"


def scalpel(work: Path, env: dict[str, str], *args: str) -> float:
    """The wall time of one `scalpel ARGS` in ``work``; a failure ends the benchmark."""
    started = time.perf_counter()
    done = subprocess.run([SCALPEL, *args], cwd=work, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"scalpel {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return took


def python_c(code: str) -> float:
    """The wall time of one ``python -c CODE`` of this interpreter."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def medians(kinds: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """The median of each of ``kinds`` over ``runs`` rounds, taking turns within a round."""
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind, measure in kinds.items():
            times[kind].append(measure())
    return {kind: statistics.median(values) for kind, values in times.items()}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_backends(tmp: Path, runs: int) -> None:
    from servers import postgres_cluster

    from scalpel_plan.state.git_backend import GitBackend
    from scalpel_plan.state.local import LocalBackend
    from scalpel_plan.state.postgres_backend import PostgresBackend

    print(f"-- state backends, {RELEASES:,} releases of history; {load()}", flush=True)
    spec = (ROOT / "examples" / "quickstart" / "release.yml").read_text()
    last = f"v{(RELEASES - 1) // 100}.{(RELEASES - 1) % 100}.0"
    work = make_repo(tmp / "backends", spec, previous_tag=last)
    started = time.perf_counter()
    quickstart_history(work, RELEASES)
    folder = work / ".scalpel"
    state_size = (folder / "state.json").stat().st_size
    made = time.perf_counter() - started
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCALPEL_", "PG"))}
    with postgres_cluster() as server:
        url = server.new_database()
        envs = {"local": {**base, "SCALPEL_STATE": "local"},
                "git": {**base, "SCALPEL_STATE": "git+origin"},
                "postgres": {**base, "SCALPEL_STATE": url, "PGPASSWORD": server.password}}
        started = time.perf_counter()
        scalpel(work, envs["local"], "state", "migrate", "--to", "git+origin")
        os.environ["PGPASSWORD"] = server.password  # PostgresBackend reads it from here
        # `state migrate --to postgresql://...` files the state under its scratch folder's
        # name, not the project's: copied through the backend instead, as migrate copies it
        source = LocalBackend(folder)
        PostgresBackend(url, "widgets", folder).append_metrics(source.read_metrics())
        PostgresBackend(url, "widgets", folder).write(source.read())
        print(f"   state.json {state_size / 1024:.0f} KB, generated in {made:.1f} s, copied "
              f"to git (state migrate) and postgres in {time.perf_counter() - started:.1f} s",
              flush=True)
        opened: dict[str, Callable[[], object]] = {
            "local": lambda: LocalBackend(folder),
            "git": lambda: GitBackend(work, "origin", folder),
            "postgres": lambda: PostgresBackend(url, "widgets", folder)}
        sizes = {}
        for kind, backend in opened.items():  # every backend holds the same 1,000 releases
            state = backend().read()  # type: ignore[attr-defined]
            sizes[kind] = len(state.releases)
        if set(sizes.values()) != {RELEASES}:
            sys.exit(f"the backends do not hold {RELEASES} releases each: {sizes}")

        def reading(kind: str) -> Callable[[], float]:
            def measure() -> float:
                started = time.perf_counter()
                opened[kind]().read()  # type: ignore[attr-defined]
                return time.perf_counter() - started
            return measure

        read = medians({kind: reading(kind) for kind in opened}, runs)
        history = medians({kind: lambda kind=kind: scalpel(work, envs[kind], "history")
                           for kind in envs}, runs)
        plan = medians({kind: lambda kind=kind: scalpel(work, envs[kind], "plan")
                        for kind in ("local", "git")}, runs)
    print(f"   read(): local {read['local']:.3f} s, git {read['git']:.3f} s, postgres "
          f"{read['postgres']:.3f} s (median of {runs})", flush=True)
    for kind, most in TARGETS.items():
        extra = read[kind] - read["local"]
        report(f"read the state, {kind} - local ({RELEASES:,} releases)",
               f"{extra:+.3f} s ({read[kind]:.3f} vs {read['local']:.3f})",
               f"<= {most:g} s", extra <= most)
    for kind, most in TARGETS.items():
        extra = history[kind] - history["local"]
        report(f"scalpel history end to end, {kind} - local",
               f"{extra:+.3f} s ({history[kind]:.3f} vs {history['local']:.3f})",
               f"<= {most:g} s", extra <= most)
    python = medians({kind: lambda kind=kind: python_c(kind) for kind in
                      ("pass", "import psycopg")}, runs)
    report("  of which importing psycopg (a fresh python -c)",
           f"{python['import psycopg'] - python['pass']:.3f} s", "-", True)
    ratio = plan["git"] / plan["local"]
    report("scalpel plan, quickstart, git backend / local backend",
           f"{ratio:.2f}x ({plan['git']:.3f} vs {plan['local']:.3f} s)",
           f"<= {PLAN_RATIO:g}x", ratio <= PLAN_RATIO)
    remote = work.parent / "remote.git"
    reached = subprocess.run(["git", "rev-list", "--objects", "--disk-usage",
                              "--glob=refs/scalpel/*"], cwd=remote, capture_output=True,
                             text=True, check=True).stdout.strip()
    counted = dict(line.split(": ", 1) for line in subprocess.run(
        ["git", "count-objects", "-v"], cwd=remote, capture_output=True, text=True,
        check=True).stdout.splitlines())
    report(f"git refs/scalpel/* after {RELEASES:,} releases (objects they reach)",
           f"{int(reached) / 1024:.0f} KB on disk", "-", True)
    report("  the bare remote (git count-objects -v)",
           f"{counted['count']} loose {counted['size']} KB, {counted['in-pack']} packed "
           f"{counted['size-pack']} KB", "-", True)
    print(f"   {load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="repetitions for medians")
    args = parser.parse_args()
    print(f"scalpel: {SCALPEL}; python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="scalpel-bench-") as folder:
        bench_backends(Path(folder), args.runs)


if __name__ == "__main__":
    main()
