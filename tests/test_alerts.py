"""Failure alerts and incident reports. Slack and webhook receivers are local HTTP servers: fakes
of the incoming-webhook contracts, not the services."""

from __future__ import annotations

import datetime as dt
import json

from werkzeug import Response

from scalpel_plan.observe.alerts import Alert, AlertChannel, FailureAlerter

FAILING = """
secrets:
  slack: {env: SLACK_URL}
stages:
  build: {run: 'echo compiling; exit 2'}
publish:
  git.tag: {push: origin, needs: [stage.build]}
notify:
  slack.oncall:
    webhook: "${secrets.slack}"
    on: [failure]
"""


def an_alert(**fields) -> Alert:
    return Alert(**{"project": "widgets", "version": "1.3.0", "error": "upload refused",
                    "failed_node": "pypi.widgets", **fields})


def test_the_seeds_custom_handler_example_works_as_written():
    received = []

    def custom_handler(alert):
        received.append(alert)

    alerter = FailureAlerter()
    alerter.register_handler(AlertChannel.CUSTOM, custom_handler)
    outcome = alerter.send(an_alert())
    assert [a.title for a in received] == ["widgets 1.3.0: release failed at pypi.widgets"]
    assert outcome.delivered == ["custom:custom_handler"] and not outcome.fell_back


def test_a_failing_channel_falls_back_to_the_console_and_is_journaled():
    shown, journal = [], []

    def broken(alert):
        raise ConnectionError("hooks.example is down")

    alerter = FailureAlerter(fallback=shown.append,
                             journal=lambda event, **f: journal.append((event, f)))
    alerter.register_handler(AlertChannel.WEBHOOK, broken, name="webhook.ops")
    outcome = alerter.send(an_alert())
    assert outcome.failed == {"webhook:webhook.ops": "hooks.example is down"}
    assert outcome.fell_back and shown[0].failed_node == "pypi.widgets"
    assert ("alert_channel_failed", {"channel": "webhook:webhook.ops",
                                     "error": "hooks.example is down"}) in journal


def test_the_same_failure_is_alerted_once_per_window_and_failed_channels_retry(tmp_path):
    history = tmp_path / "alerts.json"
    calls = {"chat": 0, "pager": 0}

    def chat(alert):
        calls["chat"] += 1

    def pager(alert):
        calls["pager"] += 1
        if calls["pager"] == 1:
            raise RuntimeError("pager busy")

    def alerter():
        a = FailureAlerter(history=history, repeat_after=600, fallback=lambda alert: None)
        a.register_handler(AlertChannel.CUSTOM, chat)
        a.register_handler(AlertChannel.CUSTOM, pager)
        return a

    alerter().send(an_alert())
    second = alerter().send(an_alert())  # resumed, failed at the same point again
    assert calls == {"chat": 1, "pager": 2}  # the pager that failed is tried again
    third = alerter().send(an_alert())
    assert calls == {"chat": 1, "pager": 2} and third.suppressed_since and second.delivered
    alerter().send(an_alert(error="another error"))  # a different failure alerts
    assert calls == {"chat": 2, "pager": 3}
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=601)).isoformat()
    data = json.loads(history.read_text())
    history.write_text(json.dumps({fp: {c: old for c in ch} for fp, ch in data.items()}))
    alerter().send(an_alert())  # the window has passed
    assert calls == {"chat": 3, "pager": 4}


def test_a_failed_apply_writes_an_incident_report_and_alerts_slack_once(repo, cli, httpserver,
                                                                       monkeypatch):
    received = []
    httpserver.expect_request("/slack", method="POST").respond_with_handler(
        lambda request: received.append(json.loads(request.get_data())) or Response("ok"))
    monkeypatch.setenv("SLACK_URL", httpserver.url_for("/slack"))
    repo.write_spec(FAILING)
    plan = cli(repo.path, "plan")
    assert "slack.oncall" not in plan.out  # a failure channel only: not a release step
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "Alert sent to slack:slack.oncall." in result.err
    [alert] = received
    assert alert["text"] == "work 0.1.0: release failed at stage.build"
    fields = next(b for b in alert["blocks"] if "fields" in b)["fields"]
    assert {"type": "mrkdwn", "text": "*Failed node*\nstage.build"} in fields
    assert "*Remaining:* git.tag" in alert["blocks"][1]["text"]["text"]

    [report] = (repo.path / ".scalpel" / "incidents").iterdir()
    text = report.read_text()
    assert text.startswith("# Incident: work 0.1.0: release failed at stage.build")
    assert "- `stage.build`: stage.build failed with exit code 2" in text
    assert "compiling" in text  # the log's tail
    assert "| failed | stage.build |" in text and "| skipped | git.tag |" in text
    assert "## What remains\n\n- `git.tag`" in text and "`scalpel apply` finishes" in text
    assert report.name[:-3] in next((repo.path / ".scalpel" / "journal").iterdir()).name
    journal = next((repo.path / ".scalpel" / "journal").iterdir()).read_text()
    assert '"event":"alert_sent"' in journal

    again = cli(repo.path, "apply", "--auto-approve")  # resumed: fails at the same point
    assert again.code == 1 and "Not alerted again" in again.err
    assert len(received) == 1


def test_a_broken_alert_channel_falls_back_to_the_console(repo, cli, httpserver, monkeypatch):
    httpserver.expect_request("/slack").respond_with_data("invalid_token", status=403)
    monkeypatch.setenv("SLACK_URL", httpserver.url_for("/slack"))
    repo.write_spec(FAILING + "alerts: {on_failure: [slack.oncall]}\n")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "ALERT work 0.1.0: release failed at stage.build" in result.err  # the fallback
    assert "Alert channel slack:slack.oncall failed: Slack webhook slack.oncall refused " \
           "access (403)" in result.err
    journal = next((repo.path / ".scalpel" / "journal").iterdir()).read_text()
    assert '"event":"alert_channel_failed"' in journal


def test_custom_handlers_install_through_an_entry_point(repo, cli, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "pager_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "pager_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pager-plugin\nVersion: 1.0\n")
    (site / "pager_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[scalpel.alert_handlers]\npager = pager_plugin:page\n")
    (site / "pager_plugin.py").write_text(
        "import json, os\n"
        "def page(alert):\n"
        "    with open(os.environ['PAGES'], 'a') as fh:\n"
        "        fh.write(json.dumps({'title': alert.title, 'node': alert.failed_node}))\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PAGES", str(tmp_path / "pages.jsonl"))
    repo.write_spec("stages:\n  build: {run: 'exit 1'}\nalerts: {on_failure: [custom]}\n")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "Alert sent to custom:pager." in result.err
    assert json.loads((tmp_path / "pages.jsonl").read_text()) == {
        "title": "work 0.1.0: release failed at stage.build", "node": "stage.build"}


def test_an_unknown_alert_channel_is_a_spec_error_with_its_place(repo, cli):
    repo.write_spec("notify:\n  slack.oncall: {on: [failure]}\n"
                    "alerts:\n  on_failure: [console, slack.oncal]\n")
    result = cli(repo.path, "validate")
    assert result.code == 1
    assert "release.yml:4:25: error: alerts.on_failure names slack.oncal, which is not a " \
           "notify node" in result.err
    assert "did you mean slack.oncall?" in result.err
