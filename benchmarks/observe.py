"""`scalpel status`, `metrics`, `history` and `status --html` on long histories: 1,000 and
10,000 releases of a typical project (build and test stages, a git tag, PyPI, a docker image,
a Slack announcement), written through Scalpel's own state and metrics code
(fixtures.release_history). Targets (issue 17): <= 0.25 s at 1,000 releases, <= 1 s at 10,000.

Each figure is the median wall time of --runs runs, in turns within a round. Beside them:
`python -c pass` and the same commands on a project with no release yet (start-up: what no
state work can take away), and the first command after the state changed (the state index,
.scalpel/state.index.json, is made again then). `--against OTHER_SCALPEL` times another
install's `scalpel` (an earlier wheel, say) in the same rounds: before and after, one load.

Run: `python benchmarks/observe.py` (the scalpel beside this interpreter), or as part of
`python benchmarks/run.py --only observe` (a wheel in a clean venv).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures import make_repo, release_history  # noqa: E402

SCALPEL = shutil.which("scalpel", path=str(Path(sys.executable).parent)) or "scalpel"
TARGETS = {1000: 0.25, 10000: 1.0}  # seconds, each command
COMMANDS = [("status",), ("metrics",), ("history",), ("status", "--html", "page.html")]
INDEX = Path(".scalpel") / "state.index.json"


def report(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name:<50} {value:<64} target {target}", flush=True)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + \
        f" ({os.cpu_count()} cores)"


def timed(cmd: list[str], cwd: Path, before: Callable[[], None] | None = None
          ) -> Callable[[], tuple[float, float]]:
    """A measurement: the wall and the CPU time (user + system) of one run of ``cmd`` (after
    ``before``, untimed). On a loaded machine the CPU time is the steadier of the two."""
    def measure() -> tuple[float, float]:
        if before is not None:
            before()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL)
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr.decode()[-3000:]}")
        return took, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    return measure


def medians(kinds: dict[str, Callable[[], tuple[float, float]]], runs: int
            ) -> dict[str, tuple[float, float]]:
    """The median wall and CPU time of each of ``kinds`` over ``runs`` rounds, taking turns
    within a round."""
    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind, measure in kinds.items():
            times[kind].append(measure())
    return {kind: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
            for kind, values in times.items()}


def bench_observe(tmp: Path, runs: int, sizes: list[int] | None = None,
                  against: str | None = None) -> None:
    """Each command at each size (and with ``against``, that scalpel's time beside)."""
    scalpels = {"": SCALPEL, **({"other": against} if against else {})}
    empty = make_repo(tmp / "observe-empty", "project: {name: widgets}\n")
    kinds: dict[str, Callable[[], tuple[float, float]]] = {
        "python -c pass": timed([sys.executable, "-c", "pass"], empty)}
    for who, program in scalpels.items():
        for command in COMMANDS:
            kinds[f"{who}|none|{' '.join(command)}"] = timed([program, *command], empty)
    works = {}
    for size in sizes or list(TARGETS):
        started = time.perf_counter()
        work = make_repo(tmp / f"observe{size}", "project: {name: widgets}\n")
        release_history(work, size)
        works[size] = work
        state = (work / ".scalpel" / "state.json").stat().st_size
        print(f"-- {size:,} releases: state.json {state / 1e6:.1f} MB, metrics.jsonl "
              f"{(work / '.scalpel' / 'metrics.jsonl').stat().st_size / 1e6:.1f} MB "
              f"(made in {time.perf_counter() - started:.1f} s)", flush=True)
        for who, program in scalpels.items():
            for command in COMMANDS:
                kinds[f"{who}|{size}|{' '.join(command)}"] = timed([program, *command], work)
        kinds[f"|{size}|status, first run after the state changed"] = timed(
            [SCALPEL, "status"], work, lambda w=work: (w / INDEX).unlink(missing_ok=True))
    print(f"   {load()}; {runs} rounds", flush=True)
    found = medians(kinds, runs)
    print(f"   {load()}", flush=True)
    floor = found.pop("python -c pass")
    report("python -c pass", f"{floor[0]:.3f} s, cpu {floor[1]:.3f} s", "-", True)
    for key, (took, cpu) in found.items():
        who, size, command = key.split("|")
        if who:
            continue
        other = found.get(f"other|{size}|{command}")
        value = f"{took:.3f} s, cpu {cpu:.3f} s" + (
            f" (other: {other[0]:.3f} s, cpu {other[1]:.3f} s)" if other else "")
        if size == "none":
            report(f"scalpel {command}, no release yet", value, "-", True)
            continue
        limit = TARGETS.get(int(size))
        first = command.startswith("status, first")
        name = f"{command}, {int(size):,} releases" if first else \
            f"scalpel {command}, {int(size):,} releases"
        report(name, value, "-" if first or limit is None else f"<= {limit:g} s",
               first or limit is None or took <= limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="rounds for medians")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")],
                        default=list(TARGETS), help="releases (default 1000,10000)")
    parser.add_argument("--against", help="another install's scalpel, timed beside")
    args = parser.parse_args()
    print(f"scalpel: {SCALPEL}; python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="scalpel-bench-") as folder:
        bench_observe(Path(folder), args.runs, args.sizes, args.against)


if __name__ == "__main__":
    main()
