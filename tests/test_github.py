"""github provider against a local server that implements the endpoints it calls.

THIS IS A FAKE OF THE GITHUB REST API CONTRACT (releases, release by tag, assets, uploads),
written from GitHub's documentation: no real GitHub can run here. It checks the token, keeps
releases and assets in memory, and answers with the fields the provider reads.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import git
from werkzeug import Request, Response

TOKEN = "ghp_FAKEtokenFAKEtokenFAKEtoken000000"


class FakeGitHub:
    def __init__(self, server) -> None:
        self.server = server
        self.releases: dict[int, dict] = {}
        self.assets: dict[int, list[dict]] = {}
        self.calls: list[tuple[str, str]] = []
        self.next_id = 1
        self.latest: int | None = None
        server.expect_request(re.compile(r"^/(api|uploads)/.*")).respond_with_handler(self)

    def __call__(self, request: Request) -> Response:
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.json({"message": "Bad credentials"}, 401)
        path, method = request.path, request.method
        if m := re.fullmatch(r"/api/repos/acme/widgets/releases/tags/(.+)", path):
            found = [r for r in self.releases.values() if r["tag_name"] == m[1]]
            return self.json(found[0]) if found else self.json({"message": "Not Found"}, 404)
        if path == "/api/repos/acme/widgets/releases" and method == "POST":
            data = json.loads(request.get_data())
            rid, self.next_id = self.next_id, self.next_id + 1
            self.releases[rid] = {**data, "id": rid, "html_url": f"https://github/r/{rid}",
                                  "upload_url": self.server.url_for(
                                      f"/uploads/repos/acme/widgets/releases/{rid}/assets")
                                  + "{?name,label}"}
            self.assets[rid] = []
            if data.get("make_latest", "true") == "true":
                self.latest = rid
            return self.json(self.releases[rid], 201)
        if m := re.fullmatch(r"/api/repos/acme/widgets/releases/(\d+)", path):
            rid = int(m[1])
            if method == "PATCH":
                data = json.loads(request.get_data())
                self.releases[rid].update(data)
                if data.get("make_latest") == "true":
                    self.latest = rid
                return self.json(self.releases[rid])
            if method == "DELETE":
                self.releases.pop(rid)
                return Response(status=204)
        if m := re.fullmatch(r"/api/repos/acme/widgets/releases/(\d+)/assets", path):
            return self.json(self.assets[int(m[1])])
        if m := re.fullmatch(r"/uploads/repos/acme/widgets/releases/(\d+)/assets", path):
            rid, data = int(m[1]), request.get_data()
            asset = {"id": 1000 + len(self.assets[rid]), "name": request.args["name"],
                     "size": len(data)}
            self.assets[rid].append(asset)
            return self.json(asset, 201)
        return self.json({"message": f"fake has no {method} {path}"}, 404)

    def latest_tag(self) -> str | None:
        return self.releases[self.latest]["tag_name"] if self.latest else None

    @staticmethod
    def json(data, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")


SPEC = """
secrets:
  gh: {{env: GH_TOKEN}}
notes: {{template: minimal}}
publish:
  git.tag: {{push: origin}}
  github.release:
    repository: acme/widgets
    api: {api}
    token: "${{secrets.gh}}"
    assets: ["dist/*.whl"]
"""


@pytest.fixture
def github(httpserver):
    return FakeGitHub(httpserver)


@pytest.fixture
def project(repo, httpserver, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    repo.write_spec(SPEC.format(api=httpserver.url_for("/api")))
    (repo.path / ".gitignore").write_text(".scalpel/\ndist/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: ship it")
    (repo.path / "dist").mkdir()
    (repo.path / "dist" / "widgets-0.1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    return repo


def test_the_release_is_created_with_notes_and_assets_once(project, github, cli):
    plan = cli(project.path, "plan")
    assert "github.release will be created" in plan.out and TOKEN not in plan.out
    applied = cli(project.path, "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    (release,) = github.releases.values()
    assert release["tag_name"] == "v0.1.0" and release["make_latest"] == "true"
    assert "feat: ship it" in release["body"] and release["prerelease"] is False
    assert [a["name"] for a in github.assets[release["id"]]] == [
        "widgets-0.1.0-py3-none-any.whl"]
    assert TOKEN not in (project.path / ".scalpel" / "state.json").read_text()
    assert cli(project.path, "plan", "--detailed-exitcode").code == 0


def test_an_existing_release_for_the_tag_is_updated_not_duplicated(project, github, cli):
    github.releases[7] = {"id": 7, "tag_name": "v0.1.0", "name": "draft", "body": "old",
                          "html_url": "https://github/r/7", "upload_url":
                          github.server.url_for("/uploads/repos/acme/widgets/releases/7/assets")
                          + "{?name,label}"}
    github.assets[7] = [{"id": 1, "name": "widgets-0.1.0-py3-none-any.whl", "size": 11}]
    assert cli(project.path, "apply", "--auto-approve").code == 0
    assert list(github.releases) == [7] and github.releases[7]["name"] == "v0.1.0"
    assert len(github.assets[7]) == 1  # the same asset was kept, not uploaded again
    assert ("POST", "/api/repos/acme/widgets/releases") not in github.calls


def test_a_bad_token_names_the_secret_not_the_value(project, github, cli, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", "ghp_wrong_wrong_wrong")
    result = cli(project.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "GitHub (acme/widgets) rejected the credentials (401)" in result.err
    assert "check the secret gh" in result.err and "ghp_wrong_wrong_wrong" not in result.err


def test_rollback_makes_the_earlier_release_latest_again(project, github, cli):
    assert cli(project.path, "apply", "--auto-approve").code == 0
    project.commit("feat: a second feature")
    assert cli(project.path, "apply", "--auto-approve").code == 0
    assert github.latest_tag() == "v0.2.0"
    plan = cli(project.path, "rollback", "--to", "v0.1.0", "--out", "rollback.json")
    assert plan.code == 0, plan.err
    assert "github.release will be updated in place" in plan.out
    assert "makes the GitHub release v0.1.0 latest again" in plan.out
    assert "the GitHub release v0.2.0 stays (no longer latest)" in plan.out
    result = cli(project.path, "apply", "rollback.json")
    assert result.code == 0, result.err
    assert "Rollback complete!" in result.out and "0.1.0 is live again" in result.out
    assert github.latest_tag() == "v0.1.0" and len(github.releases) == 2
    history = cli(project.path, "history", "--json")
    data = json.loads(history.out)
    assert data["live"] == "0.1.0"
    assert [r["status"] for r in data["releases"]] == ["succeeded", "rolled_back"]
