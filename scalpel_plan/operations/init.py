"""`scalpel init`: a commented starter release.yml that plans and applies with no edits, made
from what the repository already has: its version files (pyproject.toml, package.json,
``__version__`` modules), its changelog, the tag style its releases use, its test command; and
the JSON Schema beside it, named on the file's first line for editors (yaml-language-server).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scalpel_plan import git
from scalpel_plan.errors import ScalpelError
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

SCHEMA_FILE = "release.schema.json"  # written beside release.yml, for editors
CHANGELOGS = ("CHANGELOG.md", "CHANGES.md", "HISTORY.md", "NEWS.md")
VERSION_MODULES = ("__init__.py", "__version__.py", "_version.py", "__about__.py",
                   "version.py")
SEMVER_TAG = re.compile(r"^(?P<prefix>.*?)(?P<version>\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)$")
STARTER = """\
# yaml-language-server: $schema=./{schema}
# release.yml: what a release of {name} is. `scalpel plan` shows what the next one will do;
# `scalpel apply` does it. The schema beside it ({schema}) is what `scalpel schema` prints.
project:
  name: {name}

version:
  # The next version comes from Conventional Commits since the last tag:
  # feat → minor, fix/perf → patch, `!` or BREAKING CHANGE → major (minor while 0.x).
  scheme: semver
  from: conventional-commits
  tag: {tag}
  initial: 0.1.0          # the first release, when no tag matches yet
{files}{changelog}
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


@dataclass(frozen=True)
class Found:
    """What init found in the repository, to write into the starter and to say."""

    version_files: list[tuple[str, str]] = field(default_factory=list)  # (path, version)
    changelog: str | None = None
    tag_format: str = "v{version}"
    tags: int = 0  # release tags in that format
    newest_tag: str | None = None
    test: str = NO_TESTS
    skipped: list[str] = field(default_factory=list)  # what looked like it but is not usable


def repository_of(folder: Path) -> Path:
    """The git work tree ``folder`` is in; an error saying `git init` when there is none."""
    root = git.find_root(folder)
    if root is None:
        raise ScalpelError(f"{folder} is not in a git repository: Scalpel releases by tagging "
                           "and committing in one",
                           hint="run `git init` (and make a first commit) first, or run "
                                "`scalpel init` inside your project's clone")
    return root


def inspect(folder: Path, repo: Path) -> Found:
    """The version files, changelog, tag style and test command ``folder`` has."""
    tracked = set(git.git(repo, "ls-files", "-z", "--", str(folder)).stdout.split("\0"))
    prefix = folder.resolve().relative_to(repo.resolve()).as_posix()
    names = {p[len(prefix) + 1:] if prefix != "." else p for p in tracked if p}
    files, skipped = _version_files(folder, names)
    changelog = next((c for c in CHANGELOGS if (folder / c).is_file()), None)
    tag_format, count, newest = _tag_style(repo)
    test = next((cmd for marker, cmd in TEST_COMMANDS if _suggests(folder, marker, cmd)),
                NO_TESTS)
    return Found(files, changelog, tag_format, count, newest, test, skipped)


LOCK_FILES = (("uv.lock", "pyproject.toml"), ("package-lock.json", "package.json"),
              ("npm-shrinkwrap.json", "package.json"))


def _version_files(folder: Path, tracked: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    from scalpel_plan.content.version_files import KNOWN

    found, skipped = [], []
    modules = sorted(p for p in tracked if p.rsplit("/", 1)[-1] in VERSION_MODULES
                     and p.count("/") <= 2
                     and not p.startswith(("tests/", "test/", "docs/", "examples/")))
    candidates = ["pyproject.toml", "package.json", *modules]
    for path in candidates:
        target = folder / path
        if path not in tracked or not target.is_file():
            continue
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        pattern = KNOWN.get(path.rsplit("/", 1)[-1], KNOWN[".py"])
        if match := re.search(pattern, text):
            found.append((path, match["version"]))
        elif path == "pyproject.toml" and re.search(r"(?m)^dynamic\s*=.*version", text):
            skipped.append("pyproject.toml (its version is dynamic: set by the build from the "
                           "tag)")
    return found + _lock_files(folder, tracked, dict(found)), skipped


def _lock_files(folder: Path, tracked: set[str],
                manifests: dict[str, str]) -> list[tuple[str, str]]:
    """The lock files that repeat the version of a manifest found (uv.lock that of
    pyproject.toml, package-lock.json that of package.json): bumped with it, or `uv sync
    --locked` and `npm ci` refuse them after the release."""
    from scalpel_plan.content.version_files import KNOWN

    found = []
    for lock, manifest in LOCK_FILES:
        version = manifests.get(manifest)
        if version is None or lock not in tracked or not (folder / lock).is_file():
            continue
        try:
            text = (folder / lock).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if any(m["version"] == version for m in re.finditer(KNOWN[lock], text)):
            found.append((lock, version))
    return found


def _tag_style(repo: Path) -> tuple[str, int, str | None]:
    """The tag format most of the repository's version tags use (``v`` or none first), how
    many use it, and the newest of them."""
    styles: Counter[str] = Counter()
    newest: dict[str, tuple[str, str]] = {}
    for tag in git.tags(repo):
        if m := SEMVER_TAG.match(tag.name):
            styles[m["prefix"]] += 1
            if tag.date >= newest.get(m["prefix"], ("", ""))[0]:
                newest[m["prefix"]] = (tag.date, tag.name)
    if not styles:
        return "v{version}", 0, None
    plain = [p for p in styles if p in ("v", "")]
    prefix = max(plain or styles, key=lambda p: styles[p])
    return f"{prefix}{{version}}", styles[prefix], newest[prefix][1]


def starter_spec(folder: Path, found: Found | None = None) -> str:
    found = found or Found(test=next(
        (cmd for marker, cmd in TEST_COMMANDS if _suggests(folder, marker, cmd)), NO_TESTS))
    name = pyproject_name(folder) or folder.resolve().name
    has_origin = "origin" in git.remotes(folder) if git.find_root(folder) else False
    push = ("    push: origin          # pushed atomically; a release tag never moves\n"
            if has_origin else
            "    # push: origin        # no `origin` remote yet: the tag stays local\n"
            "    message: \"Release {version}\"\n")
    files = "".join(f"    - {path}{' ' * max(1, 20 - len(path))}# now {version}\n"
                    for path, version in found.version_files)
    if files:
        files = "  files:                  # bumped by the release commit\n" + files
    else:
        files = ("  # files: [pyproject.toml]  # bumped by a release commit, when you "
                 "want one\n")
    changelog = (f"\nchangelog:\n  file: {found.changelog}  # the release's section goes "
                 "on top\n" if found.changelog else
                 "\n# changelog:\n#   file: CHANGELOG.md  # written by the release commit\n")
    return STARTER.format(name=name, test=_yaml_quote(found.test), push=push,
                          tag=_yaml_quote(found.tag_format),
                          files=files, changelog=changelog, schema=SCHEMA_FILE)


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
