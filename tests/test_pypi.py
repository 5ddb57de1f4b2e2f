"""pypi provider against a real pypiserver on 127.0.0.1 with htpasswd auth."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import git, kill_before_recording
from servers import pypiserver

SPEC = """
project: {{name: widgets}}
secrets:
  index_password: {{env: INDEX_PASSWORD}}
publish:
  pypi.widgets:
    repository: {url}
    username: uploader
    password: "${{secrets.index_password}}"
"""


def wheel(folder: Path, name: str, version: str, extra: str = "") -> Path:
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}-{version}.dist-info/METADATA",
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}")
        zf.writestr(f"{name}/__init__.py", f"__version__ = '{version}'\n{extra}")
    return path


def sdist(folder: Path, name: str, version: str) -> Path:
    path = folder / f"{name}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        data = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def index(tmp_path):
    with pypiserver(tmp_path / "index") as server:
        yield server


@pytest.fixture
def project(repo, index, monkeypatch):
    monkeypatch.setenv("INDEX_PASSWORD", index.password)
    repo.write_spec(SPEC.format(url=index.url))
    (repo.path / ".gitignore").write_text(".scalpel/\ndist/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: publish")
    dist = repo.path / "dist"
    dist.mkdir()
    wheel(dist, "widgets", "0.1.0")
    sdist(dist, "widgets", "0.1.0")
    return repo


def test_upload_then_nothing_to_do(project, index, cli):
    plan = cli(project.path, "plan")
    assert plan.code == 0, plan.err
    assert "pypi.widgets will be created (irreversible)" in plan.out
    assert "widgets-0.1.0-py3-none-any.whl" in plan.out and index.password not in plan.out
    applied = cli(project.path, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert sorted(p.name for p in index.packages.iterdir()) == [
        "widgets-0.1.0-py3-none-any.whl", "widgets-0.1.0.tar.gz"]
    state = (project.path / ".scalpel" / "state.json").read_text()
    assert index.password not in state
    recorded = json.loads(state)["resources"]["pypi.widgets"]["attributes"]
    assert set(recorded["files"]) == {"widgets-0.1.0-py3-none-any.whl", "widgets-0.1.0.tar.gz"}
    assert cli(project.path, "plan", "--detailed-exitcode").code == 0


def test_a_crash_between_upload_and_state_write_uploads_nothing_twice(project, index, cli,
                                                                      monkeypatch):
    restore = kill_before_recording(monkeypatch, "pypi.widgets")
    assert cli(project.path, "apply", "--auto-approve").code == 130
    restore()
    uploaded = {p.name: p.stat().st_mtime_ns for p in index.packages.iterdir()}
    assert len(uploaded) == 2
    plan = cli(project.path, "plan")
    assert "pypi.widgets will be adopted" in plan.out
    resumed = cli(project.path, "apply", "--auto-approve")
    assert resumed.code == 0, resumed.err
    assert {p.name: p.stat().st_mtime_ns for p in index.packages.iterdir()} == uploaded


def test_a_version_on_the_index_with_other_content_is_refused(project, index, cli):
    wheel(index.packages, "widgets", "0.1.0", extra="# another build\n")
    plan = cli(project.path, "plan")
    assert plan.code == 1
    assert "0.1.0 is already on the index with different content" in plan.err
    assert "can never be re-uploaded" in plan.err


def test_wrong_credentials_name_the_secret_not_its_value(project, index, cli, monkeypatch):
    monkeypatch.setenv("INDEX_PASSWORD", "wrong-password-value")
    result = cli(project.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "refused access (403)" in result.err or "rejected the credentials" in result.err
    assert "index_password" in result.err and "wrong-password-value" not in result.err


def test_a_file_whose_metadata_disagrees_is_named(project, index, cli):
    bad = project.path / "dist" / "widgets-0.1.0-py3-none-any.whl"
    bad.unlink()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("widgets-0.1.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: widgets\nVersion: 0.0.9\n")
    result = cli(project.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "widgets-0.1.0-py3-none-any.whl: its metadata says widgets 0.0.9" in result.err
    assert list(index.packages.iterdir()) == []


def test_file_names_with_dashes_underscores_and_dots_are_matched():
    from scalpel_plan.providers.pypi import _version_of

    assert _version_of("my-package-1.2.0.tar.gz", "my_package") == "1.2.0"
    assert _version_of("my_package-1.2.0-py3-none-any.whl", "My.Package") == "1.2.0"
    assert _version_of("my_package_extra-1.2.0.tar.gz", "my-package") is None
    assert _version_of("other-1.2.0.tar.gz", "my-package") is None


def test_plan_checks_the_credentials_without_uploading(project, index, cli, monkeypatch):
    monkeypatch.setenv("INDEX_PASSWORD", "wrong-password-value")
    plan = cli(project.path, "plan")
    assert plan.code == 1 and "refused access (403)" in plan.err
    assert "check the secret index_password" in plan.err
    assert "wrong-password-value" not in plan.err and list(index.packages.iterdir()) == []
    monkeypatch.setenv("INDEX_PASSWORD", index.password)
    assert cli(project.path, "plan").code == 0  # the right ones are accepted (and nothing
    assert list(index.packages.iterdir()) == []  # was uploaded by asking)


def test_plan_lists_every_pre_flight_problem_at_once(project, index, cli, monkeypatch):
    monkeypatch.delenv("INDEX_PASSWORD")
    project.write_spec(SPEC.format(url=index.url) + f"""
  pypi.tools: {{repository: "{index.url}", files: "build/*"}}
  docker.app: {{image: "127.0.0.1:9/app", source: build/image}}
""")
    plan = cli(project.path, "plan")
    assert plan.code == 1
    assert "secret index_password: $INDEX_PASSWORD is not set" in plan.err
    assert "pypi.tools: no file matches build/* for widgets 0.1.0, and no stage runs before " \
           "it to build them" in plan.err
    assert "docker.app: the image source build/image does not exist, and no stage runs " \
           "before it" in plan.err
    assert "(3 problems)" in plan.err


def test_files_a_stage_will_build_are_not_a_problem(project, index, cli):
    project.write_spec(SPEC.format(url=index.url) + """
    files: "later/*"
    needs: [stage.build]
stages:
  build: {run: "true"}
""")
    plan = cli(project.path, "plan")
    assert plan.code == 0, plan.err
    assert "uploads later/* once the build made them" in plan.out
