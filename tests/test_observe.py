"""Metrics, the build profiler and the status dashboard, from real applies; the HTML page is
opened in Debian's headless Chromium (driven by Playwright)."""

from __future__ import annotations

import csv
import io
import json
import select
import subprocess

import pytest
from conftest import journal, run_scalpel, scalpel_cmd, seconds, spans, wait_for

from scalpel_plan.observe.metrics import MetricsTracker, MetricType

# compile waits until docs is done, then works: docs runs beside compile, and the critical
# path is compile → package → git.tag, however loaded the machine.
PROFILED = """
stages:
  compile: {{run: "until [ -e docs-$SCALPEL_VERSION.done ]; do sleep 0.02; done; {compile}"}}
  docs: {{run: "sleep 0.25; touch docs-$SCALPEL_VERSION.done"}}
  package: {{run: "sleep 0.2", needs: [stage.compile]}}
publish:
  git.tag: {{push: origin, needs: [stage.package, stage.docs]}}
"""


def test_the_seeds_metric_example_works_as_written():
    tracker = MetricsTracker()
    tracker.record_metric("custom_metric", 123.45, MetricType.CUSTOM)
    [metric] = tracker.metrics()
    assert (metric.name, metric.value, metric.type) == ("custom_metric", 123.45, "custom")


def regressed(before: float, after: float) -> bool:
    """The profiler's rule: slower by more than 20 % and by more than 0.05 s."""
    return (after - before) / before > 0.2 and after - before > 0.05


@pytest.fixture
def two_releases(repo, cli):
    repo.write_spec(PROFILED.format(compile="sleep 0.3"))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    first = spans(journal(repo.path, "0.1.0"))["stage.compile"].duration
    repo.commit("feat: slower compile")
    # at least twice the first compile's time: a regression whatever the load
    repo.write_spec(PROFILED.format(compile=f"sleep {2 * first + 0.1:.3f}"))
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
    stages = ("stage.compile", "stage.docs", "stage.package")  # the build category
    assert builds == [pytest.approx(sum(spans(journal(repo.path, version))[a].duration
                                        for a in stages), abs=0.002)
                      for version in ("0.1.0", "0.2.0")]
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
    events = journal(repo.path, "0.1.0")
    steps = spans(events)
    assert steps["stage.docs"].overlaps(steps["stage.compile"])  # docs ran beside compile
    # the parallelism shown is the work over the wall time, as the journal has them
    started = next(e for e in events if e["event"] == "apply_started")
    wall = max(seconds(e["ts"]) for e in events) - seconds(started["ts"])
    parallelism = float(shown.out.split("parallelism ")[1].split("×")[0])
    assert parallelism == pytest.approx(sum(s.duration for s in steps.values()) / wall,
                                        abs=0.006)

    compared = cli(repo.path, "profile", "--compare", "0.1.0", "0.2.0")
    assert compared.code == 1  # a regression: the exit code says so, for CI
    rows = {line.split()[0]: line for line in compared.out.splitlines()
            if line.startswith("stage.")}
    assert "REGRESSION" in rows["stage.compile"]  # twice as slow, by construction
    before, after = (spans(journal(repo.path, v))["stage.docs"].duration
                     for v in ("0.1.0", "0.2.0"))  # the same command both times
    assert ("REGRESSION" in rows["stage.docs"]) == regressed(before, after)


def first_line(proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The first line ``proc`` prints (the watch flushes each one); ``timeout`` is a net.
    Its stdout is unbuffered, so that what follows stays in the pipe for communicate()."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the watch printed nothing"
    return proc.stdout.readline().decode()


def test_status_json_and_a_live_watch_from_another_terminal(repo, cli):
    repo.write_spec(PROFILED.format(compile="sleep 0.3"))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    data = json.loads(cli(repo.path, "status", "--json").out)
    assert (data["operation"], data["version"], data["status"], data["live"]) == (
        "release", "0.1.0", "succeeded", "0.1.0")
    assert [e["kind"] for e in data["events"]][:2] == ["started", "step started"]

    repo.commit("feat: next")
    hold = repo.path / "hold"  # compile runs until the watch has begun
    hold.touch()
    repo.write_spec(PROFILED.format(compile=f"while [ -e {hold} ]; do sleep 0.02; done"))
    applying = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: '"status": "running"' in run_scalpel(repo.path, "status",
                                                              "--json").stdout,
                 what="the apply never showed as running")
        watching = subprocess.Popen([*scalpel_cmd(), "status", "--watch"], cwd=repo.path,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                    stdin=subprocess.DEVNULL)
        shown = first_line(watching)  # the watch has begun, the apply still running...
        hold.unlink()  # ...and now it may finish
        rest, err = (data.decode() for data in watching.communicate(timeout=60))
    finally:
        hold.unlink(missing_ok=True)
        assert applying.wait(60) == 0
    assert watching.returncode == 0
    assert "running" in shown
    assert "step done git.tag" in rest  # seen live, after the watch began
    assert "Release 0.2.0: succeeded." in err


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
