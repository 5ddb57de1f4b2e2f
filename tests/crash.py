"""The crash test's harness: a real release of a small Python library, killed (SIGKILL) after
each journal line and right after each side effect, then resumed with `scalpel apply`.

The release: a test stage; the release commit (pyproject.toml and ``__init__.__version__``
bumped 0.1.0 → 0.2.0, CHANGELOG.md); a build stage that needs the new version (a wheel, an
sdist and an OCI image layout made from what the files say); the tag pushed with the branch,
and a moving ``stable`` tag; PyPI (a real pypiserver), an image (a real docker-registry),
a GitHub release, an email (a real aiosmtpd), a webhook and a console announcement.

THE GITHUB SERVER HERE IS A FAKE OF THE GITHUB REST API CONTRACT (releases, release by tag,
assets, uploads; written from GitHub's documentation, like tests/test_github.py), and the
webhook receiver a fake of the generic webhook contract (POST of JSON, 2xx is delivered).

The servers are shared by every kill point; each kill point releases its own package (its
own name on the index, image repository, GitHub repository, webhook path and email address).
The kill itself: tests/crash_wrapper.py, which wraps the journal, the HTTP layer, the git
push and SMTP in the killed process only.

Used by tests/test_crash.py (a sample of kill points) and benchmarks/crash.py (all of them).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from servers import (  # noqa: E402
    DockerRegistry,
    PyPIServer,
    SmtpServer,
    docker_registry,
    pypiserver,
    smtp_server,
)

WRAPPER = HERE / "crash_wrapper.py"
GH_TOKEN = "ghp_CRASHtokenCRASHtokenCRASH000000"
VERSION = "0.2.0"
TAG = f"v{VERSION}"
ANNOUNCEMENTS = ("email.ops", "webhook.ops", "console.announce")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+00:00",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+00:00",
    "GIT_CONFIG_NOSYSTEM": "1", "SOURCE_DATE_EPOCH": "1795000000",
}

# ------------------------------------------------------------------------------ fakes


class FakeGitHub:
    """A fake of the GitHub REST contract for any owner/name: releases, by tag, assets."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.releases: dict[int, dict[str, Any]] = {}
        self.assets: dict[int, list[dict[str, Any]]] = {}
        self.created: Counter[tuple[str, str]] = Counter()  # (repo, tag) → POSTs that created
        self.uploaded: Counter[tuple[str, str]] = Counter()  # (repo, asset) → uploads
        self.next_id = 1
        self.lock = threading.Lock()
        server.expect_request(re.compile(r"^/(api|uploads)/.*")).respond_with_handler(self)

    def __call__(self, request: Any) -> Any:
        with self.lock:
            return self._answer(request)

    def _answer(self, request: Any) -> Any:
        from werkzeug import Response

        if request.headers.get("Authorization") != f"Bearer {GH_TOKEN}":
            return self.json({"message": "Bad credentials"}, 401)
        path, method = request.path, request.method
        repo = r"/(?P<repo>[\w.-]+/[\w.-]+)/releases"
        if m := re.fullmatch(rf"/api/repos{repo}/tags/(?P<tag>.+)", path):
            found = [r for r in self.releases.values()
                     if r["repo"] == m["repo"] and r["tag_name"] == m["tag"]]
            return self.json(found[0]) if found else self.json({"message": "Not Found"}, 404)
        if (m := re.fullmatch(rf"/api/repos{repo}", path)) and method == "POST":
            data = json.loads(request.get_data())
            rid, self.next_id = self.next_id, self.next_id + 1
            self.releases[rid] = {
                **data, "id": rid, "repo": m["repo"], "html_url": f"https://github/r/{rid}",
                "upload_url": self.server.url_for(f"/uploads/repos/{m['repo']}/releases/{rid}"
                                                  "/assets") + "{?name,label}"}
            self.assets[rid] = []
            self.created[(m["repo"], data["tag_name"])] += 1
            return self.json(self.releases[rid], 201)
        if m := re.fullmatch(rf"/api/repos{repo}/(?P<id>\d+)", path):
            rid = int(m["id"])
            if method == "PATCH":
                self.releases[rid].update(json.loads(request.get_data()))
                return self.json(self.releases[rid])
            if method == "DELETE":
                self.releases.pop(rid)
                return Response(status=204)
        if m := re.fullmatch(rf"/api/repos{repo}/(?P<id>\d+)/assets", path):
            return self.json(self.assets[int(m["id"])])
        if m := re.fullmatch(rf"/uploads/repos{repo}/(?P<id>\d+)/assets", path):
            rid, data = int(m["id"]), request.get_data()
            asset = {"id": 1000 + len(self.assets[rid]), "name": request.args["name"],
                     "size": len(data)}
            self.assets[rid].append(asset)
            self.uploaded[(m["repo"], request.args["name"])] += 1
            return self.json(asset, 201)
        return self.json({"message": f"fake has no {method} {path}"}, 404)

    def release(self, repo: str, tag: str) -> dict[str, Any] | None:
        with self.lock:
            found = [r for r in self.releases.values()
                     if r["repo"] == repo and r["tag_name"] == tag]
            return found[0] if found else None

    @staticmethod
    def json(data: Any, status: int = 200) -> Any:
        from werkzeug import Response

        return Response(json.dumps(data), status=status, content_type="application/json")


class Hooks:
    """A fake of the generic webhook contract: POST /hooks/<name> with JSON, answered 200."""

    def __init__(self, server: Any) -> None:
        self.received: dict[str, list[str | None]] = {}  # name → delivery ids, in order
        self.lock = threading.Lock()
        server.expect_request(re.compile(r"^/hooks/.*"), method="POST") \
            .respond_with_handler(self)

    def __call__(self, request: Any) -> Any:
        from werkzeug import Response

        with self.lock:
            self.received.setdefault(request.path.removeprefix("/hooks/"), []).append(
                request.headers.get("X-Scalpel-Delivery"))
        return Response("ok")


@dataclass
class Servers:
    folder: Path
    pypi: PyPIServer
    registry: DockerRegistry
    smtp: SmtpServer
    http: Any  # pytest_httpserver.HTTPServer
    github: FakeGitHub
    hooks: Hooks
    # False: the build runs before the release commit and takes its version from
    # $SCALPEL_VERSION (what works around the build order of Scalpel before issue 11)
    build_after_commit: bool = True

    def names(self) -> dict[str, str]:
        """host:port → what the trace calls it."""
        return {self.pypi.url.split("/")[2]: "pypi", self.registry.host: "registry",
                f"{self.http.host}:{self.http.port}": "fake"}


@contextmanager
def servers(folder: Path) -> Iterator[Servers]:
    """pypiserver, docker-registry, aiosmtpd and one local HTTP server (the GitHub and webhook
    fakes), on 127.0.0.1, for as long as the block runs."""
    import logging

    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # nor aiosmtpd on killed sessions
    with ExitStack() as stack:
        pypi = stack.enter_context(pypiserver(folder / "pypi"))
        registry = stack.enter_context(docker_registry(folder / "registry"))
        smtp = stack.enter_context(smtp_server(folder / "smtp"))
        http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        http.start()
        stack.callback(http.stop)
        yield Servers(folder, pypi, registry, smtp, http, FakeGitHub(http), Hooks(http))


# ------------------------------------------------------------------------------ the scenario

BUILD = '''\
"""The build: a wheel, an sdist and an OCI image layout of the version the files say
(byte-for-byte the same on every run, like a build with SOURCE_DATE_EPOCH)."""
import gzip, hashlib, io, json, os, pathlib, re, shutil, tarfile, zipfile

text = pathlib.Path("pyproject.toml").read_text()
name = re.search(r'^name = "([^"]+)"', text, re.M)[1]
version = re.search(r'^version = "([^"]+)"', text, re.M)[1]
init = pathlib.Path("src", name, "__init__.py").read_text()
if os.environ.get("CRASH_BUILD_FROM_ENV"):
    version = os.environ["SCALPEL_VERSION"]
    init = init.replace(re.search(r'"(.*)"', init)[1], version)
assert f'__version__ = "{version}"' in init, f"__init__.py does not say {version}"
meta = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
dist = pathlib.Path("dist")
dist.mkdir(exist_ok=True)
with zipfile.ZipFile(dist / f"{name}-{version}-py3-none-any.whl", "w") as zf:
    for arcname, data in {f"{name}-{version}.dist-info/METADATA": meta,
                          f"{name}/__init__.py": init}.items():
        zf.writestr(zipfile.ZipInfo(arcname, (1980, 1, 1, 0, 0, 0)), data)


def tar(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for arcname, data in files.items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return raw.getvalue()


(dist / f"{name}-{version}.tar.gz").write_bytes(gzip.compress(
    tar({f"{name}-{version}/PKG-INFO": meta.encode(),
         f"{name}-{version}/src/{name}/__init__.py": init.encode()}), mtime=0))

image = pathlib.Path("build", "image")
shutil.rmtree(image, ignore_errors=True)
blobs = image / "blobs" / "sha256"
blobs.mkdir(parents=True)


def put(data):
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


layer_tar = tar({"app/VERSION": version.encode() + b"\\n"})
layer, layer_size = put(gzip.compress(layer_tar, mtime=0))
config = {"architecture": "amd64", "os": "linux", "config": {},
          "rootfs": {"type": "layers",
                     "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]}}
config_digest, config_size = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer, "size": layer_size}]}
digest, size = put(json.dumps(manifest).encode())
(image / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
(image / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
    "size": size, "annotations": {"org.opencontainers.image.ref.name": version}}]}))
print(f"built {name} {version}")
'''

SPEC = """\
project: {{name: {name}}}
secrets:
  index_password: {{env: INDEX_PASSWORD}}
  registry_password: {{env: REGISTRY_PASSWORD}}
  gh: {{env: GH_TOKEN}}
  smtp: {{env: SMTP_PW}}
version:
  files: [pyproject.toml, src/{name}/__init__.py]
changelog: {{file: CHANGELOG.md}}
stages:
  test: {{run: "python -c 'import sys; sys.path.insert(0, \\"src\\"); import {name}'"}}
  build: {{run: python tools/build.py, needs: [{build_needs}]}}
publish:
  git.tag: {{push: origin, moving: [stable]}}
  pypi.{name}:
    repository: {pypi}
    username: uploader
    password: "${{secrets.index_password}}"
    files: "dist/*"
  docker.app:
    image: {registry}/acme/{name}
    source: build/image
    tags: ["{{version}}", latest]
    username: pusher
    password: "${{secrets.registry_password}}"
  github.release:
    repository: acme/{name}
    api: {api}
    token: "${{secrets.gh}}"
    assets: ["dist/*.whl"]
notify:
  email.ops:
    host: 127.0.0.1
    port: {smtp_port}
    security: starttls
    username: mailer
    password: "${{secrets.smtp}}"
    from: releases@acme.test
    to: [ops@{name}.test]
    ca_file: {ca}
  webhook.ops: {{url: "{hook}"}}
  console.announce: {{message: "{{project}} {{version}} is out ({{tag}})"}}
"""


def git(cwd: Path, *args: str, home: Path, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=env_for(home), check=False)
    if check and done.returncode:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {done.stderr}")
    return done.stdout.strip()


def env_for(folder: Path, servers: Servers | None = None) -> dict[str, str]:
    """The environment of every process of one kill point: pinned git, its own HOME."""
    home = folder / "home"
    if not home.exists():
        home.mkdir(parents=True)
        (home / ".gitconfig").write_text(
            "[init]\n\tdefaultBranch = main\n[tag]\n\tgpgSign = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SCALPEL_"))}
    env.update(GIT_ENV, HOME=str(home), PYTHONUNBUFFERED="1", NO_COLOR="1", TERM="dumb")
    env.pop("GITHUB_ACTIONS", None)
    if servers is not None:
        if not servers.build_after_commit:
            env["CRASH_BUILD_FROM_ENV"] = "1"
        env.update(INDEX_PASSWORD=servers.pypi.password,
                   REGISTRY_PASSWORD=servers.registry.password, GH_TOKEN=GH_TOKEN,
                   SMTP_PW=servers.smtp.password,
                   SCALPEL_CRASH_NAMES=json.dumps(servers.names()))
    return env


def scenario(folder: Path, servers: Servers, name: str) -> Path:
    """A library at 0.1.0 (tagged v0.1.0 on origin), a feature since: the release is 0.2.0."""
    folder.mkdir(parents=True)
    remote, work = folder / "origin.git", folder / "work"
    git(folder, "init", "-q", "--bare", str(remote), home=folder)
    work.mkdir()
    git(work, "init", "-q", "-b", "main", home=folder)
    git(work, "remote", "add", "origin", str(remote), home=folder)
    (work / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n')
    (work / "src" / name).mkdir(parents=True)
    (work / "src" / name / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (work / ".gitignore").write_text(".scalpel/\ndist/\nbuild/\n")
    git(work, "add", ".", home=folder)
    git(work, "commit", "-qm", "feat: the first version", home=folder)
    git(work, "tag", "-a", "v0.1.0", "-m", "Release 0.1.0", home=folder)
    (work / "tools").mkdir()
    (work / "tools" / "build.py").write_text(BUILD)
    (work / "src" / name / "greet.py").write_text("def hello():\n    return 'hello'\n")
    (work / "release.yml").write_text(SPEC.format(
        name=name, pypi=servers.pypi.url, registry=servers.registry.host,
        api=servers.http.url_for("/api"), smtp_port=servers.smtp.port,
        ca=servers.smtp.ca_file, hook=servers.http.url_for(f"/hooks/{name}"),
        build_needs="stage.test, git.commit" if servers.build_after_commit else "stage.test"))
    git(work, "add", ".", home=folder)
    git(work, "commit", "-qm", "feat: say hello", home=folder)
    git(work, "push", "-q", "origin", "main", "v0.1.0", home=folder)
    return work


# ------------------------------------------------------------------------------ one kill point


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str


def scalpel(work: Path, servers: Servers, *args: str, at: str = "",
            trace: Path | None = None, timeout: float = 180) -> Run:
    env = env_for(work.parent, servers)
    env["SCALPEL_CRASH_AT"] = at
    if trace is not None:
        env["SCALPEL_CRASH_TRACE"] = str(trace)
    try:
        done = subprocess.run([sys.executable, str(WRAPPER), *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return Run(args, -999, _text(exc.stdout), _text(exc.stderr) + "\n(timed out)")
    return Run(args, done.returncode, done.stdout, done.stderr)


def _text(data: Any) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


@dataclass
class Outcome:
    point: str  # line:N or effect:KIND:N
    label: str  # what the probe saw there
    name: str  # the package this kill point released
    killed: bool = False  # the point was reached (the first apply died of SIGKILL)
    failures: list[str] = field(default_factory=list)  # invariants that do not hold
    twice: list[str] = field(default_factory=list)  # side effects done more than once
    lost: list[str] = field(default_factory=list)  # announcements lost without a warning
    warned: list[str] = field(default_factory=list)  # not delivered, with "may have gone out"
    repeated: list[str] = field(default_factory=list)  # idempotent writes done again (no harm)
    runs: list[Run] = field(default_factory=list, repr=False)

    @property
    def correct(self) -> bool:
        return not (self.failures or self.twice or self.lost)

    def explain(self) -> str:
        head = f"{self.point} ({self.label}){'' if self.killed else ' [not reached]'}"
        problems = self.failures + [f"twice: {t}" for t in self.twice] + \
            [f"lost silently: {a}" for a in self.lost]
        return head + ("\n    " + "\n    ".join(problems) if problems else ": ok")


def try_point(servers: Servers, folder: Path, name: str, point: str, label: str = ""
              ) -> Outcome:
    """Release ``name`` in a fresh copy of the scenario, killed at ``point``; resume with
    `scalpel apply --auto-approve` (a second time if the first resume fails); check."""
    work = scenario(folder / name, servers, name)
    trace = folder / name / "trace.jsonl"
    outcome = Outcome(point, label, name)
    first = scalpel(work, servers, "apply", "--auto-approve", at=point, trace=trace)
    outcome.runs.append(first)
    outcome.killed = first.code == -9
    resumed = scalpel(work, servers, "apply", "--auto-approve", trace=trace)
    outcome.runs.append(resumed)
    if resumed.code != 0:
        resumed = scalpel(work, servers, "apply", "--auto-approve", trace=trace)
        outcome.runs.append(resumed)
    if resumed.code != 0:
        outcome.failures.append(f"the {'resumed ' if point else ''}apply exits {resumed.code}: "
                                f"{_last_lines(resumed.err or resumed.out)}")
    plan = scalpel(work, servers, "plan", "--detailed-exitcode", trace=trace)
    outcome.runs.append(plan)
    if plan.code != 0:
        outcome.failures.append(f"`plan --detailed-exitcode` exits {plan.code} afterwards: "
                                f"{_last_lines(plan.err or plan.out)}")
    check(servers, work, name, trace, outcome)
    return outcome


def _last_lines(text: str, n: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def check(servers: Servers, work: Path, name: str, trace: Path, outcome: Outcome) -> None:
    """The invariants of a finished release, and how often each side effect happened."""
    fail = outcome.failures.append
    remote = work.parent / "origin.git"

    def at_origin(*args: str) -> str:
        return git(remote, *args, home=work.parent, check=False)

    tagged = at_origin("rev-parse", "-q", "--verify", f"refs/tags/{TAG}^{{commit}}")
    if not tagged:
        fail(f"{TAG} is not on origin")
    else:
        if subprocess.run(["git", "merge-base", "--is-ancestor", tagged, "refs/heads/main"],
                          cwd=remote, capture_output=True).returncode:
            fail(f"{TAG} on origin is at {tagged[:12]}, which origin's main does not contain")
        files = {"pyproject.toml": f'version = "{VERSION}"',
                 f"src/{name}/__init__.py": f'__version__ = "{VERSION}"',
                 "CHANGELOG.md": VERSION}
        for path, expected in files.items():
            text = at_origin("show", f"{TAG}:{path}")
            if expected not in text:
                fail(f"{TAG}'s {path} does not say {expected!r}"
                     + ("" if text else " (not in the tagged tree)"))
        stable = at_origin("rev-parse", "-q", "--verify", "refs/tags/stable^{commit}")
        if stable != tagged:
            fail(f"stable on origin is at {stable[:12] or 'nothing'}, not at {TAG}")
    dirty = git(work, "status", "--porcelain", home=work.parent, check=False)
    if dirty:
        fail(f"the work tree is not clean: {' '.join(dirty.split())[:120]}")

    on_index = sorted(p.name for p in servers.pypi.packages.glob(f"{name}-*"))
    expected_files = [f"{name}-{VERSION}-py3-none-any.whl", f"{name}-{VERSION}.tar.gz"]
    if on_index != expected_files:
        fail(f"the index has {on_index or 'nothing'} for {name}, not {expected_files}")
    wheel = servers.pypi.packages / expected_files[0]
    if wheel.exists():
        import zipfile

        with zipfile.ZipFile(wheel) as zf:
            metadata = zf.read(f"{name}-{VERSION}.dist-info/METADATA").decode()
            code = zf.read(f"{name}/__init__.py").decode()
        if f"Version: {VERSION}\n" not in metadata or f'"{VERSION}"' not in code:
            fail(f"the wheel on the index is not of {VERSION} inside: {metadata.split()[-1]}")
    for tag in (VERSION, "latest"):
        if not registry_has(servers.registry, f"acme/{name}", tag):
            fail(f"the registry has no acme/{name}:{tag}")
    release = servers.github.release(f"acme/{name}", TAG)
    if release is None:
        fail(f"no GitHub release for {TAG} in acme/{name}")
    else:
        assets = [a["name"] for a in servers.github.assets.get(release["id"], [])]
        if assets != [expected_files[0]]:
            fail(f"the GitHub release's assets are {assets}, not {[expected_files[0]]}")

    effects = [e for e in _read(trace) if "effect" in e]
    for file, n in Counter(e.get("file") for e in effects
                           if e["effect"] == "pypi POST upload" and e["status"] < 300).items():
        if n > 1:
            outcome.twice.append(f"{file} uploaded {n} times")
    for path, n in Counter(e["path"] for e in effects if e["effect"] == "registry PUT manifest"
                           and e["status"] < 300 and e["path"].endswith(f"/{VERSION}")).items():
        if n > 1:  # the same bytes under the same tag: the registry does not change
            outcome.repeated.append(f"the manifest of {VERSION} PUT {n} times ({path})")
    if (n := servers.github.created[(f"acme/{name}", TAG)]) > 1:
        outcome.twice.append(f"the GitHub release created {n} times")
    for (repo, asset), n in servers.github.uploaded.items():
        if repo == f"acme/{name}" and n > 1:
            outcome.twice.append(f"the GitHub asset {asset} uploaded {n} times")

    said = "\n".join(r.out + "\n" + r.err for r in outcome.runs)
    delivered = {
        "email.ops": sum(1 for m in list(servers.smtp.messages)
                         if f"ops@{name}.test" in m.rcpt_tos),
        "webhook.ops": len(servers.hooks.received.get(name, [])),
        "console.announce": said.count(f"{name} {VERSION} is out ({TAG})  (console.announce)"),
    }
    for address, n in delivered.items():
        if n > 1:
            outcome.twice.append(f"{address} delivered {n} times")
        elif n == 0:
            (outcome.warned if _warned(said, address) else outcome.lost).append(address)


def _warned(text: str, address: str) -> bool:
    """Some output says ``address`` may have gone out: the announcement named last before
    a "may have gone out" (within 200 characters; lines joined, as a terminal may wrap)."""
    flat = " ".join(text.split())
    names = re.compile("|".join(re.escape(a) for a in ANNOUNCEMENTS))
    for found in re.finditer("may have gone out", flat):
        named = names.findall(flat[max(0, found.start() - 200):found.start()])
        if named and named[-1] == address:
            return True
    return False


def registry_has(registry: DockerRegistry, repository: str, tag: str) -> bool:
    auth = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
    request = urllib.request.Request(
        f"http://{registry.host}/v2/{repository}/manifests/{tag}", method="HEAD",
        headers={"Authorization": f"Basic {auth}",
                 "Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        urllib.request.urlopen(request, timeout=10).close()  # loopback only
        return True
    except urllib.error.HTTPError as exc:
        exc.close()
        return False


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


# ------------------------------------------------------------------------------ the sweep


@dataclass
class Probe:
    """The release without a kill: what it journaled and did, in order; and its outcome."""

    outcome: Outcome
    points: list[tuple[str, str]]  # (kill point, what happened there)


def probe(servers: Servers, folder: Path) -> Probe:
    """Release once without killing: the kill points are its journal lines and effects."""
    outcome = try_point(servers, folder, "probe", "", "no kill")
    apply_pid = None
    points: list[tuple[str, str]] = []
    for event in _read(folder / "probe" / "trace.jsonl"):
        apply_pid = apply_pid or event["pid"]
        if event["pid"] != apply_pid:
            break  # the first process is the release; the rest are the checks after it
        if "line" in event:
            what = " ".join(str(event[k]) for k in ("event", "address", "status") if event[k])
            points.append((f"line:{event['line']}", what))
        elif event["effect"] != "pypi POST check":  # plan's credential check changes nothing
            points.append((f"effect:{event['effect']}:{event['n']}",
                           f"after {event['effect']} #{event['n']}"
                           + (f" {event['file']}" if event.get("file") else "")
                           + (f" {event['path']}" if "manifest" in event["effect"] else "")
                           + (f" {' '.join(event['args'])[:60]}" if event.get("args") else "")))
    return Probe(outcome, points)


KEPT = re.compile(r"\b(git\.commit|git\.tag|" + "|".join(map(re.escape, ANNOUNCEMENTS)) + r")\b")


def sample(points: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A deterministic subset: the first line of each journal event kind, every line of the
    release commit, the tag and the announcements, and the first of each side effect kind."""
    chosen, seen = [], set()
    for point, what in points:
        event = what.split(" ")[0]
        if point.startswith("line:"):
            key = what if KEPT.search(what) else event
        else:
            key = point.rsplit(":", 1)[0]
        if key not in seen:
            seen.add(key)
            chosen.append((point, what))
    return chosen


def sweep(servers: Servers, folder: Path, points: list[tuple[str, str]], workers: int = 3
          ) -> list[Outcome]:
    """Every point in its own copy of the scenario, ``workers`` at a time."""
    def one(item: tuple[int, tuple[str, str]]) -> Outcome:
        i, (point, what) = item
        return try_point(servers, folder, f"k{i:03d}", point, what)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, enumerate(points)))


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    tried = len(outcomes)
    correct = sum(o.correct for o in outcomes)
    return {"kill points tried": tried,
            "kill points reached": sum(o.killed for o in outcomes),
            "finished correctly": correct,
            "% finished correctly": round(100 * correct / tried, 1) if tried else 0.0,
            "side effects done twice": sum(len(o.twice) for o in outcomes),
            "announcements lost without a warning": sum(len(o.lost) for o in outcomes),
            "announcements not sent, with a warning": sum(len(o.warned) for o in outcomes),
            "idempotent writes repeated": sum(len(o.repeated) for o in outcomes)}


def summary(outcomes: list[Outcome], probe: Probe | None = None) -> str:
    """The figures and, for each kill point that did not end right, what went wrong."""
    lines = ["crash test: kill -9, then `scalpel apply --auto-approve`"]
    if probe is not None:
        lines.append("  the release without a kill:" + probe.outcome.explain().split(
            "(no kill)", 1)[1].replace(" [not reached]", ""))
    lines += [f"  {k}: {v}" for k, v in figures(outcomes).items()]
    failing = [o for o in outcomes if not o.correct]
    if failing:
        lines.append("kill points that did not end right:")
        lines += ["  " + o.explain() for o in failing]
    return "\n".join(lines)
