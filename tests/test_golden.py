"""Golden plan output for every example: text and Markdown, in a pinned git repository.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_golden.py`,
then review the diff like any other code change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from scalpel_plan.ui.plan_markdown import plan_markdown

ROOT = Path(__file__).resolve().parent.parent
# a monorepo example (packages:) is planned in a monorepo of its own: tests/test_monorepo.py
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/release.yml")
                  if "\npackages:" not in p.read_text())
GOLDEN = Path(__file__).parent / "golden"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path.name} changed; review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_plan_of_every_example_matches_its_golden_output(example, repo, cli, monkeypatch):
    monkeypatch.setenv("REGISTRY_TOKEN", "a-token-for-the-monorepo-example")
    shutil.copy(example / "release.yml", repo.path / "release.yml")
    text = cli(repo.path, "plan")
    assert text.code == 0, text.err
    check(f"{example.name}.plan.txt", text.out)
    markdown = cli(repo.path, "plan", "--format", "markdown")
    check(f"{example.name}.plan.md", markdown.out)


def test_markdown_stays_readable_for_a_200_node_plan(repo, cli):
    stages = "".join(f"  s{i:03}: {{run: 'true'}}\n" for i in range(199))
    repo.write_spec(f"stages:\n{stages}publish:\n  git.tag: {{push: origin}}\n")
    result = cli(repo.path, "plan", "--format", "markdown")
    head = result.out.split("<details>")[0]
    assert "**Plan:** 1 to create, 199 to run" in head
    assert len(head.splitlines()) < 10  # the summary fits on a screen; the rest is folded
    assert result.out.count("<details>") == result.out.count("</details>")
    assert result.out.count("| `stage.s") == 199


def test_markdown_renderer_escapes_table_cells():
    from scalpel_plan.plan.model import Fingerprint, Plan, ReleaseSummary
    from scalpel_plan.providers.base import Change

    plan = Plan(fingerprint=Fingerprint(lineage="l", serial=0, spec_sha256="s", commit="c" * 40),
                release=ReleaseSummary(project="p", version="1.0.0", previous=None, tag="v1",
                                       commit="c" * 40, reason="r"),
                changes=[Change(address="stage.x", provider="stage", action="run",
                                reason="a | b <script>")])
    assert "a \\| b &lt;script>" in plan_markdown(plan)
