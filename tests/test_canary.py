"""The canary test: every secret is a unique canary; a successful and a failing apply (with
announcements, alerts and an incident report) run as real processes; then every byte they
produced is searched: stdout, stderr, every file under the test's folder (.scalpel/, plan
files, logs, the state, the journal, the incident report), the emails the SMTP server received
and the bodies the webhook receivers got. No canary may appear, raw, URL-encoded or base64.

Left out, as the issue allows: the authorization a service legitimately needs (the webhook
URL a request is sent to, SMTP AUTH). The Slack and webhook receivers are local fakes of
those services' webhook contracts."""

from __future__ import annotations

import base64
import urllib.parse
import uuid

from werkzeug import Response

from tests.conftest import run_scalpel
from tests.servers import smtp_server

SPEC = """
changelog: {{}}
secrets:
  stage_key: {{env: STAGE_KEY}}
  hook_url: {{env: HOOK_URL}}
  hook_key: {{env: HOOK_KEY}}
  slack_url: {{env: SLACK_URL}}
  smtp_password: {{env: SMTP_PW}}
stages:
  build:
    run: 'echo "building with $STAGE_KEY"; printf %s "$STAGE_KEY" | base64; {fail}'
    secrets: [stage_key]
publish:
  git.tag: {{push: origin, needs: [stage.build]}}
notify:
  webhook.release:
    url: "${{secrets.hook_url}}"
    secret: "${{secrets.hook_key}}"
    on: [success, failure]
  slack.announce:
    webhook: "${{secrets.slack_url}}"
    on: [success, failure]
  email.team:
    host: 127.0.0.1
    port: {port}
    username: mailer
    password: "${{secrets.smtp_password}}"
    from: releases@acme.test
    to: [team@acme.test]
    ca_file: {ca}
    on: [success, failure]
  webhook.broken:
    url: "${{secrets.hook_url}}/broken"
    on: [failure]
alerts:
  on_failure: [console, webhook.release, slack.announce, email.team, webhook.broken]
"""


def encodings(value: str) -> list[bytes]:
    return [form.encode() for form in (value, urllib.parse.quote(value, safe=""),
                                       urllib.parse.quote_plus(value),
                                       base64.b64encode(value.encode()).decode())]


def test_no_canary_appears_in_anything_a_run_produced(repo, httpserver, tmp_path):
    token = f"canaryhook{uuid.uuid4().hex}"
    slack_token = f"canaryslack{uuid.uuid4().hex}"
    bodies: list[bytes] = []

    def receive(request):
        bodies.append(request.get_data())
        if request.path.endswith("/broken"):  # an error that echoes what it was sent to
            return Response(f"no such hook {request.url}", status=404)
        return Response("ok")

    httpserver.expect_request(f"/hooks/{token}", method="POST").respond_with_handler(receive)
    httpserver.expect_request(f"/hooks/{token}/broken").respond_with_handler(receive)
    httpserver.expect_request(f"/services/{slack_token}", method="POST") \
        .respond_with_handler(receive)
    with smtp_server(tmp_path / "smtp", password="Canary+Pw/" + uuid.uuid4().hex) as smtp:
        canaries = {
            "STAGE_KEY": f"canary-stage-{uuid.uuid4().hex}",
            "HOOK_URL": httpserver.url_for(f"/hooks/{token}"),
            "HOOK_KEY": f"canary-hmac-{uuid.uuid4().hex}",
            "SLACK_URL": httpserver.url_for(f"/services/{slack_token}"),
            "SMTP_PW": smtp.password,
            "PYPI_TOKEN": f"pypi-canary-{uuid.uuid4().hex}",  # a provider default, unused
        }
        outputs: list[bytes] = []

        def scalpel(*args: str) -> int:
            result = run_scalpel(repo.path, *args, env=canaries)
            outputs.extend((result.stdout.encode(), result.stderr.encode()))
            return result.returncode

        spec = SPEC.format(port=smtp.port, ca=smtp.ca_file, fail="true")
        repo.write_spec(spec)
        assert scalpel("secrets") == 0
        assert scalpel("plan", "--out", "plan.json") == 0
        assert scalpel("plan", "--format", "json") == 0
        assert scalpel("apply", "plan.json") == 0
        assert scalpel("state", "show", "webhook.release") == 0

        repo.commit("feat: the next feature")
        repo.write_spec(SPEC.format(port=smtp.port, ca=smtp.ca_file, fail="exit 5"))
        assert scalpel("apply", "--auto-approve", "--json") == 1
        assert scalpel("apply", "--auto-approve") == 1  # resumed; fails at the same point

        emails = [m.content for m in smtp.messages]

    # the run did what it should: announcements and alerts arrived, the report exists
    assert len(emails) == 2 and len(bodies) >= 5
    assert list((repo.path / ".scalpel" / "incidents").iterdir())
    assert b"building with [secret]" in b"".join(outputs)

    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
             and "smtp" not in p.parts]
    everything = {"output": outputs, "files": files, "emails": emails, "webhook bodies": bodies}
    secrets = [*canaries.values(), token, slack_token]
    for where, blobs in everything.items():
        for value in secrets:
            for form in encodings(value):
                leaks = sum(blob.count(form) for blob in blobs)
                assert leaks == 0, f"{form!r} (a form of a canary) appears in the {where}"
