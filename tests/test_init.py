"""`scalpel init` in the repositories users have: it refuses outside git, finds the version
files, the changelog and the tag style already in use, writes the schema beside release.yml
(named on its first line for editors), and the starter plans and applies with no edits. An
empty or comment-only release.yml is an error that says how to start."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import git
from ruamel.yaml import YAML


def _project(repo, *, tags=("v1.3.0", "v1.4.0"), version="1.4.0"):
    (repo.path / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\nversion = "{version}"\n\n[tool.other]\nversion = "9"\n')
    (repo.path / "src" / "demo").mkdir(parents=True)
    (repo.path / "src" / "demo" / "__init__.py").write_text(f'__version__ = "{version}"\n')
    (repo.path / "src" / "demo" / "__version__.py").write_text(f'__version__ = "{version}"\n')
    (repo.path / "tests").mkdir()
    (repo.path / "tests" / "__init__.py").write_text('__version__ = "0.0.0"  # not ours\n')
    (repo.path / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    (repo.path / "CHANGELOG.md").write_text("# Changelog\n\n## 1.4.0\n\n- older things\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: the project")
    for tag in tags:
        git(repo.path, "tag", "-a", tag, "-m", tag)
    git(repo.path, "push", "-q", "origin", "main", "--tags")


def test_init_refuses_outside_a_git_repository(tmp_path, cli):
    done = cli(tmp_path, "init")
    assert done.code == 1
    assert "not in a git repository" in done.err and "git init" in done.err
    assert not (tmp_path / "release.yml").exists()


def test_init_finds_what_the_repository_has_and_it_plans_and_applies(repo, cli):
    _project(repo)
    done = cli(repo.path, "init")
    assert done.code == 0, done.err
    assert "version file: pyproject.toml (now 1.4.0)" in done.err
    assert "version file: src/demo/__init__.py (now 1.4.0)" in done.err
    assert "tests/__init__.py" not in done.err  # a test package's version is not ours
    assert "changelog: CHANGELOG.md" in done.err
    assert "tags: v{version} (2 tags, newest v1.4.0)" in done.err
    assert "git add .gitignore release.schema.json release.yml" in done.err
    assert "shows the next release" in done.err
    text = (repo.path / "release.yml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./release.schema.json"
    spec = YAML(typ="safe").load(text)
    assert spec["version"]["files"] == ["pyproject.toml", "src/demo/__init__.py",
                                        "src/demo/__version__.py"]
    assert spec["version"]["tag"] == "v{version}"
    assert spec["changelog"] == {"file": "CHANGELOG.md"}
    schema = json.loads((repo.path / "release.schema.json").read_text())
    jsonschema.validate(spec, schema)  # what an editor checks, it accepts
    assert cli(repo.path, "validate").code == 0

    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: release with scalpel")
    repo.commit("feat: a new thing")
    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    assert "1.4.0 → 1.5.0" in plan.out
    applied = cli(repo.path, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert 'version = "1.5.0"' in (repo.path / "pyproject.toml").read_text()
    assert 'version = "9"' in (repo.path / "pyproject.toml").read_text()  # another table's
    assert (repo.path / "src" / "demo" / "__init__.py").read_text() == '__version__ = "1.5.0"\n'
    assert '"1.5.0"' in (repo.path / "src" / "demo" / "__version__.py").read_text()
    assert "a new thing" in (repo.path / "CHANGELOG.md").read_text()
    assert "v1.5.0" in repo.remote_tags()


def test_init_takes_the_tag_style_in_use(repo, cli):
    _project(repo, tags=("1.2.0", "1.3.0", "1.4.0", "v0.9.0", "other-pkg@3.0.0"))
    done = cli(repo.path, "init")
    assert done.code == 0
    assert YAML(typ="safe").load((repo.path / "release.yml").read_text())["version"]["tag"] \
        == "{version}"
    assert "tags: {version} (3 tags, newest 1.4.0)" in done.err
    assert "1.4.0 → 1.4.1" in cli(repo.path, "plan", "--version", "1.4.1").out


def test_a_dynamic_version_is_said_and_not_listed(repo, cli):
    (repo.path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\ndynamic = ["version"]\n')
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: dynamic")
    done = cli(repo.path, "init")
    assert done.code == 0
    assert "not a version file: pyproject.toml (its version is dynamic" in done.err
    spec = YAML(typ="safe").load((repo.path / "release.yml").read_text())
    assert "files" not in spec["version"] and "changelog" not in spec
    assert "tags: none that look like a version yet" in done.err
    assert cli(repo.path, "plan").code == 0


@pytest.mark.parametrize("content", ["", "\n\n", "# release.yml\n# nothing yet\n", "---\n"])
def test_an_empty_or_comment_only_release_yml_says_how_to_start(repo, cli, content):
    repo.write_spec(content)
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"], ["changelog"]):
        done = cli(repo.path, *command)
        assert done.code == 1, command
        assert "release.yml:1:1: error:" in done.err and "scalpel init" in done.err
        assert "Traceback" not in done.err
    assert not (repo.path / ".scalpel" / "state.json").exists()  # nothing recorded


def test_init_keeps_a_schema_file_of_the_users_own(repo, cli):
    (repo.path / "release.schema.json").write_text('{"mine": true}\n')
    done = cli(repo.path, "init")
    assert done.code == 0, done.err
    assert (repo.path / "release.schema.json").read_text() == '{"mine": true}\n'
    assert "kept release.schema.json" in done.err
    assert cli(repo.path, "init", "--force").code == 0
    assert '"$schema"' in (repo.path / "release.schema.json").read_text()


UV_LOCK = '''version = 1
requires-python = ">=3.11"

[[package]]
name = "anyio"
version = "1.4.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "demo"
version = "1.4.0"
source = { editable = "." }
dependencies = [
    { name = "anyio" },
]
'''


def test_lock_files_that_repeat_the_version_are_found_and_bumped_with_it(repo, cli):
    """uv.lock and package-lock.json carry the project's own version: a release that bumps
    pyproject.toml or package.json and not them leaves `uv sync --locked` and `npm ci` failing.
    Only the project's own entries move, never a dependency at the same version."""
    _project(repo)
    (repo.path / "uv.lock").write_text(UV_LOCK)
    lock = {"name": "demo", "version": "1.4.0", "lockfileVersion": 3, "requires": True,
            "packages": {"": {"name": "demo", "version": "1.4.0",
                              "dependencies": {"left-pad": "^1.4.0"}},
                         "node_modules/left-pad": {"version": "1.4.0"}}}
    (repo.path / "package.json").write_text('{\n  "name": "demo",\n  "version": "1.4.0"\n}\n')
    (repo.path / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: lock files")
    done = cli(repo.path, "init")
    assert done.code == 0, done.err
    assert "version file: uv.lock (now 1.4.0)" in done.err
    assert "version file: package-lock.json (now 1.4.0)" in done.err
    spec = YAML(typ="safe").load((repo.path / "release.yml").read_text())
    assert {"uv.lock", "package-lock.json", "package.json"} <= set(spec["version"]["files"])

    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: release with scalpel")
    repo.commit("fix: a fix")
    applied = cli(repo.path, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    uv_lock = (repo.path / "uv.lock").read_text()
    assert uv_lock == UV_LOCK.replace('"demo"\nversion = "1.4.0"', '"demo"\nversion = "1.4.1"')
    bumped = json.loads((repo.path / "package-lock.json").read_text())
    assert bumped["version"] == bumped["packages"][""]["version"] == "1.4.1"
    assert bumped["packages"]["node_modules/left-pad"]["version"] == "1.4.0"


def test_a_lock_file_without_the_manifests_version_is_left_out(repo, cli):
    _project(repo)
    (repo.path / "uv.lock").write_text(UV_LOCK.replace('"demo"\nversion = "1.4.0"',
                                                       '"demo"\nversion = "1.3.0"'))
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: a stale lock")
    done = cli(repo.path, "init")
    assert done.code == 0, done.err
    assert "uv.lock" not in done.err
