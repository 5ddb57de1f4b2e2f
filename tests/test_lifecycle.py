"""The release lifecycle: checks on the tree as it is → the release commit → builds that need
the new version, on it → one push of branch and tag → only then the irreversible publishes →
announcements. Against a real bare remote and a real pypiserver."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from servers import pypiserver

from scalpel_plan.graph import compile_graph
from scalpel_plan.providers.registry import default_registry
from scalpel_plan.spec import load_spec

SPEC = """
project: {{name: widgets}}
version: {{files: [pyproject.toml]}}
changelog: {{file: CHANGELOG.md}}
secrets:
  index_password: {{env: INDEX_PASSWORD}}
stages:
  test: {{run: "true"}}
  build: {{run: "python make_wheel.py {{version}}"{needs}}}
publish:
  git.tag: {{push: origin}}
  pypi.widgets:
    repository: {url}
    username: uploader
    password: "${{secrets.index_password}}"
{github}notify:
  console.announce: {{}}
"""

# A build as a user's would be: it reads the version from pyproject.toml as it is on disk.
MAKE_WHEEL = '''
import pathlib, re, sys, zipfile
version = re.search(r'version = "([^"]+)"', pathlib.Path("pyproject.toml").read_text())[1]
print("building", version, "for the release", sys.argv[1])
dist = pathlib.Path("dist"); dist.mkdir(exist_ok=True)
with zipfile.ZipFile(dist / f"widgets-{version}-py3-none-any.whl", "w") as zf:
    zf.writestr(f"widgets-{version}.dist-info/METADATA",
                f"Metadata-Version: 2.1\\nName: widgets\\nVersion: {version}\\n")
'''


def upstream(graph, address: str) -> set[str]:  # type: ignore[no-untyped-def]
    return graph.upstream(address)


def test_the_graph_orders_a_release_as_it_happens(tmp_path: Path) -> None:
    spec = tmp_path / "release.yml"
    spec.write_text(SPEC.format(url="http://127.0.0.1:1/", needs=", needs: [git.commit]",
                                github="  github.release: {repository: acme/widgets}\n"))
    graph = compile_graph(load_spec(spec), default_registry(plugins=False))
    assert upstream(graph, "git.commit") == {"stage.test"}  # checks first; not the build
    assert upstream(graph, "stage.build") == {"stage.test", "git.commit"}  # on the new version
    assert {"stage.build", "git.commit"} <= upstream(graph, "git.tag")  # pushed once built
    for publish in ("pypi.widgets", "github.release"):  # irreversible: after the push
        assert "git.tag" in upstream(graph, publish)
    assert {"pypi.widgets", "github.release", "git.tag"} <= upstream(graph, "console.announce")


@pytest.fixture
def index(tmp_path):
    with pypiserver(tmp_path / "index") as server:
        yield server


def widgets(repo, index, monkeypatch, needs: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INDEX_PASSWORD", index.password)
    repo.write_spec(SPEC.format(url=index.url, needs=needs, github=""))
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\nversion = "0.0.1"\n')
    (repo.path / "make_wheel.py").write_text(MAKE_WHEEL)
    (repo.path / ".gitignore").write_text(".scalpel/\ndist/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: widgets")
    return repo


def test_a_build_that_needs_the_release_commit_builds_the_new_version(repo, index, cli,
                                                                      monkeypatch):
    repo = widgets(repo, index, monkeypatch, ", needs: [git.commit]")
    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    assert 'python make_wheel.py 0.1.0' in plan.out  # {version} written out in the plan
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    uploaded = sorted(p.name for p in index.packages.iterdir())
    assert uploaded == ["widgets-0.1.0-py3-none-any.whl"]
    assert "v0.1.0" in repo.remote_tags()
    assert 'version = "0.1.0"' in git(repo.path, "show", "v0.1.0:pyproject.toml")


def test_a_build_of_the_old_version_stops_before_anything_is_pushed(repo, index, cli,
                                                                    monkeypatch):
    repo = widgets(repo, index, monkeypatch, "")  # the build runs before the version bump
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "the build made widgets-0.0.1-py3-none-any.whl (0.0.1), but the release is " \
        "widgets 0.1.0; nothing was pushed or uploaded" in result.err
    assert "needs: [git.commit]" in result.err
    assert "v0.1.0" not in repo.remote_tags()  # the push never ran
    remote_main = git(repo.path, "ls-remote", "origin", "refs/heads/main").split()[0]
    assert remote_main != git(repo.path, "rev-parse", "HEAD").strip()  # nor the commit
    assert list(index.packages.iterdir()) == []


def test_a_tag_pushed_elsewhere_after_the_plan_stops_everything_irreversible(
        repo, index, cli, monkeypatch, tmp_path):
    repo = widgets(repo, index, monkeypatch, ", needs: [git.commit]")
    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    other = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    git(other, "tag", "-a", "-m", "theirs", "v0.1.0")
    git(other, "push", "-q", "origin", "v0.1.0")
    result = cli(repo.path, "apply", "plan.json")
    assert result.code == 1
    assert "tag v0.1.0 appeared on origin at" in result.err
    assert list(index.packages.iterdir()) == []  # nothing uploaded
    theirs = git(other, "rev-parse", "v0.1.0^{commit}").strip()
    assert git(repo.path, "ls-remote", "origin", "refs/tags/v0.1.0^{}").split()[0] == theirs


def test_the_build_runs_again_once_it_is_moved_after_the_release_commit(repo, index, cli,
                                                                        monkeypatch):
    repo = widgets(repo, index, monkeypatch, "")
    assert cli(repo.path, "apply", "--auto-approve").code == 1  # built 0.0.1: stopped
    repo.write_spec(SPEC.format(url=index.url, needs=", needs: [git.commit]", github=""))
    git(repo.path, "commit", "-qam", "ci: build after the version bump")
    plan = cli(repo.path, "plan")
    assert "stage.build" in plan.out and "what it needs changed" in plan.out, plan.out
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert sorted(p.name for p in index.packages.iterdir()) == [
        "widgets-0.1.0-py3-none-any.whl"]


def test_after_a_lost_race_and_a_rebase_the_build_runs_again_on_the_new_commit(
        repo, index, cli, monkeypatch, tmp_path):
    from scalpel_plan.providers import git_commit

    repo = widgets(repo, index, monkeypatch, ", needs: [git.commit]")
    real = git_commit._apply

    def then_a_teammate_pushes(change, ctx):  # type: ignore[no-untyped-def]
        made = real(change, ctx)
        other = tmp_path / "teammate"
        git(tmp_path, "clone", "-q", str(repo.remote), str(other))
        (other / "NOTES.md").write_text("theirs\n")
        git(other, "add", "NOTES.md")
        git(other, "commit", "-qm", "fix: the teammate's fix")
        git(other, "push", "-q", "origin", "main")
        return made

    monkeypatch.setattr(git_commit, "_apply", then_a_teammate_pushes)
    assert cli(repo.path, "apply", "--auto-approve").code == 1  # the push lost the race
    monkeypatch.setattr(git_commit, "_apply", real)
    assert list(index.packages.iterdir()) == []
    git(repo.path, "pull", "-q", "--rebase", "origin", "main")
    plan = cli(repo.path, "plan")
    assert "which a rebase has left out of HEAD's history" in plan.out, plan.out  # the build
    assert "stage.test will run" in plan.out  # the checks too, on the code now released
    assert "git.commit will be replaced" in plan.out
    assert "made again in place of" in plan.out
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert "the teammate's fix" in git(repo.path, "show", "v0.1.0:CHANGELOG.md")
    assert git(repo.path, "show", "v0.1.0:NOTES.md").strip() == "theirs"
