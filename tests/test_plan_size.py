"""A plan you can read whatever the history: the changelog once, the text plan on a screen
without --verbose, and the Markdown plan (a pull-request comment) under GitHub's 65,536
characters, with what was cut said and the full plan linked. Histories of thousands of
commits are made for real, with `git fast-import`."""

from __future__ import annotations

import re
import subprocess

from conftest import git

from scalpel_plan.ui.plan_markdown import BUDGET, COMMENT_LIMIT, plan_markdown

URL = "https://github.com/acme/widgets/actions/runs/42"
SPEC = """project: {name: widgets}
version: {files: [pyproject.toml]}
changelog: {file: CHANGELOG.md, commits: "https://github.com/acme/widgets/commit/{sha}"}
notes: {template: detailed}
stages:
  test: {run: "true"}
  build: {run: "true", needs: [stage.test, git.commit]}
publish:
  git.tag: {push: origin, message: "widgets {version}"}
notify:
  console.announce: {message: "{project} {version} is out"}
"""


def history(repo, commits: int) -> None:
    """``commits`` Conventional Commits on top of HEAD, each touching a file, in one
    fast-import (seconds for thousands)."""
    parent = git(repo.path, "rev-parse", "HEAD")
    kinds = ("feat", "fix", "perf", "docs", "refactor")
    stream = []
    for i in range(commits):
        kind = kinds[i % len(kinds)]
        message = (f"{kind}(area{i % 17}): change number {i} to the widgets, described the "
                   f"way real commit messages are, long enough to wrap a terminal line\n")
        data = f"{i}\n"
        stream += ["commit refs/heads/main", f"mark :{i + 1}",
                   f"committer Ada Tester <ada@example.com> {1767000000 + i} +0000",
                   f"data {len(message.encode())}", message.rstrip("\n"),
                   f"from {parent}" if i == 0 else f"from :{i}",
                   f"M 644 inline files/{i % 50}.txt", f"data {len(data)}", data.rstrip("\n"),
                   ""]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo.path, check=True,
                   input="\n".join(stream) + "\n", text=True)
    git(repo.path, "reset", "-q", "--hard", "main")


def released(repo) -> None:
    repo.write_spec(SPEC)
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\n'
                                              'version = "0.0.0"\n')
    (repo.path / "CHANGELOG.md").write_text("# Changelog\n")
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: release with scalpel")
    git(repo.path, "tag", "-a", "v1.0.0", "-m", "v1.0.0")


def test_the_markdown_plan_of_thousands_of_commits_fits_a_comment_and_says_the_cut(repo, cli):
    released(repo)
    history(repo, 3000)
    result = cli(repo.path, "plan", "--format", "markdown", "--full-plan-url", URL)
    assert result.code == 0, result.err
    text = result.out
    assert len(text) < COMMENT_LIMIT and len(text.encode()) <= BUDGET + 1
    first = text.splitlines()[0]
    assert first.startswith("> ✂️ **Cut to fit a comment**") and URL in first
    assert "### Scalpel plan: widgets 1.0.0 → **1.1.0**" in text
    assert "**Plan:** 3 to create, 2 to run · ⚠️ 1 irreversible" in text  # never cut
    assert text.count("## [1.1.0] - ") == 1  # the changelog once: the commit refers to it
    assert text.count("<details>") == text.count("</details>")
    assert text.count("```") % 2 == 0
    assert f"lines cut to fit the comment ([full plan]({URL}))" in text
    whole = cli(repo.path, "plan", "--verbose")  # the text plan cuts nothing with --verbose
    assert whole.out.count("change number") >= 3000 * 2  # every commit, the changelog
    assert len(whole.out) > 10 * COMMENT_LIMIT  # so the Markdown did cut


def test_under_github_actions_the_cut_links_the_runs_page(repo, cli, monkeypatch):
    released(repo)
    history(repo, 1500)
    for key, value in {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
                       "GITHUB_REPOSITORY": "acme/widgets", "GITHUB_RUN_ID": "42"}.items():
        monkeypatch.setenv(key, value)
    result = cli(repo.path, "plan", "--format", "markdown")
    assert result.code == 0, result.err
    assert len(result.out) < COMMENT_LIMIT
    assert f"[the workflow run's artifacts]({URL})" in result.out.splitlines()[0]


def test_the_text_plan_of_a_long_history_fits_on_a_screen_without_verbose(repo, cli):
    released(repo)
    history(repo, 3000)
    result = cli(repo.path, "plan")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) <= 80, result.out
    more = re.search(r"… and (\d+) more \(`scalpel plan --verbose` lists them\)", result.out)
    assert more and int(more[1]) >= 1795  # feat, fix and perf decide: 1800 of them
    assert "(Features 600, Bug Fixes 600, Performance 600, Documentation 600, " \
        "Refactoring 600); `scalpel plan --verbose` shows it" in result.out  # its outline
    assert "## [1.1.0] - " not in result.out
    verbose = cli(repo.path, "plan", "--verbose")
    assert verbose.out.count("## [1.1.0] - ") == 1  # once: the release commit refers to it
    assert "section = (the changelog section above" in verbose.out
    titles = [line for line in lines if re.match(r"    [0-9a-f]{8} ", line)]
    assert len(titles) == 5 and all(len(line) < 125 for line in titles)  # cut to a line
    assert all("…" in line for line in titles)


def test_a_typical_release_fits_on_a_screen(repo, cli):
    """Version files, a changelog, notes, a test, a build, a tag and an announcement, a dozen
    commits: one screen (60 lines), the summary line included."""
    released(repo)
    for i, message in enumerate(["feat(cli): a --json flag", "fix: a crash on empty input",
                                 "feat: configurable colours", "fix(parser): tabs in names",
                                 "perf: cache the index", "docs: the quick start",
                                 "fix: exit code on failure", "refactor: one config loader",
                                 "feat(api): pagination", "fix: windows paths",
                                 "test: the parser", "chore: bump a dependency"]):
        repo.commit(message, f"f{i}.txt")
    result = cli(repo.path, "plan")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) <= 60, result.out
    assert result.out.rstrip().endswith("1 irreversible.")
    assert "Changelog (published with the release; git.commit adds it to CHANGELOG.md): " \
        "36 lines (Features 3, Bug Fixes 4, Performance 1, Documentation 1" in result.out
    verbose = cli(repo.path, "plan", "--verbose")
    assert len(verbose.out.splitlines()) > len(result.out.splitlines())


def test_any_plan_stays_under_the_limit_even_when_its_summary_alone_is_too_long():
    from scalpel_plan.plan.model import Fingerprint, Plan, PlanDiagnostic, ReleaseSummary
    from scalpel_plan.providers.base import Change

    many = Plan(fingerprint=Fingerprint(lineage="l", serial=1, spec_sha256="s", commit="c" * 40),
                release=ReleaseSummary(project="p", version="2.0.0", previous="1.0.0",
                                       tag="v2.0.0", commit="c" * 40, reason="r" * 100_000,
                                       changelog="## [2.0.0]\n" + "- é line\n" * 50_000),
                changes=[Change(address=f"stage.s{i}", provider="stage", action="run",
                                after={"command": "x" * 200}) for i in range(5_000)],
                diagnostics=[PlanDiagnostic(severity="warning", message=f"warning {i}")
                             for i in range(20_000)])
    text = plan_markdown(many)
    assert len(text.encode()) <= BUDGET
    assert text.startswith("> ✂️ **Cut to fit a comment**")
    assert "`scalpel plan --verbose` shows the whole plan" in text.splitlines()[0]
    small = plan_markdown(many.model_copy(update={"changes": many.changes[:3],
                                                  "diagnostics": [],
                                                  "release": many.release.model_copy(update={
                                                      "reason": "r", "changelog": "## x"})}))
    assert "Cut to fit" not in small and small.count("stage.s") == 3 * 3  # table, diff
