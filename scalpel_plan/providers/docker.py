"""docker: an image pushed to any OCI distribution registry under the release's tags.

The source is what a build stage wrote: an OCI image layout (folder or tarball) or a `docker
save` tarball; or, with ``docker-daemon:NAME``, an image in the local Docker engine, which is
saved (`docker image save`) and pushed the same way, so every source gets the same blob
skipping, digests in the state and revert. Version tags never move (one pointing elsewhere is
an error); other tags (`latest`) are re-pointed. The state records each tag's digest; `read`
compares it with what the registry holds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from scalpel_plan import process
from scalpel_plan.errors import ProviderError, ScalpelError
from scalpel_plan.files import inside
from scalpel_plan.providers.base import (
    Attributes,
    Change,
    LiveCache,
    Node,
    Provider,
    Release,
    StepContext,
    fill,
)
from scalpel_plan.providers.oci import Image, Registry, load_image
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import InRepository, NodeConfig, SecretRef

DEFAULT_USER, DEFAULT_PASSWORD = "DOCKER_USERNAME", "DOCKER_PASSWORD"  # the seed's variables
PUSH_WORKERS = 3
ENGINE_PREFIX = "docker-daemon:"  # skopeo's name for the same transport


class DockerConfig(NodeConfig):
    templates = ("tags",)
    image: str = Field(description="REGISTRY/NAME, e.g. ghcr.io/acme/widgets")
    source: Annotated[str, InRepository(unless_prefix=ENGINE_PREFIX)] = Field(
        description="The OCI layout folder or tarball a build stage writes, or "
        "docker-daemon:NAME for an image in the local Docker engine")
    tags: list[str] = Field(default_factory=lambda: ["{version}", "latest"])
    username: str | None = Field(None, description="default $DOCKER_USERNAME")
    password: SecretRef | None = Field(None, description="e.g. ${secrets.registry}; "
                                       "default $DOCKER_PASSWORD")


class DockerProvider(Provider):
    name = "docker"
    spec_bound = ("image", "source", "tags", "fixed_tags", "username", "password")
    publishes = True
    config_model: ClassVar[type[DockerConfig]] = DockerConfig

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, DockerConfig)
        source = release.repo / config.source
        digest = None if _engine_image(config.source) or not source.exists() else \
            load_image(source).digest
        tags = {fill(t, release, where=f"{node.address}.tags"): "{version}" in t
                for t in config.tags}
        return {"release": release.version, "image": config.image, "source": config.source,
                "digest": digest, "tags": sorted(tags),
                "fixed_tags": sorted(t for t, fixed in tags.items() if fixed),
                "username": config.username, "password": config.password}

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes | None:
        attrs = desired or recorded
        if not attrs:
            return None
        tags = sorted(set((desired or {}).get("tags", [])) | set((recorded or {}).get("digests",
                                                                                     {})))
        try:
            credentials = _credentials(attrs, live.secrets)
        except ScalpelError:
            credentials = None  # no secrets where plan runs (a fork's pull request): anonymous
        with Registry(attrs["image"], credentials, _secret_name(attrs)) as registry:
            try:
                return {"digests": {t: registry.manifest_digest(t) for t in tags}}
            except ProviderError:
                if credentials:  # pre-flight: the credentials apply will use are refused
                    raise
                return None  # the registry wants credentials to read: plan cannot tell

    def read_past(self, node: Node, release: Release, live: LiveCache) -> Attributes | None:
        """The digest the registry gives the release's version tags; its moving tags
        (latest) pointed at that image while the release was live."""
        config = node.config
        assert isinstance(config, DockerConfig)
        tags = {fill(t, release, where=f"{node.address}.tags"): "{version}" in t
                for t in config.tags}
        fixed = sorted(t for t, is_fixed in tags.items() if is_fixed)
        attrs = {"image": config.image, "username": config.username,
                 "password": config.password}
        try:
            credentials = _credentials(attrs, live.secrets)
        except ScalpelError:
            credentials = None
        with Registry(config.image, credentials, _secret_name(attrs)) as registry:
            found = {registry.manifest_digest(t) for t in fixed}
        digest = next(iter(found)) if len(found) == 1 else None
        if digest is None:  # not pushed, or version tags that disagree: nothing to go back to
            return None
        return {"release": release.version, "image": config.image, "source": config.source,
                "digest": digest, "digests": dict.fromkeys(sorted(tags), digest),
                "fixed_tags": fixed, "username": config.username, "password": config.password}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        live = (observed or {}).get("digests", {})
        digest = desired["digest"]
        unknown = [] if digest else ["digest"]
        for tag in desired["fixed_tags"]:
            if digest and live.get(tag) not in (None, digest):
                raise ProviderError(f"{node.address}: {desired['image']}:{tag} already points "
                                    f"at {live[tag]}; a version tag never moves",
                                    hint="release another version")
        if recorded and recorded.get("release") == desired["release"] and \
                all(live.get(t, recorded["digests"].get(t)) == recorded["digests"].get(t)
                    for t in desired["tags"]):
            return self.change(node, "no-op", before=recorded, after=recorded)
        if digest and observed and all(live.get(t) == digest for t in desired["tags"]):
            return self.change(node, "adopt", after=desired,
                               reason="every tag already points at this image")
        moving = [t for t in desired["tags"] if t not in desired["fixed_tags"] and live.get(t)]
        reason = f"re-points {', '.join(moving)}" if moving else ""
        return self.change(node, "create", after=desired, unknown=unknown, reason=reason)

    def preflight(self, change: Change, upstream: set[str]) -> None:
        after = change.after
        built_before = any(a.startswith("stage.") for a in upstream)
        if change.action != "create" or after["digest"] or built_before:
            return
        if name := _engine_image(after["source"]):
            found = process.run(["docker", "image", "inspect", "--format", "{{.Id}}", name],
                                cwd=Path.cwd())
            if not found.ok:
                raise ProviderError(f"{change.address}: the Docker engine has no image {name}, "
                                    "and no stage runs before it to build it",
                                    hint=(found.stderr or found.stdout).strip()[:300])
            return
        raise ProviderError(f"{change.address}: the image source {after['source']} does not "
                            "exist, and no stage runs before it to build it",
                            hint="add `needs: [stage.build]`, or build first")

    def drift(self, node: Node, recorded: Attributes, observed: Attributes | None) -> str | None:
        live = (observed or {}).get("digests")
        if not live:
            return None
        moved = [t for t, d in recorded.get("digests", {}).items()
                 if t in live and live[t] != d and t in recorded.get("fixed_tags", [])]
        return f"{', '.join(moved)} no longer point at the recorded image" if moved else None

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        if change.action == "update":
            return self._repoint(change, ctx)
        after = change.after
        with _source(after["source"], ctx) as path:
            return self._push(change, ctx, load_image(path))

    def _push(self, change: Change, ctx: StepContext, image: Image) -> Attributes:
        after = change.after
        with _registry(after, ctx.secrets) as registry, ThreadPoolExecutor(PUSH_WORKERS) as pool:
            # the version tags (checked again: the plan may have read nothing) and which blobs
            # the registry has are asked side by side; nothing is uploaded before both answer
            fixed = pool.map(registry.manifest_digest, after["fixed_tags"])
            present = pool.map(lambda blob: registry.has_blob(blob.digest), image.blobs)
            for tag, found in zip(after["fixed_tags"], fixed, strict=True):
                if found not in (None, image.digest):
                    raise ProviderError(f"{change.address}: {after['image']}:{tag} already "
                                        f"points at {found}; a version tag never moves")
            missing = [b for b, there in zip(image.blobs, present, strict=True) if not there]
            list(pool.map(registry.upload, missing))
            digests = {tag: registry.put_manifest(tag, image) for tag in after["tags"]}
        return {"release": after["release"], "image": after["image"], "source": after["source"],
                "digest": image.digest, "digests": digests, "fixed_tags": after["fixed_tags"],
                "uploaded_blobs": len(missing), "username": after["username"],
                "password": after["password"]}


    def revert(self, address: str, recorded: Attributes) -> Change | None:
        """Moving tags go back to what ``recorded`` (an earlier release's) says; version tags
        stay, as a version never moves."""
        moving = {t: d for t, d in recorded.get("digests", {}).items()
                  if t not in recorded.get("fixed_tags", [])}
        if not moving:
            return None
        return Change(address=address, provider=self.name, action="update", before={},
                      after={**recorded, "digests": moving},
                      reason=f"re-points {', '.join(sorted(moving))} by manifest")

    def _repoint(self, change: Change, ctx: StepContext) -> Attributes:
        after = change.after
        with _registry(after, ctx.secrets) as registry:
            moved = {tag: registry.retag(tag, digest) for tag, digest in after["digests"].items()}
        return {**after, "digests": moved}


def _engine_image(source: str) -> str | None:
    """The image name of a ``docker-daemon:NAME`` source (None for a path)."""
    return source.removeprefix(ENGINE_PREFIX) if source.startswith(ENGINE_PREFIX) else None


@contextmanager
def _source(source: str, ctx: StepContext) -> Iterator[Path]:
    """The image's path: the source itself, or the engine's image saved to a temporary
    tarball under .scalpel/ (removed after the push)."""
    name = _engine_image(source)
    if name is None:
        yield inside(ctx.release.repo, source, what="docker: the image source")
        return
    folder = ctx.release.workdir / "cache" / "docker"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        saved = Path(tmp) / "image.tar"
        done = process.run(["docker", "image", "save", "-o", str(saved), name],
                           cwd=ctx.release.repo, timeout=ctx.timeout)
        if not done.ok:
            raise ProviderError(f"docker image save {name} failed (exit {done.returncode})",
                                hint=(done.stderr or done.stdout).strip()[:500] or None)
        yield saved


def _registry(attrs: Attributes, secrets: SecretsManager) -> Registry:
    """The node's registry, with the credentials apply uses."""
    return Registry(attrs["image"], _credentials(attrs, secrets), _secret_name(attrs))


def _secret_name(attrs: Attributes) -> str:
    return SecretsManager.credential_name(attrs["password"], DEFAULT_PASSWORD)


def _credentials(attrs: Attributes, secrets: SecretsManager) -> tuple[str, str] | None:
    user = secrets.resolve(attrs["username"]) if attrs["username"] else \
        _optional_env(secrets, DEFAULT_USER)
    password = secrets.resolve(attrs["password"]) if attrs["password"] else \
        _optional_env(secrets, DEFAULT_PASSWORD)
    return (user, password) if user and password else None


def _optional_env(secrets: SecretsManager, env: str) -> str | None:
    return secrets.from_env(env) if secrets.has_env(env) else None



