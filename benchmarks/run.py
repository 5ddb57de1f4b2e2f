"""Scalpel's speed and memory checks. Run: `python benchmarks/run.py` (prints each figure).

Measured where users are (issue 17): by default it builds a wheel of this checkout, installs
it into a clean virtual environment and runs there; then, apart, the start-up figures of an
editable install (`pip install -e`) in another clean one. `--install here` measures the
interpreter that runs it instead (a venv you made). Every start-up figure is printed beside
`python -c pass` of the same environment, as a ratio.

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
from history import Generated, generate  # noqa: E402

SCALPEL = shutil.which("scalpel", path=str(Path(sys.executable).parent)) or "scalpel"


def wall(cmd: list[str], cwd: Path, runs: int) -> tuple[float, int]:
    """Median wall time of ``cmd`` over ``runs`` runs, and the peak RSS (KB) of one run."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(cmd, cwd)
        times.append(time.perf_counter() - started)
    return statistics.median(times), peak_rss(cmd, cwd)


CPU: list[float] = []  # the CPU time (user + system) of each run() since the last timed()


def timed(cmd: list[str], cwd: Path, runs: int, *, fresh: bool = False) -> tuple[float, float]:
    """Median wall and median CPU time (user + system, its git processes included) of
    ``cmd``; with ``fresh``, each run without a cache, as in a fresh clone. On a loaded
    machine the CPU time is the steadier of the two."""
    times = []
    CPU.clear()
    for _ in range(runs):
        if fresh:
            shutil.rmtree(cwd / ".scalpel", ignore_errors=True)
        started = time.perf_counter()
        run(cmd, cwd)
        times.append(time.perf_counter() - started)
    return statistics.median(times), statistics.median(CPU)


def peak_rss(cmd: list[str], cwd: Path) -> int:
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], "
             "capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip())


def report(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name:<58} {value:<28} target {target}", flush=True)


def editable() -> bool:
    """Whether the Scalpel this interpreter runs is an editable install."""
    import json
    from importlib import metadata

    try:
        url = metadata.distribution("scalpel-plan").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return True  # run from the source tree (PYTHONPATH): as an editable one
    return bool(url and json.loads(url).get("dir_info", {}).get("editable"))


def floor(tmp: Path, runs: int) -> tuple[float, float]:
    """`python -c pass` of this environment (wall, CPU): the floor every start-up figure is
    set against."""
    baseline = timed([sys.executable, "-c", "pass"], tmp, runs)
    report("floor: python -c pass (this environment)",
           f"{baseline[0]:.3f} s, cpu {baseline[1]:.3f} s", "-", True)
    return baseline


def startup(name: str, took: tuple[float, float], baseline: tuple[float, float], limit: str,
            ok: bool) -> None:
    report(name, f"{took[0]:.3f} s = {took[0] / baseline[0]:.2f}x, cpu {took[1]:.3f} s = "
           f"{took[1] / baseline[1]:.2f}x python -c pass", limit, ok)


def bench_startup(tmp: Path, runs: int) -> None:
    """Start-up: `--version`, `--help`, `changelog` and `plan` on examples/quickstart, each
    beside `python -c pass` of this environment (targets: issue 17, wheel / editable)."""
    loose = editable()
    print(f"-- start-up, {'editable install' if loose else 'installed from a wheel'}",
          flush=True)
    baseline = floor(tmp, runs)
    most = 2.0 if loose else 1.5
    took = timed([SCALPEL, "--version"], tmp, runs)
    startup("scalpel --version", took, baseline, f"<= {most:g}x python -c pass",
            took[0] <= most * baseline[0])
    startup("scalpel --help", timed([SCALPEL, "--help"], tmp, runs), baseline, "-", True)
    spec = (ROOT / "examples" / "quickstart" / "release.yml").read_text()
    work = make_repo(tmp / "quickstart", spec)
    startup("scalpel changelog, examples/quickstart, first run",
            timed([SCALPEL, "changelog"], work, runs, fresh=True), baseline, "-", True)
    startup("scalpel changelog, examples/quickstart, again",
            timed([SCALPEL, "changelog"], work, runs), baseline, "-", True)
    most = 0.3 if loose else 0.25
    took = timed([SCALPEL, "plan"], work, runs, fresh=True)
    startup("scalpel plan, examples/quickstart, first run", took, baseline,
            f"<= {most:g} s", took[0] <= most)
    took = timed([SCALPEL, "plan"], work, runs)
    startup("scalpel plan, examples/quickstart, again", took, baseline, f"<= {most:g} s",
            took[0] <= most)


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
        times, cpu = [], []
        for _ in range(runs):
            shutil.rmtree(work / ".scalpel", ignore_errors=True)
            if saved:
                run([SCALPEL, "plan", "--out", "plan.json"], work)
            args = ["plan.json"] if saved else ["--auto-approve"]
            started = time.perf_counter()
            run([SCALPEL, "apply", *args, "--parallelism", "8"], work)
            times.append(time.perf_counter() - started)
            cpu.append(CPU[-1])  # its own and its stages' (a shared machine's load aside)
        took = statistics.median(times)
        report(f"{label}, 200 independent 0.2 s stages, parallelism 8",
               f"{took:.2f} s = {took / ideal:.3f}x ideal, {statistics.median(cpu):.2f} s CPU",
               "<= 1.10x the ideal 5 s", took / ideal <= 1.10)


def run(cmd: list[str], cwd: Path) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
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
    parser.add_argument("--only", choices=["startup", "core", "apply", "observe", "changelog",
                                           "docker", "backends"],
                        help="run one group (core includes startup and apply)")
    parser.add_argument("--install", choices=["both", "wheel", "editable", "here"],
                        default="both",
                        help="where to measure: a clean venv with a wheel of this checkout "
                        "(and, with both, the start-up of an editable install apart), or this "
                        "interpreter (here)")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip installing and timing commitizen and git-cliff")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")],
                        default=list(CHANGELOG_SIZES),
                        help="history sizes for the changelog group (default 2000,10000,50000)")
    args = parser.parse_args()
    if args.install != "here":
        sys.exit(measure_installed(args.install, sys.argv[1:]))
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
        if args.only in (None, "core", "startup"):
            bench_startup(tmp, args.runs)
        if args.only in (None, "core"):
            bench_big_plans(tmp, max(3, args.runs // 3))
        if args.only in (None, "core", "apply"):
            bench_parallel_apply(tmp, 3)
            bench_checkpoint(tmp)
        if args.only in (None, "observe"):
            from observe import bench_observe

            bench_observe(tmp, max(3, args.runs // 3))
        if args.only in (None, "changelog"):
            bench_changelog(tmp, 5, args.sizes, peers=not args.no_peers)
        if args.only in (None, "docker"):
            bench_docker(tmp)
        if args.only in (None, "backends"):
            from backends import bench_backends

            bench_backends(tmp, max(3, args.runs // 3))



SKIPPED = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                 ".scalpel", ".*_cache", ".hypothesis", ".venv*")


def measure_installed(install: str, argv: list[str]) -> int:
    """Run this benchmark again inside clean virtual environments: one with a wheel of this
    checkout installed (every group asked for), and, for ``both``, one with an editable
    install (the start-up figures only). The checkout is copied first, so that building
    leaves nothing in it."""
    rest = [a for i, a in enumerate(argv) if not (a.startswith("--install") or
                                                 (i and argv[i - 1] == "--install"))]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the install, not this tree

    def pip(python: Path | str, *args: str) -> None:
        done = subprocess.run([str(python), "-m", "pip", *args], capture_output=True,
                              text=True, env=env)
        if done.returncode:
            sys.exit(f"pip {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    with tempfile.TemporaryDirectory(prefix="scalpel-install-") as folder:
        tmp = Path(folder)
        source = tmp / "source"
        shutil.copytree(ROOT, source, ignore=SKIPPED)
        plans = []
        if install in ("both", "wheel"):
            pip(sys.executable, "wheel", "-q", "--no-deps", "-w", str(tmp / "wheel"),
                str(source))
            wheel = next((tmp / "wheel").glob("scalpel_plan-*.whl"))
            group = rest[rest.index("--only") + 1] if "--only" in rest[:-1] else None
            extra = "[postgres]" if group in (None, "backends") else ""  # psycopg, for backends
            harness = ["bcrypt"] if group in (None, "docker") else []  # the registry's htpasswd
            plans.append(("wheel", [f"{wheel}{extra}", *harness], rest))
        if install in ("both", "editable"):
            only = rest if install == "editable" else [
                *[a for i, a in enumerate(rest) if not (a.startswith("--only") or
                                                       (i and rest[i - 1] == "--only"))],
                "--only", "startup"]
            plans.append(("editable", ["-e", str(source)], only))
        for name, target, args in plans:
            venv = tmp / f"venv-{name}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            python = venv / "bin" / "python"
            pip(python, "install", "-q", *target)
            print(f"== {name} install in a clean venv ({venv})", flush=True)
            done = subprocess.run([str(python), str(source / "benchmarks" / "run.py"),
                                   "--install", "here", *args], env=env)
            if done.returncode:
                return done.returncode
    return 0


CHANGELOG_SIZES = (2_000, 10_000, 50_000)
CZ_CONFIG = """[tool.commitizen]
name = "cz_conventional_commits"
version_scheme = "semver2"
tag_format = "$version"
legacy_tag_formats = ["v$version"]
ignored_tag_formats = ["other-pkg@*", "create-widget@*"]
version = "{version}"
"""
CLIFF_CONFIG = r'''[changelog]
header = "# Changelog\n"
body = """
{% if version %}## [{{ version | trim_start_matches(pat="v") }}] - \
{{ timestamp | date(format="%Y-%m-%d") }}{% else %}## [Unreleased]{% endif %}
{% for group, commits in commits | group_by(attribute="group") %}
### {{ group | upper_first }}
{% for commit in commits %}- {{ commit.message | split(pat="\n") | first | trim }} \
({{ commit.id | truncate(length=7, end="") }})
{% endfor %}{% endfor %}
"""
trim = true

[git]
conventional_commits = true
filter_unconventional = false
commit_parsers = [
  { message = "^feat", group = "Features" },
  { message = "^fix", group = "Bug Fixes" },
  { message = ".*", group = "Other" },
]
tag_pattern = "^v?[0-9]+\\.[0-9]+\\.[0-9]+"
skip_tags = "^(other-pkg|create-widget)@"
topo_order = true
sort_commits = "newest"
'''


def bench_changelog(tmp: Path, runs: int, sizes: list[int], peers: bool) -> None:
    """Full-history changelog on generated histories that look like real ones (benchmarks/
    history.py) of 2,000, 10,000 and 50,000 commits: against one raw `git log` of the same
    history and against commitizen and git-cliff, all measured here, side by side; and each
    release checked against `git log PREV..TAG`."""
    tools = peer_tools(tmp) if peers else {}
    baseline = floor(tmp, runs * 3)
    made = None
    for size in sizes:
        started = time.perf_counter()
        made = generate(tmp / f"history{size}", size)
        print(f"-- {made.commits:,} commits ({made.merges:,} merges), {len(made.releases):,} "
              f"release tags in two styles ({made.releases[0]} … {made.releases[-1]}), "
              f"{made.other_tags} other packages' tags; generated in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        bench_changelog_size(made, runs, tools, baseline)
    if made is not None:
        bench_incremental(made, runs)


def bench_changelog_size(made: Generated, runs: int, tools: dict[str, Path],
                         baseline: tuple[float, float]) -> None:
    repo, size = made.path, f"{made.commits // 1000}k"
    git_log, git_cpu = timed(["git", "log"], repo, runs)
    report(f"[{size}] raw git log (baseline)", f"{git_log:.3f} s, cpu {git_cpu:.3f} s", "-",
           True)
    first, first_cpu = timed([SCALPEL, "changelog", "--all"], repo, runs, fresh=True)
    report(f"[{size}] scalpel changelog --all, first run (no cache)", f"{first:.3f} s = "
           f"{first / git_log:.2f}x git log (cpu {first_cpu / git_cpu:.2f}x) = "
           f"{first / baseline[0]:.1f}x python -c pass", "<= 2.5x git log",
           first / git_log <= 2.5)
    again, again_cpu = timed([SCALPEL, "changelog", "--all"], repo, runs)
    rss = peak_rss([SCALPEL, "changelog", "--all"], repo)
    report(f"[{size}]   again (released history cached)",
           f"{again:.3f} s = {again / git_log:.2f}x git log (cpu {again_cpu / git_cpu:.2f}x) = "
           f"{again / baseline[0]:.1f}x python -c pass, {rss // 1024} MB", "<= 2.5x git log",
           again / git_log <= 2.5)
    shutil.rmtree(repo / ".scalpel", ignore_errors=True)
    markdown = peak_rss([SCALPEL, "changelog", "--all"], repo)
    shutil.rmtree(repo / ".scalpel", ignore_errors=True)
    json_rss = peak_rss([SCALPEL, "changelog", "--all", "--format", "json"], repo)
    report(f"[{size}]   --format json peak RSS vs Markdown (no cache)",
           f"{json_rss / markdown:.2f}x ({json_rss // 1024} vs {markdown // 1024} MB)",
           "<= 1.5x", json_rss / markdown <= 1.5)
    right, total, wrong = releases_right(made)
    report(f"[{size}]   releases exactly `git log PREV..TAG`", f"releases exactly right: "
           f"{right}/{total}", "all", right == total)
    if wrong:
        print(f"      wrong: {', '.join(wrong[:10])}")
    if "cz" in tools:
        (repo / ".cz.toml").write_text(CZ_CONFIG.format(version=made.releases[-1].lstrip("v")))
        took = peer(f"[{size}] commitizen cz changelog --dry-run",
                    [str(tools["cz"]), "changelog", "--dry-run"], repo, runs)
        if took:
            report(f"[{size}]   scalpel (first run) vs commitizen",
                   f"{first / took[0]:.2f}x its time (cpu {first_cpu / took[1]:.2f}x)",
                   "<= 0.5x", first / took[0] <= 0.5)
    if "git-cliff" in tools:
        (repo / "cliff.toml").write_text(CLIFF_CONFIG)
        took = peer(f"[{size}] git-cliff", [str(tools["git-cliff"]), "--config", "cliff.toml"],
                    repo, runs)
        if took:
            report(f"[{size}]   scalpel (first run) vs git-cliff", f"{first / took[0]:.2f}x "
                   f"its time (cpu {first_cpu / took[1]:.2f}x)", "-", True)


def peer_tools(tmp: Path) -> dict[str, Path]:
    """commitizen's `cz` and `git-cliff` (not Scalpel's dependencies), installed from PyPI
    into the benchmark's venv (a throwaway one when this interpreter is not in a venv)."""
    bin_dir = Path(sys.executable).parent
    tools = {name: bin_dir / name for name in ("cz", "git-cliff")}
    if not all(path.exists() for path in tools.values()):  # never into the measured venv
        subprocess.run([sys.executable, "-m", "venv", str(tmp / "peers")], check=True)
        bin_dir = tmp / "peers" / "bin"
    tools = {name: bin_dir / name for name in ("cz", "git-cliff")}
    if not all(path.exists() for path in tools.values()):
        pip = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                              "commitizen", "git-cliff"], capture_output=True, text=True)
        if pip.returncode:
            report("peers (commitizen, git-cliff)", "could not install", "-", False)
            print(pip.stderr[-2000:])
    found = {name: path for name, path in tools.items() if path.exists()}
    for name, path in found.items():
        version = subprocess.run([str(path), "version" if name == "cz" else "--version"],
                                 capture_output=True, text=True)
        print(f"peer {name}: {(version.stdout or version.stderr).strip()}")
    return found


def peer(name: str, cmd: list[str], repo: Path, runs: int,
         limit: float = 900) -> tuple[float, float] | None:
    """Median wall and CPU time of a peer (three runs at most: they can take minutes), or
    None."""
    import resource

    times, cpu = [], []
    for _ in range(min(3, runs)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        try:
            done = subprocess.run(cmd, cwd=repo, capture_output=True, timeout=limit,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            report(name, f"not done after {limit:g} s", "-", True)
            return None
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if done.returncode:
            report(name, f"failed: {done.stderr.decode(errors='replace')[-200:]!r}", "-", False)
            return None
        if sum(times) > 60:
            break
    took = statistics.median(times), statistics.median(cpu)
    sections = sum(line.startswith(b"## ") for line in done.stdout.splitlines())
    report(name, f"{took[0]:.3f} s, cpu {took[1]:.3f} s (median of {len(times)}), "
           f"{sections} sections", "-", True)
    return took


def releases_right(made: Generated) -> tuple[int, int, list[str]]:
    """How many releases of `scalpel changelog --all --format json` hold exactly the commits
    `git log PREV..TAG` gives (PREV: the highest release tag that is an ancestor of TAG, the
    one before it here: every release tag is on main's first-parent line, checked with git),
    "Unreleased" included. Merges of non-conventional subjects are not listed (`--no-merges`:
    all the generator's merges are "Merge ..."); everything else is (`other: keep`).

    Up to 10,000 commits each range is also checked against the sets it means (`rev-list
    TAG` less `rev-list PREV`): git's walk of a range stops on PREV's side by commit date, and
    is wrong where committer dates run far backwards (the generator's run back an hour)."""
    import json as json_lib
    from concurrent.futures import ThreadPoolExecutor

    repo = made.path
    shutil.rmtree(repo / ".scalpel", ignore_errors=True)
    out = subprocess.run([SCALPEL, "changelog", "--all", "--format", "json"], cwd=repo,
                         capture_output=True, check=True).stdout
    listed = {r["tag"] or "Unreleased": {e["sha"] for s in r["sections"] for e in s["entries"]}
              for r in json_lib.loads(out)["releases"]}
    tags = made.releases
    ranges = {tag: (tags[i - 1] if i else None, tag) for i, tag in enumerate(tags)}
    ranges["Unreleased"] = (tags[-1], "HEAD")

    def git_lines(*args: str) -> list[str]:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.split()

    def truth(ends: tuple[str | None, str]) -> set[str]:
        prev, tag = ends
        found = set(git_lines("log", "--no-merges", "--format=%H", f"{prev}..{tag}" if prev
                              else tag))
        if made.commits <= 10_000:
            meant = set(git_lines("rev-list", "--no-merges", tag))
            meant -= set(git_lines("rev-list", prev)) if prev else set()
            if meant != found:
                print(f"      git log {prev}..{tag} is not rev-list {tag} less rev-list {prev}")
        return found

    def first_parent_line(i: int) -> bool:
        return subprocess.run(["git", "merge-base", "--is-ancestor", tags[i - 1], tags[i]],
                              cwd=repo).returncode == 0

    with ThreadPoolExecutor(2) as pool:
        expected = dict(zip(ranges, pool.map(truth, ranges.values()), strict=True))
        ordered = all(pool.map(first_parent_line, range(1, len(tags))))
    if not ordered:
        print("      the generator's release tags are not each an ancestor of the next")
    expected = {k: v for k, v in expected.items() if v or k != "Unreleased"}
    wrong = [k for k in expected if listed.get(k, set()) != expected[k]]
    wrong += [k for k in listed if k not in expected]
    return len(expected) - len(wrong), len(expected), wrong


def bench_incremental(made: Generated, runs: int) -> None:
    """Planning 100 new commits on top of the largest history reads only those."""
    repo = made.path
    (repo / "release.yml").write_text(made.spec + "stages:\n  t: {run: 'true'}\n")
    idle, _ = wall([SCALPEL, "plan"], repo, runs)  # nothing new since the last tag
    for n in range(100):
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", f"fix: change {n}"],
                       cwd=repo, check=True, env={**os.environ, "GIT_AUTHOR_NAME": "B",
                                                  "GIT_AUTHOR_EMAIL": "b@example.com",
                                                  "GIT_COMMITTER_NAME": "B",
                                                  "GIT_COMMITTER_EMAIL": "b@example.com"})
    busy, rss = wall([SCALPEL, "plan"], repo, runs)
    report(f"plan, 100 new commits on {made.commits:,} (over plan start-up)",
           f"+{busy - idle:.3f} s ({busy:.2f} vs {idle:.2f} s), {rss // 1024} MB",
           "<= +0.3 s, <= 250 MB", busy - idle <= 0.3 and rss <= 250 * 1024)


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
               f"({skopeo:.2f} s)", "<= 1.2x skopeo", took / skopeo <= 1.2)
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
