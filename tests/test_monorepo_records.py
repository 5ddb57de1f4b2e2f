"""A monorepo in the records: each release and rollback point names the packages it moved;
history, status and metrics show one package's releases (--package); a rollback takes one
package back and leaves the others as they are, killed and resumed without doing anything
twice. Every repository here is a real git monorepo the test makes, applied for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo, git

WRAPPER = Path(__file__).resolve().parent / "crash_wrapper.py"

SPEC = """\
project: {name: tools}
packages:
  a:
    paths: [packages/a]
    publish:
      git.a: {push: origin, moving: [a-latest]}
  b:
    paths: [packages/b]
    tag: "{name}-v{version}"
    publish:
      git.b: {push: origin, moving: [b-latest]}
  c:
    paths: [packages/c]
    publish:
      git.c: {push: origin, moving: [c-latest]}
"""


def commit(repo: Repo, message: str, *paths: str) -> str:
    for path in paths:
        target = repo.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as fh:
            fh.write(message + "\n")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", message)
    return git(repo.path, "rev-parse", "HEAD").strip()


def apply(cli, repo: Repo) -> str:
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err + done.out
    return git(repo.path, "rev-parse", "HEAD").strip()


def refs(repo: Repo) -> dict[str, str]:
    """The remote's tags, each by the commit it points at (``^{}``: an annotated tag's)."""
    found: dict[str, str] = {}
    for line in git(repo.path, "ls-remote", "--tags", "origin").splitlines():
        sha, ref = line.split("\t")
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            found[name.removesuffix("^{}")] = sha
        else:
            found.setdefault(name, sha)
    return found


def state_of(repo: Repo) -> dict:
    return json.loads((repo.path / ".scalpel" / "state.json").read_text())


def release_twice(repo: Repo, cli, state: str = "") -> tuple[Repo, str, str]:
    """Two releases: a 0.1.0, b 0.1.0, c 0.1.0 first; then a 0.1.1 and b 0.1.1 (c stays)."""
    (repo.path / ".gitignore").write_text(".scalpel/\n*.json\n")
    repo.write_spec(state + SPEC)
    commit(repo, "feat: three packages", "packages/a/x", "packages/b/x", "packages/c/x")
    git(repo.path, "push", "-q", "origin", "main")
    first = apply(cli, repo)
    commit(repo, "fix: a", "packages/a/y")
    commit(repo, "fix: b", "packages/b/y")
    second = apply(cli, repo)
    return repo, first, second


@pytest.fixture
def released(repo: Repo, cli) -> tuple[Repo, str, str]:
    return release_twice(repo, cli)


def test_each_release_records_the_packages_it_moved(released):
    repo, _, _ = released
    state = state_of(repo)
    moved = [{n: (p["version"], p["previous"], p["tag"]) for n, p in r["packages"].items()}
             for r in state["releases"]]
    assert moved == [
        {"a": ("0.1.0", None, "a@0.1.0"), "b": ("0.1.0", None, "b-v0.1.0"),
         "c": ("0.1.0", None, "c@0.1.0")},
        {"a": ("0.1.1", "0.1.0", "a@0.1.1"), "b": ("0.1.1", "0.1.0", "b-v0.1.1")}]
    assert [sorted(p["packages"]) for p in state["rollback_points"]] == [
        ["a", "b", "c"], ["a", "b"]]


def test_a_single_package_state_file_has_no_packages_field(repo, cli):
    repo.write_spec("publish:\n  git.tag: {push: origin}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    text = (repo.path / ".scalpel" / "state.json").read_text()
    assert '"packages"' not in text and '"package"' not in text


def test_history_status_and_metrics_show_one_package(released, cli):
    repo, _, _ = released
    shown = json.loads(cli(repo.path, "history", "--json", "--package", "c").out)
    assert [sorted(r["packages"]) for r in shown["releases"]] == [["a", "b", "c"]]
    assert shown["packages_live"] == {"c": shown["packages_live"]["c"]}
    assert shown["packages_live"]["c"]["version"] == "0.1.0"
    table = cli(repo.path, "history", "--package", "b").out.splitlines()
    assert table[0].split() == ["VERSION", "STATUS", "TAG", "COMMIT", "FINISHED", "ROLLBACK",
                                "POINT", "NOTE"]
    rows = [line.split() for line in table[1:]]
    assert [(r[0], r[2], r[6]) for r in rows] == [("0.1.0", "b-v0.1.0", "b-v0.1.0"),
                                                  ("0.1.1", "b-v0.1.1", "b-v0.1.1")]
    assert rows[1][-1] == "live" and "live" not in rows[0] and "+" not in "".join(table)
    only_c = cli(repo.path, "history", "--package", "c").out.splitlines()
    assert only_c[1].split()[2] == "c@0.1.0" and only_c[1].split()[-2:] == ["c@0.1.0", "live"]
    two = cli(repo.path, "history", "--package", "a", "--package", "c").out.splitlines()
    assert two[0].startswith("PACKAGE  VERSION") and len(two) == 4
    assert max(len(line) for line in table) < 100
    whole = cli(repo.path, "history").out.splitlines()
    assert whole[0].split() == ["VERSION", "STATUS", "COMMIT", "FINISHED", "ROLLBACK", "POINT",
                                "NOTE"]  # the name is no tag, and names the packages
    assert whole[2].split()[:2] == ["a-0.1.1+b-0.1.1", "succeeded"]
    assert "yes (--to this row's VERSION)" in whole[2] and whole[2].count("a-0.1.1+b-0.1.1") == 1
    status = cli(repo.path, "status", "--package", "c")
    assert status.code == 0, status.err
    assert "tools (c): release a-0.1.0+b-0.1.0+c-0.1.0 succeeded" in status.out
    assert "c        0.1.0    c@0.1.0" in status.out and "b-v0.1.1" not in status.out
    assert "git.c" in status.out and "git.a" not in status.out and "git.b" not in status.out
    timeline = json.loads(cli(repo.path, "status", "--json", "--package", "b").out)["events"]
    assert {e["address"] for e in timeline} - {None} == {"git.b"}
    every = json.loads(cli(repo.path, "status", "--json").out)
    assert [(p["package"], p["version"], p["tag"]) for p in every["packages"]] == [
        ("a", "0.1.1", "a@0.1.1"), ("b", "0.1.1", "b-v0.1.1"), ("c", "0.1.0", "c@0.1.0")]
    assert every["only"] == [] and every["version"] == "a-0.1.1+b-0.1.1"
    page = repo.path.parent / "status.html"
    assert cli(repo.path, "status", "--html", str(page), "--package", "b").code == 0
    text = page.read_text()
    assert "<title>tools (b): release a-0.1.1+b-0.1.1</title>" in text
    assert "<td>b</td><td>0.1.1</td><td>b-v0.1.1</td>" in text and "<td>a</td>" not in text
    metrics = cli(repo.path, "metrics", "--package", "c").out
    assert "a-0.1.0+b-0.1.0+c-0.1.0" in metrics and "a-0.1.1+b-0.1.1" not in metrics
    both = cli(repo.path, "metrics", "--package", "c", "--package", "b").out
    assert "a-0.1.1+b-0.1.1" in both
    for command in ("history", "status", "metrics"):
        unknown = cli(repo.path, command, "--package", "zz")
        assert unknown.code == 1 and "--package zz: no such package" in unknown.err
        assert "packages: a, b, c" in unknown.err


def test_rolling_back_one_package_leaves_the_others_as_they_are(released, cli):
    repo, first, second = released
    before = refs(repo)
    assert before["a-latest"] == before["b-latest"] == second and before["c-latest"] == first
    plan = cli(repo.path, "rollback", "--to", "b-v0.1.0", "--out", "back.json")
    assert plan.code == 0, plan.err + plan.out
    assert "Rollback tools b 0.1.1 → 0.1.0" in plan.out
    assert "a, c are left as they are" in plan.out
    saved = json.loads((repo.path / "back.json").read_text())
    assert [c["address"] for c in saved["changes"]] == ["git.b"]
    assert saved["rollback"]["package"] == "b" and saved["rollback"]["unchanged"] == ["a", "c"]
    done = cli(repo.path, "apply", "back.json")
    assert done.code == 0, done.err + done.out
    after = refs(repo)
    assert after["b-latest"] == first
    assert after["a-latest"] == second and after["c-latest"] == first  # untouched
    assert {k: v for k, v in after.items() if "latest" not in k} == \
        {k: v for k, v in before.items() if "latest" not in k}  # no release tag moved
    state = state_of(repo)
    assert state["rollbacks"][-1] | {"id": 0, "started_at": 0, "finished_at": 0} == {
        "id": 0, "from_version": "0.1.1", "to_version": "0.1.0", "point": "b-v0.1.0",
        "status": "succeeded", "started_at": 0, "finished_at": 0, "package": "b"}
    assert state["live"] == "a-0.1.1+b-0.1.1"  # the release as a whole was not rolled back
    assert [r["status"] for r in state["releases"]] == ["succeeded", "succeeded"]
    status = cli(repo.path, "status").out
    assert "tools: rollback b 0.1.0 succeeded" in status and "live:" not in status
    assert "live; b rolled back to 0.1.0" in cli(repo.path, "history").out
    rows = {p["package"]: p for p in json.loads(cli(repo.path, "status", "--json").out)
            ["packages"]}
    assert (rows["a"]["version"], rows["b"]["version"], rows["b"]["rolled_back"]) == \
        ("0.1.1", "0.1.0", True)
    again = cli(repo.path, "rollback", "--to", "0.1.0", "--package", "b")
    assert again.code == 1 and "b 0.1.0 is already b's live release" in again.err


def test_a_package_point_is_named_by_name_at_version_or_by_version_and_package(released, cli):
    repo, _, _ = released
    by_name = cli(repo.path, "rollback", "--to", "a@0.1.0", "--out", "one.json")
    assert by_name.code == 0, by_name.err
    by_version = cli(repo.path, "rollback", "--to", "0.1.0", "--package", "a",
                     "--out", "two.json")
    assert by_version.code == 0, by_version.err
    one, two = (json.loads((repo.path / f).read_text())["rollback"]
                for f in ("one.json", "two.json"))
    assert one["package"] == two["package"] == "a" and one["point"] == two["point"] == "a@0.1.0"
    unknown = cli(repo.path, "rollback", "--to", "zz@0.1.0")
    assert unknown.code == 1 and "--to zz@0.1.0: package zz: no such package" in unknown.err
    assert "packages: a, b, c" in unknown.err
    nowhere = cli(repo.path, "rollback", "--to", "0.0.9", "--package", "b")
    assert nowhere.code == 1 and "no rollback point 0.0.9 of package b" in nowhere.err
    assert "b-v0.1.0, b-v0.1.1" in nowhere.err
    bare = cli(repo.path, "rollback", "--to", "0.1.0")
    assert bare.code == 1 and "no rollback point 0.1.0" in bare.err
    assert "--to 0.1.0 --package NAME (packages: a, b, c)" in bare.err
    missing = cli(repo.path, "rollback", "--to", "c@9.9.9")
    assert missing.code == 1 and "no rollback point c@9.9.9 of package c" in missing.err
    assert "c@0.1.0" in missing.err


def killable(repo: Repo, trace: Path, *args: str, at: str = "") -> subprocess.CompletedProcess:
    """The real CLI in a process of its own, killed by SIGKILL at ``at`` (tests/crash_wrapper.py:
    ``effect:git push:1``, after the first push that succeeded); what it did, in ``trace``."""
    env = {**os.environ, "SCALPEL_CRASH_AT": at, "SCALPEL_CRASH_TRACE": str(trace)}
    return subprocess.run([sys.executable, str(WRAPPER), *args], cwd=repo.path, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def pushes(trace: Path) -> list[list[str]]:
    lines = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() \
        else []
    return [e["args"] for e in lines if e.get("effect") == "git push"]


def test_a_killed_package_rollback_resumes_without_doing_anything_twice(released, tmp_path):
    repo, first, second = released
    killed = killable(repo, tmp_path / "killed.jsonl", "rollback", "--to", "b@0.1.0",
                      "--auto-approve", at="effect:git push:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert pushes(tmp_path / "killed.jsonl") == [
        ["origin", "refs/tags/b-latest:refs/tags/b-latest"]]
    assert refs(repo)["b-latest"] == first  # it happened; the state missed it
    shown = json.loads(killable(repo, tmp_path / "history.jsonl", "history", "--json").stdout)
    assert [(r["package"], r["status"]) for r in shown["rollbacks"]] == [("b", "in_progress")]
    status = killable(repo, tmp_path / "status.jsonl", "status")
    assert "scalpel rollback --to b-v0.1.0" in status.stdout, status.stdout + status.stderr
    again = killable(repo, tmp_path / "again.jsonl", "rollback", "--to", "b@0.1.0",
                     "--auto-approve")
    assert again.returncode == 0, again.stderr + again.stdout
    assert pushes(tmp_path / "again.jsonl") == []  # the moved tag seen as done, not moved again
    after = refs(repo)
    assert after["b-latest"] == first and after["a-latest"] == second
    state = state_of(repo)
    assert [(r["package"], r["status"]) for r in state["rollbacks"]] == [("b", "succeeded")]


def test_an_old_record_of_a_monorepo_release_is_read_back_by_package(released, cli):
    repo, _, _ = released
    path = repo.path / ".scalpel" / "state.json"
    state = json.loads(path.read_text())
    for record in state["releases"] + state["rollback_points"]:
        del record["packages"]  # as a Scalpel from before per-package records wrote it
    path.write_text(json.dumps(state, indent=1))
    shown = json.loads(cli(repo.path, "history", "--json", "--package", "b").out)
    assert [{n: (p["version"], p["previous"], p["tag"]) for n, p in r["packages"].items()}
            for r in shown["releases"]] == [
        {"a": ("0.1.0", None, "a@0.1.0"), "b": ("0.1.0", None, "b-v0.1.0"),
         "c": ("0.1.0", None, "c@0.1.0")},
        {"a": ("0.1.1", "0.1.0", "a@0.1.1"), "b": ("0.1.1", "0.1.0", "b-v0.1.1")}]
    done = cli(repo.path, "rollback", "--to", "b-v0.1.0", "--auto-approve")
    assert done.code == 0, done.err + done.out
    assert state_of(repo)["rollbacks"][-1]["package"] == "b"


def test_parts_in_a_release_name_take_the_longest_package_name_first():
    from scalpel_plan.state.packages import parts_in_name

    assert parts_in_name("a-b-1.0.0+a-2.0.0-rc.1", ["a", "a-b"]) == {
        "a-b": "1.0.0", "a": "2.0.0-rc.1"}
    assert parts_in_name("1.2.0", ["a"]) is None
    assert parts_in_name("a-1.0.0+3-more-0123456789ab", ["a"]) is None


@pytest.mark.parametrize("backend", ["git", "postgres"])
def test_the_shared_backends_carry_the_packages(backend, repo, cli, request):
    state = "state: {backend: git, remote: origin}\n" if backend == "git" else \
        f"state: {{backend: postgres, url: '{request.getfixturevalue('postgres_url')}'}}\n"
    repo, first, _ = release_twice(repo, cli, state)
    assert not (repo.path / ".scalpel" / "state.json").exists()  # it is kept there, not here
    done = cli(repo.path, "rollback", "--to", "b@0.1.0", "--auto-approve")
    assert done.code == 0, done.err + done.out
    assert refs(repo)["b-latest"] == first
    shown = json.loads(cli(repo.path, "history", "--json", "--package", "b").out)
    assert [sorted(r["packages"]) for r in shown["releases"]] == [["a", "b", "c"], ["a", "b"]]
    assert [sorted(p["packages"]) for p in shown["rollback_points"]] == [
        ["a", "b", "c"], ["a", "b"]]
    assert [(r["package"], r["status"]) for r in shown["rollbacks"]] == [("b", "succeeded")]
    assert shown["packages_live"]["b"]["version"] == "0.1.0"


def test_a_package_has_its_own_release_notes_template(repo, cli):
    (repo.path / ".gitignore").write_text(".scalpel/\n*.json\n")
    (repo.path / "b-notes.md.j2").write_text("B ships {{ project }} {{ version }}\n")
    repo.write_spec(SPEC.replace("      git.b: {push: origin, moving: [b-latest]}\n",
                                 "      git.b: {push: origin, moving: [b-latest]}\n"
                                 "    notes: {template: b-notes.md.j2}\n"))
    commit(repo, "feat: three packages", "packages/a/x", "packages/b/x", "packages/c/x")
    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    notes = {p["name"]: p["notes"] for p in
             json.loads((repo.path / "plan.json").read_text())["release"]["packages"]}
    assert notes["b"] == "B ships b 0.1.0\n"
    assert notes["a"] is None and notes["c"] is None  # no top-level notes: none of their own
    both = SPEC.replace("project: {name: tools}\n",
                        "project: {name: tools}\nnotes: {template: minimal}\n")
    repo.write_spec(both.replace("      git.b: {push: origin, moving: [b-latest]}\n",
                                 "      git.b: {push: origin, moving: [b-latest]}\n"
                                 "    notes: {template: b-notes.md.j2}\n"))
    assert cli(repo.path, "plan", "--out", "plan.json").code == 0
    notes = {p["name"]: p["notes"] for p in
             json.loads((repo.path / "plan.json").read_text())["release"]["packages"]}
    assert notes["b"] == "B ships b 0.1.0\n" and "B ships" not in notes["a"]
    assert notes["a"] and notes["c"]  # the top-level template for the others
    repo.write_spec(both.replace("      git.b: {push: origin, moving: [b-latest]}\n",
                                 "      git.b: {push: origin, moving: [b-latest]}\n"
                                 "    notes: {template: nowhere.j2}\n"))
    broken = cli(repo.path, "plan")
    assert broken.code == 1 and "packages.b.notes.template: nowhere.j2: not found" in broken.err


def test_state_import_records_each_package_tag_and_a_rollback_to_one_applies(repo, cli):
    """Tags made before Scalpel (a@1.0.0, a@1.1.0, b-v2.0.0, c@0.5.0): the import records
    each as a release of its package, with its package's previous version, and never says
    every release tag is recorded when none of them are."""
    (repo.path / ".gitignore").write_text(".scalpel/\n")
    repo.write_spec(SPEC)
    old = commit(repo, "feat: three packages", "packages/a/x", "packages/b/x", "packages/c/x")
    for tag in ("a@1.0.0", "b-v2.0.0", "c@0.5.0", "v9.9.9"):
        git(repo.path, "tag", "-a", "-m", tag, tag)
    new = commit(repo, "feat: a again", "packages/a/y")
    git(repo.path, "tag", "a@1.1.0")
    git(repo.path, "tag", "a-latest")
    git(repo.path, "push", "-q", "origin", "main", "--tags")
    dry = cli(repo.path, "state", "import", "--dry-run")
    assert dry.code == 0, dry.err + dry.out
    said = dry.out + dry.err
    assert "every" not in said and "Would record 4 releases" in said
    assert "PACKAGE" in said and "v9.9.9" not in said
    done = cli(repo.path, "state", "import")
    assert done.code == 0, done.err + done.out
    state = state_of(repo)
    assert [(r["version"], r["previous"], r["packages"]) for r in state["releases"]
            if r["version"].startswith("a-")] == [
        ("a-1.0.0", None, {"a": {"version": "1.0.0", "previous": None, "tag": "a@1.0.0"}}),
        ("a-1.1.0", "a-1.0.0", {"a": {"version": "1.1.0", "previous": "1.0.0",
                                      "tag": "a@1.1.0"}})]
    point = next(p for p in state["rollback_points"] if p["name"] == "a@1.0.0")
    assert point["commit"] == old and point["packages"]["a"]["version"] == "1.0.0"
    assert point["resources"]["git.a"]["commit"] == old
    assert set(point["resources"]) == {"git.a"}  # only a's nodes are read for a's tag
    again = cli(repo.path, "state", "import")
    said = again.out + again.err
    assert again.code == 0 and "4 release tags" in said
    assert "every tag of the tag formats (a@{version}, b-v{version}, c@{version})" in said
    back = cli(repo.path, "rollback", "--to", "a@1.0.0", "--out", "back.json")
    assert back.code == 0, back.err + back.out
    assert "a 1.1.0 → 1.0.0" in back.out
    applied = cli(repo.path, "apply", "back.json")
    assert applied.code == 0, applied.err + applied.out
    assert refs(repo)["a-latest"] == old != new


def test_a_rollback_of_a_whole_release_says_what_each_package_goes_back_from(released, cli):
    """b rolled back alone first; then the first release as a whole: only a goes back (b is
    at its version already, c never moved), and the plan says so package by package."""
    repo, first, _ = released
    alone = cli(repo.path, "rollback", "--to", "b-v0.1.0", "--auto-approve")
    assert alone.code == 0, alone.err + alone.out
    whole = cli(repo.path, "rollback", "--to", "a-0.1.0+b-0.1.0+c-0.1.0", "--out", "all.json")
    assert whole.code == 0, whole.err + whole.out
    lines = [line.strip() for line in whole.out.splitlines()]
    assert lines[0].startswith("Rollback tools to a-0.1.0+b-0.1.0+c-0.1.0")
    assert "a  0.1.1 → 0.1.0" in lines and "b  0.1.1 → 0.1.0" not in whole.out
    assert "at the point's version already: b, c" in lines
    saved = json.loads((repo.path / "all.json").read_text())["rollback"]
    assert saved["packages"] == [{"name": "a", "from_version": "0.1.1", "to_version": "0.1.0"}]
    assert saved["unchanged"] == ["b", "c"]
    done = cli(repo.path, "apply", "all.json")
    assert done.code == 0, done.err + done.out
    assert refs(repo)["a-latest"] == first
    again = cli(repo.path, "rollback", "--to", "a-0.1.0+b-0.1.0+c-0.1.0")
    assert again.code == 1 and "every package is at the point's version" in again.err


def test_state_import_leaves_the_package_releases_scalpel_made_as_they_are(released, cli):
    repo, _, _ = released
    before = state_of(repo)
    done = cli(repo.path, "state", "import")
    said = done.out + done.err
    assert done.code == 0, said
    assert "5 release tags (a@0.1.0, a@0.1.1, b-v0.1.0, b-v0.1.1, c@0.1.0) recorded already" \
        in said
    assert "every tag of the tag formats (a@{version}, b-v{version}, c@{version}) is " \
        "recorded" in said
    assert state_of(repo) == before
