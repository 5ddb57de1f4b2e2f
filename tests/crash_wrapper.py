"""Run the real `scalpel` CLI and die as by ``kill -9`` at one chosen point (the crash test's
harness, tests/crash.py; the production code has no hook for it).

Before ``scalpel_plan.cli.main`` runs, this script wraps, in this process only:

- ``Journal.append``: after the N-th journal line is written and flushed;
- ``Http.request`` (the one HTTP layer): after the response of a request that changes
  something (POST, PUT, PATCH, DELETE), by target and kind, e.g. ``pypi POST upload`` or
  ``registry PUT manifest``;
- ``process.run`` (the one subprocess helper): after a ``git push`` that succeeded, and
  after the release commit's local ``git add``, ``git commit`` and ``git tag``;
- ``smtplib.SMTP.send_message``: after the server accepted the message;
- a state write of the git backend: after its commit is made, before the push (``git
  commit-tree``), and during the push (``during:state push:N``): the remote's pre-receive hook
  (tests/crash_backends.py installs it) says it holds the push, and this process dies with
  every command it runs (their process groups), as a CI job cancelled mid-push.

Environment:
  SCALPEL_CRASH_AT     ``line:N``, ``effect:KIND:N`` (the N-th of that kind) or
                       ``during:state push:N``; empty: no kill
  SCALPEL_CRASH_REMOTE the bare remote's folder, for ``during:`` (its hook's marker files)
  SCALPEL_CRASH_TRACE  a file each line and side effect is appended to (JSON lines)
  SCALPEL_CRASH_NAMES  JSON {"host:port": "pypi"}: what to call each server in the trace
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's scalpel_plan

AT = os.environ.get("SCALPEL_CRASH_AT", "")
TRACE = os.environ.get("SCALPEL_CRASH_TRACE")
NAMES: dict[str, str] = json.loads(os.environ.get("SCALPEL_CRASH_NAMES") or "{}")
# git commands after which a kill is tried: the push (the side effect on origin) and the
# local writes of the release commit and the tag (a commit stopped half-way)
LOCAL_WRITES = ("push", "add", "commit", "tag", "commit-tree")
REMOTE = os.environ.get("SCALPEL_CRASH_REMOTE", "")
STATE_REF = "refs/scalpel/state"
_lock = threading.RLock()
_counts: dict[str, int] = {}


def _note(record: dict[str, Any]) -> None:
    if TRACE:
        with open(TRACE, "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), **record}) + "\n")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # nothing flushed, nothing cleaned up


def _happened(kind: str, **detail: Any) -> None:
    with _lock:
        n = _counts[kind] = _counts.get(kind, 0) + 1
        _note({"effect": kind, "n": n, **detail})
        if f"effect:{kind}:{n}" == AT:
            _die()


def _http_kind(method: str, url: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(url)
    target = NAMES.get(parts.netloc, parts.netloc)
    what, detail = "", {"path": parts.path}
    if target == "fake":  # one local server holds both fakes
        target = "webhook" if parts.path.startswith("/hooks/") else "github"
    if target == "pypi":
        files = kwargs.get("files") or {}
        what = " upload" if files else " check"
        if files:
            detail["file"] = files["content"][0]
    elif target == "registry":
        what = " manifest" if "/manifests/" in parts.path else " blob"
    elif target == "github":
        what = " asset" if parts.path.startswith("/uploads/") else " release"
    return f"{target} {method}{what}", detail


def _state_push(argv: list[str]) -> None:
    """Before the N-th push of the state: note what it pushes; for ``during:`` that N, arm the
    remote's hook and die once it holds the push."""
    with _lock:
        n = _counts["state push"] = _counts.get("state push", 0) + 1
    pushed = next(a for a in argv if a.endswith(":" + STATE_REF)).split(":")[0]
    _note({"effect": "state push", "n": n, "commit": pushed, "started": True})
    if f"during:state push:{n}" != AT or not REMOTE:
        return
    armed, held = Path(REMOTE, "crash-armed"), Path(REMOTE, "crash-held")
    armed.write_text(str(os.getpid()))

    def watch() -> None:
        while not held.exists():
            time.sleep(0.01)
        from scalpel_plan import process

        for proc in list(process._running._procs.values()):  # the push and all it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        _die()

    threading.Thread(target=watch, daemon=True).start()


def install() -> None:
    import smtplib

    from scalpel_plan import process
    from scalpel_plan.http import Http
    from scalpel_plan.state.journal import Journal

    real_append = Journal.append
    lines = [0]

    def append(self: Journal, event: str, **fields: Any) -> Any:
        record = real_append(self, event, **fields)
        with _lock:
            lines[0] += 1
            resource = fields.get("resource")
            attributes = resource.get("attributes") if isinstance(resource, dict) else None
            _note({"line": lines[0], "event": event, "address": fields.get("address"),
                   "status": attributes.get("status") if isinstance(attributes, dict) else None})
            if f"line:{lines[0]}" == AT:
                _die()
        return record

    real_request = Http.request

    def request(self: Http, method: str, url: str, **kwargs: Any) -> Any:
        response = real_request(self, method, url, **kwargs)
        verb = method.upper()
        if verb not in ("GET", "HEAD", "OPTIONS"):
            kind, detail = _http_kind(verb, url, kwargs)
            _happened(kind, status=response.status_code, **detail)
        return response

    real_run = process.run

    def run(argv: Any, *args: Any, **kwargs: Any) -> Any:
        argv = list(argv) if not isinstance(argv, str) else argv
        if argv[:2] == ["git", "push"] and any(str(a).endswith(":" + STATE_REF) for a in argv):
            _state_push(argv)
        done = real_run(argv, *args, **kwargs)
        argv = list(argv) if not isinstance(argv, str) else [argv]
        if argv[:1] == ["git"] and len(argv) > 1 and argv[1] in LOCAL_WRITES \
                and getattr(done, "ok", False):
            _happened(f"git {argv[1]}", args=[a for a in argv[2:] if not a.startswith("-")])
        return done

    real_send = smtplib.SMTP.send_message

    def send_message(self: smtplib.SMTP, msg: Any, *args: Any, **kwargs: Any) -> Any:
        refused = real_send(self, msg, *args, **kwargs)
        _happened("smtp send", subject=str(msg["Subject"]))
        return refused

    Journal.append = append  # type: ignore[method-assign]
    Http.request = request  # type: ignore[method-assign]
    process.run = run  # type: ignore[assignment]
    smtplib.SMTP.send_message = send_message  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from scalpel_plan.cli import main

    sys.exit(main(sys.argv[1:]))
