"""The tag is always on the release branch on origin, and the git steps resume right at every
point: a teammate pushing first, a remote refusing a push once, a kill between editing and
committing, a lock file left behind. Real git repositories with a real bare `origin`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import git, journal, kill_before_recording

from scalpel_plan.providers import git_commit

SPEC = """
project: {name: widgets}
version:
  files: [pyproject.toml]
changelog: {}
publish:
  git.tag: {push: origin}
"""


def prepare(repo, *, released: bool = True, spec: str = SPEC) -> None:
    """pyproject.toml at 0.1.0 (released as v0.1.0 unless ``released`` is False), a feature
    since, everything pushed."""
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\nversion = "0.1.0"\n')
    repo.write_spec(spec)
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: project files")
    if released:
        git(repo.path, "tag", "-a", "-m", "v0.1.0", "v0.1.0")
        repo.commit("feat(api): widgets endpoint")
    git(repo.path, "push", "-q", "--follow-tags", "origin", "main")


def origin_main(repo) -> str:
    return git(repo.path, "ls-remote", "origin", "refs/heads/main").split()[0]


def on_origin_main(repo, commit: str) -> bool:
    git(repo.path, "fetch", "-q", "origin")
    return subprocess.run(["git", "merge-base", "--is-ancestor", commit, "origin/main"],
                          cwd=repo.path).returncode == 0


def teammate_pushes(repo, tmp_path: Path, message: str = "fix: a teammate's fix") -> str:
    other = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    (other / "teammate.txt").write_text("mine\n")
    git(other, "add", "teammate.txt")
    git(other, "commit", "-qm", message)
    git(other, "push", "-q", "origin", "main")
    return git(other, "rev-parse", "HEAD")


def reject_pushes_once(repo) -> Path:
    """A pre-receive hook on origin that refuses the next push, then accepts."""
    flag = repo.remote / "refuse-next"
    flag.write_text("")
    hook = repo.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nif [ -e '{flag}' ]; then rm '{flag}'; "
                    "echo 'pushes are closed for a moment' >&2; exit 1; fi\nexit 0\n")
    hook.chmod(0o755)
    return flag


def actions(cli, repo) -> dict[str, dict]:
    plan = cli(repo.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    return {c["address"]: c for c in json.loads(plan.out)["changes"]}


def test_a_teammate_pushing_first_publishes_nothing_then_the_release_goes_on_top(
        repo, cli, tmp_path, monkeypatch):
    prepare(repo)
    real, pushed = git_commit._apply, []

    def commit_then_a_teammate_pushes(change, ctx):  # the race: after the plan, before ours
        made = real(change, ctx)
        pushed.append(teammate_pushes(repo, tmp_path))
        return made

    monkeypatch.setattr(git_commit, "_apply", commit_then_a_teammate_pushes)
    failed = cli(repo.path, "apply", "--auto-approve")
    monkeypatch.setattr(git_commit, "_apply", real)
    theirs = pushed[0]
    assert failed.code == 1
    assert "origin's main moved since the release commit was made: someone pushed first" in \
        failed.err, failed.err
    assert "git pull --rebase" in failed.err and "atomic push failed" not in failed.err
    assert "v0.2.0" not in repo.remote_tags() and origin_main(repo) == theirs  # nothing went up
    stale = git(repo.path, "rev-parse", "HEAD")  # the release commit, never pushed

    warned = cli(repo.path, "plan")  # not rebased yet: the plan says so, before any apply
    assert warned.code == 0 and "main has diverged from origin/main" in warned.out
    assert "git pull --rebase" in warned.out
    blocked = cli(repo.path, "apply", "--auto-approve")
    assert blocked.code == 1 and "main has diverged from origin/main" in blocked.err

    git(repo.path, "pull", "-q", "--rebase", "origin", "main")
    changes = actions(cli, repo)
    assert changes["git.commit"]["action"] in ("create", "replace")  # never the stale one
    assert changes["git.tag"]["action"] == "create"
    assert stale not in json.dumps(changes)  # the pre-rebase commit is no longer the tag's
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    tagged = repo.remote_tags()["v0.2.0"]
    assert tagged != stale and tagged == origin_main(repo)
    assert on_origin_main(repo, tagged) and on_origin_main(repo, theirs)
    assert 'version = "0.2.0"' in git(repo.path, "show", "v0.2.0:pyproject.toml")
    assert cli(repo.path, "plan", "--detailed-exitcode").code == 0


def test_a_push_refused_once_sends_the_branch_and_the_tag_together_on_resume(repo, cli):
    prepare(repo)
    reject_pushes_once(repo)
    before = origin_main(repo)
    failed = cli(repo.path, "apply", "--auto-approve")
    assert failed.code == 1 and "pushes are closed for a moment" in failed.err
    assert "nothing was pushed" in failed.err
    assert "v0.2.0" not in repo.remote_tags() and origin_main(repo) == before

    changes = actions(cli, repo)
    assert changes["git.commit"]["action"] == "no-op"  # made, still on HEAD
    assert changes["git.tag"]["after"]["branch"] == "${git.commit.branch}"  # goes up again
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    release_commit = git(repo.path, "rev-parse", "HEAD")
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): 0.2.0"
    assert repo.remote_tags()["v0.2.0"] == release_commit == origin_main(repo)


def test_a_tag_adopted_on_origin_gets_its_branch_pushed(repo, cli):
    """A tag already on origin (pushed by hand after a failed apply) is adopted, and the
    branch there is brought to contain it."""
    prepare(repo)
    reject_pushes_once(repo)
    assert cli(repo.path, "apply", "--auto-approve").code == 1
    git(repo.path, "push", "-q", "origin", "refs/tags/v0.2.0")  # the tag alone
    release_commit = git(repo.path, "rev-parse", "HEAD")
    assert not on_origin_main(repo, release_commit)
    assert actions(cli, repo)["git.tag"]["action"] == "adopt"
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert origin_main(repo) == release_commit == repo.remote_tags()["v0.2.0"]


def test_a_kill_between_editing_and_committing_resumes_with_the_version_bump(
        repo, cli, monkeypatch):
    prepare(repo)
    real = git_commit._write_changelog

    def killed(root: Path, changelog: dict[str, str]) -> str:
        real(root, changelog)  # the files are edited ...
        (root / ".git" / "index.lock").write_text("")  # ... git was killed mid-commit
        raise KeyboardInterrupt

    monkeypatch.setattr(git_commit, "_write_changelog", killed)
    assert cli(repo.path, "apply", "--auto-approve").code == 130
    monkeypatch.setattr(git_commit, "_write_changelog", real)
    assert 'version = "0.2.0"' in (repo.path / "pyproject.toml").read_text()  # edited ...
    assert git(repo.path, "log", "-1", "--format=%s") == "feat(api): widgets endpoint"

    changes = actions(cli, repo)
    assert changes["git.commit"]["action"] == "create"
    assert changes["git.commit"]["after"]["files"]["pyproject.toml"]  # ... still to commit
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert "removed .git/index.lock, left by a git process that is no longer running" in \
        done.out + done.err
    assert 'version = "0.2.0"' in git(repo.path, "show", "v0.2.0:pyproject.toml")
    assert "## [0.2.0]" in git(repo.path, "show", "v0.2.0:CHANGELOG.md")
    assert git(repo.path, "status", "--porcelain") == ""
    assert on_origin_main(repo, repo.remote_tags()["v0.2.0"])
    assert cli(repo.path, "plan", "--detailed-exitcode").code == 0


def test_lock_files_left_behind_are_removed_with_a_line_saying_so(repo, cli):
    prepare(repo, spec=SPEC.replace("{push: origin}", "{push: origin, moving: [stable]}"))
    (repo.path / ".git" / "index.lock").write_text("")
    (repo.path / ".git" / "refs" / "tags" / "stable.lock").write_text("")
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    shown = done.out + done.err
    assert "removed .git/index.lock" in shown and "removed .git/refs/tags/stable.lock" in shown
    journaled = {e["address"]: e["resource"]["attributes"].get("removed_locks")
                 for e in journal(repo.path, "0.2.0") if e["event"] == "step_done"}
    assert journaled["git.commit"] == [  # the first git step clears them all
        "removed .git/index.lock, left by a git process that is no longer running",
        "removed .git/refs/tags/stable.lock, left by a git process that is no longer running"]
    assert journaled["git.tag"] is None
    remote = dict(reversed(line.split("\t")) for line in
                  git(repo.path, "ls-remote", "--tags", "origin").splitlines())
    assert remote["refs/tags/stable"] == repo.remote_tags()["v0.2.0"] == origin_main(repo)


def test_a_lock_held_by_a_running_git_process_names_it(repo, cli):
    prepare(repo)
    (repo.path / ".git" / "index.lock").write_text("")
    holder = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=repo.path,
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        failed = cli(repo.path, "apply", "--auto-approve")
    finally:
        holder.communicate(b"")
    assert failed.code == 1
    assert f"held by a running git process: pid {holder.pid} (git hash-object --stdin)" in \
        failed.err
    assert (repo.path / ".git" / "index.lock").exists()  # not ours to remove
    assert "v0.2.0" not in repo.remote_tags()


def test_a_first_release_whose_files_already_say_its_version(repo, cli):
    prepare(repo, released=False)
    head = git(repo.path, "rev-parse", "HEAD")
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert git(repo.path, "log", "-1", "--format=%s") == "chore(release): 0.1.0"
    assert git(repo.path, "diff", "--name-only", "HEAD~1", "HEAD") == "CHANGELOG.md"
    assert 'version = "0.1.0"' in git(repo.path, "show", "v0.1.0:pyproject.toml")
    assert git(repo.path, "rev-parse", "HEAD~1") == head
    assert repo.remote_tags()["v0.1.0"] == origin_main(repo)
    assert cli(repo.path, "plan", "--detailed-exitcode").code == 0


def test_nothing_to_change_makes_no_release_commit_and_tags_head(repo, cli):
    prepare(repo, released=False, spec=SPEC.replace("changelog: {}\n", ""))
    head = git(repo.path, "rev-parse", "HEAD")
    changes = actions(cli, repo)
    assert "no commit is made" in changes["git.commit"]["reason"]
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert git(repo.path, "rev-parse", "HEAD") == head  # no commit
    assert repo.remote_tags()["v0.1.0"] == head == origin_main(repo)
    assert cli(repo.path, "plan", "--detailed-exitcode").code == 0


def test_history_records_the_tagged_commit_and_a_hotfix_starts_there(repo, cli):
    prepare(repo)
    planned_at = git(repo.path, "rev-parse", "HEAD")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    tagged = repo.remote_tags()["v0.2.0"]
    assert tagged != planned_at  # the release commit
    history = json.loads(cli(repo.path, "history", "--json").out)
    assert [r["commit"] for r in history["releases"]] == [tagged]
    assert [p["commit"] for p in history["rollback_points"]] == [tagged]
    events = journal(repo.path, "0.2.0")
    finished = [e for e in events if e["event"] == "release"][-1]
    assert finished["record"]["commit"] == tagged

    repo.commit("feat: after the release")
    started = cli(repo.path, "hotfix", "start", "--from", "v0.2.0")
    assert started.code == 0, started.err
    assert git(repo.path, "rev-parse", "HEAD") == tagged
    assert 'version = "0.2.0"' in (repo.path / "pyproject.toml").read_text()


def test_a_remote_that_moved_is_caught_before_anything_runs(repo, cli, tmp_path):
    """Behind origin with a release commit still to make: plan warns, apply refuses, nothing
    is made."""
    prepare(repo)
    teammate_pushes(repo, tmp_path)
    warned = cli(repo.path, "plan")
    assert warned.code == 0 and "main is 1 commit behind origin/main" in warned.out
    blocked = cli(repo.path, "apply", "--auto-approve")
    assert blocked.code == 1, blocked.out
    assert "main is 1 commit behind origin/main" in blocked.err
    assert "git pull --rebase" in blocked.err
    assert git(repo.path, "log", "-1", "--format=%s") == "feat(api): widgets endpoint"


def test_a_release_commit_at_head_without_its_version_bump_is_completed(repo, cli):
    """HEAD says it is the release commit (as an older Scalpel left it: only the changelog
    committed), but pyproject.toml still says 0.1.0: compared with the desired content, the
    bump is still to commit."""
    prepare(repo)
    git(repo.path, "commit", "-q", "--allow-empty", "-m", "chore(release): 0.2.0")
    changes = actions(cli, repo)
    assert changes["git.commit"]["action"] == "create"
    assert changes["git.commit"]["after"]["files"]["pyproject.toml"]
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert 'version = "0.2.0"' in git(repo.path, "show", "v0.2.0:pyproject.toml")
    assert git(repo.path, "status", "--porcelain") == ""


HEAD_SPEC = "project: {name: widgets}\npublish:\n  git.tag: {push: origin}\n"


def test_a_tag_on_head_takes_its_unpushed_branch_along(repo, cli):
    """No release commit: the tag goes on HEAD; a HEAD origin's main does not have yet goes up
    with the tag, in the same atomic push."""
    prepare(repo, spec=HEAD_SPEC)
    head = repo.commit("feat: not pushed yet")
    changes = actions(cli, repo)
    assert changes["git.tag"]["after"]["branch"] == "main"
    assert "is not on origin's main yet" in changes["git.tag"]["reason"]
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert repo.remote_tags()["v0.2.0"] == head == origin_main(repo)


def test_a_tag_on_head_that_origin_already_has_pushes_the_tag_alone(repo, cli, tmp_path):
    prepare(repo, spec=HEAD_SPEC)
    head = git(repo.path, "rev-parse", "HEAD")
    assert origin_main(repo) == head  # origin's main is at HEAD already
    changes = actions(cli, repo)
    assert "branch" not in changes["git.tag"]["after"]
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert repo.remote_tags()["v0.2.0"] == head and origin_main(repo) == head


def test_a_tag_on_head_diverged_from_origin_is_refused_by_plan(repo, cli, tmp_path):
    prepare(repo, spec=HEAD_SPEC)
    teammate_pushes(repo, tmp_path)
    repo.commit("feat: ours, not pushed")
    warned = cli(repo.path, "plan")
    assert warned.code == 0 and "main has diverged from origin/main" in warned.out
    blocked = cli(repo.path, "apply", "--auto-approve")
    assert blocked.code == 1 and "main has diverged from origin/main" in blocked.err


def test_a_kill_after_the_push_is_adopted_with_the_branch_in_place(repo, cli, monkeypatch):
    prepare(repo)
    restore = kill_before_recording(monkeypatch, "git.tag")
    assert cli(repo.path, "apply", "--auto-approve").code == 130
    restore()
    release_commit = git(repo.path, "rev-parse", "HEAD")
    assert repo.remote_tags()["v0.2.0"] == release_commit == origin_main(repo)  # together
    assert actions(cli, repo)["git.tag"]["action"] == "adopt"
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert repo.remote_tags()["v0.2.0"] == release_commit == origin_main(repo)
    history = json.loads(cli(repo.path, "history", "--json").out)
    assert history["releases"][-1]["commit"] == release_commit
