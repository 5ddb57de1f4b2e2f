"""Metrics, the build profiler and the status dashboard, from real applies; the HTML page is
opened in Debian's headless Chromium (driven by Playwright)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import pytest
from conftest import run_scalpel, scalpel_cmd

from scalpel_plan.observe.metrics import MetricsTracker, MetricType

PROFILED = """
stages:
  compile: {{run: "sleep {compile}"}}
  docs: {{run: "sleep 0.25"}}
  package: {{run: "sleep 0.2", needs: [stage.compile]}}
publish:
  git.tag: {{push: origin, needs: [stage.package, stage.docs]}}
"""


def test_the_seeds_metric_example_works_as_written():
    tracker = MetricsTracker()
    tracker.record_metric("custom_metric", 123.45, MetricType.CUSTOM)
    [metric] = tracker.metrics()
    assert (metric.name, metric.value, metric.type) == ("custom_metric", 123.45, "custom")


@pytest.fixture
def two_releases(repo, cli):
    repo.write_spec(PROFILED.format(compile="0.3"))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: slower compile")
    repo.write_spec(PROFILED.format(compile="0.8"))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    return repo


def test_every_apply_records_metrics_with_trends_and_exports(two_releases, cli):
    repo = two_releases
    shown = cli(repo.path, "metrics")
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0].split()[:4] == ["RELEASE", "TOTAL", "(s)", "BUILD"]
    assert lines[1].startswith("0.1.0") and lines[2].startswith("0.2.0")
    assert "release.duration  2" in shown.out  # a trend over both releases

    data = json.loads(cli(repo.path, "metrics", "export", "--format", "json").out)
    assert data["format_version"] == 1
    builds = [m["value"] for m in data["metrics"] if m["name"] == "build.duration"]
    assert len(builds) == 2 and builds[1] > builds[0] + 0.3  # compile got 0.5 s slower
    rows = list(csv.DictReader(io.StringIO(cli(repo.path, "metrics", "export", "--format",
                                               "csv").out)))
    assert {r["type"] for r in rows} == {"total", "build", "publish"}

    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    text = cli(repo.path, "metrics", "export", "--format", "openmetrics").out
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {"scalpel_release_duration_seconds",
                             "scalpel_build_duration_seconds",
                             "scalpel_publish_duration_seconds"}
    samples = families["scalpel_build_duration_seconds"].samples
    assert [s.labels["release"] for s in samples] == ["0.1.0", "0.2.0"]


def test_the_profile_names_the_critical_path_and_flags_regressions(two_releases, cli):
    repo = two_releases
    shown = cli(repo.path, "profile", "0.1.0")
    assert shown.code == 0
    assert "Critical path (the bottleneck): stage.compile → stage.package → git.tag" in shown.out
    parallelism = float(shown.out.split("parallelism ")[1].split("×")[0])
    assert parallelism > 1.05  # docs ran beside compile
    compared = cli(repo.path, "profile", "--compare", "0.1.0", "0.2.0")
    assert compared.code == 1  # a regression: the exit code says so, for CI
    row = next(line for line in compared.out.splitlines() if line.startswith("stage.compile"))
    assert "REGRESSION" in row
    assert "REGRESSION" not in next(line for line in compared.out.splitlines()
                                    if line.startswith("stage.docs"))


def test_status_json_and_a_live_watch_from_another_terminal(repo, cli):
    repo.write_spec(PROFILED.format(compile="0.3"))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    data = json.loads(cli(repo.path, "status", "--json").out)
    assert (data["operation"], data["version"], data["status"], data["live"]) == (
        "release", "0.1.0", "succeeded", "0.1.0")
    assert [e["kind"] for e in data["events"]][:2] == ["started", "step started"]

    repo.commit("feat: next")
    repo.write_spec(PROFILED.format(compile="2"))
    applying = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while '"status": "running"' not in run_scalpel(repo.path, "status", "--json").stdout:
            assert time.monotonic() < deadline, "the apply never showed as running"
            time.sleep(0.1)
        watched = run_scalpel(repo.path, "status", "--watch", timeout=60)
    finally:
        assert applying.wait(60) == 0
    assert watched.returncode == 0
    assert "running" in watched.stdout.splitlines()[0]
    assert "step done git.tag" in watched.stdout  # seen live, after the watch began
    assert "Release 0.2.0: succeeded." in watched.stderr


def test_the_status_page_renders_in_chromium_without_errors(two_releases, cli, tmp_path):
    from playwright.sync_api import sync_playwright

    repo = two_releases
    page_file = tmp_path / "status.html"
    assert cli(repo.path, "status", "--html", str(page_file)).code == 0
    text = page_file.read_text()
    assert "<script" not in text and "http" not in text.replace(
        "http://www.w3.org/2000/svg", "")  # self-contained: nothing to fetch
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(page_file.as_uri())
        assert page.title() == "work: release 0.2.0"
        assert page.locator(".status").inner_text() == "succeeded"
        assert page.locator("svg[aria-label='Gantt chart of the apply'] rect").count() == 4
        assert page.locator("svg[aria-label='apply time per release'] rect").count() == 2
        shot = tmp_path / "status.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert problems == []
    assert shot.stat().st_size > 10_000  # a real rendering, not a blank page


def test_a_damaged_metrics_file_costs_only_the_damaged_lines(two_releases, cli):
    repo = two_releases
    with (repo.path / ".scalpel" / "metrics.jsonl").open("a") as fh:
        fh.write('{"hand": "edited"}\n{"name": "x", "value": "not a number", "type": "odd"}\n'
                 '{"name": "torn", "val')
    shown = cli(repo.path, "metrics")
    assert shown.code == 0 and shown.out.splitlines()[2].startswith("0.2.0")
