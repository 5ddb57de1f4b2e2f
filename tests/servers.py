"""Real servers on 127.0.0.1 that tests start and stop themselves."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20.0, answers: tuple[int, ...] = ()) -> None:
    """Wait until ``url`` answers 2xx (or one of ``answers``, e.g. 401 for "auth needed")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()  # loopback only
            return
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in answers:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not come up in {timeout:g} s")
        time.sleep(0.05)


@dataclass
class PyPIServer:
    url: str  # the upload URL (also the root of the simple index)
    user: str
    password: str
    packages: Path


@contextmanager
def pypiserver(folder: Path, user: str = "uploader", password: str = "s3cret-pw"
               ) -> Iterator[PyPIServer]:
    """pypiserver with htpasswd auth for uploads (see ../shared/notes/real-servers.md)."""
    from passlib.apache import HtpasswdFile

    binary = shutil.which("pypi-server")
    assert binary, "pypiserver is a test dependency: scripts/test installs it"
    packages = folder / "packages"
    packages.mkdir(parents=True)
    htpasswd = HtpasswdFile(str(folder / "htpasswd"), new=True, default_scheme="apr_md5_crypt")
    htpasswd.set_password(user, password)
    htpasswd.save()
    port = free_port()
    proc = subprocess.Popen(
        [binary, "run", "-i", "127.0.0.1", "-p", str(port), "-P", str(folder / "htpasswd"),
         "-a", "update", "--disable-fallback", "--log-file", str(folder / "server.log"),
         str(packages)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health")
        yield PyPIServer(f"http://127.0.0.1:{port}/", user, password, packages)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class DockerRegistry:
    host: str  # 127.0.0.1:PORT
    user: str
    password: str
    storage: Path


@contextmanager
def docker_registry(folder: Path, user: str = "pusher", password: str = "r3gistry-pw"
                    ) -> Iterator[DockerRegistry]:
    """Debian's docker-registry (CNCF distribution) with htpasswd auth, never the packaged
    config (it listens on all interfaces)."""
    import bcrypt

    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is a test dependency: scripts/test installs it"
    folder.mkdir(parents=True)
    (folder / "htpasswd").write_bytes(
        user.encode() + b":" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)) + b"\n")
    port = free_port()
    (folder / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'storage'}}}, "
        "delete: {enabled: true}}\n"
        f'http: {{addr: "127.0.0.1:{port}", secret: test-only}}\n'
        f"auth: {{htpasswd: {{realm: test, path: {folder / 'htpasswd'}}}}}\n")
    proc = subprocess.Popen([binary, "serve", str(folder / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/v2/", answers=(401,))
        yield DockerRegistry(f"127.0.0.1:{port}", user, password, folder / "storage")
    finally:
        proc.terminate()
        proc.wait(10)


def oci_layout(folder: Path, files: dict[str, bytes], tag: str = "latest") -> Path:
    """A one-layer OCI image layout, written the way buildx/podman/kaniko write one."""
    import gzip
    import hashlib
    import io
    import json
    import tarfile

    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> tuple[str, int]:
        hexdigest = hashlib.sha256(data).hexdigest()
        (blobs / hexdigest).write_bytes(data)
        return f"sha256:{hexdigest}", len(data)

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer, layer_size = put(gzip.compress(raw.getvalue(), mtime=0))
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}
    config_digest, config_size = put(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": layer, "size": layer_size}]}
    manifest_digest, manifest_size = put(json.dumps(manifest).encode())
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return folder


@dataclass
class SmtpServer:
    host: str
    port: int
    user: str
    password: str
    ca_file: Path  # the CA that signed the server's certificate
    messages: list  # aiosmtpd envelopes, in arrival order
    logins: list  # (user, password ok?) per AUTH attempt


@contextmanager
def smtp_server(folder: Path, *, implicit_tls: bool = False, user: str = "mailer",
                password: str = "m4il-pw") -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 with a certificate from a throwaway CA (trustme): STARTTLS
    offered (or implicit TLS), AUTH required and only after TLS."""
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    import ssl

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    messages: list = []
    logins: list = []

    class Capture:
        async def handle_DATA(self, server, session, envelope):
            messages.append(envelope)
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login.decode() == user \
            and data.password.decode() == password
        logins.append((data.login.decode() if isinstance(data, LoginPassword) else None, ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    port = free_port()
    tls = {"ssl_context": server_context} if implicit_tls else {
        "tls_context": server_context, "require_starttls": True}
    # aiosmtpd offers AUTH after STARTTLS only; on an implicit-TLS socket it does not know the
    # session is encrypted, so there "AUTH only over TLS" is switched off (its warning is
    # ignored in pyproject.toml)
    controller = Controller(Capture(), hostname="127.0.0.1", port=port,
                            authenticator=authenticate, auth_required=True,
                            auth_require_tls=not implicit_tls, **tls)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, user, password, folder / "ca.pem", messages, logins)
    finally:
        controller.stop()


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1. Over TCP it asks for a password (scram):
    ``user`` with ``password``; its superuser `postgres` enters by its unix socket only."""

    host: str
    port: int
    user: str
    password: str
    folder: Path  # the cluster's data, log and unix socket

    def url(self, database: str, password: str | None = None) -> str:
        login = f"{self.user}:{password}" if password else self.user
        return f"postgresql://{login}@{self.host}:{self.port}/{database}"

    def admin(self) -> Any:
        """A connection of the superuser (by the socket), autocommit."""
        import psycopg

        return psycopg.connect(host=str(self.folder), port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def new_database(self) -> str:
        """A new, empty database of ``user``'s; its URL, without the password."""
        import uuid

        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        return self.url(name)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    which = shutil.which("initdb")
    binary = found[-1] if found else Path(which) if which else None
    assert binary, "PostgreSQL is a test dependency: scripts/test installs Debian's postgresql"
    return binary.parent


@contextmanager
def postgres_cluster(user: str = "scalpel", password: str = "pg-Secret-4711"
                     ) -> Iterator[PostgresServer]:
    """initdb, pg_ctl start on 127.0.0.1 with its socket in its own folder, then stop and
    remove it (see ../shared/notes/real-servers.md). As root the server runs as `postgres`,
    so the folder is one of /tmp's, owned by it (pytest's 0700 folders are not reachable)."""
    import os
    import tempfile

    binaries = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="scalpel-pg-", dir="/tmp"))
    as_server: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_server, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    data = folder / "data"
    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync")
        with (data / "pg_hba.conf").open("w") as hba:  # the file stays the server's
            hba.write("local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
            "-t", "30", "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200", "start")
        try:
            server = PostgresServer("127.0.0.1", port, user, password, folder)
            with server.admin() as conn:
                conn.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'")
            yield server
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
