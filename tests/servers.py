"""Real servers on 127.0.0.1 that tests start and stop themselves."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)  # loopback only
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
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
