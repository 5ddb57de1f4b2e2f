"""Nothing outside the repository: every file release.yml names is checked at validate (with its
place in release.yml) and again where it is read or written; real files, real symbolic links,
real git repositories with a bare `origin`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import git

from scalpel_plan.errors import ScalpelError

TAG = "publish:\n  git.tag: {push: origin}\n"


@pytest.fixture
def outside(repo) -> Path:
    """A file beside the work tree (not in it) that a release must never touch."""
    path = repo.path.parent / "outside.txt"
    path.write_text('version = "0.0.0"\n# keep me\n')
    return path


def commit_all(repo, message: str = "chore: project files") -> None:
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-qm", message)


def where(err: str, text: str) -> tuple[int, int]:
    """The line and column the diagnostic that mentions ``text`` gives."""
    for line in err.splitlines():
        if text in line and (found := re.search(r"release\.yml:(\d+):(\d+)", line)):
            return int(found[1]), int(found[2])
    raise AssertionError(f"no position for {text!r} in:\n{err}")


@pytest.mark.parametrize(("spec", "value", "line", "problem"), [
    ("version:\n  files: [../outside.txt]\n", "../outside.txt", 2, "goes up with '..'"),
    ("version:\n  files:\n    - {path: /etc/hostname, pattern: '(?P<version>.+)'}\n",
     "/etc/hostname", 3, "is an absolute path"),
    ("version:\n  files:\n    - {path: .git/config, pattern: 'bare = (?P<version>.+)'}\n",
     ".git/config", 3, "is inside .git/"),
    ("changelog: {file: ../CHANGELOG.md}\n", "../CHANGELOG.md", 1, "goes up with '..'"),
    ("notes: {template: .git/config}\n", ".git/config", 1, "is inside .git/"),
    ("notes: {template: /proc/self/environ}\n", "/proc/self/environ", 1, "is an absolute path"),
    ("publish:\n  pypi.main: {files: '/tmp/*'}\n", "/tmp/*", 2, "is an absolute path"),
    ("publish:\n  github.release:\n    repository: a/b\n    assets: ['../dist/*']\n",
     "../dist/*", 4, "goes up with '..'"),
    ("publish:\n  docker.image: {image: 127.0.0.1:5000/w, source: /var/image.tar}\n",
     "/var/image.tar", 2, "is an absolute path"),
], ids=["version-up", "version-absolute", "version-git", "changelog-up", "template-git",
        "template-proc", "pypi-absolute", "assets-up", "docker-absolute"])
def test_validate_refuses_a_path_out_of_the_repository_where_it_is_written(
        repo, cli, spec, value, line, problem):
    repo.write_spec(spec)
    result = cli(repo.path, "validate")
    assert result.code == 1
    assert f"{value!r} {problem}" in result.err
    assert where(result.err, repr(value))[0] == line
    assert "give a path relative to the repository" in result.err
    assert "Traceback" not in result.err


def test_apply_never_rewrites_a_file_outside_the_repository(repo, cli, outside):
    repo.write_spec("version:\n  files:\n    - {path: ../outside.txt, pattern: "
                    "'version = \"(?P<version>[^\"]+)\"'}\n" + TAG)
    commit_all(repo)
    before = outside.read_bytes()
    for command in (["plan"], ["apply", "--auto-approve"], ["changelog"]):
        result = cli(repo.path, *command)
        assert result.code == 1, command
        assert "'../outside.txt' goes up with '..'" in result.err
    assert outside.read_bytes() == before
    assert repo.remote_tags() == {}


def test_a_symbolic_link_out_of_the_repository_is_refused_at_validate(repo, cli, outside,
                                                                      tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "__init__.py").write_text('__version__ = "0.0.0"\n')
    (repo.path / "CHANGELOG.md").symlink_to(outside)  # the file itself
    (repo.path / "pkg").symlink_to(elsewhere)  # a parent folder
    (repo.path / "conf").symlink_to(repo.path / ".git" / "config")  # into .git/
    repo.write_spec("version:\n  files:\n    - pkg/__init__.py\n"
                    "    - {path: conf, pattern: 'bare = (?P<version>.+)'}\n"
                    "changelog: {}\n" + TAG)
    result = cli(repo.path, "validate")
    assert result.code == 1
    assert "'pkg/__init__.py' leads outside the repository through a symbolic link" \
        in result.err
    assert "'conf' leads into .git/ through a symbolic link" in result.err
    assert "changelog.file: 'CHANGELOG.md' leads outside the repository" in result.err
    assert where(result.err, "pkg/__init__.py") == (3, 7)
    assert "names files outside the repository or in .git/" in result.err


def test_a_link_inside_the_repository_is_followed_and_stays_a_link(repo, cli):
    (repo.path / "docs").mkdir()
    (repo.path / "docs" / "CHANGELOG.md").write_text("# Changelog\n")
    (repo.path / "CHANGELOG.md").symlink_to("docs/CHANGELOG.md")
    repo.write_spec("changelog: {}\n" + TAG)
    commit_all(repo)
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert (repo.path / "CHANGELOG.md").is_symlink()
    assert "## [0.1.0]" in (repo.path / "docs" / "CHANGELOG.md").read_text()


def test_a_link_made_after_validate_is_not_written_through(repo, cli, outside):
    """A stage (which runs before the release commit) swaps CHANGELOG.md and a version file
    for links out of the repository: the release commit refuses, the files outside stay."""
    (repo.path / "CHANGELOG.md").write_text("# Changelog\n")
    (repo.path / "VERSION").write_text('version = "0.0.0"\n')
    target = outside.parent / "changelog-outside.md"
    target.write_text("# not yours\n")
    repo.write_spec(
        "version:\n  files:\n    - {path: VERSION, pattern: 'version = \"(?P<version>[^\"]+)\"'}\n"
        "changelog: {}\n"
        f"stages:\n  swap: {{run: 'ln -sf {target} CHANGELOG.md && ln -sf {outside} VERSION'}}\n"
        + TAG)
    commit_all(repo)
    before = outside.read_bytes()
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1
    assert "git.commit" in result.err and "leads outside the repository" in result.err
    assert target.read_text() == "# not yours\n" and outside.read_bytes() == before
    assert repo.remote_tags() == {}


def test_the_public_plan_never_shows_a_file_the_release_does_not_change(repo, cli,
                                                                         monkeypatch):
    """`plan --format markdown --allow-missing-secrets` is posted on pull requests: neither
    .git/config (where actions/checkout keeps its token) nor /proc/self/environ is shown,
    as a template or through a version-file pattern."""
    git(repo.path, "config", "http.https://github.com/.extraheader",
        "AUTHORIZATION: basic c2VjcmV0LXRva2VuLWNhbmFyeQ==")
    monkeypatch.setenv("CANARY_ENV", "environ-canary-value")
    specs = [
        "notes: {template: .git/config}\n",
        "version:\n  files:\n    - {path: .git/config, pattern: 'extraheader = (?P<version>.+)'}\n",
        "version:\n  files:\n    - {path: /proc/self/environ, pattern: 'CANARY_ENV=(?P<version>"
        "[a-z-]+)'}\n",
        "version:\n  files:\n    - {path: ../work/.git/config, pattern: 'url = (?P<version>.+)'}\n",
    ]
    for spec in specs:
        repo.write_spec(spec + TAG)
        result = cli(repo.path, "plan", "--format", "markdown", "--allow-missing-secrets")
        assert result.code == 1, spec
        shown = result.out + result.err
        for secret in ("c2VjcmV0", "AUTHORIZATION", "repositoryformatversion",
                       "environ-canary-value", str(repo.remote)):
            assert secret not in shown, (spec, secret)


def test_the_plan_never_shows_an_ignored_file_through_a_version_pattern(repo, cli):
    """An ignored file in the work tree (.env) is not the release's to change: its text is
    never read, so a pattern over it shows nothing."""
    repo.write_spec("version:\n  files:\n    - {path: .env, pattern: 'TOKEN=(?P<version>.+)'}\n"
                    + TAG)
    commit_all(repo)
    (repo.path / ".gitignore").write_text(".scalpel/\n.env\n")
    git(repo.path, "commit", "-qam", "chore: ignore .env")
    (repo.path / ".env").write_text("TOKEN=ignored-file-canary-77\n")
    result = cli(repo.path, "plan", "--format", "markdown", "--allow-missing-secrets")
    assert result.code == 1 and "version file .env is not in HEAD" in result.err
    assert "ignored-file-canary-77" not in result.out + result.err


def test_changelog_write_refuses_a_changelog_linked_outside(repo, cli, outside):
    before = outside.read_bytes()
    (repo.path / "CHANGELOG.md").symlink_to(outside)
    repo.write_spec("changelog: {}\n")
    result = cli(repo.path, "changelog", "--write")
    assert result.code == 1 and "leads outside the repository" in result.err
    assert outside.read_bytes() == before


# --- the helpers every reader and writer goes through ----------------------------------------

def test_the_helpers_check_right_before_they_read_or_write(tmp_path):
    from scalpel_plan.files import glob_inside, path_problem, read_inside, write_inside

    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "dist").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read\n")
    (root / "ok.txt").write_text("fine\n")
    assert read_inside(root, "ok.txt", what="file") == b"fine\n"
    assert path_problem(root, "ok.txt") is None and path_problem(root, "new/file") is None

    (root / "late.txt").symlink_to(secret)  # appears after any validate
    with pytest.raises(ScalpelError, match=r"late\.txt leads outside the repository"):
        read_inside(root, "late.txt", what="file")
    with pytest.raises(ScalpelError, match=r"late\.txt leads outside"):
        write_inside(root, "late.txt", b"pwned", what="file")
    assert secret.read_text() == "do not read\n"

    (root / "dist" / "evil.whl").symlink_to(secret)
    (root / "dist" / "good.whl").write_bytes(b"wheel")
    with pytest.raises(ScalpelError, match=r"dist/evil\.whl leads outside"):
        glob_inside(root, "dist/*.whl", what="files")
    (root / "dist" / "evil.whl").unlink()
    assert glob_inside(root, "dist/*.whl", what="files") == [root / "dist" / "good.whl"]
    assert "is inside .git/" in (path_problem(root, ".GIT/config") or "")
    assert "is inside .git/" in (path_problem(root, "sub/.git/config") or "")

    os.mkfifo(root / "pipe")  # reading it would wait for a writer forever
    with pytest.raises(ScalpelError, match="pipe is not a regular file"):
        read_inside(root, "pipe", what="file")
