"""What a new user tried on a real monorepo (issue 15's trial): a tag format that matches no
tag never downgrades a package (nor a single project), a dependency released alone
(--package) leaves its dependents' bump due, a package path that matches no tracked file is
an error at its line, a package's tag message names it. Real git repositories, made here."""

from __future__ import annotations

import json

from conftest import Repo, git
from test_monorepo import DEPS, commit, deps, packages_of, plan_json, write  # noqa: F401 (deps: a fixture)

CHANGESETS = """\
project: {name: changesets}
dependency_bump: patch
packages:
  cli:
    paths: [packages/cli]
    tag: "@changesets/{name}@TAG_VERSION"
    files: [packages/cli/package.json]
    publish:
      git.cli: {push: origin}
  types:
    paths: [packages/types]
    tag: "@changesets/{name}@{version}"
    files: [packages/types/package.json]
    publish:
      git.types: {push: origin}
"""


def changesets(repo: Repo, tag_version: str = "{version}") -> Repo:
    write(repo, "packages/cli/package.json", '{\n  "name": "@changesets/cli",\n'
          '  "version": "3.2.0"\n}\n')
    write(repo, "packages/types/package.json", '{\n  "name": "@changesets/types",\n'
          '  "version": "7.0.0"\n}\n')
    write(repo, ".gitignore", ".scalpel/\n")
    repo.write_spec(CHANGESETS.replace("TAG_VERSION", tag_version))
    commit(repo, "chore: the packages")
    for tag in ("@changesets/cli@3.2.0", "@changesets/types@7.0.0"):
        git(repo.path, "tag", "-a", "-m", tag, tag)
    git(repo.path, "push", "-q", "origin", "main", "--tags")
    commit(repo, "feat(cli): a feature", "packages/cli/x")
    return repo


def test_a_tag_format_that_matches_no_tag_never_downgrades_a_package(repo, cli):
    changesets(repo, "v{version}")  # the trial's mistake: "@changesets/{name}@v{version}"
    for command in (("plan",), ("apply", "--auto-approve")):
        done = cli(repo.path, *command)
        assert done.code == 1, done.out
        assert "release.yml:6:" in done.err  # at packages.cli.tag
        assert "packages/cli/package.json holds version 3.2.0" in done.err
        assert "would release 0.1.0" in done.err
        assert "no tag matched the tag format '@changesets/cli@v{version}'" in done.err
        assert "tag: '@changesets/{name}@{version}' would match it" in done.err
    assert "@changesets/cli@v0.1.0" not in repo.remote_tags()
    assert '"version": "3.2.0"' in (repo.path / "packages/cli/package.json").read_text()


def test_a_tag_format_that_matches_no_tag_never_goes_below_what_is_live(repo, cli):
    """The second trial's case: no version file declared, the package released by Scalpel at
    7.0.1; then a tag format that matches none of its tags would make a first release, 0.1.0:
    refused, at the tag format, from the version the state records as live."""
    changesets(repo)
    spec = (repo.path / "release.yml").read_text()
    repo.write_spec(spec.replace("    files: [packages/types/package.json]\n", ""))
    commit(repo, "fix(types): a fix", "packages/types/y")
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert "@changesets/types@7.0.1" in repo.remote_tags()
    before, types = (repo.path / "release.yml").read_text().split("  types:\n")
    repo.write_spec(before + "  types:\n" + types.replace("@{version}", "@v{version}"))
    commit(repo, "fix(types): another", "packages/types/z")
    for command in (("plan",), ("apply", "--auto-approve")):
        done = cli(repo.path, *command)
        assert done.code == 1, done.out
        assert "package types: the state records as live version 7.0.1, but the plan would " \
            "release 0.1.0" in done.err
        assert "release.yml:12:" in done.err  # at packages.types.tag
    assert not [t for t in repo.remote_tags() if "@v" in t]


def test_a_right_tag_format_releases_the_package_from_its_version(repo, cli):
    changesets(repo)
    found = packages_of(plan_json(cli, repo))
    assert (found["cli"]["previous"], found["cli"]["version"]) == ("3.2.0", "3.3.0")


def test_a_single_project_is_never_released_below_its_version_file(repo, cli):
    (repo.path / "pyproject.toml").write_text('[project]\nname = "w"\nversion = "1.2.0"\n')
    repo.write_spec("version:\n  files: [pyproject.toml]\npublish:\n  git.tag: {}\n")
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    repo.commit("chore: the project", "pyproject.toml")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: spec")
    repo.commit("feat: more")
    done = cli(repo.path, "plan")  # no tag yet: the first release would be 0.1.0
    assert done.code == 1 and "release.yml:2:" in done.err
    assert "pyproject.toml holds version 1.2.0, but the plan would release 0.1.0" in done.err
    assert "no tag matched the tag format 'v{version}'" in done.err
    assert "--version 1.2.0" in done.err
    assert cli(repo.path, "apply", "--auto-approve").code == 1
    assert "1.2.0" in (repo.path / "pyproject.toml").read_text()
    # the version file already at the version being released: released as it is
    git(repo.path, "tag", "-a", "-m", "v1.1.0", "v1.1.0", "HEAD~1")
    plan = json.loads(cli(repo.path, "plan", "--format", "json").out)
    assert plan["release"]["version"] == "1.2.0"
    lower = cli(repo.path, "plan", "--version", "1.1.5")
    assert lower.code == 1 and "the last release tag is v1.1.0" in lower.err
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert git(repo.path, "tag", "-l", "v1.2.0") == "v1.2.0"


def test_a_dependency_released_alone_leaves_its_dependents_bump_due(deps, cli):  # noqa: F811
    """`apply --package a`: b and c (b needs a, c needs b) are left out, with a warning;
    the next full plan still gives b its bump for a (and c its bump for b), once."""
    alone = plan_json(cli, deps, "--package", "a")
    assert [n for n, p in packages_of(alone).items() if p["version"]] == ["a"]
    [warning] = [d["message"] for d in alone["diagnostics"] if "depend" in d["message"]]
    assert warning.startswith("b depends on a, not planned here (--package)")
    assert "it gets its patch bump for a 1.1.0 when planned" in warning
    assert "--package b" in warning
    done = cli(deps.path, "apply", "--auto-approve", "--package", "a")
    assert done.code == 0, done.err
    assert "a@1.1.0" in deps.remote_tags()

    only_b = packages_of(plan_json(cli, deps, "--package", "b"))  # due when planned alone too
    assert only_b["b"]["version"] == "2.0.1"
    full = plan_json(cli, deps)  # saved, then applied as it is
    found = packages_of(full)
    assert found["a"]["version"] is None
    assert found["b"]["version"] == "2.0.1"
    assert "depends on a 1.1.0 (released after b 2.0.0)" in found["b"]["reason"]
    assert found["c"]["version"] == "3.0.1" and "depends on b 2.0.1" in found["c"]["reason"]
    edits = {c["address"]: c for c in full["changes"]}["git.commit"]["after"]["files"]
    assert 'dependencies = ["acme_a >= 1.1.0, <2", "requests"]' in \
        (deps.path / "packages/b/pyproject.toml").read_text()  # moved by a's release
    assert 'version = "2.0.1"' in [e["new"] for e in edits["packages/b/pyproject.toml"]]
    saved = cli(deps.path, "apply", str(deps.path.parent / "plan.json"), "--auto-approve")
    assert saved.code == 0, saved.err
    assert {"b@2.0.1", "a@1.1.0"} <= set(deps.remote_tags())
    after = cli(deps.path, "plan", "--detailed-exitcode")
    assert after.code == 0 and "No changes." in after.out  # due once, not for ever


def test_a_package_path_that_matches_no_tracked_file_is_an_error_at_its_line(repo, cli):
    write(repo, "packages/parse/index.js", "x\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", "chore: parse")
    repo.write_spec("packages:\n  parse:\n    paths: [packages/parse, packages/parser]\n"
                    "    publish:\n      git.parse: {}\n")
    done = cli(repo.path, "validate")
    assert done.code == 1
    assert "release.yml:3:" in done.err
    assert "packages.parse.paths[1]: packages/parser matches no file git tracks" in done.err
    assert "did you mean packages/parse?" in done.err
    assert "paths[0]" not in done.err
    repo.write_spec("packages:\n  parse:\n    paths: [packages/parse, 'packages/*/index.js']\n"
                    "    publish:\n      git.parse: {}\n")
    assert cli(repo.path, "validate").code == 0


def test_a_package_tag_message_names_the_package(repo, cli):
    changesets(repo)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    message = git(repo.path, "tag", "-l", "--format=%(contents:subject)",
                  "@changesets/cli@3.3.0")
    assert message == "Release cli 3.3.0"


def test_small_messages_say_what_to_do_in_a_monorepo(repo, cli):
    changesets(repo)
    several = cli(repo.path, "plan", "--package", "cli,types")
    assert several.code == 1 and "give one package per --package" in several.err
    assert "--package cli --package types" in several.err and "did you mean" not in several.err
    nope = cli(repo.path, "rollback", "--to", "nope@1.0.0")
    assert nope.code == 1 and "--to nope@1.0.0: package nope: no such package" in nope.err
    assert "--package nope" not in nope.err
    repo.write_spec(CHANGESETS.replace("  types:", "  types x:").replace("TAG_VERSION",
                                                                        "{version}"))
    bad_name = cli(repo.path, "validate")
    assert bad_name.code == 1 and "for example types-x" in bad_name.err
    repo.write_spec(CHANGESETS.replace("@changesets/{name}@TAG_VERSION", "cli-latest"))
    no_version = cli(repo.path, "validate")
    assert no_version.code == 1 and 'for example "{name}@{version}"' in no_version.err


def test_with_follow_a_due_bump_is_the_dependency_own(deps, cli):  # noqa: F811
    deps.write_spec(DEPS.replace("DEPENDENCY_BUMP", "follow"))
    commit(deps, "chore: follow")
    assert cli(deps.path, "apply", "--auto-approve", "--package", "a").code == 0
    found = packages_of(plan_json(cli, deps))
    assert found["b"]["version"] == "2.1.0"  # a's minor release, 1.0.0 → 1.1.0
    assert "depends on a 1.1.0 (released after b 2.0.0)" in found["b"]["reason"]


def test_package_tags_push_after_those_of_the_packages_they_need(deps, cli):  # noqa: F811
    """The second trial's case: tags pushed in release.yml's order put a dependent's tag on
    origin before its dependency's, which a push failing half way would leave so. b needs a
    (its pyproject.toml), and is declared first here: a's tag still goes first."""
    a, b = DEPS.split("  a:\n")[1].split("  b:\n")
    spec = DEPS.split("  a:\n")[0] + "  b:\n" + b.split("  c:\n")[0] + "  a:\n" + a + \
        "  c:\n" + b.split("  c:\n")[1]
    deps.write_spec(spec.replace("DEPENDENCY_BUMP", "patch"))
    commit(deps, "chore: b first")
    needs = {c["address"]: c["needs"] for c in plan_json(cli, deps)["changes"]}
    assert "git.a" in needs["git.b"] and "git.b" not in needs["git.a"], needs
