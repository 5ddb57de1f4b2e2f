"""`scalpel init`: a commented starter release.yml that plans and applies with no edits."""

from __future__ import annotations

from pathlib import Path

from scalpel_plan import git
from scalpel_plan.spec import pyproject_name

TEST_COMMANDS = (  # (file that suggests it, command); the first match wins
    ("pyproject.toml", "python -m pytest -q"),
    ("setup.py", "python -m pytest -q"),
    ("package.json", "npm test"),
    ("Cargo.toml", "cargo test"),
    ("go.mod", "go test ./..."),
    ("Makefile", "make test"),
)
NO_TESTS = "echo 'no test command yet: set stages.test.run in release.yml'"

STARTER = """\
# release.yml: what a release of {name} is. `scalpel plan` shows what the next one will do;
# `scalpel apply` does it. Schema: https://scalpel.dev/schemas/release.schema.json
project:
  name: {name}

version:
  # The next version comes from Conventional Commits since the last tag:
  # feat → minor, fix/perf → patch, `!` or BREAKING CHANGE → major (minor while 0.x).
  scheme: semver
  from: conventional-commits
  tag: "v{{version}}"
  initial: 0.1.0          # the first release, when no tag matches yet

stages:
  test:
    run: {test}
    timeout: 600          # seconds; the command and its children are killed after this

publish:
  git.tag:                # an annotated tag v<version> on the release commit
{push}
notify:
  console.announce:       # printed when the release is done
    message: "{{project}} {{version}} is released ({{tag}})"
  # slack.announce:       # a Block Kit message: version, changelog highlights, links
  #   webhook: "${{secrets.slack_hook}}"
  #   on: [success, failure, rollback]

# secrets:                # values come from the environment only, never from this file
#   slack_hook: {{env: SLACK_WEBHOOK}}
# alerts:                 # where a failed release or rollback is reported
#   on_failure: [console, slack.announce]
"""


def starter_spec(folder: Path) -> str:
    name = pyproject_name(folder) or folder.resolve().name
    test = next((cmd for marker, cmd in TEST_COMMANDS if _suggests(folder, marker, cmd)), NO_TESTS)
    has_origin = "origin" in git.remotes(folder) if git.find_root(folder) else False
    push = ("    push: origin          # pushed atomically; a release tag never moves\n"
            if has_origin else
            "    # push: origin        # no `origin` remote yet: the tag stays local\n"
            "    message: \"Release {version}\"\n")
    return STARTER.format(name=name, test=_yaml_quote(test), push=push)


def _suggests(folder: Path, marker: str, command: str) -> bool:
    if not (folder / marker).exists():
        return False
    if "pytest" in command:
        return (folder / "tests").is_dir() or (folder / "test").is_dir()
    return True


def _yaml_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ignore_state_folder(gitignore: Path) -> bool:
    """Add `.scalpel/` to ``gitignore`` unless it is there; True when it was added."""
    try:
        existing = gitignore.read_text() if gitignore.exists() else ""
        if any(line.strip() in (".scalpel", ".scalpel/", "/.scalpel/") for line in
               existing.splitlines()):
            return False
        sep = "" if not existing or existing.endswith("\n") else "\n"
        gitignore.write_text(f"{existing}{sep}.scalpel/\n")
    except OSError:
        return False  # not worth failing init over
    return True
