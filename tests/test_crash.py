"""The crash test (issue 11): a real release of a small Python library, killed with SIGKILL
after a journal line or right after a side effect, then `scalpel apply --auto-approve` again;
the release must end as if nothing happened: the tag on origin's main with the version files
bumped and the changelog in its tree, the wheel and sdist of the version on a real pypiserver,
the image on a real docker-registry, the GitHub release (a fake of GitHub's REST contract),
each side effect done once, each announcement delivered once or reported "may have gone out".

The harness is tests/crash.py (and tests/crash_wrapper.py, which does the killing); this runs
a deterministic sample of the kill points (the first line of every journal event kind, every
line of the release commit, the tag and the announcements, the first of every kind of side
effect); `python benchmarks/crash.py` runs all of them. Run with `-s` to see the figures.
"""

from __future__ import annotations

from pathlib import Path

import crash
import pytest


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    with crash.servers(tmp_path_factory.mktemp("crash-servers")) as running:
        yield running


def test_a_release_killed_at_any_point_finishes_right_once_resumed(servers, tmp_path: Path):
    probe = crash.probe(servers, tmp_path)
    points = crash.sample(probe.points)
    outcomes = crash.sweep(servers, tmp_path, points)
    report = crash.summary(outcomes, probe)
    print("\n" + report)
    assert probe.outcome.correct, report
    kinds = {what.split(" ")[0] for point, what in probe.points if point.startswith("line:")}
    assert {"apply_started", "step_pending", "step_done", "apply_finished"} <= kinds
    effects = {point.rsplit(":", 1)[0] for point, _ in probe.points if point.startswith("effect")}
    assert {"effect:pypi POST upload", "effect:registry PUT manifest", "effect:git push",
            "effect:github POST release", "effect:webhook POST", "effect:smtp send"} <= effects
    assert effects <= {point.rsplit(":", 1)[0] for point, _ in points}  # each kind sampled
    figures = crash.figures(outcomes)
    assert figures["kill points reached"] == figures["kill points tried"], report
    assert figures["% finished correctly"] == 100.0, report
    assert figures["side effects done twice"] == 0, report
    assert figures["announcements lost without a warning"] == 0, report
