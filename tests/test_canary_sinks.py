"""One canary test per sink that leaves the machine and that test_canary_commands.py does not
cover already (it covers git commits, tags and refs, webhook bodies, the terminal and every
file): Slack, the GitHub release, email, the PyPI upload; and a server's error body that
echoes the secret URL's path token, end to end.

The canary enters through commit messages that quote it in each of its spellings (raw,
Markdown-, HTML-, JSON-escaped, shell-quoted, URL-encoded, base64, base64 inside a text), so
that the changelog, the notes and every announcement carry it; each sink's bytes are then
searched for every form `test_canary_commands.leak_in` knows.

The receivers are fakes of the services' HTTP contracts (pytest-httpserver: Slack's incoming
webhook, GitHub's releases API, PyPI's legacy upload API, a webhook receiver); the SMTP
server is the real aiosmtpd of tests/servers.py.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
import urllib.parse
import uuid

import pytest
from werkzeug import Request, Response

from tests.conftest import Repo, git
from tests.servers import smtp_server
from tests.test_canary_commands import leak_in
from tests.test_github import TOKEN as GITHUB_TOKEN
from tests.test_github import FakeGitHub
from tests.test_pypi import wheel


def new_canary() -> tuple[str, list[str]]:
    parts = [uuid.uuid4().hex[:16] for _ in range(3)]
    return f"canary_{parts[0]}+{parts[1]}/\"<|&'{parts[2]}", parts


def spellings(canary: str) -> dict[str, str]:
    markdown = "".join("\\" + c if c in "\\`*_[]|<>'\"&+/" else c for c in canary)
    return {"raw": canary, "Markdown-escaped": markdown, "HTML-escaped": html.escape(canary),
            "JSON-escaped": json.dumps(canary)[1:-1], "shell-quoted": shlex.quote(canary),
            "URL-encoded": urllib.parse.quote(canary, safe=""),
            "base64": base64.b64encode(canary.encode()).decode(),
            "base64 after a prefix": base64.b64encode(f"token={canary}".encode()).decode()}


def quote_it_in_commits(repo: Repo, canary: str) -> None:
    """A commit per spelling, its subject quoting the canary so spelled, its patch not."""
    for i, (name, text) in enumerate(spellings(canary).items()):
        (repo.path / "src.txt").write_text(f"change {i}\n")
        git(repo.path, "add", "src.txt")
        git(repo.path, "commit", "-q", "-m", f"feat: accept {text} ({name})",
            "-m", f"The key, {name}: {text}")


def assert_no_leak(where: str, blob: bytes, canary: str, parts: list[str]) -> None:
    leak = leak_in(blob, canary, parts)
    assert leak is None, f"the canary leaked in {where}: {leak}"


@pytest.fixture
def canary(repo, monkeypatch):
    value, parts = new_canary()
    monkeypatch.setenv("DEPLOY_TOKEN", value)
    quote_it_in_commits(repo, value)
    return value, parts


DECLARED = """\
project: {name: widgets}
changelog: {}
secrets:
  deploy_token: {env: DEPLOY_TOKEN}
"""


def announced(blob: bytes) -> bool:
    """The sink got the changelog, the canary masked in it (so it did carry it)."""
    return b"accept [secret] (raw)" in blob or b"accept [secret] \\\\(raw\\\\)" in blob \
        or b"accept [secret] \\(raw\\)" in blob


def test_slack_gets_no_canary(repo, cli, httpserver, canary, monkeypatch):
    value, parts = canary
    bodies: list[bytes] = []
    httpserver.expect_request("/services/T0/B0/slacktoken0123456789", method="POST") \
        .respond_with_handler(lambda r: bodies.append(r.get_data()) or Response("ok"))
    monkeypatch.setenv("SLACK_URL", httpserver.url_for("/services/T0/B0/slacktoken0123456789"))
    repo.write_spec(DECLARED + """\
  slack: {env: SLACK_URL}
notify:
  slack.announce: {webhook: "${secrets.slack}"}
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert len(bodies) == 1 and announced(bodies[0]), bodies
    assert_no_leak("the Slack message", bodies[0], value, parts)


def test_the_github_release_gets_no_canary(repo, cli, httpserver, canary, monkeypatch):
    value, parts = canary
    github = FakeGitHub(httpserver)
    monkeypatch.setenv("GH_TOKEN", GITHUB_TOKEN)
    repo.write_spec(DECLARED + f"""\
  gh: {{env: GH_TOKEN}}
notes: {{template: detailed}}
publish:
  git.tag: {{push: origin}}
  github.release:
    repository: acme/widgets
    api: {httpserver.url_for("/api")}
    token: "${{secrets.gh}}"
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    (release,) = github.releases.values()
    body = json.dumps(release).encode()
    assert "accept [secret] (raw)" in release["body"], release["body"]
    assert_no_leak("the GitHub release", body, value, parts)
    sent = b"".join(r.get_data() for r, _ in httpserver.log)
    assert_no_leak("the requests to GitHub", sent, value, parts)


def test_an_email_carries_no_canary(repo, cli, tmp_path, canary):
    value, parts = canary
    with smtp_server(tmp_path / "smtp") as smtp:
        repo.write_spec(DECLARED + f"""\
  smtp: {{env: SMTP_PW}}
notify:
  email.team:
    host: 127.0.0.1
    port: {smtp.port}
    username: mailer
    password: "${{secrets.smtp}}"
    from: releases@acme.test
    to: [team@acme.test]
    ca_file: {smtp.ca_file}
""")
        import os

        os.environ["SMTP_PW"] = smtp.password
        try:
            result = cli(repo.path, "apply", "--auto-approve")
        finally:
            del os.environ["SMTP_PW"]
        assert result.code == 0, result.err
        (envelope,) = smtp.messages
    import email
    import email.policy

    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    texts = [part.get_content() for part in message.walk() if part.get_content_maintype()
             == "text"]
    assert any("accept [secret] (raw)" in t for t in texts), texts
    for i, text in enumerate(texts):  # each part decoded (quoted-printable, base64)
        assert_no_leak(f"part {i} of the email", text.encode(), value, parts)
    assert_no_leak("the email as sent", envelope.content, value, parts)


def test_the_pypi_upload_carries_no_canary_but_its_password(repo, cli, httpserver, canary,
                                                           monkeypatch):
    """The upload's form fields (its metadata) and every request to the index: the password
    goes in the Authorization header, the one place it must."""
    value, parts = canary
    monkeypatch.setenv("INDEX_PASSWORD", value)  # the canary is the index password too
    uploads: list[bytes] = []

    def upload(request: Request) -> Response:
        if "content" not in request.files:
            return Response("no file", status=400)  # the credentials check of plan
        uploads.append(request.get_data())
        return Response("ok")

    httpserver.expect_request("/", method="POST").respond_with_handler(upload)
    httpserver.expect_request(re.compile("^/simple/.*"), method="GET").respond_with_data(
        "not found", status=404)
    repo.write_spec(DECLARED + f"""\
  index_password: {{env: INDEX_PASSWORD}}
publish:
  pypi.widgets:
    repository: {httpserver.url_for("/")}
    index: {httpserver.url_for("/simple/")}
    username: uploader
    password: "${{secrets.index_password}}"
""")
    (repo.path / ".gitignore").write_text(".scalpel/\ndist/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: publish")
    (repo.path / "dist").mkdir()
    wheel(repo.path / "dist", "widgets", "0.1.0")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert len(uploads) == 1 and b'name="version"' in uploads[0]
    assert_no_leak("the PyPI upload's metadata", uploads[0], value, parts)
    for request, _ in httpserver.log:
        head = "\n".join(f"{k}: {v}" for k, v in request.headers.items()
                         if k.lower() != "authorization")
        assert_no_leak(f"{request.method} {request.full_path}", head.encode()
                       + request.get_data(), value, parts)


def test_an_error_body_echoing_the_url_token_is_masked_everywhere(repo, cli, httpserver,
                                                                  monkeypatch, tmp_path):
    """The webhook URL is a secret whose path holds a token; its server fails and answers
    with the path it was called at. The terminal, the journal, the incident report, the
    status page and the alert sent to another webhook must show the token masked."""
    token = f"pathtoken{uuid.uuid4().hex}"
    alerts: list[bytes] = []

    def fail(request: Request) -> Response:
        return Response(f"receiver error for {request.path}", status=500,
                        headers={"Retry-After": "0"})

    httpserver.expect_request(f"/fail500/{token}", method="POST").respond_with_handler(fail)
    httpserver.expect_request("/alerts", method="POST").respond_with_handler(
        lambda r: alerts.append(r.get_data()) or Response("ok"))
    monkeypatch.setenv("HOOK_URL", httpserver.url_for(f"/fail500/{token}"))
    repo.commit("feat: something")
    repo.write_spec(f"""\
changelog: {{}}
secrets:
  hook_url: {{env: HOOK_URL}}
notify:
  webhook.release: {{url: "${{secrets.hook_url}}"}}
  webhook.alerts: {{url: "{httpserver.url_for('/alerts')}", on: [failure]}}
alerts:
  on_failure: [console, webhook.alerts]
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "receiver error for [secret]" in result.out + result.err, result.err
    status = cli(repo.path, "status", "--html", str(tmp_path / "status.html"))
    assert status.code == 0, status.err
    shown = cli(repo.path, "status")
    incidents = list((repo.path / ".scalpel" / "incidents").iterdir())
    assert incidents and alerts
    assert any(b"receiver error for [secret]" in a for a in alerts), alerts
    journal = b"".join(p.read_bytes() for p in (repo.path / ".scalpel").rglob("*.jsonl"))
    assert b"receiver error for [secret]" in journal
    sinks = {"the terminal": (result.out + result.err + shown.out + shown.err).encode(),
             "the journal": journal,
             "the incident report": b"".join(p.read_bytes() for p in incidents),
             "the status page": (tmp_path / "status.html").read_bytes(),
             **{f"alert {i}": a for i, a in enumerate(alerts)},
             **{f"file {p}": p.read_bytes() for p in (repo.path / ".scalpel").rglob("*")
                if p.is_file()}}
    for where, blob in sinks.items():
        assert token.encode() not in blob, where
        assert_no_leak(where, blob, token, [token[9:25]])
