"""No "None" in any user-facing line: every command, run on a real repository through a whole
life (releases, a failed apply finished by a second, a rollback, a hotfix branch), is grepped
for the word, on stdout and stderr. A Python None that reaches a sentence is a bug a user reads
("tag None stays")."""

from __future__ import annotations

import re

from conftest import git

SPEC = """
project: {name: demo}
version: {files: [pyproject.toml]}
changelog: {file: CHANGELOG.md}
notes: {template: detailed}
secrets:
  TOKEN: {env: DEMO_TOKEN}
stages:
  build: {run: "test -e fail.flag && exit 1; echo built"}
publish:
  git.tag: {push: origin, needs: [stage.build]}
"""
NONE = re.compile(r"\bNone\b")


def test_no_command_says_none(repo, cli, monkeypatch):
    monkeypatch.setenv("DEMO_TOKEN", "tok-8f2c91d7e4a6b3")
    (repo.path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.0.0"\n')
    (repo.path / "CHANGELOG.md").write_text("# Changelog\n")
    repo.write_spec(SPEC)
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: the release spec")
    said: list[tuple[str, str]] = []

    def run(*args: str) -> int:
        done = cli(repo.path, *args)
        said.append((" ".join(args), done.out + done.err))
        return done.code

    for command in (["validate"], ["graph"], ["graph", "--format", "mermaid"], ["secrets"],
                    ["plan"], ["plan", "--format", "markdown"], ["changelog"], ["notes"],
                    ["history"], ["status"], ["metrics"], ["profile"], ["state", "list"],
                    ["state", "lock"]):
        run(*command)  # before any release: empty answers, or errors that say so
    assert run("apply", "--auto-approve") == 0, said[-1][1]
    repo.commit("feat: a second feature")
    (repo.path / "fail.flag").touch()
    assert run("apply", "--auto-approve") == 1  # a failure and its alert
    (repo.path / "fail.flag").unlink()
    assert run("apply", "--auto-approve") == 0  # finished by a second apply
    repo.commit("fix: a fix")
    for command in (["plan"], ["plan", "--format", "markdown"], ["plan", "--detailed-exitcode"],
                    ["changelog", "--all"], ["changelog", "--all", "--format", "markdown"],
                    ["notes"], ["history"], ["status"], ["metrics"], ["profile"],
                    ["profile", "0.1.0"], ["profile", "--compare", "0.1.0", "0.2.0"],
                    ["state", "list"], ["state", "show", "git.tag"],
                    ["state", "show", "git.commit"], ["state", "lock"], ["secrets"],
                    ["rollback", "--to", "v0.1.0"],
                    ["hotfix", "--help"]):
        run(*command)
    assert run("rollback", "--to", "v0.1.0", "--auto-approve") == 0
    for command in (["history"], ["status"], ["metrics"], ["profile"],
                    ["rollback", "--to", "v0.2.0"], ["plan"]):
        run(*command)
    (repo.path / "elsewhere").mkdir()
    said.append(("init", cli(repo.path / "elsewhere", "init").err))
    assert len(said) > 40
    found = [(command, line) for command, text in said for line in text.splitlines()
             if NONE.search(line)]
    assert found == []
    assert not [c for c, text in said if "tok-8f2c91d7e4a6b3" in text]
