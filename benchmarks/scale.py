"""validate and plan on large specs: `python benchmarks/scale.py` prints the time of each at
1,000 / 8,000 / 20,000 stages, per 1,000 stages, and what each further 1,000 stages cost
between two sizes (the same cost from 1,000 to 8,000 as from 8,000 to 20,000: linear).

Each command runs as the CLI does, in a fresh process (the median CPU time of --runs runs:
the wall time on a shared machine is mostly the others' load), cold (no .scalpel/ cache of
an earlier validation); the spec is
independent stages with a timeout, a git tag and an announcement, in a real repository.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures import make_repo  # noqa: E402

SIZES = (1000, 8000, 20000)
GOAL_8000 = 2.0  # seconds, validate and plan each


def flat_spec(stages: int) -> str:
    """``stages`` independent stages, every tenth needing the one before it, a tag, a notice."""
    lines = ["project: {name: big}", "stages:"]
    for i in range(stages):
        needs = f", needs: [stage.s{i - 1}]" if i % 10 == 9 else ""
        lines.append(f"  s{i}: {{run: 'echo {i}', timeout: 60, env: {{N: '{i}'}}{needs}}}")
    lines += ["publish:", "  git.tag: {push: origin, message: 'Release {version}'}",
              "notify:", "  console.done: {message: '{project} {version} is out'}"]
    return "\n".join(lines) + "\n"


def timed(command: list[str], cwd: Path, runs: int) -> float:
    """The median CPU time (user + system) of ``command``: on a shared machine the wall time
    is mostly the other processes' (git's children are counted too)."""
    times = []
    for _ in range(runs):
        shutil.rmtree(cwd / ".scalpel", ignore_errors=True)  # cold: nothing validated before
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    scalpel = [sys.executable, "-m", "scalpel_plan"]
    baseline = timed([sys.executable, "-c", "import scalpel_plan.cli"], HERE, 3)
    print(f"baseline: importing the CLI takes {baseline:.2f} s on this machine now")
    print(f"{'stages':>8} {'validate':>10} {'per 1,000':>10} {'plan':>10} {'per 1,000':>10}")
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            work = make_repo(Path(tmp) / f"s{size}", flat_spec(size), previous_tag="v0.1.0")
            validate = timed([*scalpel, "validate", "--file", "release.yml"], work, args.runs)
            plan = timed([*scalpel, "plan", "--file", "release.yml"], work, args.runs)
            figures[size] = (validate, plan)
            print(f"{size:>8,} {validate:>9.2f}s {validate / size * 1000:>9.3f}s "
                  f"{plan:>9.2f}s {plan / size * 1000:>9.3f}s", flush=True)
    sizes = sorted(figures)
    for i, name in enumerate(("validate", "plan")):  # the cost of each further 1,000 stages
        pairs = list(itertools.pairwise(sizes))
        steps = [(figures[b][i] - figures[a][i]) / (b - a) * 1000 for a, b in pairs]
        if steps:
            shown = ", ".join(f"{a:,}→{b:,}: {step:.3f} s"
                              for (a, b), step in zip(pairs, steps, strict=True))
            ratio = f"; last/first {steps[-1] / steps[0]:.2f}x (1.0: linear)" \
                if len(steps) > 1 and steps[0] > 0 else ""
            print(f"{name}: each further 1,000 stages costs {shown}{ratio}")
    if 8000 in figures:
        worst = max(figures[8000])
        print(f"{'PASS' if worst <= GOAL_8000 else 'MISS'}: 8,000 stages, slowest of validate "
              f"and plan {worst:.2f} s (goal <= {GOAL_8000:g} s)")


if __name__ == "__main__":
    main()
