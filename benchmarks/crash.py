"""The full crash sweep: `kill -9` after every journal line and right after every side effect
of a real release, then `scalpel apply` again; prints the figures of issue 11 (kill points
tried, % finished correctly, side effects done twice, announcements lost without a warning)
and what went wrong at each point that did not end right.

Run: `python benchmarks/crash.py` (about a minute or two; `--workers`, `--sample` for the
suite's subset, `--json` for the figures as JSON). tests/test_crash.py runs the sample.
`--build-first` runs the build before the release commit, taking its version from
$SCALPEL_VERSION (how a release.yml works around the build order Scalpel had before issue 11),
to see the rest of the flow where `needs: [git.commit]` on a stage is refused.

`--backend NAME` (local, git-file, git-daemon: tests/crash_backends.py's BACKENDS) runs the
issue-14 sweep instead: a small release on that state backend, killed after every journal
line, after every state commit is made and in every state push, each resumed in the same clone
and (a shared backend) in a fresh one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import crash  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--sample", action="store_true", help="only the suite's sample")
    parser.add_argument("--build-first", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scenarios' folders")
    parser.add_argument("--backend", help="the state backend sweep (tests/crash_backends.py)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="scalpel-crash-"))
    if args.backend:
        return backend_sweep(args, folder)
    with crash.servers(folder / "servers") as servers:
        servers.build_after_commit = not args.build_first
        probe = crash.probe(servers, folder)
        points = crash.sample(probe.points) if args.sample else probe.points
        outcomes = crash.sweep(servers, folder, points, workers=args.workers)
    if args.json:
        print(json.dumps(crash.figures(outcomes), indent=2))
    else:
        print(crash.summary(outcomes, probe))
    if args.keep:
        print(f"scenarios kept in {folder}", file=sys.stderr)
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0 if probe.outcome.correct and all(o.correct for o in outcomes) else 1


def backend_sweep(args: argparse.Namespace, folder: Path) -> int:
    import shutil

    import crash_backends

    if args.backend not in crash_backends.BACKENDS:
        print(f"--backend: one of {', '.join(crash_backends.BACKENDS)}", file=sys.stderr)
        return 2
    with crash_backends.fakes() as fakes, \
            crash_backends.BACKENDS[args.backend](folder / "scenarios") as backend:
        probe, points = crash_backends.probe(fakes, backend, folder / "scenarios")
        resumes = ("same", "fresh") if backend.shared else ("same",)
        chosen = [(point, label, resume) for resume in resumes for point, label in points]
        outcomes = crash_backends.sweep(fakes, backend, folder / "scenarios", chosen,
                                        workers=args.workers)
    if args.json:
        print(json.dumps(crash_backends.figures(outcomes), indent=2))
    else:
        print(crash_backends.summary(backend, outcomes, probe))
    if args.keep:
        print(f"scenarios kept in {folder}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if probe.correct and all(o.correct for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
