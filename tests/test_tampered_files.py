"""Plan files, state files and crash logs as an attacker or an accident leaves them: damaged or
hostile files are clear errors naming the file (exit 1, the state untouched), values that
would reach git, a path or a URL are checked as a spec's, an apply that does nothing records
nothing, and a crash log is private. Real repositories with a bare `origin`, the real CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import git
from test_preflight import SPEC, seal

from scalpel_plan.state.values import ref_ok


@pytest.fixture
def project(repo):
    """widgets 0.1.0 released by Scalpel, one feature since: the next release is 0.2.0."""
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\nversion = "0.1.0"\n')
    (repo.path / ".gitignore").write_text(".scalpel/\nchecked.txt\nplan.json\n")
    repo.write_spec(SPEC)
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: project files")
    git(repo.path, "push", "-q", "origin", "main")
    return repo


def state_file(repo) -> Path:
    return repo.path / ".scalpel" / "state.json"


# --- damaged files: a clear error naming the file, exit 1, the state untouched ---------------

DAMAGED = {
    "not-utf8": b'{"format_version": 1, "note": "\xff\xfe"}',
    "a-list": b"[1, 2, 3]",
    "deeply-nested": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "not-json": b'{"format_version": 1,\n  "serial": }',
}
SAID = {"not-utf8": "line 1 is not UTF-8 text", "a-list": "a list",
        "deeply-nested": "nested more than 64 levels deep",
        "not-json": "line 2, column 13 is not valid JSON"}


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_a_damaged_plan_file_is_named_and_nothing_happens(project, cli, kind):
    assert cli(project.path, "apply", "--auto-approve").code == 0  # a state to keep intact
    project.commit("feat: more", "more.txt")
    state = state_file(project).read_bytes()
    (project.path / "plan.json").write_bytes(DAMAGED[kind])
    result = cli(project.path, "apply", "plan.json")
    assert result.code == 1
    assert "plan.json is not a Scalpel plan" in result.err and SAID[kind] in result.err
    assert "Traceback" not in result.err and "JSONDecodeError" not in result.err
    assert state_file(project).read_bytes() == state


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_a_damaged_state_file_is_named_and_left_as_it_is(project, cli, kind):
    state_file(project).parent.mkdir()
    state_file(project).write_bytes(DAMAGED[kind])
    for command in (["plan"], ["apply", "--auto-approve"], ["history"]):
        result = cli(project.path, *command)
        assert result.code == 1, command
        assert "state.json is unreadable" in result.err
        assert "state.json.backup" in result.err  # what to do
        assert "Traceback" not in result.err
    assert state_file(project).read_bytes() == DAMAGED[kind]
    assert project.remote_tags() == {}


def test_huge_or_endless_files_are_refused_without_reading_them(project, cli):
    huge = project.path / "plan.json"
    with huge.open("wb") as fh:  # sparse: 300 MiB on no disk
        fh.truncate(300 * 2**20)
    result = cli(project.path, "apply", "plan.json")
    assert result.code == 1 and "plan.json is not a Scalpel plan: it is larger than 256 MiB" \
        in result.err
    result = cli(project.path, "apply", "/dev/zero")
    assert result.code == 1 and "/dev/zero is not a Scalpel plan: it is not a regular file" \
        in result.err
    state_file(project).parent.mkdir()
    os.mkfifo(state_file(project))  # reading it would wait for a writer forever
    result = cli(project.path, "plan")
    assert result.code == 1 and "state.json is unreadable: it is not a regular file" \
        in result.err


# --- values that reach git, a path or a URL --------------------------------------------------

@pytest.mark.parametrize("name", [
    "v1.0.0", "release/1.0", "my_pkg-v1.0.0", "pkg@1.0", "v1+build", "-v1", "v 1", "v1..2",
    "v1.lock", "a/.b", "v1.", "/v1", "v1/", "a//b", "v1@{u}", "@", "v1~1", "v1^", "v1:x",
    "v1?", "v1*", "v1[", "v1\\x", "v\x01", "v1/x.lock", "ünï-1.0",
])
def test_tags_are_checked_by_gits_own_rules(tmp_path, name):
    done = subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"],
                          capture_output=True, cwd=tmp_path)
    assert ref_ok(name) == (done.returncode == 0 and not name.startswith("-"))


def test_a_tag_git_accepts_applies_from_a_saved_plan(project, cli):
    project.write_spec(SPEC.replace("files: [pyproject.toml]",
                                    "files: [pyproject.toml]\n  tag: my_pkg-v{version}"))
    git(project.path, "commit", "-qam", "chore: tag format")
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    applied = cli(project.path, "apply", "plan.json")
    assert applied.code == 0, applied.err
    assert "my_pkg-v0.1.0" in project.remote_tags()


@pytest.mark.parametrize(("edit", "named"), [
    (lambda p: p["release"].update(version="../../outside"), "release.version '../../outside'"),
    (lambda p: _change(p, "git.commit")["after"]["changelog"].update(file="../CHANGELOG.md"),
     "git.commit.changelog.file '../CHANGELOG.md'"),
    (lambda p: _change(p, "git.commit")["after"].update(
        files={".git/config": []}), "git.commit.files '.git/config'"),
    (lambda p: _change(p, "git.tag")["after"].update(tag="v1 --force"),
     "git.tag.tag 'v1 --force'"),
    (lambda p: _change(p, "git.tag")["after"].update(remote="origin\n--upload-pack=x"),
     "git.tag.remote"),
    (lambda p: _change(p, "git.tag")["after"].update(remote="ext::sh -c touch% pwned"),
     "git.tag.remote 'ext::sh -c touch% pwned'"),
    (lambda p: _change(p, "git.tag")["after"].update(remote="fd::3"), "git.tag.remote 'fd::3'"),
], ids=["version", "changelog", "dot-git", "tag", "remote", "ext-remote", "fd-remote"])
def test_a_resealed_plan_with_hostile_values_is_refused(project, cli, edit, named):
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    path = project.path / "plan.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(seal(data)))
    result = cli(project.path, "apply", "plan.json")
    assert result.code == 1 and "holds values no plan can have" in result.err
    assert named in result.err
    assert project.remote_tags() == {} and not (project.path.parent / "outside").exists()
    assert not state_file(project).exists()


def _change(plan: dict, address: str) -> dict:
    return next(c for c in plan["changes"] if c["address"] == address)


def test_a_resealed_plan_without_its_changes_records_no_release(project, cli):
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    path = project.path / "plan.json"
    data = json.loads(path.read_text())
    data["changes"] = []
    path.write_text(json.dumps(seal(data)))
    result = cli(project.path, "apply", "plan.json")
    assert result.code == 1
    assert "the saved plan does not hold the nodes of release.yml: stage.check, git.commit, " \
        "git.tag left out" in result.err
    assert "released" not in result.err + result.out
    assert project.remote_tags() == {} and not state_file(project).exists()


# --- a resealed plan is bound to release.yml: what it fixes is computed again and compared ---

def _stage(plan: dict) -> dict:
    return _change(plan, "stage.check")


@pytest.mark.parametrize(("edit", "key", "address"), [
    (lambda p, m: _stage(p)["after"].update(command=f"touch {m}"), "command", "stage.check"),
    (lambda p, m: _stage(p)["after"].update(command=f"touch {m}", timeout=1e300), "timeout",
     "stage.check"),
    (lambda p, m: _stage(p).update(timeout=1e300), "timeout", "stage.check"),
    (lambda p, m: _stage(p)["after"].update(env={"BASH_ENV": str(m)}), "env", "stage.check"),
    (lambda p, m: _change(p, "git.tag")["after"].update(remote="elsewhere"), "remote",
     "git.tag"),
    (lambda p, m: _change(p, "git.commit")["after"].update(message="chore: other"), "message",
     "git.commit"),
], ids=["command", "after-timeout", "step-timeout", "env", "other-remote",
        "commit-message"])
def test_a_resealed_plan_whose_spec_values_were_edited_is_refused(project, cli, tmp_path,
                                                                  edit, key, address):
    """A digest anyone can recompute seals a plan file: what release.yml fixes of each node is
    computed again at apply, so an edited command never runs and nothing is released."""
    marker = tmp_path / "PWNED"
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    path = project.path / "plan.json"
    data = json.loads(path.read_text())
    edit(data, marker)
    path.write_text(json.dumps(seal(data)))
    result = cli(project.path, "apply", "plan.json", "--auto-approve")
    assert result.code == 1, result.out
    assert f"the saved plan's {key} of {address} is not what release.yml gives: the plan " \
        "was edited" in result.err
    assert "scalpel plan --out FILE" in result.err and "Traceback" not in result.err
    assert not marker.exists() and not (project.path / "checked.txt").exists()
    assert project.remote_tags() == {} and not state_file(project).exists()


def _with_webhook(project, httpserver) -> None:
    url = httpserver.url_for("/team")
    project.write_spec(SPEC + f'notify:\n  webhook.team: {{url: "{url}"}}\n')
    git(project.path, "commit", "-qam", "chore: a webhook")


def test_a_resealed_plan_whose_webhook_url_was_edited_sends_nothing(project, cli, httpserver):
    """pytest-httpserver stands for the webhook receiver and for where an attacker sends it."""
    _with_webhook(project, httpserver)
    httpserver.expect_request("/team", method="POST").respond_with_data("ok")
    httpserver.expect_request("/attacker", method="POST").respond_with_data("ok")
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    path = project.path / "plan.json"
    data = json.loads(path.read_text())
    _change(data, "webhook.team")["after"]["url"] = httpserver.url_for("/attacker")
    path.write_text(json.dumps(seal(data)))
    result = cli(project.path, "apply", "plan.json", "--auto-approve")
    assert result.code == 1
    assert "the saved plan's url of webhook.team is not what release.yml gives" in result.err
    assert httpserver.log == [] and project.remote_tags() == {}


def test_an_unedited_saved_plan_with_a_webhook_applies(project, cli, httpserver):
    _with_webhook(project, httpserver)
    httpserver.expect_request("/team", method="POST").respond_with_data("ok")
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    result = cli(project.path, "apply", "plan.json", "--auto-approve")
    assert result.code == 0, result.err
    assert [r.path for r, _ in httpserver.log] == ["/team"]
    assert "v0.1.0" in project.remote_tags()


@pytest.mark.parametrize(("edit", "named"), [
    (lambda s: s["rollback_points"][0]["resources"]["git.tag"].update(
        remote="--upload-pack=touch pwned"),
     "rollback_points[0].git.tag.remote '--upload-pack=touch pwned'"),
    (lambda s: s["releases"][0].update(version="../../../outside"),
     "releases[0].version '../../../outside'"),
    (lambda s: s.update(active_apply={"id": "x", "journal": "../../../../etc/passwd"}),
     "active_apply.journal '../../../../etc/passwd'"),
    (lambda s: s["resources"]["git.tag"]["attributes"].update(tag="-d"),
     "git.tag.tag '-d'"),
], ids=["remote", "version", "journal", "tag"])
def test_a_state_file_with_hostile_values_is_refused_and_left_as_it_is(repo, cli, edit, named):
    repo.write_spec("publish:\n  git.tag: {push: origin, moving: [stable]}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: more")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    data = json.loads(state_file(repo).read_text())
    edit(data)
    state_file(repo).write_text(json.dumps(data))
    tampered = state_file(repo).read_bytes()
    stable = git(repo.path, "ls-remote", "origin", "refs/tags/stable")
    for command in (["rollback", "--to", "v0.1.0", "--auto-approve"], ["plan"]):
        result = cli(repo.path, *command)
        assert result.code == 1, command
        assert "state.json holds values no state can have" in result.err and named in result.err
    assert not (repo.path / "pwned").exists() and not (repo.path.parent / "outside").exists()
    assert git(repo.path, "ls-remote", "origin", "refs/tags/stable") == stable
    assert state_file(repo).read_bytes() == tampered


def test_a_journal_or_a_lock_file_with_hostile_content_is_refused(repo, cli):
    repo.write_spec("publish:\n  git.tag: {push: origin}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    folder = repo.path / ".scalpel"
    data = json.loads(state_file(repo).read_text())
    apply_id = "20260101T000000-abcdef"
    data["active_apply"] = {"id": apply_id, "journal": f"journal/{apply_id}.jsonl"}
    state_file(repo).write_text(json.dumps(data))
    resource = {"address": "git.tag", "provider": "git", "release": "0.1.0",
                "attributes": {"tag": "v0.1.0", "remote": "--upload-pack=touch pwned"}}
    (folder / "journal" / f"{apply_id}.jsonl").write_text(json.dumps(
        {"seq": 1, "event": "step_done", "address": "git.tag", "resource": resource}) + "\n")
    result = cli(repo.path, "plan")
    assert result.code == 1
    assert f"{apply_id}.jsonl holds values no state can have: git.tag.remote " \
        "'--upload-pack=touch pwned'" in result.err
    (folder / "journal" / f"{apply_id}.jsonl").write_text(
        '{"seq": 1, "event": "release", "record": ' + "[" * 100_000 + "\n")
    assert cli(repo.path, "plan").code == 0  # a torn line: the journal ends before it
    assert not (repo.path / "pwned").exists()

    (folder / "state.lock.json").write_bytes(b"[" * 100_000)  # no holder can be read from it
    result = cli(repo.path, "state", "unlock", "0f9e")
    assert result.code == 1 and "no lock with ID 0f9e" in result.err


# --- an apply that does nothing says so, and records nothing ---------------------------------

def test_an_apply_with_no_step_records_no_release(repo, cli):
    repo.write_spec("project: {name: widgets}\n")  # no stage, nothing to publish
    plan = cli(repo.path, "plan")
    assert plan.code == 0 and "there is no step to carry out, and applying records no release" \
        in plan.out
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "No changes. Nothing was applied and no release recorded: the plan of widgets " \
        "0.1.0 has no step to carry out." in result.err
    assert "Apply complete" not in result.out + result.err
    assert "released" not in result.out + result.err
    state = state_file(repo)
    assert not state.exists() or json.loads(state.read_text())["releases"] == []
    assert cli(repo.path, "history").code in (0, 1)
    assert "widgets (none) → 0.1.0" in cli(repo.path, "plan").out  # still to be released


def test_a_release_whose_steps_an_earlier_apply_did_is_finished_and_says_so(repo, cli,
                                                                             monkeypatch):
    from scalpel_plan import apply

    repo.write_spec("project: {name: widgets}\n" + "publish:\n  git.tag: {push: origin}\n")
    real = apply._ReleaseRun.finish

    def killed(self, *args, **kwargs):  # every step done, the release not recorded yet
        raise KeyboardInterrupt

    monkeypatch.setattr(apply._ReleaseRun, "finish", killed)
    assert cli(repo.path, "apply", "--auto-approve").code == 130
    assert "v0.1.0" in repo.remote_tags()
    monkeypatch.setattr(apply._ReleaseRun, "finish", real)
    plan = cli(repo.path, "plan")
    assert "continues the unfinished release 0.1.0" in plan.out
    assert "Every node is up to date; applying records the release." in plan.out
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    assert "Apply complete! No step was left to do: an earlier apply did them; widgets 0.1.0 " \
        "is recorded as released." in result.out
    assert json.loads(state_file(repo).read_text())["releases"][-1]["status"] == "succeeded"


# --- crash logs ------------------------------------------------------------------------------

@pytest.fixture
def crashing(repo, monkeypatch):
    """`scalpel plan` hits a bug whose message quotes a secret."""
    import scalpel_plan.plan.release

    monkeypatch.setenv("DEPLOY_TOKEN", "crash-canary-4f1b9e")

    token = os.environ["DEPLOY_TOKEN"]  # Scalpel moves it out of os.environ once loaded

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom with {token}")

    monkeypatch.setattr(scalpel_plan.plan.release, "make_plan", broken)
    repo.write_spec("secrets:\n  deploy: {env: DEPLOY_TOKEN}\nstages:\n  test: {run: 'true'}\n")
    return repo


def crash_log(cli, repo) -> Path:
    result = cli(repo.path, "plan")
    assert result.code == 3 and "Traceback" not in result.err
    return Path(" ".join(result.err.split()).split("Details are in ")[1].split(";")[0])


def test_a_crash_log_is_private_masked_and_named_at_random(crashing, cli, monkeypatch,
                                                           tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    first, second = crash_log(cli, crashing), crash_log(cli, crashing)
    assert first.parent == second.parent == tmp_path / "state" / "scalpel"
    assert first != second and str(os.getpid()) not in first.name
    assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    text = first.read_text()
    assert "RuntimeError: boom with" in text and "crash-canary-4f1b9e" not in text


def test_a_crash_log_is_never_written_where_someone_else_prepared(crashing, cli, monkeypatch,
                                                                  tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    trap = tmp_path / "trap"
    trap.mkdir()
    (temp / f"scalpel-{os.getuid()}").symlink_to(trap)  # planted by another user
    log = crash_log(cli, crashing)
    assert list(trap.iterdir()) == [] and log.parent.parent == temp
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700 and not log.parent.is_symlink()

    (temp / f"scalpel-{os.getuid()}").unlink()
    (temp / f"scalpel-{os.getuid()}").mkdir()
    os.chmod(temp / f"scalpel-{os.getuid()}", 0o777)  # open to everyone: not private
    log = crash_log(cli, crashing)
    assert log.parent != temp / f"scalpel-{os.getuid()}"
    assert list((temp / f"scalpel-{os.getuid()}").iterdir()) == []

    os.chmod(temp / f"scalpel-{os.getuid()}", 0o700)  # this user's own, private: used
    assert crash_log(cli, crashing).parent == temp / f"scalpel-{os.getuid()}"
