"""The README's Python API section runs as written, in a real repository with a bare origin,
and every block does what its comments say."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git

from scalpel_plan import MetricsTracker, MetricType

README = Path(__file__).resolve().parent.parent / "README.md"
SPEC = """\
stages:
  test: {run: "true"}
publish:
  git.tag: {push: origin}
"""

Namespace = dict[str, Any]


@dataclass(frozen=True)
class Block:
    line: int  # where its code starts in README.md
    code: str


def python_blocks(heading: str = "## Python API") -> list[Block]:
    """The ```python blocks of the README section under ``heading``."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    first_line = text[:start].count("\n") + 1
    return [Block(first_line + section[:m.start(1)].count("\n"), m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```$", section, re.S | re.M)]


def run_block(block: Block, namespace: Namespace) -> None:
    """Execute ``block`` as README.md's own lines, so that a traceback points at them."""
    code = compile("\n" * (block.line - 1) + block.code, str(README), "exec")
    exec(code, namespace)  # the README's own code: the point of the test


def head(repo: Repo) -> str:
    return git(repo.path, "rev-parse", "HEAD")


@dataclass(frozen=True)
class Step:
    """What a block must contain, what happens before it (outside the README), and what must
    be true after it; ``check`` gets the repository, the namespace and what the block printed."""

    contains: str
    check: Callable[[Repo, Namespace, str], None]
    before: Callable[[Repo], object] = lambda repo: None


def released_0_1_0(repo: Repo, ns: Namespace, out: str) -> None:
    assert out.splitlines() == ["0.1.0", "True 0", "{'stage.test': 'done', 'git.tag': 'done'}"]
    assert ns["outcome"].plan is ns["saved"]  # the saved plan was applied, not a new one
    assert repo.remote_tags() == {"v0.1.0": head(repo)}


def released_0_2_0(repo: Repo, ns: Namespace, out: str) -> None:
    outcome = ns["outcome"]
    assert outcome.ok and outcome.report is None and out == ""
    assert outcome.plan.release.version == "0.2.0"
    assert repo.remote_tags()["v0.2.0"] == head(repo)


def rolled_back_and_branched(repo: Repo, ns: Namespace, out: str) -> None:
    assert out.splitlines() == ["0.1.0", "hotfix/0.1.0"]
    assert ns["outcome"].ok
    state = ns["project"].backend.read()
    assert state.live_version() == "0.1.0"
    assert [(r.from_version, r.to_version, r.status) for r in state.rollbacks] == [
        ("0.2.0", "0.1.0", "succeeded")]
    assert git(repo.path, "branch", "--show-current") == "hotfix/0.1.0"
    assert head(repo) == repo.remote_tags()["v0.1.0"]


def hotfix_released(repo: Repo, ns: Namespace, out: str) -> None:
    assert out == "0.1.1\n" and ns["outcome"].ok
    assert repo.remote_tags()["v0.1.1"] == head(repo)
    [hotfix] = ns["project"].backend.read().hotfixes
    assert (hotfix.branch, hotfix.fixes, hotfix.version) == ("hotfix/0.1.0", "0.1.0", "0.1.1")


def changelog_and_notes(repo: Repo, ns: Namespace, out: str) -> None:
    assert out == ("## [1.3.0] - 2026-11-18\n\n### Features\n\n- **cli:** add --json (#12, 0000000)"
                   "\n\nContent with values\n")


def metrics_status_points(repo: Repo, ns: Namespace, out: str) -> None:
    assert out.splitlines() == ["succeeded", "['stage.test', 'git.tag']",
                                "0.1.1 ['v0.1.0', 'v0.2.0', 'v0.1.1']"]
    kept = MetricsTracker(ns["project"].backend).metrics()  # read back, as another process
    assert [(m.name, m.value) for m in kept if m.type is MetricType.CUSTOM] == [
        ("custom_metric", 123.45)]


def alert_handled(repo: Repo, ns: Namespace, out: str) -> None:
    assert out == "widgets 1.3.0: release failed at pypi.widgets\n"


STEPS = [
    Step("apply(project, saved)", released_0_1_0),
    Step("apply(project)", released_0_2_0, lambda repo: repo.commit("feat: more")),
    Step('start_hotfix(project, "v0.1.0")', rolled_back_and_branched),
    Step("finish_hotfix(project)", hotfix_released, lambda repo: repo.commit("fix: the bug")),
    Step('create_custom("my_template", "Content with {{variables}}")', changelog_and_notes),
    Step('record_metric("custom_metric", 123.45, MetricType.CUSTOM)', metrics_status_points),
    Step("register_handler(AlertChannel.CUSTOM, custom_handler)", alert_handled),
]


def test_the_python_api_section_has_the_blocks_this_test_runs():
    blocks = python_blocks()
    assert len(blocks) == len(STEPS)
    for block, step in zip(blocks, STEPS, strict=True):
        assert step.contains in block.code, f"README.md:{block.line}: expected {step.contains}"


def test_the_python_api_section_runs_as_written(repo: Repo, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    repo.write_spec(SPEC)
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: release with scalpel")
    monkeypatch.chdir(repo.path)
    namespace: Namespace = {"__name__": "readme"}
    for block, step in zip(python_blocks(), STEPS, strict=True):
        step.before(repo)
        capsys.readouterr()
        run_block(block, namespace)
        step.check(repo, namespace, capsys.readouterr().out)
