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
    parser.add_argument("--only", choices=["core", "observe", "changelog", "docker"],
                        help="run one group")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip installing and timing commitizen and git-cliff")
    args = parser.parse_args()
    print(f"scalpel: {SCALPEL}; python {sys.version.split()[0]}; {os.cpu_count()} cores; "
          f"{os.uname().machine}")
    # A regular install leaves bytecode next to the sources; an editable one writes it on
    # first import, unless PYTHONDONTWRITEBYTECODE is set (as on these machines), when every
    # run would compile Scalpel's sources again. Measure the installed program, not that.
    import compileall

    import scalpel_plan

    compileall.compile_dir(str(Path(scalpel_plan.__file__).parent), quiet=1)
    print(f"bytecode compiled for {Path(scalpel_plan.__file__).parent} "
          f"(PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})")
    with tempfile.TemporaryDirectory(prefix="scalpel-bench-") as folder:
        tmp = Path(folder)
        if args.only in (None, "core"):
            bench_startup(tmp, args.runs)
            bench_big_plans(tmp, max(3, args.runs // 3))
            bench_parallel_apply(tmp, 3)
            bench_checkpoint(tmp)
        if args.only in (None, "observe"):
            bench_observe(tmp, max(3, args.runs // 3))
        if args.only in (None, "changelog"):
            bench_changelog(tmp, 5, peers=not args.no_peers)
        if args.only in (None, "docker"):
            bench_docker(tmp)



def bench_observe(tmp: Path, runs: int) -> None:
    """`status`, `metrics` and `history` after 1,000 releases (state, points, metrics)."""
    from fixtures import release_history

    work = make_repo(tmp / "observe", "project: {name: widgets}\n")
    release_history(work, 1000)
    size = (work / ".scalpel" / "state.json").stat().st_size
    report("state after 1,000 releases", f"{size / 1e6:.1f} MB state.json", "-", True)
    for command in (["status"], ["metrics"], ["history"], ["status", "--html", "page.html"]):
        took, rss = wall([SCALPEL, *command], work, runs)
        report(f"scalpel {' '.join(command)}, 1,000 releases", f"{took:.2f} s, {rss // 1024} MB",
               "<= 0.5 s", took <= 0.5)


def bench_changelog(tmp: Path, runs: int, peers: bool) -> None:
    """Full-history changelog against raw `git log` and the peers, on 50,000 commits."""
    from history import generate

    repo = generate(tmp / "history50k", 50_000, 2_000)
    (repo / "release.yml").write_text("project: {name: big}\n")
    git_log, _ = wall(["git", "log"], repo, runs)
    report("raw git log, 50,000 commits, 2,000 tags (baseline)", f"{git_log:.2f} s", "-", True)
    cold = []
    for _ in range(runs):
        shutil.rmtree(repo / ".scalpel", ignore_errors=True)  # no cache: a fresh clone
        started = time.perf_counter()
        run([SCALPEL, "changelog", "--all"], repo)
        cold.append(time.perf_counter() - started)
    first = statistics.median(cold)
    report("scalpel changelog --all, first run (no cache)", f"{first:.2f} s = "
           f"{first / git_log:.2f}x git log", "<= 2.5x git log", first / git_log <= 2.5)
    ours, rss = wall([SCALPEL, "changelog", "--all"], repo, runs)
    report("scalpel changelog --all, again (released history cached)",
           f"{ours:.2f} s = {ours / git_log:.2f}x git log, {rss // 1024} MB",
           "<= 2.5x git log, <= 250 MB", ours / git_log <= 2.5 and rss <= 250 * 1024)
    if peers:
        bench_peers(tmp, repo, ours)
    bench_incremental(repo, runs)


def bench_peers(tmp: Path, repo: Path, ours: float) -> None:
    """commitizen and git-cliff, installed from PyPI into a throwaway venv (not dependencies)."""
    venv = tmp / "peers"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "commitizen", "git-cliff"],
                         capture_output=True, text=True)
    if pip.returncode:
        report("peers (commitizen, git-cliff)", "could not install", "-", False)
        return
    (repo / ".cz.toml").write_text('[tool.commitizen]\nname = "cz_conventional_commits"\n'
                                   'tag_format = "v$version"\nversion = "20.0.0"\n')
    started = time.perf_counter()
    cz = subprocess.run([str(venv / "bin" / "cz"), "changelog", "--dry-run"], cwd=repo,
                        capture_output=True, timeout=600)
    took = time.perf_counter() - started
    ok = cz.returncode == 0
    report("commitizen cz changelog --dry-run", f"{took:.2f} s" if ok else
           f"failed: {cz.stderr.decode()[-80:]!r}", "-", ok)
    if ok:
        report("  scalpel vs commitizen", f"{ours / took:.2f}x its time", "<= 0.5x",
               ours / took <= 0.5)
    limit = 120
    started = time.perf_counter()
    try:
        cliff = subprocess.run([str(venv / "bin" / "git-cliff"), "--output", "-"], cwd=repo,
                               capture_output=True, timeout=limit)
        took = time.perf_counter() - started
        report("git-cliff (default config)", f"{took:.2f} s" if cliff.returncode == 0 else
               "failed", "-", True)
    except subprocess.TimeoutExpired:
        report("git-cliff (default config)", f"not done after {limit} s", "-", True)


def bench_incremental(repo: Path, runs: int) -> None:
    """Planning 100 new commits on top of 50,000 reads only those."""
    (repo / "release.yml").write_text("project: {name: big}\nstages:\n  t: {run: 'true'}\n")
    idle, _ = wall([SCALPEL, "plan"], repo, runs)  # nothing new since the last tag
    for n in range(100):
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", f"fix: change {n}"],
                       cwd=repo, check=True, env={**os.environ, "GIT_AUTHOR_NAME": "B",
                                                  "GIT_AUTHOR_EMAIL": "b@example.com",
                                                  "GIT_COMMITTER_NAME": "B",
                                                  "GIT_COMMITTER_EMAIL": "b@example.com"})
    busy, rss = wall([SCALPEL, "plan"], repo, runs)
    report("plan, 100 new commits on 50,000 (over plan start-up)", f"+{busy - idle:.3f} s "
           f"({busy:.2f} vs {idle:.2f} s), {rss // 1024} MB", "<= +0.3 s, <= 250 MB",
           busy - idle <= 0.3 and rss <= 250 * 1024)


def _journal_duration(work: Path, address: str) -> float:
    import json as json_lib

    durations = [event["duration"] for journal in (work / ".scalpel" / "journal").iterdir()
                 for line in journal.read_text().splitlines()
                 if (event := json_lib.loads(line)).get("event") == "step_done"
                 and event.get("address") == address]
    return float(durations[-1])


DOCKER_ROUNDS = 5  # skopeo and scalpel alternate; each figure is the median of its rounds


def bench_docker(tmp: Path) -> None:
    """A 200 MB single-layer image to a local registry, beside skopeo copy of the same image.

    Rounds alternate which of skopeo and scalpel goes first; each pushes a fresh image to a
    repository of its own (so neither finds the blob already there), and the ratio is of the
    medians: one pair of single runs on a shared machine swings by ±20 %."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import docker_registry, oci_layout

    if not (shutil.which("docker-registry") and shutil.which("skopeo")):
        report("docker push benchmark", "docker-registry or skopeo missing", "-", False)
        return
    with docker_registry(tmp / "registry") as registry:
        env = {**os.environ, "BENCH_REGISTRY_PW": registry.password}
        works = []
        for i in range(DOCKER_ROUNDS):
            spec = ("secrets:\n  pw: {env: BENCH_REGISTRY_PW}\npublish:\n  docker.app:\n"
                    f"    image: {registry.host}/bench/app{i}\n    source: image\n"
                    "    username: pusher\n    password: \"${secrets.pw}\"\n")
            work = make_repo(tmp / f"docker{i}", spec)
            # an image of its own per round: skopeo remembers blobs it pushed and mounts them
            # from another repository instead of uploading them again
            oci_layout(work / "image", {"payload.bin": os.urandom(200 * 1024 * 1024)})
            subprocess.run([SCALPEL, "plan", "--out", "plan.json"], cwd=work, env=env,
                           check=True, capture_output=True)  # the reviewed plan, as CI does
            works.append(work)
        probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                 "r = subprocess.run(sys.argv[1:], capture_output=True); "
                 "print(time.perf_counter() - t, r.returncode, "
                 "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")

        def measured(work: Path, *args: str) -> tuple[float, int]:
            out = subprocess.run([sys.executable, "-c", probe, *args], cwd=work,
                                 env=env, capture_output=True, text=True, check=True).stdout
            took, code, rss = out.split()
            if code != "0":
                sys.exit(f"{' '.join(args)} failed")
            return float(took), int(rss)

        skopeo_times, ours, steps, peaks = [], [], [], []
        for i, work in enumerate(works):
            skopeo_cmd = ["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                          f"{registry.user}:{registry.password}", f"oci:{work / 'image'}:latest",
                          f"docker://{registry.host}/peer/app{i}:latest"]
            for tool in (("skopeo", "scalpel") if i % 2 == 0 else ("scalpel", "skopeo")):
                if tool == "skopeo":
                    skopeo_times.append(measured(work, *skopeo_cmd)[0])
                    continue
                took, rss = measured(work, SCALPEL, "apply", "plan.json")
                ours.append(took)
                peaks.append(rss)
                steps.append(_journal_duration(work, "docker.app"))
        skopeo, took, step = (statistics.median(x) for x in (skopeo_times, ours, steps))
        baseline = peak_rss([SCALPEL, "--version"], works[0])
        rss = max(peaks)
        report(f"docker push, 200 MB single-layer image (apply plan.json, median of "
               f"{DOCKER_ROUNDS})", f"{took:.2f} s = {took / skopeo:.2f}x skopeo copy "
               f"({skopeo:.2f} s)", "<= 1.5x skopeo", took / skopeo <= 1.5)
        report("  the push step alone (from the journal)", f"{step:.2f} s = "
               f"{step / skopeo:.2f}x skopeo copy", "-", True)
        report("  peak RSS above the interpreter's baseline", f"+{(rss - baseline) // 1024} MB "
               f"({rss // 1024} vs {baseline // 1024} MB)", "<= +100 MB",
               rss - baseline <= 100 * 1024)
        work = works[0]
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "fix: again"], cwd=work,
                       check=True, env={**env, "GIT_AUTHOR_NAME": "B", "GIT_COMMITTER_NAME": "B",
                                        "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_EMAIL": "b@x"})
        measured(work, SCALPEL, "apply", "--auto-approve")
        import json as json_lib

        state = json_lib.loads((work / ".scalpel" / "state.json").read_text())
        uploaded = state["resources"]["docker.app"]["attributes"]["uploaded_blobs"]
        report("  second push of the same image (a new version)", f"{uploaded} blobs uploaded",
               "0", uploaded == 0)


if __name__ == "__main__":
    main()
