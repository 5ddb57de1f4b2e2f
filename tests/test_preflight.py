"""Pre-flight and the saved plan's seal, against real repositories with a bare `origin`: a
hand-edited plan, a dirty tree, a branch behind its remote, a shallow clone, a detached HEAD,
a provider's default credential, a version that goes back and a tag that already exists."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from conftest import git

SPEC = """
project: {name: widgets}
version:
  files: [pyproject.toml]
changelog: {}
stages:
  check: {run: "echo checked > checked.txt"}
publish:
  git.tag: {push: origin}
"""


@pytest.fixture
def project(repo):
    """widgets 0.1.0 tagged and pushed, one feature since: the next release is 0.2.0."""
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\nversion = "0.1.0"\n')
    (repo.path / "README.md").write_text("# widgets\n")
    (repo.path / ".gitignore").write_text(".scalpel/\nchecked.txt\nplan.json\n")
    repo.write_spec(SPEC)
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: project files")
    git(repo.path, "tag", "-a", "-m", "v0.1.0", "v0.1.0")
    repo.commit("feat: widgets endpoint")
    git(repo.path, "push", "-q", "origin", "main", "v0.1.0")
    return repo


def remote_head(repo) -> str:
    return git(repo.path, "ls-remote", "origin", "refs/heads/main").split()[0]


def seal(data: dict) -> dict:
    """What a tool that knows the format (not a naive edit) would do: recompute the digest."""
    body = {k: v for k, v in data.items() if k != "digest"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**body, "digest": hashlib.sha256(canonical.encode()).hexdigest()}


# --- the saved plan is bound to its content --------------------------------------------------

@pytest.mark.parametrize(("edit", "named"), [
    (lambda p: p["release"].update(version="9.9.9"), "release edited"),
    (lambda p: next(c for c in p["changes"] if c["address"] == "stage.check")["after"]
     .update(run="echo pwned > pwned.txt"), "changes.stage.check edited"),
    (lambda p: p.update(changes=[c for c in p["changes"] if c["address"] != "git.tag"]),
     "changes.git.tag removed"),
], ids=["version", "stage-command", "removed-node"])
def test_a_hand_edited_plan_is_refused_naming_what_changed(project, cli, edit, named):
    assert cli(project.path, "plan", "--out", "plan.json").code == 0, "plan"
    path = project.path / "plan.json"
    original = path.read_text()
    data = json.loads(original)
    assert len(data["digest"]) == 64 and "changes.git.tag" in data["digests"]
    edit(data)
    path.write_text(json.dumps(data, indent=2))
    refused = cli(project.path, "apply", "plan.json")
    assert refused.code == 1
    assert "plan.json was edited after `scalpel plan --out` wrote it (digest mismatch)" \
        in refused.err
    assert named in refused.err
    assert "v0.2.0" not in project.remote_tags() and not (project.path / "pwned.txt").exists()
    assert not (project.path / "checked.txt").exists()  # nothing ran

    path.write_text(original)  # as written: applies
    applied = cli(project.path, "apply", "plan.json")
    assert applied.code == 0, applied.err
    assert "v0.2.0" in project.remote_tags()


def test_a_plan_without_its_digest_or_with_values_no_plan_can_have_is_refused(project, cli):
    assert cli(project.path, "plan", "--out", "plan.json").code == 0
    path = project.path / "plan.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "digest"}))
    refused = cli(project.path, "apply", "plan.json")
    assert refused.code == 1 and "plan.json has no digest" in refused.err

    tag = next(c for c in data["changes"] if c["address"] == "git.tag")
    tag["after"]["remote"] = "--upload-pack=touch pwned"  # resealed: the values are still checked
    data["release"]["tag"] = "-v0.2.0"
    path.write_text(json.dumps(seal(data)))
    refused = cli(project.path, "apply", "plan.json")
    assert refused.code == 1 and "values no plan can have" in refused.err
    assert "git.tag.remote '--upload-pack=touch pwned'" in refused.err
    assert "release.tag '-v0.2.0'" in refused.err
    assert not (project.path / "pwned").exists() and "v0.2.0" not in project.remote_tags()


# --- the work tree and the branch --------------------------------------------------------------

def test_a_dirty_tree_is_a_warning_for_plan_and_an_error_for_apply(project, cli):
    (project.path / "README.md").write_text("# widgets, being edited\n")
    (project.path / "notes.txt").write_text("untracked: not a change to the release\n")
    plan = cli(project.path, "plan")
    assert plan.code == 0, plan.err
    assert "uncommitted changes to tracked files: README.md" in plan.out + plan.err
    assert "notes.txt" not in plan.out + plan.err

    applied = cli(project.path, "apply", "--auto-approve")
    assert applied.code == 1
    assert "uncommitted changes to tracked files: README.md" in applied.err
    assert "git stash" in applied.err
    assert "v0.2.0" not in project.remote_tags() and not (project.path / "checked.txt").exists()

    assert cli(project.path, "plan", "--out", "plan.json").code == 0  # a saved plan: refused too
    saved = cli(project.path, "apply", "plan.json")
    assert saved.code == 1 and "uncommitted changes to tracked files: README.md" in saved.err

    git(project.path, "checkout", "README.md")
    assert cli(project.path, "apply", "plan.json").code == 0
    assert "v0.2.0" in project.remote_tags()


def test_a_branch_behind_its_remote_is_refused_with_the_fix(project, cli, tmp_path):
    other = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(project.remote), str(other))
    (other / "theirs.txt").write_text("pushed first\n")
    git(other, "add", "theirs.txt")
    git(other, "commit", "-qm", "fix: a teammate's fix")
    git(other, "push", "-q", "origin", "main")
    theirs = git(other, "rev-parse", "HEAD")

    plan = cli(project.path, "plan")
    assert plan.code == 0, plan.err
    assert "main is 1 commit behind origin/main" in plan.out + plan.err
    assert "git pull --rebase origin main" in plan.out + plan.err

    applied = cli(project.path, "apply", "--auto-approve")
    assert applied.code == 1
    assert "main is 1 commit behind origin/main" in applied.err
    assert "`git pull --rebase origin main`" in applied.err
    assert "v0.2.0" not in project.remote_tags() and remote_head(project) == theirs

    project.commit("feat: ours too", "ours.txt")  # now both moved: diverged
    diverged = cli(project.path, "apply", "--auto-approve")
    assert diverged.code == 1
    assert "main has diverged from origin/main (1 commit here, 1 there)" in diverged.err

    git(project.path, "pull", "-q", "--rebase", "origin", "main")
    done = cli(project.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert project.remote_tags()["v0.2.0"] == remote_head(project)


@pytest.mark.parametrize("spec", [SPEC, SPEC.replace("version:\n  files: [pyproject.toml]\n", "")],
                         ids=["release-commit", "tag-on-head"])
def test_a_plan_asks_the_remote_each_thing_once(repo, cli, tmp_path, monkeypatch, spec):
    """The pre-flight's reads of origin (the branch, the tags a tagless clone may lack) are the
    plan's: the git.tag node does not ask again (each ls-remote is a round trip to GitHub),
    and a branch whose tip this clone has is not fetched."""
    repo.write_spec(spec)
    (repo.path / "pyproject.toml").write_text('[project]\nname = "widgets"\nversion = "0"\n')
    (repo.path / ".gitignore").write_text(".scalpel/\nchecked.txt\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: first")
    git(repo.path, "push", "-q", "origin", "main")
    trace = tmp_path / "git-trace.log"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    plan = cli(repo.path, "plan")
    assert plan.code == 0, plan.err
    assert "+ git.tag" in plan.out
    asked = [line.split("built-in: ", 1)[1] for line in trace.read_text().splitlines()
             if "built-in: git ls-remote" in line]
    assert sorted(asked) == ["git ls-remote --heads -- origin refs/heads/main",
                             "git ls-remote --tags -- origin"], asked
    # origin's main is this clone's HEAD: nothing to fetch to tell whether it moved
    assert "built-in: git fetch" not in trace.read_text()


def test_an_unreachable_remote_is_a_warning_listed_with_the_errors(project, cli):
    git(project.path, "remote", "set-url", "origin", str(project.path / "gone.git"))
    plan = cli(project.path, "plan", "--version", "0.2.0")
    text = plan.out + plan.err
    assert "warning: could not fetch main from origin" in text  # listed with the errors


def test_a_shallow_clone_says_so_and_how_to_fix_it(project, cli, tmp_path):
    shallow = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{project.remote}", str(shallow))
    plan = cli(shallow, "plan")
    assert plan.code == 1
    assert "this is a shallow clone (CI's default checkout): history and tags are missing" \
        in plan.err
    assert "fetch-depth: 0" in plan.err and "git fetch --unshallow --tags" in plan.err
    assert "stray" not in plan.err and "already exists" not in plan.err
    applied = cli(shallow, "apply", "--auto-approve")
    assert applied.code == 1 and "shallow clone" in applied.err
    assert "v0.2.0" not in project.remote_tags()

    git(shallow, "fetch", "-q", "--unshallow", "--tags")
    fixed = cli(shallow, "plan")
    assert fixed.code == 0, fixed.err
    assert "0.1.0 -> 0.2.0" in fixed.out or "0.2.0" in fixed.out


def test_a_detached_head_plans_for_review_and_refuses_to_apply(project, cli, monkeypatch):
    head = git(project.path, "rev-parse", "HEAD")
    git(project.path, "checkout", "-q", "--detach")
    plan = cli(project.path, "plan", "--format", "json")
    assert plan.code == 0, plan.err
    changes = {c["address"]: c for c in json.loads(plan.out)["changes"]}
    assert changes["git.commit"]["action"] == "create"  # the release commit it would make
    assert changes["git.commit"]["after"]["branch"] == "(detached)"
    text = cli(project.path, "plan")
    assert text.code == 0 and "git.commit will be created" in text.out
    assert "HEAD is detached" in text.out + text.err

    monkeypatch.setenv("GITHUB_BASE_REF", "main")  # a pull request: shown on its base branch
    plan = cli(project.path, "plan", "--format", "json", "--out", "plan.json")
    changes = {c["address"]: c for c in json.loads(plan.out)["changes"]}
    assert changes["git.commit"]["after"]["branch"] == "main"

    applied = cli(project.path, "apply", "--auto-approve")
    assert applied.code == 1
    assert f"HEAD is detached at {head[:12]}" in applied.err and "git checkout" in applied.err
    saved = cli(project.path, "apply", "plan.json")
    assert saved.code == 1 and "HEAD is detached" in saved.err
    assert "v0.2.0" not in project.remote_tags()
    assert git(project.path, "rev-parse", "HEAD") == head  # no release commit made

    monkeypatch.delenv("GITHUB_BASE_REF")
    assert cli(project.path, "plan", "--out", "plan.json").code == 0  # made on "(detached)"
    git(project.path, "checkout", "-q", "main")  # the same commit, but the branch differs
    wrong = cli(project.path, "apply", "plan.json")
    assert wrong.code == 1
    assert "makes the release commit on (detached), but main is checked out" in wrong.err


# --- credentials and versions ----------------------------------------------------------------

def test_a_missing_default_github_token_is_an_error_at_plan(project, cli, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    project.write_spec(SPEC + "  github.release: {repository: acme/widgets}\n")
    git(project.path, "commit", "-qam", "ci: a GitHub release")
    plan = cli(project.path, "plan")
    assert plan.code == 1
    assert "secret GITHUB_TOKEN: $GITHUB_TOKEN is not set; github.release uses it" in plan.err
    assert "export GITHUB_TOKEN=" in plan.err
    applied = cli(project.path, "apply", "--auto-approve")
    assert applied.code == 1 and "$GITHUB_TOKEN is not set" in applied.err
    assert "v0.2.0" not in project.remote_tags()  # caught before the tag went out

    forked = cli(project.path, "plan", "--allow-missing-secrets")
    assert forked.code == 0, forked.err
    assert "$GITHUB_TOKEN is not set" in forked.out + forked.err
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_FAKEtokenFAKEtokenFAKEtoken000000")
    assert cli(project.path, "plan").code == 0


def test_a_version_not_after_the_live_one_is_refused(project, cli):
    assert cli(project.path, "apply", "--auto-approve").code == 0  # 0.2.0 is live
    project.commit("fix: after 0.2.0", "after.txt")
    git(project.path, "push", "-q", "origin", "main")
    lower = cli(project.path, "plan", "--version", "0.1.5")
    assert lower.code == 1
    assert "--version 0.1.5 is not after 0.2.0, the version released last" in lower.err
    same = cli(project.path, "plan", "--version", "0.2.0")
    assert same.code == 1
    assert "v0.2.0 was released by Scalpel on 20" in same.err and "stray" not in same.err
    assert "delete" not in same.err
    assert cli(project.path, "plan", "--version", "0.2.1").code == 0


def test_an_existing_tag_made_outside_scalpel_or_stray_is_explained(project, cli):
    git(project.path, "tag", "-a", "-m", "by hand", "v0.3.0", "HEAD~1")
    git(project.path, "push", "-q", "origin", "v0.3.0")
    outside = cli(project.path, "plan", "--version", "0.3.0")
    assert outside.code == 1
    sha = git(project.path, "rev-parse", "v0.3.0^{commit}")[:12]
    assert f"tag v0.3.0 already exists locally and on origin at {sha}, made outside Scalpel" \
        in outside.err
    assert "--version" in outside.err and "state import" not in outside.err
    assert "stray" not in outside.err

    git(project.path, "tag", "-a", "-m", "stray", "v0.4.0", "HEAD~1")  # never pushed
    stray = cli(project.path, "plan", "--version", "0.4.0")
    assert stray.code == 1
    assert "tag v0.4.0 already exists locally" in stray.err and "a stray tag" in stray.err
    assert "git tag -d v0.4.0" in stray.err


def test_the_files_an_unfinished_release_commit_wrote_are_not_a_dirty_tree(project, cli,
                                                                          monkeypatch):
    """A release commit stopped after editing its files (its `git commit` failed): those files
    are the release's own, so the next apply resumes instead of refusing."""
    from scalpel_plan import git as scalpel_git
    from scalpel_plan.errors import GitError

    real = scalpel_git.git

    def refusing_commit(repo, *args, **kwargs):  # type: ignore[no-untyped-def]
        if args and args[0] == "commit":
            raise GitError("git commit failed: the disk said no")
        return real(repo, *args, **kwargs)

    monkeypatch.setattr(scalpel_git, "git", refusing_commit)
    failed = cli(project.path, "apply", "--auto-approve")
    assert failed.code == 1 and "git.commit" in failed.err
    assert 'version = "0.2.0"' in (project.path / "pyproject.toml").read_text()
    monkeypatch.setattr(scalpel_git, "git", real)
    assert "pyproject.toml" in git(project.path, "status", "--porcelain")
    resumed = cli(project.path, "apply", "--auto-approve")
    assert "uncommitted changes" not in resumed.err
    assert resumed.code == 0, resumed.err

    (project.path / "pyproject.toml").write_text("# edited by hand, no release under way\n")
    refused = cli(project.path, "apply", "--auto-approve")
    assert refused.code == 1 and "uncommitted changes to tracked files: pyproject.toml" \
        in refused.err


def test_a_subprocess_run_of_the_cli_reports_the_seal_too(project):
    """The real entry point, as CI runs it: an edited plan exits 1, no traceback."""
    from conftest import run_scalpel

    assert run_scalpel(project.path, "plan", "--out", "plan.json").returncode == 0
    path = project.path / "plan.json"
    path.write_text(path.read_text().replace('"version": "0.2.0"', '"version": "0.2.1"'))
    done = run_scalpel(project.path, "apply", "plan.json")
    assert done.returncode == 1 and "digest mismatch" in done.stderr
    assert "Traceback" not in done.stderr
    assert subprocess.run(["git", "-C", str(project.path), "status", "--porcelain"],
                          capture_output=True, text=True).stdout == ""
