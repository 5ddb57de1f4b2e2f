"""The pull-request workflows in examples/ci/, as GitHub would run them, short of GitHub.

Each workflow is checked against GitHub's workflow JSON schema (the copy check-jsonschema
vendors from SchemaStore) and for its permissions. Then the `run:` steps that call Scalpel are
taken from the workflow files and run with bash, as the runner runs them (`bash -e`, the
step's `env:` with its `${{ }}` expressions given the values GitHub would give), in real git
repositories shaped as actions/checkout leaves them: a pull request's detached merge commit
(refs/pull/N/merge) with the whole history, or a shallow one, or one without tags; the state
on the bare remote's refs/scalpel/* (the git backend). The `uses:` steps (checkout, artifacts,
github-script) are GitHub's: the test does what they do (the checkout, the artifact copied
from the plan job to the apply job); their scripts are not run here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
WORKFLOWS = sorted(CI.glob("*.yml"))
PR = 7

SPEC = """project: {name: widgets}
version: {files: [pyproject.toml]}
changelog: {file: CHANGELOG.md}
notes: {template: default}
secrets:
  pypi_token: {env: PYPI_TOKEN}
stages:
  test: {run: "true"}
publish:
  git.tag: {push: origin}
"""


def load(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    doc = YAML(typ="safe", pure=True).load(path.read_text())  # YAML 1.2, as GitHub reads it
    assert isinstance(doc, dict)
    return doc


def schema() -> dict[str, Any]:
    import check_jsonschema

    vendor = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
    return json.loads((vendor / "github-workflows.json").read_text())


# --- the files ---------------------------------------------------------------------------

def test_there_are_a_plan_a_comment_and_an_apply_workflow():
    assert [p.name for p in WORKFLOWS] == ["apply-on-merge.yml", "plan-comment.yml",
                                           "pull-request-plan.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_each_workflow_is_valid_against_githubs_workflow_schema(path):
    import jsonschema

    validator = jsonschema.Draft7Validator(schema())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(load(path))]
    assert errors == []


def test_the_schema_check_can_fail():
    """The check above is not vacuous: a `${{ }}` inside a flow mapping (the old example's
    mistake) is not even YAML, and a wrong permission is refused by the schema."""
    import jsonschema
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    with pytest.raises(YAMLError):
        YAML(typ="safe", pure=True).load(
            "jobs:\n  a:\n    steps:\n      - with: {key: ${{ github.run_id }}}\n")
    bad = load(CI / "pull-request-plan.yml")
    bad["jobs"]["plan"]["permissions"] = {"contents": "maybe"}
    assert list(jsonschema.Draft7Validator(schema()).iter_errors(bad))


def permissions(doc: dict[str, Any], job: str) -> dict[str, str]:
    return doc["jobs"][job].get("permissions", doc.get("permissions"))


def test_permissions_are_the_least_each_job_needs():
    plan = load(CI / "pull-request-plan.yml")
    assert plan["permissions"] == {"contents": "read"}
    assert permissions(plan, "plan") == {"contents": "read"}  # it runs the pull request's code
    comment = load(CI / "plan-comment.yml")
    assert comment["permissions"] == {}
    assert permissions(comment, "comment") == {"actions": "read", "pull-requests": "write"}
    apply = load(CI / "apply-on-merge.yml")
    assert apply["permissions"] == {}
    assert permissions(apply, "apply") == {"contents": "write", "actions": "read",
                                           "pull-requests": "write"}
    assert set(comment["on"]) == {"workflow_run"} and \
        comment["on"]["workflow_run"]["workflows"] == [plan["name"]]
    assert "checkout" not in json.dumps(comment)  # never runs the pull request's code


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_cache_and_no_expression_inside_a_script(path):
    """The state is the git backend's (no actions/cache to evict it); expressions reach
    scripts through `env:` only (a branch name or title in a script is an injection)."""
    doc = load(path)
    for job in doc["jobs"].values():
        for step in job["steps"]:
            assert "actions/cache" not in step.get("uses", "")
            assert "${{" not in step.get("run", "") + step.get("with", {}).get("script", "")
            if re.search(r"\bscalpel (plan|apply|show)", step.get("run", "")):
                assert step["env"]["SCALPEL_STATE"] == "git+origin"


# --- running the steps -------------------------------------------------------------------

def step(path: Path, job: str, name: str) -> dict[str, Any]:
    return next(s for s in load(path)["jobs"][job]["steps"] if s.get("name") == name)


EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def run_step(the_step: dict[str, Any], cwd: Path, context: dict[str, str], bindir: Path,
             extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a `run:` step as the runner does: `bash -e` on the script, with the step's env
    (each expression replaced by its value in ``context``, every one of them given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SCALPEL_"))}
    env.pop("PYPI_TOKEN", None)
    for key, value in the_step.get("env", {}).items():
        env[key] = EXPRESSION.sub(lambda m: context[m.group(1)], str(value))
    env.update(extra or {})
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    script = cwd / ".step.sh"
    script.write_text(the_step["run"])
    try:
        return subprocess.run(["bash", "-e", str(script)], cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        script.unlink()


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    """`scalpel` on PATH, as `pip install scalpel-plan` puts it: this checkout's code."""
    folder = tmp_path / "bin"
    folder.mkdir()
    shim = folder / "scalpel"
    shim.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m scalpel_plan "
                    '"$@"\n')
    shim.chmod(0o755)
    return folder


class Origin:
    """A bare remote with main released once (0.1.0, state in refs/scalpel/*), a pull request
    #7 (a feature) and its merge commit at refs/pull/7/merge, as GitHub makes it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.bare = tmp_path / "origin.git"
        git(tmp_path, "init", "-q", "--bare", str(self.bare))
        self.dev = tmp_path / "dev"
        git(tmp_path, "clone", "-q", str(self.bare), str(self.dev))
        git(self.dev, "checkout", "-q", "-b", "main")
        (self.dev / "release.yml").write_text(SPEC)
        (self.dev / "pyproject.toml").write_text('[project]\nname = "widgets"\n'
                                                 'version = "0.0.0"\n')
        (self.dev / "CHANGELOG.md").write_text("# Changelog\n")
        (self.dev / ".gitignore").write_text(".scalpel/\n")
        git(self.dev, "add", ".")
        git(self.dev, "commit", "-qm", "feat: widgets")
        git(self.dev, "push", "-q", "origin", "main")

    def scalpel(self, where: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SCALPEL_STATE": "git+origin", "PYPI_TOKEN": "pypi-a-token",
               "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "scalpel_plan", *args], cwd=where,
                              env=env, text=True, capture_output=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def open_pull_request(self, *, main_moves: bool = True) -> str:
        """#7 from topic into main; main gets a fix meanwhile. Returns the merge commit."""
        git(self.dev, "checkout", "-q", "-b", "topic")
        (self.dev / "topic.txt").write_text("topic\n")
        git(self.dev, "add", "topic.txt")
        git(self.dev, "commit", "-qm", "feat(cli): a topic feature")
        git(self.dev, "push", "-q", "origin", "topic")
        git(self.dev, "checkout", "-q", "main")
        if main_moves:
            self.commit_on_main("fix: a bug on main", "main.txt")
        return self.update_merge_ref()

    def update_merge_ref(self) -> str:
        git(self.dev, "fetch", "-q", "origin")
        git(self.dev, "checkout", "-q", "--detach", "origin/main")
        git(self.dev, "merge", "-q", "--no-ff", "-m", f"Merge topic into main (#{PR})",
            "origin/topic")
        merge = git(self.dev, "rev-parse", "HEAD")
        git(self.dev, "push", "-q", "-f", "origin", f"HEAD:refs/pull/{PR}/merge")
        git(self.dev, "checkout", "-q", "main")
        return merge

    def commit_on_main(self, message: str, filename: str) -> None:
        git(self.dev, "checkout", "-q", "main")
        git(self.dev, "pull", "-q", "--rebase", "origin", "main")
        (self.dev / filename).write_text(message + "\n")
        git(self.dev, "add", filename)
        git(self.dev, "commit", "-qm", message)
        git(self.dev, "push", "-q", "origin", "main")

    def merge_pull_request(self) -> str:
        """What GitHub's merge button does: a new merge commit of topic on main."""
        git(self.dev, "checkout", "-q", "main")
        git(self.dev, "pull", "-q", "--rebase", "origin", "main")
        git(self.dev, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{PR} from topic",
            "origin/topic")
        git(self.dev, "push", "-q", "origin", "main")
        return git(self.dev, "rev-parse", "HEAD")

    def checkout_pull_request(self, name: str, *, depth: int | None = None,
                              tags: bool = True) -> Path:
        """What actions/checkout does on a pull_request event: the merge commit, detached
        (`fetch-depth: 0`: every branch and tag; the default: depth 1, no tags)."""
        work = self.tmp / name
        work.mkdir()
        git(work, "init", "-q")
        git(work, "remote", "add", "origin", str(self.bare))
        if depth is None:
            refspecs = ["+refs/heads/*:refs/remotes/origin/*"]
            refspecs += ["+refs/tags/*:refs/tags/*"] if tags else []
            git(work, "fetch", "-q", "--no-tags", "--prune", "origin", *refspecs)
            git(work, "fetch", "-q", "--no-tags", "origin",
                f"+refs/pull/{PR}/merge:refs/remotes/pull/{PR}/merge")
        else:
            git(work, "fetch", "-q", "--no-tags", f"--depth={depth}", "origin",
                f"+refs/pull/{PR}/merge:refs/remotes/pull/{PR}/merge")
        git(work, "checkout", "-q", "--force", f"refs/remotes/pull/{PR}/merge")
        return work

    def checkout_main(self, name: str) -> Path:
        """What actions/checkout does on a push to main with `fetch-depth: 0`."""
        work = self.tmp / name
        git(self.tmp, "clone", "-q", "-b", "main", str(self.bare), str(work))
        return work

    def remote_tags(self) -> set[str]:
        return set(git(self.bare, "tag").split())


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    o = Origin(tmp_path)
    first = o.scalpel(o.dev, "apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    git(o.dev, "push", "-q", "origin", "main")
    assert o.remote_tags() == {"v0.1.0"}
    return o


def context(merge: str, *, fork: bool, token: str = "pypi-a-token") -> dict[str, str]:
    """The values GitHub gives the Plan step's expressions (a fork's run gets no secrets:
    they expand to empty strings)."""
    return {"github.event.pull_request.head.repo.full_name != github.repository":
            "true" if fork else "false",
            "github.event.pull_request.number": str(PR),
            "github.event.pull_request.head.sha": merge,  # stands in for the head's sha
            "secrets.PYPI_TOKEN": "" if fork else token}


def plan_step(origin: Origin, work: Path, ctx: dict[str, str], bindir: Path
              ) -> tuple[subprocess.CompletedProcess[str], Path]:
    summary = work.parent / f"{work.name}-summary.md"
    done = run_step(step(CI / "pull-request-plan.yml", "plan", "Plan"), work, ctx, bindir,
                    {"GITHUB_BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary)})
    return done, summary


def test_the_plan_step_plans_the_merge_commit_onto_main_from_the_git_state(origin, bindir):
    merge = origin.open_pull_request()
    work = origin.checkout_pull_request("pr")
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
    done, summary = plan_step(origin, work, context(merge, fork=False), bindir)
    assert done.returncode == 0, done.stdout + done.stderr
    out = work / "scalpel-plan"
    assert sorted(p.name for p in out.iterdir()) == ["errors.txt", "head-sha", "plan.json",
                                                     "plan.md", "plan.txt", "pr-number"]
    assert (out / "pr-number").read_text() == f"{PR}\n"
    saved = json.loads((out / "plan.json").read_text())
    assert saved["release"]["previous"] == "0.1.0" and saved["release"]["version"] == "0.2.0"
    assert saved["fingerprint"]["commit"] == merge
    commit = next(c for c in saved["changes"] if c["address"] == "git.commit")
    assert commit["action"] == "create" and commit["after"]["branch"] == "main"
    assert saved["fingerprint"]["lineage"] and saved["fingerprint"]["serial"] > 0  # git state
    assert not (work / ".scalpel" / "state.json").exists()
    markdown = (out / "plan.md").read_text()
    assert "widgets 0.1.0 → **0.2.0**" in markdown
    assert f"at the release commit onto main, made on top of {merge[:12]}" in markdown
    assert markdown.count("## [0.2.0] - ") == 1  # the changelog section once
    assert "section = (the changelog section above" in markdown
    assert summary.read_text() == markdown
    text = (out / "plan.txt").read_text()
    assert "HEAD is detached" in (out / "plan.txt").read_text() + (out / "errors.txt").read_text()
    assert "onto main" in text and "secret" not in markdown


def test_a_forks_pull_request_gets_a_plan_without_secrets_that_says_what_it_skipped(
        origin, bindir):
    merge = origin.open_pull_request()
    work = origin.checkout_pull_request("fork")
    done, _ = plan_step(origin, work, context(merge, fork=True), bindir)
    assert done.returncode == 0, done.stdout + done.stderr
    markdown = (work / "scalpel-plan" / "plan.md").read_text()
    assert markdown.startswith("> 🍴 This pull request comes from a fork")
    assert "secret pypi_token" in markdown and "PYPI_TOKEN" in markdown  # what was skipped
    assert "widgets 0.1.0 → **0.2.0**" in markdown

    same = origin.checkout_pull_request("same-repo-without-the-secret")
    failed, summary = plan_step(origin, same, context(merge, fork=False, token=""), bindir)
    assert failed.returncode == 1  # a missing secret is an error unless the run is a fork's
    markdown = (same / "scalpel-plan" / "plan.md").read_text()
    assert markdown.startswith("### Scalpel plan: failed") and "pypi_token" in markdown
    assert summary.read_text() == markdown
    assert not (same / "scalpel-plan" / "plan.json").exists()


def test_a_shallow_checkout_says_what_is_missing_instead_of_planning(origin, bindir):
    merge = origin.open_pull_request()
    work = origin.checkout_pull_request("shallow", depth=1)  # actions/checkout's default
    done, _ = plan_step(origin, work, context(merge, fork=False), bindir)
    assert done.returncode == 1
    markdown = (work / "scalpel-plan" / "plan.md").read_text()
    assert "shallow clone" in markdown and "fetch-depth: 0" in markdown
    assert "0.2.0" not in markdown and "0.1.0 →" not in markdown


def test_a_checkout_without_tags_says_they_are_missing_instead_of_planning_0_1_0(origin,
                                                                                 bindir):
    merge = origin.open_pull_request()
    work = origin.checkout_pull_request("no-tags", tags=False)
    assert git(work, "tag") == ""
    done, _ = plan_step(origin, work, context(merge, fork=False), bindir)
    assert done.returncode == 1
    markdown = (work / "scalpel-plan" / "plan.md").read_text()
    assert "release tags are missing from this clone: v0.1.0 (on origin)" in markdown
    assert "git fetch --tags" in markdown and "→ **" not in markdown


def test_tags_made_outside_scalpel_are_missed_too(tmp_path, bindir):
    o = Origin(tmp_path)  # tagged by hand, never released by Scalpel
    git(o.dev, "tag", "-a", "v0.1.0", "-m", "v0.1.0")
    git(o.dev, "push", "-q", "origin", "v0.1.0")
    merge = o.open_pull_request()
    work = o.checkout_pull_request("no-tags", tags=False)
    done, _ = plan_step(o, work, context(merge, fork=False), bindir)
    assert done.returncode == 1
    markdown = (work / "scalpel-plan" / "plan.md").read_text()
    assert "release tags are missing from this clone: v0.1.0 (on origin)" in markdown


def reviewed_plan(origin: Origin, bindir: Path, merge: str) -> Path:
    work = origin.checkout_pull_request("pr")
    done, _ = plan_step(origin, work, context(merge, fork=False), bindir)
    assert done.returncode == 0, done.stdout + done.stderr
    return work / "scalpel-plan"


def apply_step(origin: Origin, artifact: Path, bindir: Path
               ) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = origin.checkout_main("main-checkout")
    shutil.copytree(artifact, work / "reviewed")  # actions/download-artifact
    the_step = step(CI / "apply-on-merge.yml", "apply", "Apply the reviewed plan")
    ctx = {"secrets.PYPI_TOKEN": "pypi-a-token", "github.token": "not-used-by-git-here"}
    return run_step(the_step, work, ctx, bindir), work


def test_on_merge_the_reviewed_plan_is_applied_and_its_result_left_for_the_comment(
        origin, bindir):
    merge = origin.open_pull_request()
    artifact = reviewed_plan(origin, bindir, merge)
    merged = origin.merge_pull_request()
    assert merged != merge  # the merge button makes another commit: the same tree
    done, work = apply_step(origin, artifact, bindir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "apply.status").read_text() == "0\n"
    assert "Apply complete!" in (work / "apply.log").read_text()
    assert origin.remote_tags() == {"v0.1.0", "v0.2.0"}
    assert git(origin.bare, "log", "-1", "--format=%s", "main") == "chore(release): 0.2.0"
    fresh = origin.checkout_main("fresh")  # any other clone sees the release in the state
    history = origin.scalpel(fresh, "history", "--json")
    assert [r["version"] for r in json.loads(history.stdout)["releases"]] == ["0.1.0", "0.2.0"]
    post = step(CI / "apply-on-merge.yml", "apply", "Post the result to the pull request")
    assert "apply.status" in post["with"]["script"] and "apply.log" in post["with"]["script"]
    assert post["if"].startswith("always()")  # a failure is reported too


def test_on_merge_a_plan_that_moved_since_the_review_is_refused_and_nothing_applied(
        origin, bindir):
    merge = origin.open_pull_request()
    artifact = reviewed_plan(origin, bindir, merge)
    origin.commit_on_main("fix: merged after the review", "late.txt")
    origin.merge_pull_request()
    done, work = apply_step(origin, artifact, bindir)
    assert done.returncode == 1
    log = (work / "apply.log").read_text()
    assert (work / "apply.status").read_text() == "1\n"
    assert "the plan now differs from the reviewed one: commit fix: merged after the review " \
        "(patch) is in the release now, not in the review" in log
    assert origin.remote_tags() == {"v0.1.0"}  # nothing applied
    assert git(origin.bare, "log", "-1", "--format=%s", "main").startswith("Merge pull")


def test_branch_is_for_a_detached_head_and_reviewed_is_not_a_saved_plan(origin, bindir):
    merge = origin.open_pull_request(main_moves=False)
    work = origin.checkout_pull_request("pr")
    named = origin.scalpel(work, "plan", "--branch", "release/1.x", "--out", "plan.json")
    assert named.returncode == 0, named.stderr
    saved = json.loads((work / "plan.json").read_text())
    assert next(c for c in saved["changes"] if c["address"] == "git.commit")["after"][
        "branch"] == "release/1.x"
    assert f"onto release/1.x, made on top of {merge[:12]}" in named.stdout
    shown = origin.scalpel(work, "show", "plan.json", "--format", "markdown")
    assert shown.returncode == 0 and "onto release/1.x" in shown.stdout
    wrong = origin.scalpel(origin.dev, "plan", "--branch", "release/1.x")
    assert wrong.returncode == 1
    assert "--branch release/1.x, but main is checked out" in wrong.stderr
    both = origin.scalpel(origin.dev, "apply", str(work / "plan.json"), "--reviewed",
                          str(work / "plan.json"))
    assert both.returncode == 1 and "cannot be combined" in both.stderr
    assert "Traceback" not in wrong.stderr + both.stderr
