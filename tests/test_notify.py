"""Announcements: email against a real SMTP server (aiosmtpd with STARTTLS or implicit TLS and
AUTH, on 127.0.0.1); Slack, Discord, Teams and Mattermost against a local HTTP server that is a
fake of each service's incoming-webhook contract (POST of the documented JSON), not the
service itself."""

from __future__ import annotations

import email
import email.policy
import json

import pytest
from werkzeug import Response

from tests.conftest import kill_before_recording
from tests.servers import smtp_server

EMAIL_SPEC = """
changelog: {{}}
secrets:
  smtp: {{env: SMTP_PW}}
notify:
  email.team:
    host: 127.0.0.1
    port: {port}
    security: {security}
    username: mailer
    password: "${{secrets.smtp}}"
    from: releases@acme.test
    to: [team@acme.test]
    cc: [lead@acme.test]
    bcc: [audit@acme.test]
    ca_file: {ca}
    links: {{Release: "https://example.test/releases/{{tag}}"}}
"""


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_email_arrives_once_with_its_headers_parts_and_recipients(repo, cli, tmp_path,
                                                                     monkeypatch, security):
    repo.commit("feat: a <b>bold</b> & shiny feature")
    with smtp_server(tmp_path / "smtp", implicit_tls=security == "tls") as smtp:
        monkeypatch.setenv("SMTP_PW", smtp.password)
        repo.write_spec(EMAIL_SPEC.format(port=smtp.port, security=security, ca=smtp.ca_file))
        plan = cli(repo.path, "plan")
        assert "email.team will be created (irreversible)" in plan.out, plan.err
        result = cli(repo.path, "apply", "--auto-approve")
        assert result.code == 0, result.err
        assert len(smtp.messages) == 1 and smtp.logins == [("mailer", True)]
        envelope = smtp.messages[0]
        assert envelope.mail_from == "releases@acme.test"
        assert sorted(envelope.rcpt_tos) == ["audit@acme.test", "lead@acme.test",
                                             "team@acme.test"]
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert message["Subject"] == "work 0.1.0 released"
        assert message["To"] == "team@acme.test" and message["Cc"] == "lead@acme.test"
        assert message["Bcc"] is None and message["Message-ID"] and message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "a <b>bold</b> & shiny feature" in text
        assert "a &lt;b&gt;bold&lt;/b&gt; &amp; shiny feature" in html and "<b>" not in html
        assert "https://example.test/releases/v0.1.0" in text + html

        assert cli(repo.path, "apply", "--auto-approve").code == 0  # announced: not again
        assert len(smtp.messages) == 1


def test_a_wrong_smtp_password_is_a_clear_error_naming_the_secret(repo, cli, tmp_path,
                                                                  monkeypatch):
    with smtp_server(tmp_path / "smtp") as smtp:
        monkeypatch.setenv("SMTP_PW", "wrong-smtp-password")
        repo.write_spec(EMAIL_SPEC.format(port=smtp.port, security="starttls", ca=smtp.ca_file))
        result = cli(repo.path, "apply", "--auto-approve")
        assert result.code == 1 and smtp.messages == []
        assert f"email.team: SMTP server 127.0.0.1:{smtp.port} refused the login of mailer " \
               "(535)" in result.err
        assert "check the secret smtp" in result.err
        assert "wrong-smtp-password" not in result.out + result.err
        # not sent: the next apply tries again
        assert "email.team will be created" in cli(repo.path, "plan").out


def test_an_untrusted_certificate_is_refused(repo, cli, tmp_path, monkeypatch):
    with smtp_server(tmp_path / "smtp") as smtp:
        monkeypatch.setenv("SMTP_PW", smtp.password)
        spec = EMAIL_SPEC.format(port=smtp.port, security="starttls", ca=smtp.ca_file)
        repo.write_spec(spec.replace(f"    ca_file: {smtp.ca_file}\n", ""))
        result = cli(repo.path, "apply", "--auto-approve")
        assert result.code == 1 and "TLS failed" in result.err and "set `ca_file`" in result.err
        assert smtp.messages == []


SLACK_SPEC = """
secrets:
  slack: {env: SLACK_URL}
notify:
  slack.announce:
    webhook: "${secrets.slack}"
    links: {Release: "https://example.test/releases/{tag}"}
"""


def slack_receiver(httpserver, monkeypatch, answers):
    """A fake of Slack's incoming-webhook contract: POST JSON, "ok" on success; ``answers``
    are the responses to give first (then 200 "ok")."""
    received = []

    def handle(request):
        received.append(json.loads(request.get_data()))
        if len(received) <= len(answers):
            return answers[len(received) - 1]
        return Response("ok")

    httpserver.expect_request("/services/T000/B000/XXXX", method="POST") \
        .respond_with_handler(handle)
    monkeypatch.setenv("SLACK_URL", httpserver.url_for("/services/T000/B000/XXXX"))
    return received


def test_slack_gets_a_block_kit_message(repo, cli, httpserver, monkeypatch):
    repo.commit("feat: **bold** claims & <angles> (#12)")
    received = slack_receiver(httpserver, monkeypatch, [])
    repo.write_spec(SLACK_SPEC + "changelog: {}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert len(received) == 1
    body = received[0]
    assert body["text"] == "work 0.1.0 released"
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "actions", "context"]
    header, highlights, facts, actions, _ = body["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "work 0.1.0 released",
                              "emoji": True}
    assert highlights["text"]["type"] == "mrkdwn"
    assert "*Features*" in highlights["text"]["text"]
    assert "&lt;angles&gt;" in highlights["text"]["text"]  # Slack's three escapes
    assert "&amp;" in highlights["text"]["text"]
    assert {"type": "mrkdwn", "text": "*Version*\n0.1.0"} in facts["fields"]
    assert len(facts["fields"]) <= 10 and len(header["text"]["text"]) <= 150
    assert actions["elements"] == [{"type": "button",
                                    "text": {"type": "plain_text", "text": "Release"},
                                    "url": "https://example.test/releases/v0.1.0"}]


def test_slack_429_with_retry_after_and_500_are_retried_to_one_message(repo, cli, httpserver,
                                                                       monkeypatch):
    received = slack_receiver(httpserver, monkeypatch, [
        Response("rate_limited", status=429, headers={"Retry-After": "1"}),
        Response("internal_error", status=500)])
    repo.write_spec(SLACK_SPEC)
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert len(received) == 3  # 429, 500, then the message posted once


def test_slack_404_is_an_error_and_the_next_apply_sends_again(repo, cli, httpserver,
                                                              monkeypatch):
    received = slack_receiver(httpserver, monkeypatch, [Response("no_service", status=404)])
    repo.write_spec(SLACK_SPEC)
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "HTTP 404: no_service" in result.err
    assert "T000/B000" not in result.err  # the webhook URL is the secret (not "T000" alone:
    # the incident report's name holds the time, 20261202T000359 just after midnight)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert len(received) == 2


def test_an_apply_killed_while_announcing_never_announces_twice(repo, cli, httpserver,
                                                                monkeypatch):
    received = slack_receiver(httpserver, monkeypatch, [])
    repo.write_spec(SLACK_SPEC)
    restore = kill_before_recording(monkeypatch, "slack.announce")
    assert cli(repo.path, "apply", "--auto-approve").code == 130
    restore()
    assert len(received) == 1  # it went out; the kill came before the journal said so
    plan = cli(repo.path, "plan")
    assert "never sent twice" in plan.out
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert len(received) == 1


@pytest.mark.parametrize("shape", ["generic", "discord", "teams", "mattermost"])
def test_webhook_shapes_follow_each_services_documented_format(repo, cli, httpserver,
                                                               monkeypatch, shape):
    repo.commit("fix: a fix")
    received = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: received.append(json.loads(request.get_data())) or Response("", 204))
    monkeypatch.setenv("HOOK_URL", httpserver.url_for("/hook"))
    repo.write_spec(f"""
secrets:
  hook: {{env: HOOK_URL}}
changelog: {{}}
notify:
  webhook.chat:
    url: "${{secrets.hook}}"
    format: {shape}
    links: {{Release: "https://example.test/r/{{version}}"}}
""")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    [body] = received
    title = "work 0.1.0 released"
    if shape == "generic":
        assert body["event"] == "release" and body["version"] == "0.1.0"
        assert body["tag"] == "v0.1.0" and "a fix" in body["highlights"]
        assert body["links"] == {"Release": "https://example.test/r/0.1.0"}
    elif shape == "discord":  # execute-webhook: content and/or embeds
        [embed] = body["embeds"]
        assert embed["title"] == title and "a fix" in embed["description"]
        assert isinstance(embed["color"], int) and len(embed["fields"]) <= 25
        assert all(set(f) == {"name", "value", "inline"} for f in embed["fields"])
        assert body["allowed_mentions"] == {"parse": []}
    elif shape == "teams":  # a workflow webhook: a message with an Adaptive Card
        assert body["type"] == "message"
        [attachment] = body["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["body"][0]["text"] == title
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Release",
                                    "url": "https://example.test/r/0.1.0"}]
    else:  # mattermost: Slack-compatible text and attachments
        assert body["text"] == f"#### {title}"
        [attachment] = body["attachments"]
        assert attachment["fallback"] == title and "a fix" in attachment["text"]
        assert {"title": "Version", "value": "0.1.0", "short": True} in attachment["fields"]


def test_announcements_link_the_github_release_and_the_pypi_page(repo, cli, monkeypatch):
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.example/services/T/B/X")
    monkeypatch.setenv("GH_TOKEN", "ghp_not_used_by_plan")
    monkeypatch.setenv("PYPI_TOKEN", "pypi-not-used-by-plan")  # the node's default: checked
    repo.write_spec("""
secrets:
  slack: {env: SLACK_URL}
  gh: {env: GH_TOKEN}
stages:
  build: {run: "true"}
publish:
  pypi.widgets: {files: "dist/*", needs: [stage.build]}
  github.release: {repository: acme/widgets, token: "${secrets.gh}"}
notify:
  slack.announce:
    webhook: "${secrets.slack}"
    links: {Docs: "https://docs.example/{version}/"}
""")
    monkeypatch.setattr("scalpel_plan.providers.pypi._published", lambda *a: {})  # offline
    monkeypatch.setattr("scalpel_plan.providers.pypi._check_credentials", lambda *a: None)
    plan = cli(repo.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    change = next(c for c in json.loads(plan.out)["changes"]
                  if c["address"] == "slack.announce")
    assert change["after"]["message"]["links"] == [
        ["PyPI", "https://pypi.org/project/work/0.1.0/"],
        ["Release notes", "https://github.com/acme/widgets/releases/tag/v0.1.0"],
        ["Docs", "https://docs.example/0.1.0/"]]


def test_a_missing_ca_file_is_named(repo, cli, tmp_path, monkeypatch):
    with smtp_server(tmp_path / "smtp") as smtp:
        monkeypatch.setenv("SMTP_PW", smtp.password)
        repo.write_spec(EMAIL_SPEC.format(port=smtp.port, security="starttls",
                                          ca=tmp_path / "nowhere.pem"))
        result = cli(repo.path, "apply", "--auto-approve")
        assert result.code == 1 and "nowhere.pem is not a file" in result.err
        assert smtp.messages == []


def test_a_secret_quoted_in_a_commit_message_never_reaches_the_channel(repo, cli, httpserver,
                                                                      monkeypatch):
    received = slack_receiver(httpserver, monkeypatch, [])
    monkeypatch.setenv("DEPLOY_KEY", "dk-live-0123456789abcdef")
    repo.commit("feat: switch to key dk-live-0123456789abcdef for deploys")
    repo.write_spec(SLACK_SPEC.replace("secrets:\n", "secrets:\n  deploy: {env: DEPLOY_KEY}\n")
                    + "changelog: {}\n")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    body = json.dumps(received)
    assert "dk-live-0123456789abcdef" not in body and "switch to key [secret]" in body
    changelog = (repo.path / "CHANGELOG.md").read_text()  # written by the release commit
    assert "switch to key [secret]" in changelog and "dk-live" not in changelog
