"""Images as content: read an OCI image layout (a folder or a tarball, as docker buildx,
podman, kaniko and `docker save` write them) and push it through the OCI distribution API.

Blobs the registry has are skipped (HEAD); others are streamed from disk in 1 MiB blocks, so
memory stays flat whatever the layer size. Auth: the registry's Basic challenge, or the Bearer
token flow Docker Hub and ghcr.io use.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

from scalpel_plan import masking
from scalpel_plan.errors import ProviderError
from scalpel_plan.http import Http

BLOCK = 1 << 22
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    open: Callable[[], Any]  # a fresh reader (a context manager) each time: uploads restart


@dataclass(frozen=True)
class Image:
    manifest: bytes
    media_type: str
    blobs: list[Blob]  # config and layers

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


def load_image(path: Path) -> Image:
    """The image in an OCI layout folder, an OCI layout tarball, or a classic `docker save`."""
    try:
        if path.is_dir():
            return _from_layout(lambda name: (path / name).open("rb"))
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
        if "index.json" in names:
            return _from_layout(lambda name: _member(path, name))
        if "manifest.json" in names:
            return _from_docker_save(path)
    except (OSError, tarfile.TarError, KeyError, ValueError, StopIteration) as exc:
        raise ProviderError(f"{path}: not a readable image ({exc})",
                            hint="point `source:` at an OCI layout folder or a `docker save` "
                            "tarball that a build stage writes") from None
    raise ProviderError(f"{path}: neither an OCI layout nor a docker save tarball")


def _member(tar_path: Path, name: str) -> _Closing:
    tar = tarfile.open(tar_path)  # noqa: SIM115 (closed with the member's reader)
    handle = tar.extractfile(name)
    if handle is None:
        raise KeyError(name)
    return _Closing(handle, tar)


class _Closing:
    """A member's reader that also closes its tarball."""

    def __init__(self, handle: IO[bytes], tar: tarfile.TarFile) -> None:
        self._handle, self._tar = handle, tar

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()
        self._tar.close()


def _from_layout(open_file: Callable[[str], Any]) -> Image:
    with open_file("index.json") as fh:
        index = json.loads(fh.read())
    descriptor = index["manifests"][0]
    blob = _blob_path(descriptor["digest"])
    with open_file(blob) as fh:
        manifest = fh.read()
    parsed = json.loads(manifest)
    blobs = [Blob(d["digest"], int(d["size"]), _opener(open_file, _blob_path(d["digest"])))
             for d in [parsed["config"], *parsed.get("layers", [])]]
    return Image(manifest, descriptor.get("mediaType", OCI_MANIFEST), blobs)


def _opener(open_file: Callable[[str], Any], name: str) -> Callable[[], Any]:
    return lambda: open_file(name)


def _from_docker_save(path: Path) -> Image:
    with tarfile.open(path) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        entry = json.loads(handle.read())[0]
        members = {m.name: m for m in tar.getmembers()}
        layers = [(name, members[name].size) for name in entry["Layers"]]
        config_name = entry["Config"]
    blobs = [_hashed(path, name, size) for name, size in
             [(config_name, members[config_name].size), *layers]]
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": blobs[0].digest,
                           "size": blobs[0].size},
                "layers": [{"mediaType": OCI_LAYER_TAR, "digest": b.digest, "size": b.size}
                           for b in blobs[1:]]}
    return Image(json.dumps(manifest, separators=(",", ":")).encode(), OCI_MANIFEST, blobs)


def _hashed(tar_path: Path, name: str, size: int) -> Blob:
    digest = hashlib.sha256()
    with _member(tar_path, name) as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return Blob("sha256:" + digest.hexdigest(), size, lambda: _member(tar_path, name))


def _blob_path(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


class Registry:
    """One repository on an OCI distribution registry. It owns its Http (errors name the
    registry, and ``secret_name`` on a refusal), which ``with Registry(...) as registry:``
    closes on the way out."""

    def __init__(self, image: str, credentials: tuple[str, str] | None,
                 secret_name: str | None = None) -> None:
        host, _, name = image.partition("/")
        local = host.split(":")[0] in ("127.0.0.1", "localhost")
        self.base = f"{'http' if local else 'https'}://{host}/v2/{name}"
        self.name = name
        self.credentials = credentials
        self.http = Http(f"registry {image}", secret_name)
        self._auth: dict[str, str] = {}
        self._negotiating = threading.Lock()  # requests go side by side: one negotiates

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """A request with the registry's auth, negotiated on the first 401."""
        headers = kwargs.pop("headers", {})
        ok = (*kwargs.pop("ok", ()), 401)
        sent = self._auth
        response = self.http.request(method, url, headers={**headers, **sent}, ok=ok,
                                     **kwargs)
        if response.status_code == 401 and self.credentials:
            with self._negotiating:
                if not self._auth:  # (unless a request side by side did meanwhile)
                    self._negotiate(response.headers.get("www-authenticate", ""))
            if self._auth != sent:  # sent before the auth was known: again, with it
                response = self.http.request(method, url, headers={**headers, **self._auth},
                                             ok=ok, **kwargs)
        if response.status_code == 401:
            raise ProviderError(f"{self.http.target} rejected the credentials (401)",
                                hint=f"check the secret {self.http.secret_name}"
                                if self.http.secret_name else "set credentials")
        return response

    def _negotiate(self, challenge: str) -> None:
        import base64

        assert self.credentials is not None
        user, password = self.credentials
        if challenge.lower().startswith("bearer"):
            params = dict(CHALLENGE.findall(challenge))
            realm = params.pop("realm", "")
            token = self.http.request("GET", realm, params=params, auth=(user, password)).json()
            bearer = str(token.get("token") or token["access_token"])
            self._auth = {"Authorization": f"Bearer {bearer}"}
            masking.register(bearer)  # the token is a secret too, though nobody declared it
        else:
            raw = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._auth = {"Authorization": f"Basic {raw}"}

    def manifest_digest(self, tag: str) -> str | None:
        response = self.request("HEAD", f"{self.base}/manifests/{tag}",
                                headers={"Accept": MANIFEST_TYPES}, ok=(404,))
        return None if response.status_code == 404 else \
            response.headers.get("docker-content-digest")

    def has_blob(self, digest: str) -> bool:
        response = self.request("HEAD", f"{self.base}/blobs/{digest}", ok=(404,))
        return bool(response.status_code == 200)

    def upload(self, blob: Blob) -> None:
        """Stream ``blob`` up in one monolithic PUT, restarting the session if it broke."""
        import httpx

        for attempt in range(3):
            started = self.request("POST", f"{self.base}/blobs/uploads/")
            location = httpx.URL(self.base).join(started.headers["location"])
            url = location.copy_merge_params({"digest": blob.digest})  # keeps its _state
            try:  # the body is a stream: never resent as is; a broken upload starts over
                self.request("PUT", str(url), content=_stream(blob), idempotent=False,
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Length": str(blob.size)})
                return
            except ProviderError:
                if self.has_blob(blob.digest):
                    return
                if attempt == 2:
                    raise

    def retag(self, tag: str, digest: str) -> str:
        """Point ``tag`` at the manifest ``digest`` the registry already has."""
        got = self.request("GET", f"{self.base}/manifests/{digest}",
                           headers={"Accept": MANIFEST_TYPES})
        media_type = got.headers.get("content-type", OCI_MANIFEST)
        image = Image(got.content, media_type, [])
        if image.digest != digest:
            raise ProviderError(f"{self.http.target}: the registry returned another manifest "
                                f"for {digest}")
        return self.put_manifest(tag, image)

    def put_manifest(self, tag: str, image: Image) -> str:
        response = self.request("PUT", f"{self.base}/manifests/{tag}", content=image.manifest,
                                headers={"Content-Type": image.media_type})
        return str(response.headers.get("docker-content-digest", image.digest))


def _stream(blob: Blob) -> Iterator[bytes]:
    with blob.open() as fh:
        yield from iter(lambda: fh.read(BLOCK), b"")
