"""Under GitHub Actions (GITHUB_ACTIONS=true, as the runner sets it): spec errors and failed
steps become workflow annotations at their line of release.yml, and an apply writes a job
summary to $GITHUB_STEP_SUMMARY. The runner is simulated by its environment; what it parses
is checked by the rules GitHub documents for workflow commands."""

from __future__ import annotations

import json
import re

import pytest

from scalpel_plan.errors import Diagnostic
from scalpel_plan.operations.release import Outcome
from scalpel_plan.plan.model import Fingerprint, Plan, ReleaseSummary
from scalpel_plan.ui.github_actions import annotation, job_summary

SECRET = "gh-7c4e2b91f0d35a68"
FAILING = """
secrets:
  TOKEN: {env: GHA_TOKEN}
stages:
  build:
    run: "echo using $GHA_TOKEN; exit 3"
    secrets: [TOKEN]
  docs: {run: "true"}
publish:
  git.tag: {push: origin, needs: [stage.build, stage.docs]}
"""
COMMAND = re.compile(r"^::(error|warning) (?P<props>[^:]*)::(?P<message>.*)$")


def commands(text: str) -> list[dict[str, str]]:
    """The workflow commands the runner would take from ``text``, unescaped as it does."""
    found = []
    for line in text.splitlines():
        if m := COMMAND.match(line):
            props = dict(p.split("=", 1) for p in m["props"].split(",") if p)
            unescape = {k: v.replace("%3A", ":").replace("%2C", ",").replace("%0D", "\r")
                        .replace("%0A", "\n").replace("%25", "%") for k, v in props.items()}
            message = m["message"].replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
            found.append({"level": m[1], **unescape, "message": message})
    return found


@pytest.fixture
def actions(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


def test_a_spec_error_is_an_annotation_at_its_line(repo, cli, actions, monkeypatch):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo.path))
    (repo.path / "ci").mkdir()
    (repo.path / "ci" / "release.yml").write_text(
        "stages:\n  build: {run: make}\npublish:\n  git.tag: {pushh: origin}\n")
    done = cli(repo.path, "validate", "-f", "ci/release.yml")
    assert done.code == 1
    [error] = commands(done.err)
    assert error["level"] == "error"
    assert (error["file"], error["line"], error["col"]) == ("ci/release.yml", "4", "13")
    assert "pushh" in error["message"] and error["title"].startswith("Scalpel")
    assert "ci/release.yml:4:13" in done.err  # the usual lines are still there


def test_without_actions_there_is_no_annotation(repo, cli, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    repo.write_spec("publish:\n  git.tag: {pushh: origin}\n")
    done = cli(repo.path, "validate")
    assert done.code == 1 and "::error" not in done.err + done.out


def test_a_failed_step_is_annotated_where_it_is_declared_and_summarised(repo, cli, actions,
                                                                         monkeypatch):
    monkeypatch.setenv("GHA_TOKEN", SECRET)
    repo.write_spec(FAILING)
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 1
    [failed] = [c for c in commands(done.err) if c.get("title") == "Scalpel: stage.build"]
    assert (failed["file"], failed["line"]) == ("release.yml", "5")  # the `build:` key
    assert "stage.build failed with exit code 3" in failed["message"]
    assert "using" in failed["message"]  # the log's last lines, as the terminal shows them
    summary = actions.read_text()
    assert summary.startswith("## ❌ work 0.1.0: failed")
    assert "| `stage.build` | run | failed |" in summary
    assert "| `stage.docs` | run | done |" in summary
    assert "re-run `scalpel apply`" in summary
    shown = [ln for ln in (done.err + done.out).splitlines() if not ln.startswith("::add-mask::")]
    assert SECRET not in "\n".join(shown) + summary  # (add-mask: the runner masks it too)


def test_a_finished_apply_writes_the_summary_with_every_step_time(repo, cli, actions):
    repo.write_spec("stages:\n  build: {run: 'sleep 0.2'}\npublish:\n"
                    "  git.tag: {push: origin, needs: [stage.build]}\n")
    actions.write_text("earlier step's summary\n")
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0
    summary = actions.read_text()
    assert summary.startswith("earlier step's summary\n## ✅ work 0.1.0: succeeded")  # appended
    assert "| Version | (first release) → 0.1.0 |" in summary and "| Tag | `v0.1.0` |" in summary
    row = next(ln for ln in summary.splitlines() if ln.startswith("| `stage.build`"))
    assert float(row.split("|")[4].split()[0]) >= 0.2
    assert commands(done.err) == []  # nothing failed: no annotation


def test_plan_json_stays_pure_json_with_warnings_annotated(repo, cli, actions):
    from conftest import git

    git(repo.path, "tag", "0.5.0")  # not in the tag format: plan warns
    repo.write_spec("stages:\n  build: {run: make}\npublish:\n"
                    "  git.tag: {push: origin, needs: [stage.build]}\n")
    done = cli(repo.path, "plan", "--format", "json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["mode"] == "release"  # annotations never reach stdout
    [warning] = commands(done.err)
    assert warning["level"] == "warning" and "ignored tag 0.5.0" in warning["message"]


def test_annotation_escapes_what_the_runner_would_read_as_syntax():
    d = Diagnostic("100% wrong\nsecond line", file="a,b:c.yml", line=3, col=7,
                   address="stage.x", hint="do this")
    text = annotation(d)
    assert "\n" not in text
    [parsed] = commands(text)
    assert parsed["file"] == "a,b:c.yml" and parsed["line"] == "3" and parsed["col"] == "7"
    assert parsed["message"] == "100% wrong\nsecond line\ndo this"
    assert parsed["title"] == "Scalpel: stage.x"


def test_the_summary_lists_the_release_links():
    plan = Plan(fingerprint=Fingerprint(lineage="l", serial=1, spec_sha256="0" * 64,
                                        commit="a" * 40),
                release=ReleaseSummary(project="demo", version="1.2.0", previous="1.1.0",
                                       tag="v1.2.0", commit="b" * 40, reason="minor"),
                changes=[])
    from scalpel_plan.apply import ApplyResult

    outcome = Outcome(plan, ApplyResult("20261202T000000-abcdef"),
                      links=(("PyPI", "https://pypi.org/project/demo/1.2.0/"),
                             ("Release notes", "https://github.com/o/demo/releases/tag/v1.2.0")))
    text = job_summary(outcome, "cancelled")
    assert "## ✅ demo 1.2.0: succeeded" in text
    assert "- [PyPI](https://pypi.org/project/demo/1.2.0/)" in text
    assert "| Version | 1.1.0 → 1.2.0 |" in text


def test_a_secret_never_reaches_files_the_output_is_redirected_to(repo, tmp_path, monkeypatch):
    """As the example workflows run it (`> plan.txt 2> errors.txt`, then published as an
    artifact or a comment): the ::add-mask:: lines, which carry the value for the runner, go
    nowhere when both streams are files (the runner reads neither)."""
    import os
    import subprocess

    from conftest import scalpel_cmd

    repo.write_spec(FAILING)
    out, err = tmp_path / "plan.txt", tmp_path / "errors.txt"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GHA_TOKEN": SECRET}
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run([*scalpel_cmd(), "plan"], cwd=repo.path, stdout=stdout,
                              stderr=stderr, env=env, timeout=120)
    assert done.returncode == 0, err.read_text()
    assert "Plan:" in out.read_text()
    assert SECRET not in out.read_text() + err.read_text()
    piped = subprocess.run([*scalpel_cmd(), "plan"], cwd=repo.path, capture_output=True,
                           text=True, env=env, timeout=120)  # a pipe: what the runner reads
    assert f"::add-mask::{SECRET}" in piped.stdout
