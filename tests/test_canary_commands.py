"""Every command of the CLI, with one canary secret everywhere it can enter, found nowhere.

The canary is a declared secret (its value only in the environment, as always). It enters
through a stage that echoes it (stdout and stderr), through the HMAC key of a webhook, through
three commit messages (subject, body and a footer) that quote it, so the changelog, the notes,
the release commits' CHANGELOG.md, the announcements and the plans all carry it, and through
the webhook receiver's answers: HTTP 500 quoting it (so the failed apply's error, its incident
report and its alert carry it too), later 200 quoting it.

Every command the typer app registers runs (a test fails when one is not in STEPS), through
the real entry point, each after the mask was emptied as in a new process, so that each must
load the secrets itself. Then every byte they produced is searched: stdout and stderr, every
file under the test's folder (the work tree, CHANGELOG.md, .scalpel/, plan files, the status
page, exports, the folder `init` wrote), every commit, annotated tag and ref of origin and of
the clone (our own quoting commits for their patch only: their messages are ours), and every
request the webhook receiver got.

Each sink that leaves the machine and is not here has its own test in test_canary_sinks.py.
The canary has a `_` (Markdown escapes it), `+` and `/` (URL encoding changes them), a `"`
(JSON and HTML escape it), and `<`, `|` and `&` (Markdown tables and HTML escape them), so each
encoded form really differs from the raw value. It is searched raw, URL-encoded, base64 (at
any alignment, URL-safe, wrapped at 76 and 64 columns), JSON-, Markdown- and HTML-escaped,
shell-quoted; in each output also with its backslash escapes, HTML entities and %-escapes
undone; and as its random parts alone (a value cut in two by a length limit is a leak too).
"""

from __future__ import annotations

import base64
import html
import json
import shlex
import textwrap
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import typer.main
from werkzeug import Request, Response

from scalpel_plan import masking
from tests.conftest import Repo, git
from tests.test_canary import encodings

SPEC = """\
project: {name: canary-app}
version: {tag: "v{version}", initial: 0.1.0}
changelog: {file: CHANGELOG.md}
notes: {template: default}
secrets:
  deploy_token: {env: DEPLOY_TOKEN}
stages:
  build:
    run: 'echo "token=$DEPLOY_TOKEN"; echo "warning: $DEPLOY_TOKEN expires" >&2'
    secrets: [deploy_token]
publish:
  git.tag: {push: origin}
notify:
  webhook.hook:
    url: "HOOK_URL"
    secret: "${secrets.deploy_token}"
    on: [success, failure, rollback]
alerts:
  on_failure: [console, webhook.hook]
"""


@dataclass
class World:
    """What the steps share: the repository, the canary, the receiver, what was produced."""

    repo: Repo
    canary: str
    hook_fails: bool = True
    ours: set[str] = field(default_factory=set)  # commits we made: their messages quote it
    outputs: list[tuple[str, bytes]] = field(default_factory=list)  # (where, bytes)
    received: list[tuple[bytes, bytes]] = field(default_factory=list)  # (head, body)

    def commit(self, subject: str, body: str) -> None:
        """A commit whose message quotes the canary, its patch not (Repo.commit would write
        the message into a file)."""
        target = self.repo.path / "src.txt"
        with target.open("a") as fh:
            fh.write(f"change {len(self.ours)}\n")
        git(self.repo.path, "add", "src.txt")
        git(self.repo.path, "commit", "-q", "-m", subject, "-m", body)
        self.ours.add(git(self.repo.path, "rev-parse", "HEAD"))


def _quote_it_in_a_feature(world: World) -> None:
    world.commit(f"feat: accept the {world.canary} deploy token",
                 f"The deploy key is {world.canary}; keep it safe.")


def _quote_it_in_a_second_feature(world: World) -> None:
    world.commit(f"feat(deploy): rotate {world.canary}", f"Rotated: {world.canary}.")


def _quote_it_in_a_fix(world: World) -> None:
    world.commit(f"fix: stop logging {world.canary}",
                 f"It was {world.canary} all along.\n\nReviewed-by: {world.canary}")


WRITTEN = "CHANGELOG.md written by `changelog --write`"


def _keep_the_written_changelog(world: World) -> None:
    """`changelog --write` wrote CHANGELOG.md: keep its bytes, then remove it (untracked), so
    the release commit writes its own."""
    written = world.repo.path / "CHANGELOG.md"
    text = written.read_bytes()
    world.outputs.append((WRITTEN, text))
    written.unlink()


def _receiver_recovers(world: World) -> None:
    world.hook_fails = False


Run = tuple[tuple[str, ...], int]  # the arguments, and the exit code they must give
Step = Run | Callable[[World], None]

# Every command the app registers is in here at least once (checked below), in an order that
# gives each something to show: a failing release (the receiver answers 500), its resume, the
# release once the receiver works, a second release, a rollback and a hotfix.
STEPS: list[Step] = [
    (("--version",), 0),
    (("--help",), 0),
    (("schema",), 0),
    (("completion", "bash"), 0),
    (("init", "--file", "../fresh/release.yml"), 0),
    (("hotfix", "finish", "--auto-approve"), 1),  # not on a hotfix branch: an error
    _quote_it_in_a_feature,
    (("validate",), 0),
    (("graph",), 0),
    (("graph", "--format", "mermaid"), 0),
    (("secrets",), 0),
    (("state", "list"), 0),
    (("history",), 0),
    (("plan",), 0),
    (("plan", "--format", "markdown"), 0),
    (("plan", "--format", "json"), 0),
    (("plan", "--detailed-exitcode"), 2),
    (("changelog",), 0),
    (("changelog", "--format", "html"), 0),
    (("changelog", "--format", "json"), 0),
    (("notes",), 0),
    (("notes", "--template", "detailed"), 0),
    (("changelog", "--write"), 0),
    _keep_the_written_changelog,
    (("plan", "--out", "plan.json"), 0),
    (("show", "plan.json", "--format", "markdown"), 0),
    (("show", "plan.json", "--verbose"), 0),
    (("apply", "plan.json"), 1),  # the webhook answers 500: incident report, alert
    (("apply", "--auto-approve", "--json"), 1),  # resumed: fails at the same point
    (("status",), 0),
    (("status", "--json"), 0),
    (("profile",), 0),
    (("state", "show", "webhook.hook"), 0),
    _receiver_recovers,
    (("apply", "--auto-approve"), 0),  # 0.1.0 is released
    _quote_it_in_a_second_feature,
    (("changelog", "--all"), 0),
    (("apply", "--auto-approve"), 0),  # 0.2.0
    (("rollback", "--to", "v0.1.0", "--out", "rollback.json"), 0),
    (("rollback", "--to", "v0.1.0", "--auto-approve"), 0),
    (("hotfix", "start", "--from", "v0.1.0"), 0),
    _quote_it_in_a_fix,
    (("hotfix", "finish", "--auto-approve"), 0),  # 0.1.1
    (("changelog", "--from", "v0.1.0", "--to", "v0.2.0", "--format", "json"), 0),
    (("notes",), 0),
    (("history",), 0),
    (("history", "--json"), 0),
    (("status", "--watch"), 0),
    (("status", "--html", "status.html"), 0),
    (("profile", "0.2.0"), 0),
    (("profile", "--compare", "0.1.0", "0.2.0", "--threshold", "1000"), 0),
    (("metrics",), 0),
    (("metrics", "export"), 0),
    (("metrics", "export", "--format", "csv"), 0),
    (("metrics", "export", "--format", "openmetrics", "--out", "metrics.txt"), 0),
    (("state", "list"), 0),
    (("state", "show", "git.tag"), 0),
    (("state", "lock"), 0),
    (("state", "unlock", "no-such-lock"), 1),  # nobody holds it: an error
    (("state", "import", "--dry-run"), 0),  # every release tag is Scalpel's: nothing to add
    (("state", "import"), 0),
    (("state", "migrate", "--to", "git+origin"), 0),  # incident reports, journals travel
]
RUNS = [step for step in STEPS if isinstance(step, tuple)]


def _root() -> object:
    from scalpel_plan.cli import load_app  # registers every command on the app

    return typer.main.get_command(load_app())


def _subcommands(command: object) -> dict[str, object]:
    """A group's commands by name (typer vendors its own click: no isinstance on click's)."""
    found = getattr(command, "commands", None)
    return found if isinstance(found, dict) else {}


def cli_commands() -> set[tuple[str, ...]]:
    """Every command path the app registers, walking its groups recursively
    (``("metrics", "export")``); a group that runs without a subcommand (``metrics``) is a
    command too."""
    def walk(group: object, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name, command in _subcommands(group).items():
            path = (*prefix, name)
            if not _subcommands(command) or getattr(command, "invoke_without_command", False):
                yield path
            yield from walk(command, path)

    return set(walk(_root(), ()))


def command_of(args: tuple[str, ...]) -> tuple[str, ...]:
    """The command path an invocation runs: its leading words that name (sub)commands."""
    command, path = _root(), ()
    for word in args:
        if word not in _subcommands(command):
            break
        command, path = _subcommands(command)[word], (*path, word)
    return path


def test_every_command_of_the_cli_is_in_the_table():
    """A command added to the CLI must be added to STEPS, with the canary around it."""
    invoked = {command_of(args) for args, _ in RUNS}
    commands = cli_commands()
    assert len(commands) >= 20  # the walk found them (init ... metrics export)
    missing = sorted(" ".join(c) for c in commands - invoked)
    assert not missing, f"no invocation in STEPS for: {', '.join(missing)}"
    assert {("--version",), ("--help",)} <= {args for args, _ in RUNS}


def canary_forms(value: str) -> dict[str, bytes]:
    """Every encoded form of ``value`` a leak could take, by name."""
    markdown = value.translate(str.maketrans({c: "\\" + c for c in "\\`*_[]|"}
                                             | {"<": "&lt;", ">": "&gt;"}))
    forms = {"JSON-escaped": json.dumps(value)[1:-1], "Markdown-escaped": markdown,
             "HTML-escaped": html.escape(value)}
    found = {name: text.encode() for name, text in forms.items()}
    raw, quoted, plus, b64 = encodings(value)  # test_canary's: raw, URL-encoded, base64
    found = {"raw": raw, "URL-encoded": quoted, "URL-encoded (+)": plus, "base64": b64,
             **found}
    for offset in (0, 1, 2):  # the value inside a longer text, base64-encoded
        found[f"base64 inside a text (offset {offset})"] = base64.b64encode(
            b"\0" * offset + value.encode())[4 if offset else 0:-4]
    for width in (76, 64):  # as MIME and PEM wrap it
        found[f"base64 wrapped at {width}"] = "\n".join(
            textwrap.wrap(b64.decode(), width)[:2]).encode()
    found["URL-safe base64"] = base64.urlsafe_b64encode(value.encode())
    found["shell-quoted"] = shlex.quote(value).encode()
    return found


def views(blob: bytes) -> dict[str, bytes]:
    """``blob`` with the usual escapes undone (backslashes, HTML entities, %-escapes): a
    canary escaped some other way is found there."""
    text = blob.decode("utf-8", "replace")
    return {"backslashes removed": text.replace("\\", "").encode(),
            "HTML entities and backslashes undone": html.unescape(text).replace("\\", "")
            .encode(),
            "%-escapes decoded": urllib.parse.unquote(text).encode()}


def leak_in(blob: bytes, canary: str, parts: list[str]) -> str | None:
    """How ``blob`` shows the canary, with some context; None when it does not."""
    def shown(name: str, text: bytes, form: bytes) -> str:
        at = text.index(form)
        return f"{name}: …{text[max(0, at - 60):at + len(form) + 40]!r}…"

    for name, form in canary_forms(canary).items():
        if form in blob:
            return shown(f"{name} canary", blob, form)
    for view, text in views(blob).items():
        if canary.encode() in text:
            return shown(f"canary ({view})", text, canary.encode())
    for part in parts:  # a random part alone: the value cut by a length limit
        for view, text in {"as written": blob, **views(blob)}.items():
            if part.encode() in text:
                return shown(f"part of the canary ({view})", text, part.encode())
    return None


def git_outputs(gitdir: Path, ours: set[str]) -> Iterator[tuple[str, bytes]]:
    """Every commit (its message and patch; ours for its patch only), every annotated tag's
    message and every ref name in ``gitdir``."""
    name = gitdir.name
    for sha in git(gitdir, "rev-list", "--all").split():
        shown = "--format=" if sha in ours else "--format=fuller"
        yield (f"commit {sha[:12]} in {name}",
               git(gitdir, "show", shown, "--patch", "--stat", sha).encode())
    refs = git(gitdir, "for-each-ref", "--format=%(refname) %(objecttype) %(objectname)")
    yield f"the refs of {name}", refs.encode()
    for line in refs.splitlines():
        ref, kind, sha = line.split()
        if kind == "tag":
            yield f"tag {ref} in {name}", git(gitdir, "cat-file", "-p", sha).encode()


def test_no_command_shows_writes_or_sends_the_canary(repo, httpserver, tmp_path, cli,
                                                     monkeypatch):
    hexes = [uuid.uuid4().hex[:16] for _ in range(3)]  # its random parts
    canary = f'canary_{hexes[0]}+{hexes[1]}/"<|&{hexes[2]}'
    world = World(repo, canary, ours=set(git(repo.path, "rev-list", "HEAD").split()))

    def receive(request: Request) -> Response:
        world.received.append((f"{request.method} {request.full_path}\n{request.headers}"
                               .encode(), request.get_data()))
        if world.hook_fails:  # an error that quotes the token it was given
            return Response(f"upstream exploded: token {canary} was rejected", status=500,
                            headers={"Retry-After": "0"})  # retried at once: a fast test
        return Response(f"ok, {canary} accepted")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    repo.write_spec(SPEC.replace("HOOK_URL", httpserver.url_for("/hook")))
    git(repo.path, "add", "release.yml")
    git(repo.path, "commit", "-q", "-m", "chore: release.yml")
    (tmp_path / "fresh").mkdir()
    git(tmp_path / "fresh", "init", "-q", "-b", "main")  # init refuses outside a repository
    monkeypatch.setenv("DEPLOY_TOKEN", canary)

    for step in STEPS:
        if callable(step):
            step(world)
            continue
        args, expected = step
        masking.forget_all()  # as in a new process: the command must load the secrets itself
        result = cli(repo.path, *args)
        shown = " ".join(args)
        assert result.code == expected, \
            f"scalpel {shown} exited {result.code}:\n{result.out}\n{result.err}"
        world.outputs += [(f"stdout of `scalpel {shown}`", result.out.encode()),
                          (f"stderr of `scalpel {shown}`", result.err.encode())]

    files = [(f"file {p.relative_to(tmp_path)}", p.read_bytes()) for p in tmp_path.rglob("*")
             if p.is_file() and not {".git", "remote.git"} & set(p.relative_to(tmp_path).parts)]
    everything = [*world.outputs, *files, *git_outputs(repo.remote, world.ours),
                  *git_outputs(repo.path / ".git", world.ours),
                  *((f"webhook request {i}", head + b"\n" + body)
                    for i, (head, body) in enumerate(world.received))]
    leaks = [f"{where}: {leak}" for where, blob in everything
             if (leak := leak_in(blob, canary, hexes))]
    assert not leaks, f"the canary leaked in {len(leaks)} places:\n" + "\n".join(leaks)

    # and it did go everywhere: the changelog, the notes, the stage, the error, the receiver
    said = b"\n".join(blob for _, blob in world.outputs)
    assert b"- accept the [secret] deploy token" in said  # the changelog, the notes
    assert b"- accept the [secret] deploy token" in dict(world.outputs)[WRITTEN]
    assert b"upstream exploded: token [secret] was rejected" in said
    logs = b"".join(p.read_bytes() for p in (repo.path / ".scalpel" / "logs").rglob("*")
                    if p.is_file())
    assert b"token=[secret]" in logs and b"warning: [secret] expires" in logs
    assert list((repo.path / ".scalpel" / "incidents").iterdir())
    events = {json.loads(body).get("event") for _, body in world.received}
    assert {"release", "failure", "rollback"} <= events  # announcements and alerts
    assert all(b"X-Scalpel-Signature-256: sha256=" in head for head, _ in world.received)
    assert (tmp_path / "fresh" / "release.yml").is_file()
    assert set(repo.remote_tags()) == {"v0.1.0", "v0.2.0", "v0.1.1"}
    released = git(repo.remote, "show", "v0.2.0:CHANGELOG.md")  # the release commit's
    assert "- **deploy:** rotate [secret] (" in released
