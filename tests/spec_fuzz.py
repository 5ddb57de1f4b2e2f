"""The spec fuzzer: mutated release.yml files run through `scalpel validate` and `scalpel plan`
in-process, each outcome put in a class. Used by tests/test_fuzz.py (a deterministic sample)
and benchmarks/fuzz.py (the full sweep, with figures).

Mutations start from the README's full example and every ``examples/*/release.yml``:

* structure-aware: on the parsed document, keys dropped, renamed or retyped, values swapped
  for edge values (huge integers, 1e300, NaN, empty, unicode, control characters, long
  strings, lists for mappings and mappings for lists), then written back as YAML;
* text-level: bytes flipped, the text cut short, lines dropped, doubled or re-indented, and
  the YAML edge cases of the hostile-input sweep put in (tags, directives, recursive
  aliases, an alias bomb, deep nesting, control characters, bytes that are not UTF-8).

An outcome is ``ok`` (exit 0), ``error with position`` (exit 1, and a problem given at
file:line:col or at a node address), ``error without position`` (exit 1, neither),
``crash`` (any other exit, or an exception) or ``hang`` (over the case's time limit). Memory
is bounded per case by an address-space limit: a case that needs more fails with a
MemoryError, a crash.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import re
import resource
import signal
import subprocess
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
OK, POSITIONED, UNPOSITIONED, CRASH, HANG = (
    "ok", "error with position", "error without position", "crash", "hang")
CLASSES = (OK, POSITIONED, UNPOSITIONED, CRASH, HANG)
# each problem printed: `WHERE: error: ...`, or `error: ...` with no where
PROBLEM = re.compile(r"^(?:(\S+): )?error: ", re.MULTILINE)
# where is file:line:col, or a node address (git.tag), not a file alone
POSITION = re.compile(r"^(\S+:\d+:\d+|(?!\S*\.ya?ml$)[a-z][a-z0-9_]*\.[A-Za-z0-9][\w-]*)$")


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## release.yml")
    found = re.search(r"```yaml\n(.*?)```", text[start:], re.DOTALL)
    assert found, "the README's full example is gone"
    return found[1]


@functools.cache
def seeds() -> list[str]:
    """The texts mutations start from."""
    examples = sorted((ROOT / "examples").glob("*/release.yml"))
    return [readme_example(), *(p.read_text() for p in examples)]


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs" of YAML: each level a list of nine aliases of the one before
    (9**levels strings once expanded) in a few hundred bytes."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# -- values and snippets ------------------------------------------------------------------
PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
EDGE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 10**300, 1e300, -1e300, 1e-300,
    float("nan"), float("inf"), float("-inf"), 0.5, "", " ", "\x00", "\x01", "\x7f", "\x1b[31m",
    "\u2028", "\ufeff", "é✓🚀", "x\n", "a" * 10_000, "-x", "..", "1.0.0", "v1", "*", "~",
    [], {}, [[]], {"a": {"b": {"c": {}}}}, [None], ["x", 1, None], {"": ""},
]
# Values aimed at what other parts of the hostile-input issue fix (format strings, templates,
# tag formats, paths): the benchmark's sweep uses them; the suite's sample leaves them out
# until those parts land (see OTHER_AREAS below).
OTHER_AREAS: list[Any] = [
    "{nope}", "{sha", "x}", "{version:>2000000000}", "{sha:>2000000000}", "${secrets.x}",
    "{% include 'x' %}", "{% extends 'x' %}", "{{ 'a' * 3000000000 }}", "v {version}",
    "{version}.lock", "-{version}", "--upload-pack=x{version}", "../outside.txt",
    "/etc/passwd", ".git/config", "/dev/zero", "(", "x" * 5000, "v\x00{version}",
]
STRUCTURE_KEYS = ["project", "version", "changelog", "notes", "secrets", "stages", "publish",
                  "notify", "alerts", "run", "needs", "env", "timeout", "phase", "name", "tag",
                  "files", "path", "pattern", "on", "message"]
YAML_EDGES = [
    "%YAML 1.3\n---\n", "%YAML 1.1\n---\n", "%YAML 2.0\n---\n", "%TAG !e! tag:e.com,2000:\n---\n",
    "x: !!binary aGVsbG8=\n", "x: !!set {a, b}\n", "x: !!bool maybe\n", "x: !!int x\n",
    "x: !!float y\n", "x: !!null z\n", "x: !foo bar\n", "x: !!omap [a: 1]\n",
    "x: !!timestamp 2020-01-01\n", "x: !!python/object:os.system ls\n", "x: &s {y: *s}\n",
    "x: *undefined\n", "stages: &s {test: {run: echo, env: *s}}\n", "<<: {a: 1}\n",
    "x: {<<: 1}\n", "? [a, b]\n: c\n", "? {a: b}\n: c\n", "x: " + "[" * 1000 + "]" * 1000 + "\n",
    "x: " + "{a: " * 400 + "b" + "}" * 400 + "\n", "x:" + "".join(
        "\n" + "  " * i + "- " for i in range(200)) + "x\n",
    "x: 1" + "0" * 5000 + "\n", "x: 2027-02-30\n", "x: 2027-13-45\n", "x: 12:30:45\n",
    "x: 0x_\n", "x: .nan\n", "x: -.inf\n", "x: 1e999\n", "x: '\x01'\n", "x: \x00\n",
    "\ufeffx: 1\n", "x: |\n  a\n b\n", "x: >\n\ty\n", "x: 'open\n", 'x: "\\q"\n', "---\n---\n",
    "...\n", "x: 1\n...\ny: 2\n", "- a\n- b\n", "x\n", "'\n", "&a x\n", "x: &a\n", "x: @y\n",
    "x: `y\n", "x:\ty\n", "\tx: y\n", "x: y: z\n", "- - - -\n",
]
RAW_EDGES = [b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\r", b"\r\n",
             b"\x85", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b"\x1b", b"\t"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def _value(draw: st.DrawFn, others: bool) -> Any:
    return draw(st.one_of(
        st.sampled_from(EDGE_VALUES + (OTHER_AREAS if others else [])), PLAIN_TEXT,
        st.integers(), st.floats(),
        st.lists(st.sampled_from(EDGE_VALUES[:20]), max_size=3),
        st.dictionaries(st.sampled_from(STRUCTURE_KEYS), st.sampled_from(EDGE_VALUES[:20]),
                        max_size=3)))


@st.composite
def structured(draw: st.DrawFn, others: bool = False) -> bytes:
    """A seed's document, mutated on its structure, written back as YAML."""
    seed = draw(st.sampled_from(seeds()))
    data = copy.deepcopy(YAML(typ="safe", pure=True).load(seed)) or {}
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(data))))
        if not path:
            continue
        parent, last = _get(data, path[:-1]), path[-1]
        ops = ["drop", "retype", "retype", "rename", "list-for-map", "map-for-list", "add",
               "copy"]
        op = draw(st.sampled_from([*ops, "aimed", "aimed"] if others else ops))
        current = parent[last]
        if op == "aimed":  # a string of the spec, swapped for a value aimed at other parts
            texts = [p for p in _paths(data) if p and isinstance(_get(data, p), str)]
            if texts:
                aimed = draw(st.sampled_from(texts))
                _get(data, aimed[:-1])[aimed[-1]] = draw(st.sampled_from(OTHER_AREAS))
        elif op == "drop":
            del parent[last]
        elif op == "retype":
            parent[last] = draw(_value(others))
        elif op == "rename" and isinstance(parent, dict):
            new = draw(st.one_of(st.sampled_from(STRUCTURE_KEYS), PLAIN_TEXT,
                                 st.just(f"{last}x"), st.just(str(last)[:-1])))
            parent[new] = parent.pop(last)
        elif op == "list-for-map" and isinstance(current, dict):
            parent[last] = [{k: v} for k, v in current.items()]
        elif op == "map-for-list" and isinstance(current, list):
            parent[last] = {str(i): v for i, v in enumerate(current)}
        elif op == "add" and isinstance(current, dict):
            current[draw(st.sampled_from(STRUCTURE_KEYS))] = draw(_value(others))
        elif op == "copy" and isinstance(parent, dict):
            parent[draw(st.sampled_from(STRUCTURE_KEYS))] = copy.deepcopy(current)
    out = io.StringIO()
    dumper = YAML(typ="safe", pure=True)
    dumper.allow_unicode = draw(st.booleans())
    dumper.default_flow_style = draw(st.sampled_from([False, True, None]))
    dumper.dump(data, out)
    return out.getvalue().encode("utf-8")


@st.composite
def textual(draw: st.DrawFn) -> bytes:
    """A seed's text, mutated as bytes and lines."""
    text = draw(st.sampled_from(seeds())).encode()
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True) or [b""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["flip", "cut", "drop-line", "double-line", "indent",
                                   "edge", "edge", "edge-value", "raw"]))
        if op == "flip" and text:
            at = draw(st.integers(0, len(text) - 1))
            text = text[:at] + bytes([draw(st.integers(0, 255))]) + text[at + 1:]
        elif op == "cut":
            text = text[:draw(st.integers(0, len(text)))]
        elif op == "drop-line":
            text = b"".join(lines[:i] + lines[i + 1:])
        elif op == "double-line":
            text = b"".join(lines[:i + 1] + lines[i:])
        elif op == "indent":
            change = draw(st.sampled_from([b" ", b"  ", b"   ", b"\t", b"-"]))
            lines[i] = change + lines[i] if draw(st.booleans()) else lines[i].lstrip(b" ")
            text = b"".join(lines)
        elif op == "edge":
            text = b"".join([*lines[:i], draw(st.sampled_from(YAML_EDGES)).encode(), *lines[i:]])
        elif op == "edge-value":
            edge = draw(st.sampled_from(YAML_EDGES)).encode().split(b": ", 1)[-1].rstrip(b"\n")
            lines[i] = re.sub(rb":( .*)?$", b": " + edge.replace(b"\\", b"\\\\"), lines[i],
                              count=1)
            text = b"".join(lines)
        elif op == "raw" and text:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(RAW_EDGES)) + text[at:]
    return text


def specs(others: bool = False) -> st.SearchStrategy[bytes]:
    """Both kinds of mutation; ``others``: with the values aimed at other parts' areas."""
    return st.one_of(structured(others), textual())


def positioned(stderr: str) -> bool:
    """Every problem printed has a position, and there is at least one."""
    wheres = [found[1] or "" for found in PROBLEM.finditer(stderr)]
    return bool(wheres) and all(POSITION.match(where) for where in wheres)


# -- running one case ---------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    command: str
    kind: str
    code: int | None
    output: str  # what was printed, or the traceback of a crash

    def __str__(self) -> str:
        return f"{self.command}: {self.kind} (exit {self.code})\n{self.output[-3000:]}"


class Hang(BaseException):
    """The case ran past its time limit (a BaseException: nothing under test catches it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def memory_limit(extra: int) -> Iterator[None]:
    """No more than ``extra`` bytes of address space on top of what the process has now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        now = int(fh.read().split()[0]) * resource.getpagesize()
    limit = now + extra if hard == resource.RLIM_INFINITY else min(now + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def make_repo(root: Path) -> Path:
    """A work tree with a bare `origin` and a commit to release; release.yml goes in it."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "Fuzz", "GIT_AUTHOR_EMAIL": "fuzz@example.com",
           "GIT_COMMITTER_NAME": "Fuzz", "GIT_COMMITTER_EMAIL": "fuzz@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}

    def git(cwd: Path, *args: str) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)

    remote, work = root / "remote.git", root / "work"
    work.mkdir(parents=True)
    git(root, "init", "-q", "--bare", str(remote))
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    (work / ".gitignore").write_text(".scalpel/\nrelease.yml\n")
    (work / "pyproject.toml").write_text('[project]\nname = "widgets"\nversion = "0.1.0"\n')
    for path, text in (("src/widgets/__init__.py", '__version__ = "0.1.0"\n'),
                       ("docs/conf.py", 'release = "0.1.0"\n'),  # the README's version files
                       *((f"packages/{name}/pyproject.toml",  # examples/monorepo's packages
                          f'[project]\nname = "{name}"\nversion = "1.0.0"\n')
                         for name in ("core", "cli")),
                       ("shared/README.md", "shared\n")):
        (work / path).parent.mkdir(parents=True)
        (work / path).write_text(text)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "feat: a first widget")
    git(work, "tag", "-a", "-m", "v0.1.0", "v0.1.0")
    for message in ("feat(api): something to release (#12)", "fix: a crash, closes #3",
                    "perf!: faster\n\nBREAKING CHANGE: the cache moved", "docs: a typo",
                    "not a conventional message"):  # every template of the changelog in use
        git(work, "commit", "-q", "--allow-empty", "-m", message)
    git(work, "push", "-q", "origin", "main", "v0.1.0")
    return work


class Runner:
    """Runs cases in this process against one repository (the network unreachable: every
    connection is refused at once, and retries do not wait)."""

    def __init__(self, work: Path, *, seconds: float = 30.0, memory: int = 1 << 30) -> None:
        self.work, self.seconds, self.memory = work, seconds, memory
        self.crashed: list[str] = []

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        from scalpel_plan import cli, http

        saved_env = {k: os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                                    "NO_PROXY")}
        os.environ.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                          ALL_PROXY="http://127.0.0.1:9", NO_PROXY="")
        saved_crash, saved_wait = getattr(cli, "_crash", None), http.Http._wait

        def crash() -> int:  # the traceback, not a crash log in the temporary folder
            self.crashed.append(traceback.format_exc())
            return 3

        cli._crash = crash  # type: ignore[attr-defined]
        http.Http._wait = lambda self, attempt, retry_after: None  # type: ignore[method-assign]
        try:
            yield
        finally:
            if saved_crash is not None:
                cli._crash = saved_crash  # type: ignore[attr-defined]
            http.Http._wait = saved_wait  # type: ignore[method-assign]
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def run(self, spec: bytes) -> list[Outcome]:
        """`validate`, then `plan` when validate passed."""
        path = self.work / "release.yml"
        path.write_bytes(spec)
        outcomes = [self.command("validate", "-f", str(path))]
        if outcomes[0].kind == OK:
            outcomes.append(self.command("plan", "-f", str(path), "--allow-missing-secrets"))
        return outcomes

    def command(self, *argv: str) -> Outcome:
        from scalpel_plan import masking
        from scalpel_plan.cli import main

        out, err = io.StringIO(), io.StringIO()
        self.crashed.clear()
        code: int | None = None
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                    memory_limit(self.memory), time_limit(self.seconds):
                code = main(list(argv))
        except Hang:
            return Outcome(argv[0], HANG, None, err.getvalue())
        except BaseException:  # whatever escapes main is a crash
            return Outcome(argv[0], CRASH, None, traceback.format_exc())
        finally:
            masking.forget_all()
        printed = out.getvalue() + err.getvalue()
        if code == 0:
            return Outcome(argv[0], OK, code, printed)
        if code == 1:
            kind = POSITIONED if positioned(err.getvalue()) else UNPOSITIONED
            return Outcome(argv[0], kind, code, printed)
        return Outcome(argv[0], CRASH, code, "\n".join(self.crashed) or printed)
