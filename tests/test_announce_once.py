"""Every announcement is delivered exactly once or reported as "may have gone out", and names the
release as released; a killed rollback is visible until it is finished.

Through the real CLI against a real git remote. The webhook receiver is pytest-httpserver: a
local fake of Scalpel's generic webhook contract (POST of JSON, 2xx means delivered), not any
real service. A kill is simulated in-process two ways: ``kill_before_recording`` (the step did
its work, then the apply dies before journaling it done, as at Ctrl-C), and ``Killed``, an
exception nothing in Scalpel catches (the apply stops dead, as at ``kill -9``: nothing after it
is recorded, not even the end of the rollback).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import git, journal, kill_before_recording
from werkzeug import Response

from scalpel_plan.providers.announce import DELIVERY_NAMESPACE
from scalpel_plan.providers.webhook import WebhookProvider
from scalpel_plan.state.checkpoint import Checkpointer

HOOK_SPEC = """
project: {{name: gizmo}}
secrets:
  hook: {{env: HOOK_URL}}
changelog: {{}}
publish:
  git.tag: {{push: origin, moving: [stable]}}
notify:
  webhook.ops: {{url: "${{secrets.hook}}", on: [success, rollback]}}
{extra}"""

CONSOLE_SPEC = """
project: {name: gizmo}
changelog: {}
publish:
  git.tag: {push: origin}
notify:
  console.announce: {message: "{project} {version} is out at {short_commit}"}
"""


class Killed(BaseException):
    """The apply dies here, as at kill -9: no handler in Scalpel runs after it."""


def commit_spec(repo: Any, text: str) -> None:
    """release.yml (and .scalpel/ ignored) committed: the work tree is clean, as in CI."""
    repo.write_spec(text)
    (repo.path / ".gitignore").write_text(".scalpel/\n*.json\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "ci: release.yml")


def receiver(httpserver: Any, monkeypatch: pytest.MonkeyPatch,
             statuses: list[int] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(delivery id, JSON body) of every POST to the hook; answers ``statuses`` in turn, then
    200."""
    received: list[tuple[str, dict[str, Any]]] = []
    answers = list(statuses or [])

    def receive(request: Any) -> Response:
        received.append((request.headers["X-Scalpel-Delivery"], json.loads(request.get_data())))
        return Response("busy", status=answers.pop(0)) if answers else Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    monkeypatch.setenv("HOOK_URL", httpserver.url_for("/hook"))
    return received


def state_of(repo: Any) -> dict[str, Any]:
    return json.loads((repo.path / ".scalpel" / "state.json").read_text())


def die_after_sending(monkeypatch: pytest.MonkeyPatch, event: str,
                      interrupt: type[BaseException] = KeyboardInterrupt) -> Callable[[], None]:
    """The webhook's message of ``event`` goes out, then the apply is stopped before the send
    returns; returns what undoes it."""
    real = WebhookProvider.send

    def send(self: WebhookProvider, address: str, target: Any, message: Any,
             secrets: Any) -> Any:
        sent = real(self, address, target, message, secrets)
        if message.data.get("event") == event:
            raise interrupt
        return sent

    monkeypatch.setattr(WebhookProvider, "send", send)
    return lambda: monkeypatch.setattr(WebhookProvider, "send", real)


def die_before_recording(monkeypatch: pytest.MonkeyPatch, address: str) -> Callable[[], None]:
    """As kill -9 after ``address`` did its work: the apply stops dead before journaling it."""
    real = Checkpointer.record

    def record(self: Checkpointer, event: str, **fields: Any) -> Any:
        if event == "step_done" and fields.get("address") == address:
            self.journal.close()  # what the process's death would do
            raise Killed
        return real(self, event, **fields)

    monkeypatch.setattr(Checkpointer, "record", record)
    return lambda: monkeypatch.setattr(Checkpointer, "record", real)


# the console ------------------------------------------------------------------------------

def test_the_console_announcement_is_printed_after_sending_and_before_done(repo, cli,
                                                                           monkeypatch):
    commit_spec(repo, CONSOLE_SPEC)
    seen: list[str] = []
    from scalpel_plan.ui.terminal import UI

    real_record, real_print = Checkpointer.record, UI.announcement

    def record(self: Checkpointer, event: str, **fields: Any) -> Any:
        if fields.get("address") == "console.announce":
            status = (fields.get("resource") or {}).get("attributes", {}).get("status")
            seen.append(f"{event}:{status}")
        return real_record(self, event, **fields)

    def announcement(self: UI, address: str, text: str) -> None:
        seen.append(f"printed:{text}")
        real_print(self, address, text)

    monkeypatch.setattr(Checkpointer, "record", record)
    monkeypatch.setattr(UI, "announcement", announcement)
    plan = cli(repo.path, "plan")  # the release commit is made at apply: named once it is
    assert 'message = "gizmo 0.1.0 is out at ${git.commit.sha[:12]}"' in plan.out, plan.out
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    tagged = git(repo.path, "rev-parse", "v0.1.0^{commit}")
    assert seen == ["step_progress:sending", f"printed:gizmo 0.1.0 is out at {tagged[:12]}",
                    "step_done:sent"]
    assert result.out.count("📣") == 1


def test_a_console_announcement_killed_after_printing_is_never_printed_again(repo, cli,
                                                                             monkeypatch):
    commit_spec(repo, CONSOLE_SPEC)
    restore = kill_before_recording(monkeypatch, "console.announce")
    killed = cli(repo.path, "apply", "--auto-approve")
    restore()
    assert killed.code == 130
    assert "gizmo 0.1.0 is out" in killed.out  # it went out before the kill
    assert state_of(repo)["resources"]["console.announce"]["attributes"]["status"] == "sending"

    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    assert "console.announce: an apply was stopped while sending this for 0.1.0; it may " \
           "have gone out" in plan.out
    again = cli(repo.path, "apply", "--auto-approve")
    assert again.code == 0, again.err
    assert "is out" not in again.out  # never printed twice
    assert "Apply complete!" in again.out
    assert state_of(repo)["releases"][-1]["status"] == "succeeded"


# the webhook ------------------------------------------------------------------------------

def test_a_webhook_killed_mid_send_warns_and_is_never_sent_twice(repo, cli, httpserver,
                                                                  monkeypatch):
    received = receiver(httpserver, monkeypatch)
    commit_spec(repo, HOOK_SPEC.format(extra=""))
    restore = die_after_sending(monkeypatch, "release")
    assert cli(repo.path, "apply", "--auto-approve").code == 130
    restore()
    assert len(received) == 1

    plan = cli(repo.path, "plan")
    assert "webhook.ops: an apply was stopped while sending this for 0.1.0; it may have " \
           "gone out" in plan.out, plan.out
    again = cli(repo.path, "apply", "--auto-approve")
    assert again.code == 0, again.err
    assert len(received) == 1


def test_the_delivery_id_is_the_releases_on_every_retry_and_every_apply(repo, cli, httpserver,
                                                                        monkeypatch):
    from scalpel_plan.http import Http

    monkeypatch.setattr(Http, "_wait", lambda self, attempt, retry_after: None)
    received = receiver(httpserver, monkeypatch, [500] * 5)  # every attempt of the 1st apply
    commit_spec(repo, HOOK_SPEC.format(extra=""))
    before = git(repo.path, "rev-parse", "HEAD")
    failed = cli(repo.path, "apply", "--auto-approve")
    assert failed.code == 1 and "HTTP 500" in failed.err
    assert git(repo.path, "rev-parse", "HEAD") != before  # the release commit moved HEAD
    again = cli(repo.path, "apply", "--auto-approve")
    assert again.code == 0, again.err

    assert len(received) == 6
    ids = {delivery for delivery, _ in received}
    assert ids == {str(uuid.uuid5(DELIVERY_NAMESPACE, "gizmo\n0.1.0\nwebhook.ops"))}
    body = received[-1][1]
    tagged = git(repo.path, "rev-parse", "v0.1.0^{commit}")
    assert git(repo.path, "log", "-1", "--format=%s", tagged) == "chore(release): 0.1.0"
    assert body["commit"] == tagged  # the tagged commit, not HEAD when the plan was made
    assert "chore(release)" not in body["highlights"]  # never a change of its own release
    assert "a first feature" in body["highlights"]


def test_the_release_commit_is_never_a_change_of_the_next_release(repo, cli):
    commit_spec(repo, """
project: {name: gizmo}
changelog: {}
notify:
  console.announce: {}
""")  # released without a tag: the next release starts after the commit the state names
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): 0.1.0"
    repo.commit("fix: the next fix")
    plan = cli(repo.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    release = json.loads(plan.out)["release"]
    assert release["version"] == "0.1.1"
    assert [c["description"] for c in release["commits"]] == ["the next fix"]
    assert "chore(release)" not in release["changelog"] and "0.1.0" not in release["changelog"]


# rollbacks ----------------------------------------------------------------------------------

@pytest.fixture
def released_twice(repo, cli, httpserver, monkeypatch):
    received = receiver(httpserver, monkeypatch)
    commit_spec(repo, HOOK_SPEC.format(extra=""))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: the second release")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert [body["version"] for _, body in received] == ["0.1.0", "0.2.0"]
    return repo, received


def rollbacks(received: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [body for _, body in received if body["event"] == "rollback"]


def test_a_rollback_announcement_killed_mid_send_warns_and_is_never_sent_twice(
        released_twice, cli, monkeypatch):
    repo, received = released_twice
    restore = die_after_sending(monkeypatch, "rollback")
    assert cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve").code == 130
    restore()
    assert len(rollbacks(received)) == 1
    assert rollbacks(received)[0]["commit"] == git(repo.path, "rev-parse", "v0.1.0^{commit}")
    recorded = state_of(repo)["resources"]["webhook.ops@rollback"]["attributes"]
    assert recorded["status"] == "sending"

    again = cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    assert again.code == 0, again.err
    assert "webhook.ops@rollback: an apply was stopped while sending this for rollback " \
           "0.2.0 -> 0.1.0; it may have gone out" in again.out
    assert len(rollbacks(received)) == 1  # never twice
    state = state_of(repo)
    assert state["live"] == "0.1.0"
    assert [r["status"] for r in state["rollbacks"]] == ["succeeded"]  # one rollback, resumed


def test_a_killed_rollback_shows_in_plan_status_and_history_until_finished(released_twice,
                                                                           cli, monkeypatch):
    repo, received = released_twice
    restore = die_before_recording(monkeypatch, "git.tag")
    with pytest.raises(Killed):
        cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    restore()
    history = json.loads(cli(repo.path, "history", "--json").out)  # the journal folded in
    assert [r["status"] for r in history["rollbacks"]] == ["in_progress"]
    finish = "run `scalpel rollback --to v0.1.0` to finish it"
    said = f"a rollback to v0.1.0 (0.2.0 → 0.1.0) was interrupted; {finish}"

    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    assert f"Warning: {said}" in plan.out
    status = cli(repo.path, "status")
    assert "rollback 0.1.0 interrupted" in status.out and said in status.out
    assert json.loads(cli(repo.path, "status", "--json").out)["next_step"] == said
    assert f"interrupted: {finish}" in cli(repo.path, "history").out
    found = json.loads(cli(repo.path, "history", "--json").out)["interrupted_rollback"]
    assert found["finish"] == "scalpel rollback --to v0.1.0"

    again = cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    assert again.code == 0, again.err
    assert "was interrupted" not in again.out  # the rollback it finishes is no news
    assert len(rollbacks(received)) == 1
    assert [r["status"] for r in state_of(repo)["rollbacks"]] == ["succeeded"]
    assert "interrupted" not in cli(repo.path, "history").out
    assert "was interrupted" not in cli(repo.path, "plan").out
    assert json.loads(cli(repo.path, "status", "--json").out)["next_step"] is None


def test_a_rollback_given_up_for_a_release_is_failed_not_in_progress(released_twice, cli,
                                                                     monkeypatch):
    repo, _ = released_twice
    restore = die_before_recording(monkeypatch, "git.tag")
    with pytest.raises(Killed):
        cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve")
    restore()
    repo.commit("fix: fixed forward instead")
    fixed = cli(repo.path, "apply", "--auto-approve")
    assert fixed.code == 0, fixed.err
    assert "rollback to v0.1.0" in fixed.out  # the plan reviewed said so
    state = state_of(repo)
    assert [r["status"] for r in state["rollbacks"]] == ["failed"]  # not in progress forever
    assert state["live"] == "0.2.1"
    assert "interrupted" not in cli(repo.path, "history").out
    assert "rollback" not in cli(repo.path, "plan").out
    events = journal(Path(repo.path), "0.2.1")
    assert events[-1]["event"] == "apply_finished" and events[-1]["status"] == "succeeded"
