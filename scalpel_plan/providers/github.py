"""github: the GitHub release for the tag, with the release notes as its body and the build's
files as assets; marked latest or pre-release. Idempotent: an existing release for the tag is
found and updated, an asset already there with the same size is kept. `revert` deletes it.

The base URL is configurable for GitHub Enterprise (`https://HOST/api/v3`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

from pydantic import Field

from scalpel_plan.errors import ProviderError
from scalpel_plan.files import glob_inside
from scalpel_plan.http import Http
from scalpel_plan.masking import mask
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
from scalpel_plan.spec.model import InRepository, NodeConfig, SecretRef

DEFAULT_TOKEN = "GITHUB_TOKEN"  # the seed's variable, used when no token is declared
API_VERSION = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GithubConfig(NodeConfig):
    templates = ("name",)
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")
    api: str = Field("https://api.github.com", description="GitHub Enterprise: HOST/api/v3")
    token: SecretRef | None = Field(None, description="e.g. ${secrets.github_token}; "
                                    "default $GITHUB_TOKEN")
    name: str = Field("{tag}", description="The release's title")
    assets: Annotated[list[str], InRepository(glob=True)] = Field(
        default_factory=list, description="Globs, from the repository")
    latest: bool = True


class GithubProvider(Provider):
    name = "github"
    spec_bound = ("repository", "api", "token", "name", "assets", "tag")
    publishes = True
    config_model: ClassVar[type[GithubConfig]] = GithubConfig

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, GithubConfig)
        prerelease = bool(re.search(r"[a-zA-Z]", release.version))
        return {"release": release.version, "repository": config.repository, "api": config.api,
                "token": config.token, "tag": release.tag,
                "name": fill(config.name, release, where=f"{node.address}.name"),
                "body": release.notes or release.changelog or "",
                "prerelease": prerelease, "latest": config.latest and not prerelease,
                "assets": list(config.assets)}

    def links(self, node: Node, release: Release) -> list[tuple[str, str]]:
        config = node.config
        assert isinstance(config, GithubConfig)
        api = config.api.rstrip("/")
        site = "https://github.com" if api == "https://api.github.com" else \
            api.removesuffix("/api/v3")  # GitHub Enterprise: https://HOST/api/v3
        return [("Release notes", f"{site}/{config.repository}/releases/tag/{release.tag}")]

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes | None:
        return None  # reading needs the token, which plan does not load

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        return self.done_for_release(node, desired, recorded) or self.change(
            node, "create", after=desired, unknown=["id", "url"],
            reason="updates the release for the tag if one exists")

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        after = change.after
        if change.action == "update":
            return self._make_latest(change, ctx)
        fields = {"tag_name": after["tag"], "name": mask(after["name"]),  # it leaves Scalpel
                  "body": mask(after["body"]),
                  "prerelease": after["prerelease"],
                  "make_latest": "true" if after["latest"] else "false"}
        with _Api(after, ctx) as api:
            found = api.release_for(after["tag"])
            if found is None:
                found = api.call("POST", "/releases", json=fields, idempotent=False,
                                 happened=lambda: api.release_for(after["tag"]) is not None
                                 ).json()
            else:
                found = api.call("PATCH", f"/releases/{found['id']}", json=fields).json()
            assert found is not None
            assets = api.upload_assets(found, self._asset_paths(ctx.release.repo, after))
        return {"release": after["release"], "repository": after["repository"],
                "api": after["api"], "token": after["token"],  # the reference, never a value
                "tag": after["tag"], "id": found["id"],
                "url": found.get("html_url", ""), "prerelease": after["prerelease"],
                "latest": after["latest"], "assets": assets}

    def revert(self, address: str, recorded: Attributes) -> Change | None:
        """The point's GitHub release is made "latest" again (the newer one stays, no longer
        latest)."""
        if recorded.get("prerelease"):
            return None
        return Change(address=address, provider=self.name, action="update", before={},
                      after={**recorded, "latest": True},
                      reason=f"makes the GitHub release {recorded.get('tag')} latest again")

    def by_hand(self, address: str, current: Attributes) -> str | None:
        return (f"the GitHub release {current.get('tag')} stays (no longer latest); delete "
                "it by hand if it must go")

    def _make_latest(self, change: Change, ctx: StepContext) -> Attributes:
        after = change.after
        with _Api(after, ctx) as api:
            found = api.release_for(after["tag"])
            if found is None:
                raise ProviderError(f"{change.address}: the GitHub release {after['tag']} is "
                                    "gone; nothing to make latest",
                                    hint="recreate it, or roll back to another point")
            api.call("PATCH", f"/releases/{found['id']}", json={"make_latest": "true"})
        return {**after, "id": found["id"]}

    @staticmethod
    def _asset_paths(repo: Path, after: Attributes) -> list[Path]:
        matched = {pattern: glob_inside(repo, pattern, what="github: the asset pattern")
                   for pattern in after["assets"]}
        paths = [path for found in matched.values() for path in found]
        missing = [pattern for pattern, found in matched.items() if not found]
        if missing:
            raise ProviderError(f"github: no file matches {', '.join(missing)}",
                                hint="check the build stage's output")
        return paths


class _Api:
    """The few GitHub REST calls a release needs, through the one HTTP layer; it owns its
    Http, which ``with _Api(...) as api:`` closes on the way out."""

    def __init__(self, attrs: Attributes, ctx: StepContext) -> None:
        token_ref = attrs.get("token")
        secret = ctx.secrets.credential_name(token_ref, DEFAULT_TOKEN)
        token = ctx.secrets.credential(token_ref, DEFAULT_TOKEN)
        self.base = f"{attrs['api'].rstrip('/')}/repos/{attrs['repository']}"
        self.headers = {**API_VERSION, "Authorization": f"Bearer {token}"}
        self.http = Http(f"GitHub ({attrs['repository']})", secret)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = path if path.startswith("http") else self.base + path
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def release_for(self, tag: str) -> dict[str, Any] | None:
        response = self.call("GET", f"/releases/tags/{tag}", ok=(404,))
        return None if response.status_code == 404 else dict(response.json())

    def upload_assets(self, release: dict[str, Any], paths: list[Path]) -> dict[str, int]:
        have = {a["name"]: a for a in self.call("GET", f"/releases/{release['id']}/assets")
                .json()}
        upload_url = release["upload_url"].split("{", 1)[0]
        for path in paths:
            existing = have.get(path.name)
            if existing and existing.get("size") == path.stat().st_size:
                continue  # uploaded by an earlier, interrupted apply
            if existing:
                self.call("DELETE", f"/releases/assets/{existing['id']}", ok=(404,))
            data = path.read_bytes()
            self.call("POST", upload_url, params={"name": path.name}, content=data,
                      headers={"Content-Type": "application/octet-stream"},
                      idempotent=False, happened=lambda p=path: p.name in self._names(release))
        return {p.name: p.stat().st_size for p in paths}

    def _names(self, release: dict[str, Any]) -> set[str]:
        return {a["name"] for a in self.call("GET", f"/releases/{release['id']}/assets").json()}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
