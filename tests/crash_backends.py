"""The crash sweep against every state backend: a small real release (a build stage, the tag
pushed to origin, a GitHub release with an asset, a webhook), killed (SIGKILL) after each
journal line, after a state commit is made and before its push, and in the middle of a state
push; then resumed with `scalpel apply` in the same clone, or in a fresh clone (a CI runner's
disk is gone; only for a backend whose state is shared).

A backend is a ``Backend``: how a scenario's clones reach origin and what release.yml says
about the state. ``BACKENDS`` lists them; a new one (PostgreSQL) is one line there.

Checked at the real remote and servers: the tag on origin, created once (origin's
post-receive hook logs every ref update); the GitHub release made once with its asset
uploaded once, the webhook delivered once (or, killed mid-send, reported "may have gone out");
`plan --detailed-exitcode` says "No changes." afterwards; origin's state ref after a kill
during a state write is the old or the new commit, never anything else, and reads fine.

THE GITHUB SERVER AND THE WEBHOOK RECEIVER ARE FAKES OF THEIR CONTRACTS (tests/crash.py's).

Used by tests/test_crash_backends.py (a sample) and benchmarks/crash.py --backend (all).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crash
from crash import GH_TOKEN, WRAPPER, FakeGitHub, Hooks, Run, _last_lines, _read, _warned
from servers import free_port

ON_GIT = "state: {backend: git, remote: origin}\n"
TAG = "v0.1.0"
SPEC = """\
project: {{name: {name}}}
secrets:
  gh: {{env: GH_TOKEN}}
{state}stages:
  build: {{run: "mkdir -p dist && echo {name} > dist/{name}.txt"}}
publish:
  git.tag: {{push: origin}}
  github.release:
    repository: acme/{name}
    api: {api}
    token: "${{secrets.gh}}"
    assets: [NOTES.txt]
notify:
  webhook.ops: {{url: "{hook}"}}
"""
# origin's hooks: every ref update logged; a push held while the wrapper is armed to die in it
POST_RECEIVE = """#!/bin/sh
while read old new ref; do echo "$ref $old $new" >> "$GIT_DIR/pushes.log"; done
"""
PRE_RECEIVE = """#!/bin/sh
if [ -f "$GIT_DIR/crash-armed" ]; then
  rm -f "$GIT_DIR/crash-armed"; touch "$GIT_DIR/crash-held"; sleep 1
fi
cat > /dev/null
"""


# ------------------------------------------------------------------------------ backends


@dataclass
class Backend:
    """Where a scenario's state lives, and how its clones reach origin."""

    name: str
    state: str  # release.yml's `state:` line ("" for the default, the local folder)
    url: Callable[[Path], str]  # origin's URL for a bare repository
    shared: bool = True  # a fresh clone sees the state (False: it is in the clone's folder)
    env: dict[str, str] = field(default_factory=dict)  # e.g. SCALPEL_STATE=postgresql://...


@contextmanager
def local_backend(folder: Path) -> Iterator[Backend]:
    yield Backend("local", "", str, shared=False)


@contextmanager
def git_file_backend(folder: Path) -> Iterator[Backend]:
    yield Backend("git-file", ON_GIT, lambda bare: bare.as_uri())


@contextmanager
def git_daemon_backend(folder: Path) -> Iterator[Backend]:
    """Every bare repository under ``folder`` served by one `git daemon` on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--export-all", "--enable=receive-pack",
                             f"--base-path={folder}", "--listen=127.0.0.1", f"--port={port}",
                             "--reuseaddr", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        crash_wait_port(port)
        yield Backend("git-daemon", ON_GIT,
                      lambda bare: f"git://127.0.0.1:{port}/{bare.relative_to(folder)}")
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def postgres_backend(folder: Path) -> Iterator[Backend]:
    """A throwaway PostgreSQL cluster; every scenario is a project of its own in one database,
    its password in PGPASSWORD as a CI job has it."""
    from servers import postgres_cluster

    with postgres_cluster() as server:
        yield Backend("postgres", "", str, env={"SCALPEL_STATE": str(server.new_database()),
                                                "PGPASSWORD": server.password})


# One line per backend; its factory gets a folder under which every scenario's bare remote is.
BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Backend]]] = {
    "local": local_backend,
    "git-file": git_file_backend,
    "git-daemon": git_daemon_backend,
    "postgres": postgres_backend,
}


def crash_wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# ------------------------------------------------------------------------------ servers


@dataclass
class Fakes:
    http: Any  # pytest_httpserver.HTTPServer
    github: FakeGitHub
    hooks: Hooks


@contextmanager
def fakes() -> Iterator[Fakes]:
    import logging

    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    try:
        yield Fakes(http, FakeGitHub(http), Hooks(http))
    finally:
        http.stop()


# ------------------------------------------------------------------------------ a scenario


def _home(path: Path) -> Path:
    """The scenario folder (the one holding origin.git) of anything inside it."""
    for parent in (path, *path.parents):
        if (parent / "origin.git").exists():
            return parent
    return path.parent


def scenario(folder: Path, fakes: Fakes, backend: Backend, name: str,
             build: str | None = None) -> Path:
    """A project never released, with origin (a bare repository with the hooks) at
    ``backend``'s URL: the release is 0.1.0."""
    folder.mkdir(parents=True)
    remote, work = folder / "origin.git", folder / "work"
    crash.git(folder, "init", "-q", "--bare", str(remote), home=folder)
    for hook, text in (("post-receive", POST_RECEIVE), ("pre-receive", PRE_RECEIVE)):
        path = remote / "hooks" / hook
        path.write_text(text)
        path.chmod(0o755)
    work.mkdir()
    crash.git(work, "init", "-q", "-b", "main", home=folder)
    crash.git(work, "remote", "add", "origin", backend.url(remote), home=folder)
    (work / ".gitignore").write_text(".scalpel/\ndist/\n")
    (work / "NOTES.txt").write_text(f"{name}: the first release\n")
    spec = SPEC if build is None else SPEC.replace(
        'build: {{run: "mkdir -p dist && echo {name} > dist/{name}.txt"}}',
        "build: {{run: " + json.dumps(build).replace("{", "{{").replace("}", "}}") + "}}")
    (work / "release.yml").write_text(spec.format(
        name=name, state=backend.state, api=fakes.http.url_for("/api"),
        hook=fakes.http.url_for(f"/hooks/{name}")))
    crash.git(work, "add", ".", home=folder)
    crash.git(work, "commit", "-qm", "feat: the first version", home=folder)
    crash.git(work, "push", "-q", "origin", "main", home=folder)
    (remote / "pushes.log").unlink(missing_ok=True)  # from here on: what the release pushes
    return work


def scalpel(work: Path, backend: Backend, *args: str, at: str = "",
            trace: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> Run:
    folder = _home(work)
    extra, env = env or {}, crash.env_for(folder)
    env.update(backend.env, GH_TOKEN=GH_TOKEN, SCALPEL_CRASH_AT=at,
               SCALPEL_CRASH_REMOTE=str(folder / "origin.git"),
               SCALPEL_STATE_RETRY="0")  # (a remote down is tests/test_crash_backends.py's)
    env.update(extra)
    if trace is not None:
        env["SCALPEL_CRASH_TRACE"] = str(trace)
    try:  # its own session: a kill during a push takes the push's process group with it
        done = subprocess.run([sys.executable, str(WRAPPER), *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        return Run(args, -999, crash._text(exc.stdout), crash._text(exc.stderr) + "\n(timeout)")
    return Run(args, done.returncode, done.stdout, done.stderr)


@dataclass
class Outcome:
    point: str
    label: str
    resume: str  # "same" clone or "fresh" clone
    killed: bool = False
    failures: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list, repr=False)
    written: str = ""  # killed during a state push: origin kept the "old" or took the "new"

    @property
    def correct(self) -> bool:
        return not (self.failures or self.twice or self.lost)

    def explain(self) -> str:
        head = f"{self.point} ({self.label}), resumed in the {self.resume} clone" + \
            ("" if self.killed else " [not reached]")
        problems = self.failures + [f"twice: {t}" for t in self.twice] + \
            [f"lost silently: {a}" for a in self.lost]
        return head + ("\n    " + "\n    ".join(problems) if problems else ": ok")


def state_ref(remote: Path) -> str:
    return crash.git(remote, "rev-parse", "-q", "--verify", "refs/scalpel/state",
                     home=remote.parent, check=False)


def try_point(fakes: Fakes, backend: Backend, folder: Path, name: str, point: str,
              label: str = "", resume: str = "same") -> Outcome:
    work = scenario(folder / name, fakes, backend, name)
    remote, trace = folder / name / "origin.git", folder / name / "trace.jsonl"
    outcome = Outcome(point, label, resume)
    before = state_ref(remote)
    first = scalpel(work, backend, "apply", "--auto-approve", at=point, trace=trace)
    outcome.runs.append(first)
    outcome.killed = first.code == -9
    if point.startswith("during:"):
        time.sleep(1.5)  # a push the server holds still lands (or not) after its client died
        _check_state_write(remote, before, trace, point, outcome)
    where, resumed = work, first
    if point:  # (the release without a kill: only the plan after it)
        if resume == "fresh":
            where = folder / name / "fresh"
            crash.git(folder / name, "clone", "-q", "-b", "main", backend.url(remote),
                      str(where), home=folder / name)
        resumed = scalpel(where, backend, "apply", "--auto-approve", trace=trace)
        outcome.runs.append(resumed)
        if resumed.code != 0:  # (as tests/crash.py: a second try, e.g. after a lost race)
            resumed = scalpel(where, backend, "apply", "--auto-approve", trace=trace)
            outcome.runs.append(resumed)
    if resumed.code != 0:
        outcome.failures.append(f"the {'resumed ' if point else ''}apply exits {resumed.code}: "
                                f"{_last_lines(resumed.err or resumed.out)}")
    plan = scalpel(where, backend, "plan", "--detailed-exitcode", trace=trace)
    outcome.runs.append(plan)
    if plan.code != 0:
        outcome.failures.append(f"`plan --detailed-exitcode` exits {plan.code} afterwards: "
                                f"{_last_lines(plan.err or plan.out)}")
    check(fakes, remote, name, outcome)
    return outcome


def _check_state_write(remote: Path, before: str, trace: Path, point: str,
                       outcome: Outcome) -> None:
    """Killed while writing the state: origin's ref is the commit it had or the one being
    pushed, and a fresh read of it works."""
    n = int(point.rsplit(":", 1)[1])
    pushed = [e["commit"] for e in _read(trace)
              if e.get("effect") == "state push" and e.get("started")]
    now = state_ref(remote)
    new = pushed[n - 1] if len(pushed) >= n else None
    older = pushed[n - 2] if n >= 2 and len(pushed) >= n - 1 else before
    outcome.written = "new" if now == new else "old" if now == older else "neither"
    if now not in {older, new}:
        outcome.failures.append(f"after a kill during state push {n}, origin's state ref is "
                                f"{now[:12] or 'absent'}: neither the old nor the new one")
    shown = subprocess.run(["git", "cat-file", "-p", f"{now}:state.json"], cwd=remote,
                           capture_output=True, text=True) if now else None
    if shown is not None and (shown.returncode or not json.loads(shown.stdout)):
        outcome.failures.append("origin's state.json does not read after the kill")


def check(fakes: Fakes, remote: Path, name: str, outcome: Outcome) -> None:
    fail = outcome.failures.append
    tagged = crash.git(remote, "rev-parse", "-q", "--verify", f"refs/tags/{TAG}^{{commit}}",
                       home=remote.parent, check=False)
    main = crash.git(remote, "rev-parse", "-q", "--verify", "refs/heads/main",
                     home=remote.parent, check=False)
    if tagged != main:
        fail(f"{TAG} on origin is at {tagged[:12] or 'nothing'}, not at main ({main[:12]})")
    log = (remote / "pushes.log").read_text() if (remote / "pushes.log").exists() else ""
    created = [line for line in log.splitlines() if line.startswith(f"refs/tags/{TAG} ")]
    if len(created) > 1:
        outcome.twice.append(f"{TAG} pushed {len(created)} times")
    release = fakes.github.release(f"acme/{name}", TAG)
    if release is None:
        fail(f"no GitHub release for {TAG} in acme/{name}")
    if (n := fakes.github.created[(f"acme/{name}", TAG)]) > 1:
        outcome.twice.append(f"the GitHub release created {n} times")
    if (n := fakes.github.uploaded[(f"acme/{name}", "NOTES.txt")]) != 1:
        (outcome.twice if n > 1 else outcome.failures).append(f"NOTES.txt uploaded {n} times")
    delivered = len(fakes.hooks.received.get(name, []))
    said = "\n".join(r.out + "\n" + r.err for r in outcome.runs)
    if delivered > 1:
        outcome.twice.append(f"webhook.ops delivered {delivered} times")
    elif delivered == 0:
        (outcome.warned if _warned(said, "webhook.ops") else outcome.lost).append("webhook.ops")


# ------------------------------------------------------------------------------ the sweep


def probe(fakes: Fakes, backend: Backend, folder: Path) -> tuple[Outcome, list[tuple[str, str]]]:
    """The release without a kill; its kill points: every journal line, and for a git
    backend every state commit made and every state push."""
    outcome = try_point(fakes, backend, folder, f"{backend.name}-probe", "", "no kill")
    points, pid = [], None
    for event in _read(folder / f"{backend.name}-probe" / "trace.jsonl"):
        pid = pid or event["pid"]
        if event["pid"] != pid:
            break  # the first process is the release; the rest are the checks after it
        if "line" in event:
            what = " ".join(str(event[k]) for k in ("event", "address", "status") if event[k])
            points.append((f"line:{event['line']}", what))
        elif event["effect"] == "git commit-tree":
            points.append((f"effect:git commit-tree:{event['n']}",
                           "a state or lock commit made, not pushed"))
        elif event["effect"] == "state push" and event.get("started"):
            points.append((f"during:state push:{event['n']}", "in the state push"))
    return outcome, points


def sweep(fakes: Fakes, backend: Backend, folder: Path, points: list[tuple[str, str, str]],
          workers: int = 2) -> list[Outcome]:
    """Each (point, label, resume) in its own scenario (a project of its own on the shared
    servers), ``workers`` at a time."""
    def one(item: tuple[int, tuple[str, str, str]]) -> Outcome:
        i, (point, label, resume) = item
        return try_point(fakes, backend, folder, f"{backend.name}-k{i:03d}", point, label,
                         resume)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, enumerate(points)))


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    tried = len(outcomes)
    correct = sum(o.correct for o in outcomes)
    return {"kill points tried": tried,
            "kill points reached": sum(o.killed for o in outcomes),
            "finished correctly": correct,
            "% finished correctly": round(100 * correct / tried, 1) if tried else 0.0,
            "side effects done twice": sum(len(o.twice) for o in outcomes),
            "announcements lost without a warning": sum(len(o.lost) for o in outcomes),
            "announcements not sent, with a warning": sum(len(o.warned) for o in outcomes),
            "resumed in the same / a fresh clone": "{same} / {fresh}".format_map(
                Counter(o.resume for o in outcomes)),
            "killed mid state push: origin kept the old / took the new": "{old} / {new}"
            .format_map(Counter(o.written for o in outcomes))}


def summary(backend: Backend, outcomes: list[Outcome], probe_outcome: Outcome) -> str:
    lines = [f"crash sweep on the {backend.name} backend: kill -9, then `scalpel apply`",
             "  the release without a kill: " + ("ok" if probe_outcome.correct else
                                                  probe_outcome.explain())]
    lines += [f"  {k}: {v}" for k, v in figures(outcomes).items()]
    failing = [o for o in outcomes if not o.correct]
    if failing:
        lines.append("kill points that did not end right:")
        lines += ["  " + o.explain() for o in failing]
    return "\n".join(lines)
