"""Monorepos (`packages:`): commits belong to packages by the paths they touch (renames for
both sides, merges by what their branch brought), by scope, or to all through paths_shared;
each package's version comes from its own tags; one plan shows every package that moves.
Every repository here is a real git monorepo the test makes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Repo, git

from scalpel_plan import process
from scalpel_plan.content.packages import MonorepoHistory
from scalpel_plan.spec.sections import package_views, sections_of

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "monorepo"

SPEC = """\
project: {name: tools}
changelog: {commits: "https://example.com/{sha}"}
paths_shared: [shared]
packages:
  a:
    paths: [packages/a]
    files: [packages/a/pyproject.toml]
    publish:
      git.a: {push: origin}
  b:
    paths: [packages/b]
    tag: "{name}-v{version}"
    scopes: [b]
    files: [packages/b/pyproject.toml]
    publish:
      git.b: {push: origin}
  c:
    paths: [packages/c]
    publish:
      git.c: {push: origin}
notify:
  console.done: {message: "{project} {version}"}
"""


def write(repo: Repo, path: str, text: str) -> None:
    target = repo.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as fh:
        fh.write(text)


def commit(repo: Repo, message: str, *paths: str) -> str:
    for path in paths:
        write(repo, path, message + "\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", message)
    return git(repo.path, "rev-parse", "HEAD")


@pytest.fixture
def mono(repo: Repo) -> Repo:
    """Three packages released once (a@1.0.0, b-v2.0.0, c@0.5.0), then a commit each."""
    write(repo, "packages/a/pyproject.toml", '[project]\nname = "a"\nversion = "1.0.0"\n')
    write(repo, "packages/b/pyproject.toml", '[project]\nname = "b"\nversion = "2.0.0"\n')
    write(repo, "packages/c/README", "c\n")
    write(repo, ".gitignore", ".scalpel/\n")
    repo.write_spec(SPEC)
    commit(repo, "chore: the packages")
    for tag in ("a@1.0.0", "b-v2.0.0", "c@0.5.0"):
        git(repo.path, "tag", "-a", "-m", tag, tag)
    git(repo.path, "push", "-q", "origin", "main", "--tags")
    return repo


def history(repo: Repo) -> MonorepoHistory:
    from scalpel_plan.spec import load_sections

    spec = load_sections(repo.path / "release.yml")
    return MonorepoHistory(repo.path, spec.package_views, spec.paths_shared,
                           spec.policy.commit_message)


def plan_json(cli, repo: Repo, *args: str) -> dict:
    out = cli(repo.path, "plan", "--out", str(repo.path.parent / "plan.json"), *args)
    assert out.code == 0, out.err + out.out
    return json.loads((repo.path.parent / "plan.json").read_text())


def packages_of(plan: dict) -> dict[str, dict]:
    return {p["name"]: p for p in plan["release"]["packages"]}


def test_a_commit_belongs_to_the_packages_whose_paths_it_touches(mono):
    only_b = commit(mono, "feat: b only", "packages/b/x")
    both = commit(mono, "fix: a and b", "packages/a/x", "packages/b/y")
    outside = commit(mono, "docs: the readme", "README.md")
    owners = history(mono).owners
    assert owners[only_b] == {"b"}
    assert owners[both] == {"a", "b"}
    assert owners[outside] == frozenset()


def test_a_rename_counts_for_both_sides_and_a_merge_for_what_its_branch_changed(mono):
    commit(mono, "feat: a file in a", "packages/a/moved.txt")
    git(mono.path, "mv", "packages/a/moved.txt", "packages/c/moved.txt")
    git(mono.path, "commit", "-q", "-m", "refactor: move a file from a to c")
    renamed = git(mono.path, "rev-parse", "HEAD")
    git(mono.path, "checkout", "-q", "-b", "topic")
    on_branch = commit(mono, "fix: b on a branch", "packages/b/branch.txt")
    git(mono.path, "checkout", "-q", "main")
    commit(mono, "chore: main moves on", "README.md")
    git(mono.path, "merge", "-q", "--no-ff", "topic", "-m", "Merge branch topic")
    merge = git(mono.path, "rev-parse", "HEAD")
    owners = history(mono).owners
    assert owners[renamed] == {"a", "c"}
    assert owners[on_branch] == {"b"}
    assert owners[merge] == {"b"}  # what the branch brought in, not main's own README


def test_a_scope_counts_for_its_package_and_shared_paths_for_every_package(mono):
    scoped = commit(mono, "feat(b): documented in the root", "docs/b.md")
    unscoped = commit(mono, "feat(zzz): an unknown scope", "docs/z.md")
    shared = commit(mono, "fix: the shared helper", "shared/helper.py")
    owners = history(mono).owners
    assert owners[scoped] == {"b"}
    assert owners[unscoped] == frozenset()
    assert owners[shared] == {"a", "b", "c"}


def test_the_history_is_read_once_for_every_package(mono, cli, monkeypatch):
    commit(mono, "feat: a", "packages/a/x")
    commit(mono, "fix: b", "packages/b/x")
    logs: list[list[str]] = []
    real = process.stream

    def counted(command, **kwargs):
        if command[:2] == ["git", "log"]:
            logs.append(list(command))
        return real(command, **kwargs)

    monkeypatch.setattr(process, "stream", counted)
    plan = plan_json(cli, mono)
    assert {n for n, p in packages_of(plan).items() if p["version"]} == {"a", "b"}
    assert len(logs) == 1 and "--name-status" in logs[0]


def test_each_package_moves_from_its_own_tags_with_its_own_commits(mono, cli):
    commit(mono, "feat: a feature of a", "packages/a/x")
    commit(mono, "fix(b): a fix of b", "packages/b/x")
    # another package's tag on a newer commit neither moves a nor warns about it
    git(mono.path, "tag", "-a", "-m", "c", "c@9.0.0")
    plan = plan_json(cli, mono)
    found = packages_of(plan)
    assert (found["a"]["previous"], found["a"]["version"], found["a"]["tag"]) == \
        ("1.0.0", "1.1.0", "a@1.1.0")
    assert (found["b"]["previous"], found["b"]["version"], found["b"]["tag"]) == \
        ("2.0.0", "2.0.1", "b-v2.0.1")
    assert found["c"]["version"] is None and found["c"]["previous"] == "9.0.0"  # its own
    assert [c["description"] for c in found["a"]["commits"]] == ["a feature of a"]
    assert [c["description"] for c in found["b"]["commits"]] == ["a fix of b"]
    assert "a fix of b" not in (found["a"]["changelog"] or "")
    assert found["a"]["nodes"] == ["git.a"] and found["b"]["nodes"] == ["git.b"]
    assert not [d for d in plan["diagnostics"] if "c@9.0.0" in d["message"]]
    changes = {c["address"]: c for c in plan["changes"]}
    assert changes["git.a"]["after"]["tag"] == "a@1.1.0"
    assert changes["git.b"]["after"]["tag"] == "b-v2.0.1"
    assert changes["git.c"]["action"] == "no-op"
    bumped = changes["git.commit"]["after"]
    assert set(bumped["files"]) == {"packages/a/pyproject.toml", "packages/b/pyproject.toml"}
    assert set(bumped["changelogs"]) == {"packages/a/CHANGELOG.md", "packages/b/CHANGELOG.md"}


def test_package_plans_a_subset_and_names_an_unknown_package(mono, cli):
    commit(mono, "feat: a", "packages/a/x")
    commit(mono, "feat: b", "packages/b/x")
    found = packages_of(plan_json(cli, mono, "--package", "b"))
    assert [n for n, p in found.items() if p["version"]] == ["b"]
    bad = cli(mono.path, "plan", "--package", "bb")
    assert bad.code == 1 and "--package bb" in bad.err and "did you mean b?" in bad.err


def test_apply_tags_every_package_that_moves_in_one_release_commit(mono, cli):
    commit(mono, "feat: a feature of a", "packages/a/x")
    commit(mono, "fix: a fix of b", "packages/b/x")
    done = cli(mono.path, "apply", "--auto-approve")
    assert done.code == 0, done.err + done.out
    tags = mono.remote_tags()
    assert tags["a@1.1.0"] == tags["b-v2.0.1"] == git(mono.path, "rev-parse", "HEAD")
    assert "c@0.5.1" not in tags
    assert 'version = "1.1.0"' in (mono.path / "packages/a/pyproject.toml").read_text()
    assert 'version = "2.0.1"' in (mono.path / "packages/b/pyproject.toml").read_text()
    assert "a fix of b" in (mono.path / "packages/b/CHANGELOG.md").read_text()
    assert "a fix of b" not in (mono.path / "packages/a/CHANGELOG.md").read_text()
    again = cli(mono.path, "plan", "--detailed-exitcode")  # the release commit is no change
    assert again.code == 0 and "No changes." in again.out


def test_changelog_of_one_package(mono, cli):
    commit(mono, "feat: a feature of a", "packages/a/x")
    commit(mono, "fix: a fix of b", "packages/b/x")
    next_a = cli(mono.path, "changelog", "--package", "a")
    assert next_a.code == 0, next_a.err
    assert "## [1.1.0]" in next_a.out and "a feature of a" in next_a.out
    assert "a fix of b" not in next_a.out
    whole_b = cli(mono.path, "changelog", "--package", "b", "--all")
    assert whole_b.code == 0, whole_b.err
    assert "## [2.0.0]" in whole_b.out and "a fix of b" in whole_b.out
    assert "a feature of a" not in whole_b.out and "1.0.0" not in whole_b.out


@pytest.mark.parametrize(("package", "message"), [
    ("a: {paths: []}", "packages.a.paths must not be empty"),
    ("a: {paths: [x], tag: 'a-1'}", "packages.a.tag must contain {version}"),
    ("a: {paths: [x], scopez: [a]}", "unknown key 'scopez' in packages.a"),
    ("a: {paths: [x], tag: '{nam}@{version}'}", "unknown variable {nam}"),
    ("a: {paths: [x]}\n  b: {paths: [y], tag: 'a@{version}'}",
     "also package a's tag format"),
])
def test_a_bad_package_is_reported_at_its_place(repo, cli, package, message):
    repo.write_spec(f"packages:\n  {package}\n")
    out = cli(repo.path, "validate")
    assert out.code == 1
    assert message in out.err, out.err
    assert "release.yml:2:" in out.err or "release.yml:3:" in out.err, out.err


def test_a_top_level_git_tag_is_refused_with_packages(repo, cli):
    repo.write_spec("packages:\n  a: {paths: [a]}\npublish:\n  git.tag: {push: origin}\n")
    out = cli(repo.path, "validate")
    assert out.code == 1 and "release.yml:4:" in out.err and "each package tags" in out.err


def test_the_light_sections_read_packages_as_the_models_do(tmp_path):
    from scalpel_plan.spec import load_spec

    path = tmp_path / "release.yml"
    path.write_text(SPEC)
    light = sections_of(json.loads(json.dumps(load_spec(path).source.data))).package_views
    full = load_spec(path).spec
    assert light == package_views(full.policy, full.changelog, full.packages)
    assert light["b"].policy.tag == ["b-v{version}"]
    assert "a@*" in light["b"].policy.ignore_tags and "c@*" in light["b"].policy.ignore_tags
    assert light["a"].changelog is not None and light["a"].changelog.file == \
        "packages/a/CHANGELOG.md"


def test_example_plan_matches_its_golden_output(repo, cli, monkeypatch):
    """examples/monorepo, planned in a monorepo made here: core moves by its path, cli by
    its scope, both by a shared path."""
    from test_golden import check

    monkeypatch.setenv("REGISTRY_TOKEN", "a-token-for-the-monorepo-example")
    shutil.copy(EXAMPLE / "release.yml", repo.path / "release.yml")
    write(repo, "packages/core/pyproject.toml", '[project]\nname = "core"\nversion = "1.0.0"\n')
    write(repo, "packages/cli/pyproject.toml", '[project]\nname = "cli"\nversion = "2.0.0"\n')
    commit(repo, "chore: the packages")
    git(repo.path, "tag", "-a", "-m", "core", "core@1.0.0")
    git(repo.path, "tag", "-a", "-m", "cli", "cli-v2.0.0")
    commit(repo, "feat: parse faster (#12)", "packages/core/parse.py")
    commit(repo, "feat(cli)!: drop the old flags", "docs/cli.md")
    commit(repo, "fix: the shared logger", "shared/log.py")
    git(repo.path, "push", "-q", "origin", "main", "--tags")
    text = cli(repo.path, "plan")
    assert text.code == 0, text.err
    check("monorepo.plan.txt", text.out)
    markdown = cli(repo.path, "plan", "--format", "markdown")
    check("monorepo.plan.md", markdown.out)
    assert "| core | 1.0.0 → **1.1.0** |" in markdown.out
    assert "| cli | 2.0.0 → **3.0.0** |" in markdown.out


def test_a_fixed_group_moves_whole_to_one_version(mono, cli):
    mono.write_spec(SPEC + "groups:\n  fixed: [[a, c]]\n")
    commit(mono, "chore: fixed a and c")
    commit(mono, "feat: a feature of a", "packages/a/x")
    commit(mono, "fix: a fix of b", "packages/b/x")
    found = packages_of(plan_json(cli, mono))
    # the highest of the group (a 1.0.0, c 0.5.0), bumped by a's feature; c moves with it
    assert (found["a"]["version"], found["c"]["version"]) == ("1.1.0", "1.1.0")
    assert found["c"]["tag"] == "c@1.1.0" and "fixed group (a, c)" in found["c"]["reason"]
    assert found["b"]["version"] == "2.0.1"  # not in the group: its own version


def test_a_linked_group_shares_a_version_among_those_that_move(mono, cli):
    mono.write_spec(SPEC + "groups:\n  linked: [[a, b, c]]\n")
    commit(mono, "chore: link a, b and c")
    commit(mono, "fix: a fix of a", "packages/a/x")
    commit(mono, "feat: a feature of b", "packages/b/x")
    found = packages_of(plan_json(cli, mono))
    # the highest version of those that move (b 2.0.0), bumped by the largest bump (minor)
    assert (found["a"]["version"], found["b"]["version"]) == ("2.1.0", "2.1.0")
    assert found["c"]["version"] is None  # linked, but nothing of its own to release


def test_a_group_names_declared_packages_once(repo, cli):
    repo.write_spec("packages:\n  a: {paths: [a]}\n  b: {paths: [b]}\n"
                    "groups:\n  fixed: [[a, bb]]\n  linked: [[a, b]]\n")
    out = cli(repo.path, "validate")
    assert out.code == 1
    assert "release.yml:5:" in out.err and "'bb' is not a package" in out.err
    assert "did you mean 'b'?" in out.err
    assert "release.yml:6:" in out.err and "'a' is already in groups.fixed[0]" in out.err


DEPS = """\
project: {name: tools}
dependency_bump: DEPENDENCY_BUMP
packages:
  a:
    paths: [packages/a]
    files: [packages/a/pyproject.toml]
    publish:
      git.a: {push: origin}
  b:
    paths: [packages/b]
    files: [packages/b/pyproject.toml]
    publish:
      git.b: {push: origin}
  c:
    paths: [packages/c]
    depends_on: [b]
"""


@pytest.fixture
def deps(repo: Repo) -> Repo:
    """b needs a (read from its pyproject.toml: acme-a>=1.0.0), c declares it needs b."""
    write(repo, "packages/a/pyproject.toml", '[project]\nname = "acme-a"\nversion = "1.0.0"\n')
    write(repo, "packages/b/pyproject.toml", '[project]\nname = "acme-b"\nversion = "2.0.0"\n'
          'dependencies = ["acme_a >= 1.0.0, <2", "requests"]\n')
    write(repo, "packages/c/README", "c\n")
    repo.write_spec(DEPS.replace("DEPENDENCY_BUMP", "patch"))
    commit(repo, "chore: the packages")
    for tag in ("a@1.0.0", "b@2.0.0", "c@3.0.0"):
        git(repo.path, "tag", "-a", "-m", tag, tag)
    commit(repo, "feat: a feature of a", "packages/a/x")
    return repo


def test_a_dependency_release_bumps_its_dependents_down_the_chain(deps, cli):
    plan = plan_json(cli, deps)
    found = packages_of(plan)
    assert found["a"]["version"] == "1.1.0"
    assert found["b"]["version"] == "2.0.1" and "depends on a 1.1.0" in found["b"]["reason"]
    assert found["c"]["version"] == "3.0.1" and "depends on b 2.0.1" in found["c"]["reason"]
    edits = {c["address"]: c for c in plan["changes"]}["git.commit"]["after"]["files"]
    b_edits = [e["new"] for e in edits["packages/b/pyproject.toml"]]
    assert 'version = "2.0.1"' in b_edits
    assert 'dependencies = ["acme_a >= 1.1.0, <2", "requests"]' in b_edits


def test_follow_gives_dependents_the_same_bump_and_none_gives_nothing(deps, cli):
    deps.write_spec(DEPS.replace("DEPENDENCY_BUMP", "follow"))
    commit(deps, "chore: follow")
    assert packages_of(plan_json(cli, deps))["b"]["version"] == "2.1.0"
    deps.write_spec(DEPS.replace("DEPENDENCY_BUMP", "none"))
    commit(deps, "chore: none")
    found = packages_of(plan_json(cli, deps))
    assert found["b"]["version"] is None and found["c"]["version"] is None


def test_a_cycle_between_packages_is_an_error_that_names_it(repo, cli):
    repo.write_spec("packages:\n  a: {paths: [a], depends_on: [b]}\n"
                    "  b: {paths: [b], depends_on: [a]}\n")
    out = cli(repo.path, "validate")
    assert out.code == 1
    assert "packages depend on each other in a cycle: a → b → a" in out.err or \
        "packages depend on each other in a cycle: b → a → b" in out.err, out.err


def test_a_dependent_is_published_after_what_it_needs(repo, tmp_path):
    from scalpel_plan.graph import compile_graph
    from scalpel_plan.providers.registry import default_registry
    from scalpel_plan.spec import load_spec

    spec = ("packages:\n"
            "  b: {paths: [b], depends_on: [a], publish: {pypi.b: {files: 'b/dist/*'}}}\n"
            "  a: {paths: [a], publish: {pypi.a: {files: 'a/dist/*'}}}\n")
    path = repo.write_spec(spec)
    commit(repo, "chore: the packages", "a/README", "b/README")  # paths git tracks
    graph = compile_graph(load_spec(path), default_registry(plugins=False))
    assert "pypi.a" in graph.upstream("pypi.b")
    assert graph.order.index("pypi.a") < graph.order.index("pypi.b")


BUILD = """\
import pathlib, sys, tomllib, zipfile
for folder in sys.argv[1:]:
    project = tomllib.loads(pathlib.Path(folder, "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    dist = pathlib.Path(folder, "dist")
    dist.mkdir(exist_ok=True)
    stem = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(dist / f"{stem}-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{stem}.dist-info/METADATA",
                    f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n")
"""

PUBLISHED = """\
project: {{name: tools}}
secrets:
  index_password: {{env: INDEX_PASSWORD}}
stages:
  build: {{run: "python3 build.py packages/b packages/a", needs: [git.commit]}}
packages:
  b:
    paths: [packages/b]
    files: [packages/b/pyproject.toml]
    publish:
      git.b: {{push: origin}}
      pypi.b: {{package: acme-b, files: "packages/b/dist/*", repository: {url},
               username: uploader, password: "${{secrets.index_password}}"}}
  a:
    paths: [packages/a]
    files: [packages/a/pyproject.toml]
    publish:
      git.a: {{push: origin}}
      pypi.a: {{package: acme-a, files: "packages/a/dist/*", repository: {url},
               username: uploader, password: "${{secrets.index_password}}"}}
"""


def test_two_packages_published_to_a_real_index_in_dependency_order(deps, cli, tmp_path,
                                                                     monkeypatch):
    from servers import pypiserver

    with pypiserver(tmp_path / "index") as index:
        monkeypatch.setenv("INDEX_PASSWORD", index.password)
        deps.write_spec(PUBLISHED.format(url=index.url))
        write(deps, "build.py", BUILD)
        write(deps, ".gitignore", ".scalpel/\ndist/\n")
        commit(deps, "chore: publish a and b")
        done = cli(deps.path, "apply", "--auto-approve", "--json")
        assert done.code == 0, done.err + done.out
        events = [json.loads(line) for line in done.out.splitlines() if line.startswith("{")]
        at = {(e.get("address"), e.get("event")): i for i, e in enumerate(events)}
        assert at[("pypi.a", "done")] < at[("pypi.b", "started")]  # b is never before a
        assert sorted(p.name for p in index.packages.iterdir()) == [
            "acme_a-1.1.0-py3-none-any.whl", "acme_b-2.0.1-py3-none-any.whl"]
        assert 'dependencies = ["acme_a >= 1.1.0, <2", "requests"]' in \
            (deps.path / "packages/b/pyproject.toml").read_text()


def test_a_kill_between_the_two_publishes_resumes_without_publishing_twice(
        deps, cli, tmp_path, monkeypatch):
    from conftest import kill_before_recording
    from servers import pypiserver

    with pypiserver(tmp_path / "index") as index:
        monkeypatch.setenv("INDEX_PASSWORD", index.password)
        deps.write_spec(PUBLISHED.format(url=index.url))
        write(deps, "build.py", BUILD)
        write(deps, ".gitignore", ".scalpel/\ndist/\n")
        commit(deps, "chore: publish a and b")
        restore = kill_before_recording(monkeypatch, "pypi.a")
        assert cli(deps.path, "apply", "--auto-approve").code == 130
        restore()
        uploaded = {p.name: p.stat().st_mtime_ns for p in index.packages.iterdir()}
        assert list(uploaded) == ["acme_a-1.1.0-py3-none-any.whl"]
        found = packages_of(plan_json(cli, deps))  # the same release, continued
        assert (found["a"]["previous"], found["a"]["version"]) == ("1.0.0", "1.1.0")
        assert (found["b"]["previous"], found["b"]["version"]) == ("2.0.0", "2.0.1")
        resumed = cli(deps.path, "apply", "--auto-approve")
        assert resumed.code == 0, resumed.err + resumed.out
        files = {p.name: p.stat().st_mtime_ns for p in index.packages.iterdir()}
        assert files["acme_a-1.1.0-py3-none-any.whl"] == uploaded["acme_a-1.1.0-py3-none-any.whl"]
        assert "acme_b-2.0.1-py3-none-any.whl" in files
        assert cli(deps.path, "plan", "--detailed-exitcode").code == 0


def test_package_files_and_paths_must_stay_inside_the_repository(repo, cli):
    commit(repo, "chore: a", "packages/a/README")
    repo.write_spec("packages:\n  a:\n    paths: [packages/a]\n    files: [/etc/passwd]\n"
                    "    publish:\n      git.a: {}\n")
    done = cli(repo.path, "validate")
    assert done.code == 1, done.err
    assert "/etc/passwd" in done.err and "Traceback" not in done.err


def test_an_ignore_glob_never_hides_a_package_own_tags(mono, cli):
    """`ignore_tags: ["*@*"]`, written to silence undeclared packages' tags, also matches
    a@1.0.0: a's own tags stay its own (it does not fall back to a first release)."""
    mono.write_spec(SPEC.replace("paths_shared: [shared]\n",
                                 "paths_shared: [shared]\nversion: {ignore_tags: ['*@*']}\n"))
    git(mono.path, "commit", "-qam", "chore: ignore other tags")
    commit(mono, "feat: a feature of a", "packages/a/x")
    git(mono.path, "tag", "-a", "-m", "x", "undeclared@3.0.0")
    found = packages_of(plan_json(cli, mono))
    assert (found["a"]["previous"], found["a"]["version"]) == ("1.0.0", "1.1.0")


def test_an_undeclared_package_tags_warning_advises_declaring_it(mono, cli):
    commit(mono, "feat: a feature of a", "packages/a/x")
    git(mono.path, "tag", "-a", "-m", "x", "a-v7.0.0")  # not a's format
    plan = plan_json(cli, mono)
    [note] = [d["message"] for d in plan["diagnostics"] if "a-v7.0.0" in d["message"]]
    assert note.startswith("package a: ignored tag a-v7.0.0")
    assert "declare it under packages:" in note and "packages.a.tag" in note
    assert "version.tag as a list" not in note  # that would read others' tags as a's


def test_changelog_of_a_monorepo_is_a_section_per_package_that_moves(mono, cli):
    """Without --package: each moving package's next section, headed by its tag, as
    changesets' "Version Packages" pull request lists them; the whole history, --write,
    --version are one package's."""
    commit(mono, "feat: a feature of a", "packages/a/x")
    commit(mono, "fix: a fix of b", "packages/b/x")
    every = cli(mono.path, "changelog")
    assert every.code == 0, every.err
    assert "## [a@1.1.0]" in every.out and "## [b-v2.0.1]" in every.out
    assert every.out.index("a feature of a") < every.out.index("## [b-v2.0.1]") \
        < every.out.index("a fix of b")
    assert "c@" not in every.out and "## [0." not in every.out
    data = json.loads(cli(mono.path, "changelog", "--format", "json").out)
    assert [(r["package"], r["version"]) for r in data["releases"]] == [
        ("a", "1.1.0"), ("b", "2.0.1")]
    for args in (["--all"], ["--write"], ["--version", "3.0.0"]):
        refused = cli(mono.path, "changelog", *args)
        assert refused.code == 1 and "--package NAME (packages: a, b, c)" in refused.err


def test_changelog_of_a_dependent_agrees_with_the_plan(deps, cli):
    """b moves only because a does: its section is the plan's version with changesets'
    "Updated dependencies" line."""
    deps.write_spec(DEPS.replace("DEPENDENCY_BUMP", "patch") + "changelog: {}\n")
    plan = plan_json(cli, deps)
    assert packages_of(plan)["b"]["version"] == "2.0.1"
    assert "Updated dependencies: a 1.1.0" in packages_of(plan)["b"]["changelog"]
    section = cli(deps.path, "changelog", "--package", "b")
    assert section.code == 0, section.err
    assert "## [2.0.1]" in section.out and "Updated dependencies: a 1.1.0" in section.out
    assert "No notable changes" not in section.out
    assert "## [3.0.1]" in cli(deps.path, "changelog", "--package", "c").out  # down the chain
