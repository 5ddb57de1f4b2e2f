"""The spec fuzz sweep: mutated specs through `validate` and `plan`, in-process, outcomes by
class; then the alias bomb's time and peak memory against a peer (the README's full example,
validated by the same command in the same run).

Run: `python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--show 3]`. The generator and the
outcome classes are the test suite's (tests/spec_fuzz.py); each case has a time limit (a hang)
and an address-space limit (a MemoryError, a crash).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests import spec_fuzz  # noqa: E402

SCALPEL = shutil.which("scalpel", path=str(Path(sys.executable).parent)) or "scalpel"


def sweep(cases: int, random_seed: int, show: int, seconds: float) -> None:
    counts: dict[str, collections.Counter[str]] = {
        "validate": collections.Counter(), "plan": collections.Counter()}
    examples: dict[tuple[str, str], list[tuple[bytes, spec_fuzz.Outcome]]] = (
        collections.defaultdict(list))
    with tempfile.TemporaryDirectory() as tmp:
        runner = spec_fuzz.Runner(spec_fuzz.make_repo(Path(tmp)), seconds=seconds)

        @seed(random_seed)
        @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(spec=spec_fuzz.specs(others=True))
        def one(spec: bytes) -> None:
            for outcome in runner.run(spec):
                counts[outcome.command][outcome.kind] += 1
                if outcome.kind not in (spec_fuzz.OK, spec_fuzz.POSITIONED):
                    examples[outcome.command, outcome.kind].append((spec, outcome))

        started = time.perf_counter()
        with runner.environment():
            one()
        took = time.perf_counter() - started
    print(f"spec fuzzing: {cases} cases in {took:.1f} s ({took / cases * 1000:.1f} ms a case)")
    for command, counter in counts.items():
        print(f"  {command:<9}" + "  ".join(f"{kind}: {counter[kind]}"
                                            for kind in spec_fuzz.CLASSES))
    for (command, kind), found in sorted(examples.items()):
        groups: dict[str, list[tuple[bytes, spec_fuzz.Outcome]]] = collections.defaultdict(list)
        for spec, outcome in found:
            groups[signature(outcome)].append((spec, outcome))
        print(f"\n== {command}: {kind}: {len(found)}, {len(groups)} kinds")
        for key, members in sorted(groups.items(), key=lambda item: -len(item[1])):
            print(f"\n-- {len(members)} x {key}")
            for spec, outcome in sorted(members, key=lambda m: len(m[0]))[:show]:
                print(f"   smallest spec ({len(spec)} bytes): {spec[:300]!r}")
                print("   " + outcome.output[-600:].replace("\n", "\n   "))


def signature(outcome: spec_fuzz.Outcome) -> str:
    """Where a crash happened (the last frame in Scalpel, and the exception), or the first
    problem line of an error."""
    lines = outcome.output.strip().splitlines()
    if outcome.kind == spec_fuzz.CRASH:
        frames = [line.strip() for line in lines if line.strip().startswith("File ")
                  and "scalpel_plan" in line]
        where = re.sub(r'File ".*?(scalpel_plan/[^"]+)", line \d+, in (\S+)', r"\1:\2",
                       frames[-1]) if frames else "?"
        return f"{where}: {lines[-1][:120] if lines else '?'}"
    return (lines[0] if lines else "(nothing printed)")[:120]


def measure(spec: str, cwd: Path) -> tuple[float, int]:
    """Wall time and peak RSS (KB) of `scalpel validate` on ``spec``, in a child process."""
    (cwd / "release.yml").write_text(spec)
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], capture_output=True); "
             "print(time.perf_counter() - t, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, SCALPEL, "validate"], cwd=cwd,
                         capture_output=True, text=True, check=True, timeout=300)
    took, rss = out.stdout.split()
    return float(took), int(rss)


def bomb() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        text = spec_fuzz.alias_bomb()
        peer_time, peer_rss = min(measure(spec_fuzz.readme_example(), cwd) for _ in range(3))
        bomb_time, bomb_rss = min(measure(text, cwd) for _ in range(3))
        done = subprocess.run([SCALPEL, "validate"], cwd=cwd, capture_output=True, text=True)
    print(f"\nalias bomb ({len(text.encode())} bytes, 9 levels, 9**9 strings expanded): "
          f"exit {done.returncode}, {bomb_time:.2f} s, peak {bomb_rss / 1024:.0f} MB")
    print(f"  peer (the README's full example): {peer_time:.2f} s, peak {peer_rss / 1024:.0f} MB"
          f"; ratio time {bomb_time / peer_time:.2f}, memory {bomb_rss / peer_rss:.2f}")
    print("  " + (done.stderr.strip().splitlines() or ["(nothing printed)"])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=3, help="examples shown for each bad class")
    parser.add_argument("--seconds", type=float, default=20.0, help="each command's time limit")
    args = parser.parse_args()
    sweep(args.cases, args.seed, args.show, args.seconds)
    bomb()


if __name__ == "__main__":
    main()
