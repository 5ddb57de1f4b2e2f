"""webhook provider, end to end through the CLI. The receiver is a local HTTP server: a fake of
the generic webhook contract (POST of JSON, 2xx means delivered), not any real service."""

from __future__ import annotations

import hashlib
import hmac
import json

from werkzeug import Response

SPEC = """
secrets:
  hook: {env: HOOK_URL}
  hook_key: {env: HOOK_KEY}
publish:
  git.tag: {push: origin}
notify:
  webhook.release:
    url: "${secrets.hook}"
    secret: "${secrets.hook_key}"
"""


def test_a_signed_summary_is_delivered_once_per_release(repo, cli, httpserver, monkeypatch):
    received = []

    def receive(request):
        received.append(request)
        return Response("ok")

    httpserver.expect_request("/hooks/T0KEN", method="POST").respond_with_handler(receive)
    monkeypatch.setenv("HOOK_URL", httpserver.url_for("/hooks/T0KEN"))
    monkeypatch.setenv("HOOK_KEY", "k3y-for-signing")
    repo.write_spec(SPEC)

    plan = cli(repo.path, "plan")
    assert "webhook.release will be created (irreversible)" in plan.out
    assert "url     = (sensitive value: secrets.hook)" in plan.out, plan.out
    assert "T0KEN" not in plan.out
    assert cli(repo.path, "apply", "--auto-approve").code == 0

    assert len(received) == 1
    body = received[0].get_data()
    payload = json.loads(body)
    assert payload["version"] == "0.1.0" and payload["tag"] == "v0.1.0"
    expected = hmac.new(b"k3y-for-signing", body, hashlib.sha256).hexdigest()
    assert received[0].headers["X-Scalpel-Signature-256"] == f"sha256={expected}"
    state = (repo.path / ".scalpel" / "state.json").read_text()
    assert "T0KEN" not in state and "k3y-for-signing" not in state

    assert cli(repo.path, "apply", "--auto-approve").code == 0  # nothing new: not sent again
    assert len(received) == 1


def test_a_503_then_success_is_one_delivery(repo, cli, httpserver, monkeypatch):
    calls = []

    def flaky(request):
        calls.append(request.headers["X-Scalpel-Delivery"])
        return Response("busy", status=503) if len(calls) == 1 else Response("ok")

    httpserver.expect_request("/h").respond_with_handler(flaky)
    monkeypatch.setenv("HOOK_URL", httpserver.url_for("/h"))
    monkeypatch.setenv("HOOK_KEY", "k")
    repo.write_spec(SPEC)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert len(calls) == 2 and calls[0] == calls[1]  # the same delivery id: receivers dedupe


def test_a_missing_secret_fails_the_step_by_name(repo, cli, httpserver, monkeypatch):
    monkeypatch.delenv("HOOK_URL", raising=False)
    monkeypatch.setenv("HOOK_KEY", "k")
    repo.write_spec(SPEC)
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "secret hook: $HOOK_URL is not set" in result.err


def test_a_bad_secret_url_fails_at_once_without_showing_it(repo, cli, monkeypatch):
    monkeypatch.setenv("HOOK_URL", "htp:/bad url with s3cret-in-it")
    monkeypatch.setenv("HOOK_KEY", "k")
    repo.write_spec(SPEC)
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "bad URL" in result.err
    assert "s3cret-in-it" not in result.err + result.out


def test_a_provider_bug_never_shows_a_secret(repo, cli, monkeypatch):
    """Whatever a provider raises passes through the mask before it is shown or journaled."""
    from scalpel_plan.providers.webhook import WebhookProvider

    def buggy(self, change, ctx):
        raise RuntimeError("oops with " + ctx.secrets.resolve(change.after["url"]))

    monkeypatch.setattr(WebhookProvider, "apply", buggy)
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/s3cret-in-it")
    monkeypatch.setenv("HOOK_KEY", "k")
    repo.write_spec(SPEC)
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "RuntimeError: oops with [secret]" in result.err
    assert "s3cret-in-it" not in result.err + result.out
    journal = "".join(p.read_text() for p in (repo.path / ".scalpel" / "journal").iterdir())
    assert "s3cret-in-it" not in journal
