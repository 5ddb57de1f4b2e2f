"""pypi: the release's wheels and sdists uploaded to a package index (PyPI, TestPyPI,
pypiserver, devpi, Artifactory: the legacy upload API they all accept).

`read` asks the index's simple API which files of the release exist. A file already there with
the same sha256 is adopted; one with other content is an error (a version can never be
re-uploaded). Uploads run in parallel and cannot be undone.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from email.parser import HeaderParser
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from scalpel_plan.errors import ProviderError, ScalpelError
from scalpel_plan.files import glob_inside
from scalpel_plan.http import Http
from scalpel_plan.providers.base import (
    Attributes,
    Change,
    LiveCache,
    Node,
    Provider,
    Release,
    StepContext,
)
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import InRepository, NodeConfig, SecretRef

PYPI_UPLOAD = "https://upload.pypi.org/legacy/"
DEFAULT_TOKEN = "PYPI_TOKEN"  # the seed's variable, used when no password is declared
HREF = re.compile(r'href="(?P<url>[^"#]*/(?P<file>[^"/#]+))(?:#sha256=(?P<sha>[0-9a-f]{64}))?"')
UPLOAD_WORKERS = 4


class PypiConfig(NodeConfig):
    repository: str = Field(PYPI_UPLOAD, description="The upload URL")
    index: str | None = Field(None, description="The simple index; derived from repository")
    package: str | None = Field(None, description="The distribution name; the project's")
    files: Annotated[str, InRepository(glob=True)] = Field(
        "dist/*", description="Glob of the wheels and sdists, from the repo")
    username: str = "__token__"
    password: SecretRef | None = Field(None, description="e.g. ${secrets.pypi_token}; "
                                       "default $PYPI_TOKEN")


class PypiProvider(Provider):
    name = "pypi"
    spec_bound = ("package", "repository", "index", "pattern", "username", "password")
    publishes = True
    config_model: ClassVar[type[PypiConfig]] = PypiConfig
    reversible = False  # PyPI never takes a version back

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, PypiConfig)
        package = config.package or release.project
        paths = _matching(release.repo, config.files, package, release.version)
        for path in paths:  # pre-flight: built files whose metadata is another release's
            _check_metadata(path, package, release.version)
        files = {p.name: _sha256(p) for p in paths}
        return {"release": release.version, "package": package,
                "repository": config.repository, "index": _index(config),
                "pattern": config.files, "username": config.username,
                "password": config.password, "files": files}

    def links(self, node: Node, release: Release) -> list[tuple[str, str]]:
        config = node.config
        assert isinstance(config, PypiConfig)
        index = _index(config)
        if not index.startswith(("https://pypi.org/", "https://test.pypi.org/")):
            return []  # a private index has no project pages to link to
        site = index.removesuffix("simple/")
        package = _normalize(config.package or release.project)
        return [("PyPI", f"{site}project/{package}/{release.version}/")]

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes | None:
        if desired is None:
            return None
        with Http(f"the index {desired['index']}") as http:
            published = _published(http, desired["index"], desired["package"],
                                   desired["release"])
        if not desired["files"] or set(desired["files"]) - set(published):
            _check_credentials(desired, live.secrets)  # pre-flight: an upload is ahead
        return {"files": published}

    def read_past(self, node: Node, release: Release, live: LiveCache) -> Attributes | None:
        """The release's files on the index, with the sha256 the index gives each."""
        config = node.config
        assert isinstance(config, PypiConfig)
        package, index = config.package or release.project, _index(config)
        with Http(f"the index {index}") as http:
            published = _published(http, index, package, release.version)
        if not published:
            return None
        return {"release": release.version, "package": package,
                "repository": config.repository, "index": index, "files": published}

    def preflight(self, change: Change, upstream: set[str]) -> None:
        after = change.after
        if change.action == "create" and not after["files"] and \
                not any(a.startswith("stage.") for a in upstream):
            raise ProviderError(f"{change.address}: no file matches {after['pattern']} for "
                                f"{after['package']} {after['release']}, and no stage runs "
                                "before it to build them",
                                hint="add `needs: [stage.build]`, or build first")

    def confirm(self, change: Change, release: Release) -> None:
        """Before the push: the build made this release's files, not another version's."""
        after = change.after
        paths = _matching(release.repo, after["pattern"], after["package"], after["release"])
        for path in paths:
            _check_metadata(path, after["package"], after["release"])
        if paths:
            self._confirm_index(change, {p.name: _sha256(p) for p in paths})
            return
        found = glob_inside(release.repo, after["pattern"], what=f"{change.address}: files")
        others = [(p.name, v) for p in found
                  if p.is_file() and (v := _version_of(p.name, after["package"]))]
        if others:
            names = ", ".join(f"{name} ({version})" for name, version in others[:5])
            raise ProviderError(
                f"{change.address}: the build made {names}, but the release is "
                f"{after['package']} {after['release']}; nothing was pushed or uploaded",
                hint="a build that must see the new version runs after the release commit: "
                "give it `needs: [git.commit]`")
        raise ProviderError(f"{change.address}: no file matches {after['pattern']} for "
                            f"{after['package']} {after['release']}; nothing was pushed or "
                            "uploaded", hint="check the build stage's output folder")

    def _confirm_index(self, change: Change, files: dict[str, str]) -> None:
        """The index took no other file of this version since the plan."""
        after = change.after
        with Http(f"the index {after['index']}") as http:
            published = _published(http, after["index"], after["package"], after["release"])
        for name, sha in files.items():
            if published.get(name) not in (None, sha):
                raise ProviderError(
                    f"{change.address}: {name} is on the index with other content since the "
                    "plan; nothing was pushed or uploaded", hint="release a new version")

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        published = (observed or {}).get("files", {})
        for name, sha in desired["files"].items():
            if name in published and published[name] and published[name] != sha:
                raise ProviderError(
                    f"{node.address}: {name}: {desired['release']} is already on the index "
                    "with different content; a version can never be re-uploaded",
                    hint="release a new version")
        if done := self.done_for_release(node, desired, recorded):
            return done
        if not desired["files"]:
            return self.change(node, "create", after=desired, unknown=["files"],
                               reason=f"uploads {desired['pattern']} once the build made them")
        missing = sorted(set(desired["files"]) - set(published))
        if not missing:
            return self.change(node, "adopt", after=desired,
                               reason="every file is already on the index with this content")
        return self.change(node, "create", after=desired,
                           reason=f"uploads {', '.join(missing)}")

    def by_hand(self, address: str, current: Attributes) -> str | None:
        where = (f"https://pypi.org/manage/project/{_normalize(current['package'])}/release/"
                 f"{current['release']}/" if current.get("index", "").startswith(
                     "https://pypi.org") else f"the index ({current.get('repository')})")
        return (f"{current.get('package')} {current.get('release')} stays on the index: a "
                f"version can never be removed or re-uploaded; yank it at {where} so that "
                "installers skip it")

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        after = change.after
        paths = _matching(ctx.release.repo, after["pattern"], after["package"], after["release"])
        if not paths:
            raise ProviderError(f"{change.address}: no file matches {after['pattern']} for "
                                f"{after['package']} {after['release']}",
                                hint="check the build stage's output folder")
        for path in paths:
            _check_metadata(path, after["package"], after["release"])
        secret_name = ctx.secrets.credential_name(after["password"], DEFAULT_TOKEN)
        with Http(f"the index {after['repository']}", secret_name) as http:
            published = _published(http, after["index"], after["package"], after["release"])
            todo = [p for p in paths if published.get(p.name) != _sha256(p)]
            if todo:  # credentials only when something is left to upload
                auth = (after["username"], ctx.secrets.credential(after["password"],
                                                                  DEFAULT_TOKEN))
                with ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
                    list(pool.map(lambda p: _upload(http, after, p, auth, published), todo))
        return {"release": after["release"], "package": after["package"],
                "repository": after["repository"], "index": after["index"],
                "files": {p.name: _sha256(p) for p in paths}}


def _upload(http: Http, after: Attributes, path: Path, auth: tuple[str, str],
            published: dict[str, str | None]) -> None:
    sha = _sha256(path)
    if published.get(path.name) == sha:
        return  # an earlier, interrupted apply uploaded it: adopt
    if path.name in published and published[path.name] is not None:
        raise ProviderError(f"{path.name} is already on the index with different content")
    data = path.read_bytes()
    wheel = path.suffix == ".whl"
    fields = {":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
              "name": after["package"], "version": after["release"],
              "filetype": "bdist_wheel" if wheel else "sdist",
              "pyversion": path.name.split("-")[2] if wheel else "source",
              "sha256_digest": sha, "md5_digest": hashlib.md5(data).hexdigest()}

    def happened() -> bool:
        return path.name in _published(http, after["index"], after["package"], after["release"])

    response = http.request("POST", after["repository"], data=fields,
                            files={"content": (path.name, data)}, auth=auth,
                            idempotent=False, happened=happened, ok=(400, 409))
    if response.status_code in (400, 409):  # "already exists"? adopt only the same content
        now = _published(http, after["index"], after["package"], after["release"])
        if path.name not in now or now[path.name] not in (sha, None):
            raise ProviderError(http.redact(f"{path.name}: the index refused it "
                                            f"({response.status_code}): "
                                            f"{response.text[:200].strip()}"))


def _check_credentials(desired: Attributes, secrets: SecretsManager) -> None:
    """Ask the upload endpoint whether it accepts the credentials, changing nothing: an empty
    upload form is refused with 401/403 for bad credentials (raised here, naming the secret)
    and 400 for good ones, by PyPI, TestPyPI, pypiserver and devpi alike. Skipped when the
    credentials are not set where plan runs (the secret check reports that)."""
    name = secrets.credential_name(desired["password"], DEFAULT_TOKEN)
    try:
        password = secrets.credential(desired["password"], DEFAULT_TOKEN)
    except ScalpelError:
        return
    with Http(f"the index {desired['repository']}", name, attempts=2) as http:
        http.request("POST", desired["repository"], data={":action": "file_upload",
                                                          "protocol_version": "1"},
                     auth=(desired["username"], password), idempotent=True,
                     ok=(400, 404, 405, 410, 422))


def _published(http: Http, index: str, package: str, version: str) -> dict[str, str | None]:
    """filename → sha256 (None when the index does not say) of the version's files."""
    response = http.request("GET", f"{index.rstrip('/')}/{_normalize(package)}/", ok=(404,))
    if response.status_code == 404:
        return {}
    files = {}
    for match in HREF.finditer(response.text):
        name = match["file"]
        if _version_of(name, package) == version:
            files[name] = match["sha"]
    return files


def _matching(repo: Path, pattern: str, package: str, version: str) -> list[Path]:
    found = glob_inside(repo, pattern, what="pypi: files")
    return [p for p in found if p.is_file() and _version_of(p.name, package) == version]


def _version_of(filename: str, package: str) -> str | None:
    """The version in a wheel or sdist filename of ``package`` (None for another package)."""
    stem = filename.removesuffix(".tar.gz").removesuffix(".zip").removesuffix(".whl")
    wanted = _normalize(package)
    for at in (i for i, char in enumerate(stem) if char == "-"):  # names may hold dashes
        if _normalize(stem[:at]) == wanted:
            return stem[at + 1:].split("-")[0] or None
    return None


def _check_metadata(path: Path, package: str, version: str) -> None:
    """Name and Version inside the file must be the release's: a mismatch names the file."""
    text = _metadata_text(path)
    if text is None:
        raise ProviderError(f"{path.name}: no package metadata inside (not a wheel or sdist?)")
    meta = HeaderParser().parsestr(text)
    if _normalize(meta.get("Name", "")) != _normalize(package) or meta.get("Version") != version:
        raise ProviderError(f"{path.name}: its metadata says {meta.get('Name')} "
                            f"{meta.get('Version')}, but the release is {package} {version}",
                            hint="rebuild after the version bump, or fix version.files")


def _metadata_text(path: Path) -> str | None:
    try:
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
                return wheel.read(name).decode(errors="replace")
        with tarfile.open(path) as sdist:
            member = next(m for m in sdist.getmembers() if m.name.count("/") == 1
                          and m.name.endswith("/PKG-INFO"))
            handle = sdist.extractfile(member)
            return handle.read().decode(errors="replace") if handle else None
    except (OSError, StopIteration, zipfile.BadZipFile, tarfile.TarError):
        return None


def _index(config: PypiConfig) -> str:
    if config.index:
        return config.index
    if config.repository.rstrip("/") == PYPI_UPLOAD.rstrip("/"):
        return "https://pypi.org/simple/"
    if "test.pypi.org" in config.repository:
        return "https://test.pypi.org/simple/"
    return config.repository.rstrip("/") + "/simple/"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
