"""Scalpel's speed and memory checks. Run: `python benchmarks/run.py` (prints each figure).

Machines here are shared and noisy: each figure is a median of repeated runs, and where the
issue sets a ratio (apply vs its ideal, 10,000 vs 1,000 nodes) both sides run in this process.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from fixtures import big_spec, history_state, make_repo, write_state  # noqa: E402

SCALPEL = shutil.which("scalpel", path=str(Path(sys.executable).parent)) or "scalpel"


def wall(cmd: list[str], cwd: Path, runs: int) -> tuple[float, int]:
    """Median wall time of ``cmd`` over ``runs`` runs, and the peak RSS (KB) of one run."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(cmd, cwd)
        times.append(time.perf_counter() - started)
    return statistics.median(times), peak_rss(cmd, cwd)


def peak_rss(cmd: list[str], cwd: Path) -> int:
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], "
             "capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip())


def report(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name:<58} {value:<28} target {target}", flush=True)


def bench_startup(tmp: Path, runs: int) -> None:
    baseline, _ = wall([sys.executable, "-c", "pass"], tmp, runs)
    report("baseline: python -c pass (this machine's noise floor)", f"{baseline:.3f} s", "-",
           True)
    took, _ = wall([SCALPEL, "--version"], tmp, runs)
    report("scalpel --version (median wall)", f"{took:.3f} s", "<= 0.15 s", took <= 0.15)
    spec = (ROOT / "examples" / "quickstart" / "release.yml").read_text()
    work = make_repo(tmp / "quickstart", spec)
    cold = []
    for _ in range(runs):
        shutil.rmtree(work / ".scalpel", ignore_errors=True)  # no cache: a fresh clone
        started = time.perf_counter()
        run([SCALPEL, "plan"], work)
        cold.append(time.perf_counter() - started)
    took = statistics.median(cold)
    report("scalpel plan, examples/quickstart, first run (median)", f"{took:.3f} s",
           "<= 0.4 s", took <= 0.4)
    took, rss = wall([SCALPEL, "plan"], work, runs)
    report("scalpel plan, examples/quickstart, again (median)", f"{took:.3f} s, {rss // 1024} MB",
           "<= 0.4 s", took <= 0.4)


def bench_big_plans(tmp: Path, runs: int) -> None:
    times = {}
    for nodes, limit in ((1000, 1.5), (10000, 15.0)):
        work = make_repo(tmp / f"big{nodes}", big_spec(nodes), previous_tag="v0.200.0")
        write_state(work, history_state(nodes, 200))
        took, rss = wall([SCALPEL, "plan"], work, runs if nodes == 1000 else 1)
        times[nodes] = took
        report(f"plan, {nodes:,} nodes, state of 200 releases", f"{took:.2f} s, {rss // 1024} MB",
               f"<= {limit:g} s" + (", <= 200 MB" if nodes == 1000 else ""),
               took <= limit and (nodes != 1000 or rss <= 200 * 1024))
    ratio = times[10000] / times[1000]
    report("  growth 1,000 → 10,000 nodes (10x the nodes)", f"{ratio:.1f}x the time",
           "linear (about 10x)", ratio <= 12)


def bench_parallel_apply(tmp: Path, runs: int) -> None:
    """Both ways to apply: plan-and-apply in one command, and a saved, reviewed plan."""
    stages = "".join(f"  s{i:03}: {{run: sleep 0.2}}\n" for i in range(200))
    work = make_repo(tmp / "apply200", f"stages:\n{stages}")
    ideal = 200 * 0.2 / 8
    for label, saved in (("apply --auto-approve", False), ("apply plan.json", True)):
        times = []
        for _ in range(runs):
            shutil.rmtree(work / ".scalpel", ignore_errors=True)
            if saved:
                run([SCALPEL, "plan", "--out", "plan.json"], work)
            args = ["plan.json"] if saved else ["--auto-approve"]
            started = time.perf_counter()
            run([SCALPEL, "apply", *args, "--parallelism", "8"], work)
            times.append(time.perf_counter() - started)
        took = statistics.median(times)
        report(f"{label}, 200 independent 0.2 s stages, parallelism 8",
               f"{took:.2f} s = {took / ideal:.3f}x ideal", "<= 1.15x the ideal 5 s",
               took / ideal <= 1.15)


def run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode not in (0, 2):
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr.decode()}")


def bench_checkpoint(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from scalpel_plan.state.checkpoint import Checkpointer
    from scalpel_plan.state.local import LocalBackend
    from scalpel_plan.state.model import Resource, State

    costs = {}
    for size in (100, 1000):
        backend = LocalBackend(tmp / f"checkpoint{size}")
        state = State(lineage="bench", resources={
            f"stage.r{i}": Resource(address=f"stage.r{i}", provider="stage", release="1.0.0",
                                    attributes={"release": "1.0.0", "exit_code": 0})
            for i in range(size)})
        checkpoint = Checkpointer(backend, state, f"bench{size}")
        record = Resource(address="stage.x", provider="stage", release="1.1.0").model_dump()
        started = time.perf_counter()
        for i in range(size):
            checkpoint.record("step_done", address=f"stage.r{i}", resource=record | {
                "address": f"stage.r{i}"})
        costs[size] = (time.perf_counter() - started) / size
        checkpoint.close()
    for size, cost in costs.items():
        report(f"checkpoint per step, {size:,} resources", f"{cost * 1000:.2f} ms", "flat",
               True)
    ratio = costs[1000] / costs[100]
    report("  per-step cost at 1,000 vs 100 resources", f"{ratio:.2f}x", "not 10x (no n^2)",
           ratio < 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="repetitions for medians")
    args = parser.parse_args()
    print(f"scalpel: {SCALPEL}; python {sys.version.split()[0]}; {os.cpu_count()} cores; "
          f"{os.uname().machine}")
    with tempfile.TemporaryDirectory(prefix="scalpel-bench-") as folder:
        tmp = Path(folder)
        bench_startup(tmp, args.runs)
        bench_big_plans(tmp, max(3, args.runs // 3))
        bench_parallel_apply(tmp, 3)
        bench_checkpoint(tmp)


if __name__ == "__main__":
    main()
