"""docker provider against a real registry (Debian's docker-registry) with htpasswd auth;
skopeo, an independent client, checks what landed."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import git, kill_before_recording
from servers import docker_registry, oci_layout

SPEC = """
secrets:
  registry_password: {{env: REGISTRY_PASSWORD}}
publish:
  docker.app:
    image: {host}/acme/app
    source: build/image
    username: pusher
    password: "${{secrets.registry_password}}"
"""


@pytest.fixture
def registry(tmp_path):
    with docker_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def project(repo, registry, monkeypatch):
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    repo.write_spec(SPEC.format(host=registry.host))
    (repo.path / ".gitignore").write_text(".scalpel/\nbuild/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: image")
    oci_layout(repo.path / "build" / "image", {"app/hello.txt": b"hello\n"})
    return repo


def skopeo_digest(registry, ref: str) -> str:
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
         f"{registry.user}:{registry.password}", f"docker://{registry.host}/acme/app:{ref}"],
        capture_output=True, check=True).stdout
    import hashlib

    return "sha256:" + hashlib.sha256(raw).hexdigest()


def recorded(project) -> dict:
    state = json.loads((project.path / ".scalpel" / "state.json").read_text())
    return state["resources"]["docker.app"]["attributes"]


def test_push_under_every_tag_then_nothing_to_do(project, registry, cli):
    plan = cli(project.path, "plan")
    assert plan.code == 0, plan.err
    assert "docker.app will be created" in plan.out and registry.password not in plan.out
    assert cli(project.path, "apply", "--auto-approve").code == 0
    attrs = recorded(project)
    assert set(attrs["digests"]) == {"0.1.0", "latest"} and attrs["uploaded_blobs"] == 2
    assert skopeo_digest(registry, "0.1.0") == skopeo_digest(registry, "latest") == \
        attrs["digest"]
    assert registry.password not in (project.path / ".scalpel" / "state.json").read_text()
    assert cli(project.path, "plan", "--detailed-exitcode").code == 0


def test_a_second_push_of_the_same_image_uploads_no_blob_and_moves_latest(project, registry,
                                                                          cli):
    assert cli(project.path, "apply", "--auto-approve").code == 0
    project.commit("fix: same image, new version")
    plan = cli(project.path, "plan")
    assert "re-points latest" in plan.out
    assert cli(project.path, "apply", "--auto-approve").code == 0
    attrs = recorded(project)
    assert attrs["uploaded_blobs"] == 0 and set(attrs["digests"]) == {"0.1.1", "latest"}
    assert skopeo_digest(registry, "0.1.1") == attrs["digest"]


def test_a_version_tag_elsewhere_is_never_moved(project, registry, cli, tmp_path):
    other = oci_layout(tmp_path / "other", {"x": b"another image\n"}, tag="0.1.0")
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                    f"{registry.user}:{registry.password}", f"oci:{other}:0.1.0",
                    f"docker://{registry.host}/acme/app:0.1.0"], check=True, capture_output=True)
    result = cli(project.path, "plan")  # plan reads the registry with the declared secret
    assert result.code == 1
    assert "acme/app:0.1.0 already points at sha256:" in result.err
    assert "a version tag never moves" in result.err


def test_wrong_credentials_name_the_secret(project, registry, cli, monkeypatch):
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")
    result = cli(project.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "rejected the credentials (401)" in result.err and "registry_password" in result.err
    assert "not-the-password" not in result.err


def docker_save_tarball(path):
    """A classic `docker save` tarball: manifest.json, a config, one layer."""
    import io
    import tarfile

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in (("config.json", config), ("layer/layer.tar", layer.getvalue()),
                           ("manifest.json", json.dumps([{"Config": "config.json",
                                                          "RepoTags": ["app:dev"],
                                                          "Layers": ["layer/layer.tar"]}])
                            .encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_docker_save_tarball_is_pushed_too(project, registry, cli):
    docker_save_tarball(project.path / "build" / "image.tar")
    spec = (project.path / "release.yml").read_text().replace("build/image", "build/image.tar")
    project.write_spec(spec)
    git(project.path, "commit", "-qam", "build: a tarball")  # apply refuses a dirty tree
    assert cli(project.path, "apply", "--auto-approve").code == 0
    assert skopeo_digest(registry, "0.1.0") == recorded(project)["digest"]


def test_plan_checks_the_credentials_before_anything_is_applied(project, registry, cli,
                                                                monkeypatch):
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")
    result = cli(project.path, "plan")
    assert result.code == 1 and "rejected the credentials (401)" in result.err
    assert "not-the-password" not in result.err
    monkeypatch.delenv("REGISTRY_PASSWORD")  # a declared secret that is missing: named
    result = cli(project.path, "plan")
    assert result.code == 1 and "secret registry_password: $REGISTRY_PASSWORD is not set" \
        in result.err
    forked = cli(project.path, "plan", "--allow-missing-secrets")  # a fork's pull request
    assert forked.code == 0, forked.err
    assert "Warning: secret registry_password: $REGISTRY_PASSWORD is not set" in forked.out
    assert "docker.app will be created" in forked.out


def test_a_crash_between_push_and_state_write_pushes_nothing_twice(project, registry, cli,
                                                                  monkeypatch):
    restore = kill_before_recording(monkeypatch, "docker.app")
    assert cli(project.path, "apply", "--auto-approve").code == 130
    restore()
    assert "docker.app will be adopted" in cli(project.path, "plan").out
    assert cli(project.path, "apply", "--auto-approve").code == 0
    assert recorded(project)["uploaded_blobs"] == 0


def test_revert_re_points_latest_to_an_earlier_release(project, registry, cli, tmp_path,
                                                       monkeypatch):
    from scalpel_plan.providers.base import Release, StepContext
    from scalpel_plan.providers.docker import DockerProvider
    from scalpel_plan.secrets import SecretsManager
    from scalpel_plan.spec.model import SecretDecl

    assert cli(project.path, "apply", "--auto-approve").code == 0
    first = recorded(project)
    oci_layout(tmp_path / "next", {"app/hello.txt": b"hello again\n"})
    import shutil

    shutil.rmtree(project.path / "build" / "image")
    shutil.copytree(tmp_path / "next", project.path / "build" / "image")
    project.commit("feat: a new image")
    assert cli(project.path, "apply", "--auto-approve").code == 0
    assert skopeo_digest(registry, "latest") != first["digest"]

    provider = DockerProvider()
    change = provider.revert("docker.app", first)
    assert change is not None and set(change.after["digests"]) == {"latest"}
    release = Release(project="w", version="0.2.0", previous=None, tag="v0.2.0", commit="c",
                      repo=project.path, workdir=project.path / ".scalpel")
    secrets = SecretsManager({"registry_password": SecretDecl(env="REGISTRY_PASSWORD")})
    provider.apply(change, StepContext(release=release, timeout=None, announce=print,
                                       log_dir=project.path, secrets=secrets))
    assert skopeo_digest(registry, "latest") == first["digest"]
    assert skopeo_digest(registry, "0.2.0") != first["digest"]  # a version tag stays


FAKE_DOCKER = """#!/usr/bin/env python3
# A fake of the docker CLI's contract for the two commands Scalpel uses (no Docker engine can
# run here): `docker image inspect --format {{{{.Id}}}} NAME` and `docker image save -o FILE NAME`.
import shutil, sys
images = {{"acme/app:dev": {saved!r}}}
args = sys.argv[1:]
name = args[-1]
if name not in images:
    sys.exit(f"Error response from daemon: No such image: {{name}}")
if args[:2] == ["image", "inspect"]:
    print("sha256:" + "0" * 64)
elif args[:3] == ["image", "save", "-o"]:
    shutil.copy(images[name], args[3])
else:
    sys.exit(f"unexpected: {{args}}")
"""


def test_an_image_in_the_docker_engine_is_saved_and_pushed(project, registry, cli, tmp_path,
                                                          monkeypatch):
    saved = docker_save_tarball(tmp_path / "engine-image.tar")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER.format(saved=str(saved)))
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    spec = (project.path / "release.yml").read_text()
    project.write_spec(spec.replace("source: build/image", "source: docker-daemon:acme/app:nope"))
    plan = cli(project.path, "plan")  # pre-flight: the engine does not have it
    assert plan.code == 1 and "the Docker engine has no image acme/app:nope" in plan.err
    assert "No such image" in plan.err
    project.write_spec(spec.replace("source: build/image", "source: docker-daemon:acme/app:dev"))
    git(project.path, "commit", "-qam", "build: from the engine")  # apply refuses a dirty tree
    result = cli(project.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert skopeo_digest(registry, "0.1.0") == recorded(project)["digest"]
    assert not any((project.path / ".scalpel" / "cache" / "docker").iterdir())  # cleaned up


def test_the_version_tag_and_the_blobs_are_asked_about_side_by_side(project, registry, cli,
                                                                   monkeypatch):
    """Each question to the registry waits a round trip: the version tag's and the two
    blobs' are asked at once (a far registry's 100 ms each add up), and still nothing is
    uploaded before all of them are answered."""
    import threading
    import time

    from scalpel_plan.providers.oci import Registry

    asked: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def slow(real):  # type: ignore[no-untyped-def]
        def question(self, what):  # type: ignore[no-untyped-def]
            began = time.monotonic()
            time.sleep(0.3)  # a far registry
            answer = real(self, what)
            with lock:
                asked.append((real.__name__, began, time.monotonic()))
            return answer
        return question

    real_upload = Registry.upload

    def upload(self, blob):  # type: ignore[no-untyped-def]
        with lock:
            asked.append(("upload", time.monotonic(), time.monotonic()))
        return real_upload(self, blob)

    monkeypatch.setattr(Registry, "manifest_digest", slow(Registry.manifest_digest))
    monkeypatch.setattr(Registry, "has_blob", slow(Registry.has_blob))
    monkeypatch.setattr(Registry, "upload", upload)
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    asked.clear()
    assert cli(project.path, "apply", "plan.json").code == 0
    questions = [(b, e) for name, b, e in asked if name != "upload"]
    assert sorted(name for name, _, _ in asked if name != "upload") == \
        ["has_blob", "has_blob", "manifest_digest"]
    assert max(b for b, _ in questions) < min(e for _, e in questions)  # all at once
    answered = max(e for _, e in questions)
    assert all(b >= answered for name, b, _ in asked if name == "upload")
    assert recorded(project)["uploaded_blobs"] == 2
