"""A release finished by several applies: metrics add up, and status, profile and the HTML page
show every apply (a killed one included); `profile` with no argument takes the last run that
ran a step; the charts' labels never overlap, measured in Debian's headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import journal, scalpel_cmd, wait_for

from scalpel_plan.observe.dashboard import ReleaseStatus, render_html
from scalpel_plan.observe.metrics import Metric, MetricsTracker, MetricType
from scalpel_plan.observe.profile import BuildProfiler, BuildStage

# build fails while fail.flag exists, and hangs (to be killed) while hang.flag exists
SPEC = """
stages:
  build:
    run: "test -e fail.flag && exit 1; if [ -e hang.flag ]; then touch hung; sleep 60; fi; sleep .3"
  docs: {run: "sleep 0.1"}
publish:
  git.tag: {push: origin, needs: [stage.build, stage.docs]}
"""


def exported(cli, repo) -> list[dict]:
    return json.loads(cli(repo.path, "metrics", "export", "--format", "json").out)["metrics"]


@pytest.fixture
def finished_by_two_applies(repo, cli):
    """0.1.0 in one apply; 0.2.0 failed once, then finished."""
    repo.write_spec(SPEC)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: more")
    (repo.path / "fail.flag").touch()
    assert cli(repo.path, "apply", "--auto-approve").code == 1
    (repo.path / "fail.flag").unlink()
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    return repo


def test_metrics_of_a_release_are_the_sum_of_its_applies(finished_by_two_applies, cli):
    repo = finished_by_two_applies
    runs = [m for m in exported(cli, repo) if m["release"] == "0.2.0"]
    by_run: dict[str, dict[str, float]] = {}
    for m in runs:
        by_run.setdefault(m["run"], {})[m["name"]] = m["value"]
    assert len(by_run) == 2  # both applies recorded theirs
    total = sum(r["release.duration"] for r in by_run.values())
    build = sum(r.get("build.duration", 0.0) for r in by_run.values())
    row = MetricsTracker(_Store(runs)).by_release()["0.2.0"]
    assert row["release.duration"].value == pytest.approx(total, abs=0.002)
    assert row["build.duration"].value == pytest.approx(build, abs=0.002)
    assert row["build.duration"].value <= row["release.duration"].value  # the parts fit
    assert row["release.duration"].outcome == "succeeded"  # the last apply's outcome
    shown = cli(repo.path, "metrics").out
    line = next(ln for ln in shown.splitlines() if ln.startswith("0.2.0"))
    assert line.split()[-2:] == ["2", "succeeded"]  # APPLIES, OUTCOME
    assert f"{total:.2f}" in line


def test_status_profile_and_the_page_show_every_apply(finished_by_two_applies, cli, tmp_path):
    repo = finished_by_two_applies
    status = json.loads(cli(repo.path, "status", "--json").out)
    first, second = status["applies"]
    assert status["apply_id"] == second
    assert [e["detail"] for e in status["events"] if e["kind"] == "started"] == [
        f"apply 1 of 2 ({first})", f"apply 2 of 2 ({second})"]
    assert {"step failed", "step done"} <= {e["kind"] for e in status["events"]}
    assert status["started_at"] <= status["events"][0]["at"]  # the first apply's start

    shown = cli(repo.path, "profile").out
    assert f"apply 1 of 2, {first}, failed" in shown
    assert f"apply 2 of 2, {second}, succeeded" in shown
    page = tmp_path / "status.html"
    assert cli(repo.path, "status", "--html", str(page)).code == 0
    text = page.read_text()
    assert "Gantt: apply 1 of 2 (failed)" in text and "Gantt: apply 2 of 2 (succeeded)" in text


def test_a_killed_apply_counts_when_the_next_one_finishes_the_release(repo, cli):
    repo.write_spec(SPEC)
    (repo.path / "hang.flag").touch()
    applying = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: (repo.path / "hung").exists(), timeout=60)
    finally:
        os.killpg(applying.pid, signal.SIGKILL)  # kill -9: no metrics written by that one
        applying.wait(30)
    (repo.path / "hang.flag").unlink()
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    runs = {m["run"]: m for m in exported(cli, repo) if m["name"] == "release.duration"}
    assert len(runs) == 2
    killed = next(m for m in runs.values() if m["outcome"] == "interrupted")
    events = journal(repo.path, "0.1.0")  # the last apply's journal
    assert killed["run"] != events[0]["apply_id"]
    assert killed["value"] > 0  # it ran until it was killed
    row = MetricsTracker(_Store(list(runs.values()))).by_release()["0.1.0"]
    assert row["release.duration"].value == pytest.approx(
        sum(m["value"] for m in runs.values()), abs=0.002)


def test_profile_takes_the_last_run_that_ran_a_step(repo, cli):
    repo.write_spec(SPEC)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("fix: a fix")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    # a rollback of tags only: nothing to run, a run with no step
    assert cli(repo.path, "rollback", "--to", "v0.1.0", "--auto-approve").code == 0
    shown = cli(repo.path, "profile")
    assert shown.code == 0
    assert shown.out.startswith("Profile of 0.1.1") and "stage.build" in shown.out
    assert "0.00×" not in shown.out


def test_profile_before_any_step_says_so(repo, cli):
    repo.write_spec(SPEC)
    shown = cli(repo.path, "profile")
    assert shown.code == 1 and "nothing to profile" in shown.err and "Traceback" not in shown.err


class _Store:
    """Metrics as the backend holds them (a list of dicts)."""

    def __init__(self, records: list[dict]) -> None:
        self.records = records

    def append_metrics(self, records: list[dict]) -> None:
        self.records += records

    def read_metrics(self) -> list[dict]:
        return list(self.records)


# chart labels, measured where people see them --------------------------------------------
def _page(versions: list[str], addresses: list[str]) -> str:
    tracker = MetricsTracker()
    tracker.record([Metric("release.duration", 0.5 + (i % 7) * 3.1, MetricType.TOTAL, v,
                           run=f"run-{i}") for i, v in enumerate(versions)])
    stages = [BuildStage(a, start=i * 0.01, end=i * 0.01 + (0.001 if i % 2 else 2.0), wait=0,
                         status="done") for i, a in enumerate(addresses)]
    profile = BuildProfiler("run", versions[-1], max(s.end for s in stages), stages, "succeeded")
    status = ReleaseStatus("demo", "release", versions[-1], "succeeded", versions[-1])
    return render_html(status, [profile], tracker)


MEASURE = """() => [...document.querySelectorAll('svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  return {svg: [box.left, box.top, box.right, box.bottom],
          texts: [...svg.querySelectorAll(':scope > text')].map(t => {
            const r = t.getBoundingClientRect();
            return [t.textContent, r.left, r.top, r.right, r.bottom]; })}; })"""


@pytest.mark.parametrize("versions,addresses", [
    (["0.3.0", "2.3.1"], ["stage.build", "git.tag"]),  # the case a user saw overlap
    ([f"{i}.{i * 3}.{i * 7}-beta.{i}+build.{i * 11}" for i in range(60)],
     [f"stage.step_with_a_rather_long_name_{i}" for i in range(12)]
     + ["pypi." + "x" * 90]),
    (["1.0.0"], ["a.b"]),
])
def test_chart_labels_never_overlap_in_chromium(versions, addresses, tmp_path):
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "status.html"
    page_file.write_text(_page(versions, addresses))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri())
        charts = page.evaluate(MEASURE)
        browser.close()
    assert len(charts) == 2  # the Gantt and the metrics chart
    for chart in charts:
        left, top, right, bottom = chart["svg"]
        texts = chart["texts"]
        assert texts
        for name, *box in texts:
            assert box[2] > box[0] and box[3] > box[1], name  # really drawn
            assert left - 0.5 <= box[0] and box[2] <= right + 0.5, f"{name} leaves the chart"
            assert top - 0.5 <= box[1] and box[3] <= bottom + 0.5, f"{name} leaves the chart"
        for i, (a, *p) in enumerate(texts):
            for b, *q in texts[i + 1:]:
                overlap = min(p[2], q[2]) - max(p[0], q[0]) > 0.5 and \
                    min(p[3], q[3]) - max(p[1], q[1]) > 0.5
                assert not overlap, f"{a!r} overlaps {b!r}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_a_release_profile_sums_each_stage_over_its_applies():
    first = BuildProfiler("a", "1.0.0", 2.5, [BuildStage("stage.t", 0.0, 2.0, 0.0, "failed")],
                          "failed")
    second = BuildProfiler("b", "1.0.0", 3.5, [BuildStage("stage.t", 0.1, 3.1, 0.0, "done"),
                                               BuildStage("git.tag", 3.1, 3.4, 0.0, "done")],
                           "succeeded")
    merged = BuildProfiler.merged([first, second])
    durations = {s.address: s.duration for s in merged.stages}
    assert durations == pytest.approx({"stage.t": 5.0, "git.tag": 0.3})
    assert merged.wall == pytest.approx(6.0)
    assert merged.parallelism == pytest.approx(5.3 / 6.0)  # the applies' work over their time
    assert [s.status for s in merged.stages if s.address == "stage.t"] == ["done"]
