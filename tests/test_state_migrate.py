"""Moving and importing state, against real repositories: `scalpel state import` of releases
tagged before Scalpel (then a rollback to one, planned and applied), with digests a real
pypiserver gives; `scalpel state migrate` local → git (a bare remote over file://) → local
with everything equal, refused on another lineage, and killed with SIGKILL mid-way."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, run_scalpel, scalpel_cmd, wait_for
from servers import docker_registry, oci_layout, pypiserver

from scalpel_plan.state.git_backend import STATE_REF, GitBackend
from scalpel_plan.state.local import LocalBackend
from scalpel_plan.state.model import ReleaseRecord, RollbackPoint, State

SPEC = """project: {{name: demo}}
version: {{ignore_tags: ["v*-nightly"]}}
{state}stages:
  build: {{run: "test ! -f fail"}}
publish:
  git.tag: {{push: origin, moving: [stable]}}
{extra}"""


def spec(repo, *, state: str = "", extra: str = "") -> None:
    repo.write_spec(SPEC.format(state=state, extra=extra))
    (repo.path / ".gitignore").write_text(".scalpel/\nfail\n*.json\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "chore: release with scalpel")
    git(repo.path, "push", "-q", "origin", "main")


def tag_by_hand(repo, tag: str, date: str) -> str:
    """A release tag made before Scalpel: an annotated tag at HEAD, dated ``date``."""
    done = subprocess.run(["git", "tag", "-a", tag, "-m", f"release {tag}"], cwd=repo.path,
                          env={**os.environ, "GIT_COMMITTER_DATE": date}, check=True)
    assert done.returncode == 0
    git(repo.path, "push", "-q", "origin", "main", f"refs/tags/{tag}")
    return git(repo.path, "rev-parse", f"{tag}^{{commit}}")


def old_releases(repo) -> dict[str, str]:
    """0.1.0 and 0.2.0 tagged by hand (stable moved by hand too), and tags that are none."""
    first = tag_by_hand(repo, "v0.1.0", "2025-01-10T10:00:00+02:00")
    repo.commit("feat: the second one")
    second = tag_by_hand(repo, "v0.2.0", "2025-02-20T12:00:00+00:00")
    git(repo.path, "tag", "stable")
    git(repo.path, "tag", "v0.9.0-nightly")  # ignored by version.ignore_tags
    git(repo.path, "tag", "tools-1.0")  # no release tag
    git(repo.path, "push", "-q", "origin", "stable")
    return {"0.1.0": first, "0.2.0": second}


def state_of(where: Path) -> State:
    return LocalBackend(where / ".scalpel").read()


def test_import_records_tags_made_before_scalpel_and_a_rollback_to_one_applies(repo, cli):
    commits = old_releases(repo)
    git(repo.path, "tag", "v0.3.0-tree", "HEAD^{tree}")  # a release tag on no commit
    git(repo.path, "tag", "v0.2.0.1")  # shaped as a release tag, but no semver version
    git(repo.path, "tag", "v0")  # a moving tag: not release-shaped, not worth a line
    spec(repo)
    dry = cli(repo.path, "state", "import", "--dry-run")
    assert dry.code == 0, dry.err
    assert "0.1.0" in dry.out and "v0.2.0" in dry.out and "nightly" not in dry.out + dry.err
    assert "Skipped v0.3.0-tree: it points at a tree, not a commit" in dry.err
    assert "Skipped v0.2.0.1: '0.2.0.1' is not a semver version" in dry.err
    assert "v0:" not in dry.err and "stable" not in dry.err
    assert "Would record 2 releases" in dry.err
    assert not (repo.path / ".scalpel" / "state.json").exists()  # nothing recorded

    done = cli(repo.path, "state", "import")
    assert done.code == 0, done.err
    state = state_of(repo.path)
    assert [(r.version, r.tag, r.commit, r.status, r.apply_id) for r in state.releases] == [
        ("0.1.0", "v0.1.0", commits["0.1.0"], "succeeded", None),
        ("0.2.0", "v0.2.0", commits["0.2.0"], "succeeded", None)]
    assert state.releases[0].finished_at == "2025-01-10T08:00:00.000+00:00"  # the tag's date
    assert state.releases[1].previous == "0.1.0" and state.live == "0.2.0"
    point = state.point("0.1.0")
    assert point is not None and point.resources["git.tag"]["commit"] == commits["0.1.0"]
    assert point.resources["git.tag"]["moving"] == ["stable"]

    again = cli(repo.path, "state", "import")  # idempotent
    assert again.code == 0 and "No release to import" in again.err
    assert state_of(repo.path) == state

    table = cli(repo.path, "history").out
    assert table.count("imported from its tag") == 2, table
    history = json.loads(cli(repo.path, "history", "--json").out)
    assert [r["version"] for r in history["releases"]] == ["0.1.0", "0.2.0"]
    planned = cli(repo.path, "rollback", "--to", "0.1.0", "--out", "rollback.json")
    assert planned.code == 0, planned.err
    assert "0.2.0 → 0.1.0" in planned.out and "moves stable back to v0.1.0" in planned.out
    applied = cli(repo.path, "apply", "rollback.json")
    assert applied.code == 0, applied.err
    assert git(repo.path, "ls-remote", "origin", "refs/tags/stable").split()[0] == \
        commits["0.1.0"]  # the moving tag is back on the imported point's commit
    assert state_of(repo.path).live == "0.1.0"


def test_import_never_touches_a_release_scalpel_recorded(repo, cli):
    old_releases(repo)
    spec(repo)
    repo.commit("fix: released by scalpel")
    assert cli(repo.path, "apply", "--auto-approve").code == 0  # 0.2.1, with an apply id
    mine = state_of(repo.path)
    assert [r.version for r in mine.releases] == ["0.2.1"]
    done = cli(repo.path, "state", "import")
    assert done.code == 0, done.err
    assert "v0.2.1" in done.err and "recorded already" in done.err  # left as it is
    state = state_of(repo.path)
    assert [r.version for r in state.releases] == ["0.1.0", "0.2.0", "0.2.1"]  # by date
    assert state.releases[-1] == mine.releases[-1]  # Scalpel's record untouched
    assert state.live == "0.2.1" and state.serial == mine.serial + 1
    assert [p.name for p in state.rollback_points] == ["v0.1.0", "v0.2.0", "v0.2.1"]
    assert cli(repo.path, "rollback", "--to", "0.2.0", "--auto-approve").code == 0
    assert state_of(repo.path).live == "0.2.0"


def test_import_reads_the_files_and_sha256_a_real_pypiserver_gives(repo, cli, tmp_path):
    old_releases(repo)
    with pypiserver(tmp_path / "pypi") as server:
        sdist = server.packages / "demo-0.2.0.tar.gz"
        sdist.write_bytes(b"an sdist uploaded by hand, before scalpel\n" * 50)
        wheel = server.packages / "demo-0.2.0-py3-none-any.whl"
        wheel.write_bytes(b"a wheel too\n" * 30)
        (server.packages / "demo-0.1.9.tar.gz").write_bytes(b"another version")
        spec(repo, extra=f"  pypi.demo: {{repository: \"{server.url}\"}}\n")
        done = cli(repo.path, "state", "import")
        assert done.code == 0, done.err
    point = state_of(repo.path).point("0.2.0")
    assert point is not None
    assert point.resources["pypi.demo"]["files"] == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (sdist, wheel)}
    first = state_of(repo.path).point("0.1.0")
    assert first is not None and "pypi.demo" not in first.resources  # nothing on the index
    assert "pypi.demo 2 files" in done.out


def test_an_unfinished_release_stays_the_one_the_next_plan_resumes(repo, cli):
    old_releases(repo)
    spec(repo)
    unfinished = ReleaseRecord(version="0.2.1", previous="0.2.0", tag="v0.2.1",
                               commit=git(repo.path, "rev-parse", "HEAD"), status="failed",
                               apply_id="20200101T000000-abcdef", started_at="2020-01-01T00:00:00Z")
    LocalBackend(repo.path / ".scalpel").write(State(lineage="l", serial=1,
                                                     releases=[unfinished]))
    assert cli(repo.path, "state", "import").code == 0
    state = state_of(repo.path)
    assert [r.version for r in state.releases] == ["0.1.0", "0.2.0", "0.2.1"]
    assert state.releases[-1] == unfinished
    plan = cli(repo.path, "plan")
    assert plan.code == 0 and "continues the unfinished release 0.2.1" in plan.out + plan.err


def pushed_by_skopeo(registry, layout: Path, tag: str) -> str:
    """``layout`` pushed as ``tag`` by skopeo (an independent client); its manifest digest."""
    ref = f"docker://{registry.host}/acme/app:{tag}"
    creds = f"{registry.user}:{registry.password}"
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", creds,
                    f"oci:{layout}:latest", ref], check=True, capture_output=True)
    return pushed_digest(registry, tag)


def test_import_reads_image_digests_and_a_rollback_re_points_latest(repo, cli, tmp_path,
                                                                     monkeypatch):
    old_releases(repo)
    with docker_registry(tmp_path / "registry") as registry:
        monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
        first = pushed_by_skopeo(registry, oci_layout(tmp_path / "a", {"v": b"one\n"}), "0.1.0")
        second_layout = oci_layout(tmp_path / "b", {"v": b"two\n"})
        second = pushed_by_skopeo(registry, second_layout, "0.2.0")
        assert pushed_by_skopeo(registry, second_layout, "latest") == second != first
        spec(repo, extra=f"""  docker.app:
    image: {registry.host}/acme/app
    source: build/image
    username: pusher
    password: "${{secrets.registry_password}}"
secrets:
  registry_password: {{env: REGISTRY_PASSWORD}}
""")
        done = cli(repo.path, "state", "import")
        assert done.code == 0, done.err
        point = state_of(repo.path).point("0.1.0")
        assert point is not None
        attrs = point.resources["docker.app"]
        assert attrs["digest"] == first and attrs["digests"] == {"0.1.0": first,
                                                                 "latest": first}
        assert registry.password not in (repo.path / ".scalpel" / "state.json").read_text()
        back = cli(repo.path, "rollback", "--to", "0.1.0", "--auto-approve")
        assert back.code == 0, back.err
        assert pushed_digest(registry, "latest") == first  # latest is 0.1.0's image again
        assert pushed_digest(registry, "0.2.0") == second  # a version tag never moves


def pushed_digest(registry, tag: str) -> str:
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
                          f"{registry.user}:{registry.password}",
                          f"docker://{registry.host}/acme/app:{tag}"],
                         capture_output=True, check=True).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_import_says_what_it_could_not_read_and_records_the_rest(repo, cli, tmp_path):
    old_releases(repo)
    spec(repo, extra='  pypi.demo: {repository: "http://127.0.0.1:9/"}\n')  # nothing listens
    done = cli(repo.path, "state", "import")
    assert done.code == 0, done.err
    assert "not read: pypi.demo" in done.err
    assert [r.version for r in state_of(repo.path).releases] == ["0.1.0", "0.2.0"]


# migrate ---------------------------------------------------------------------------------

def released_twice_with_an_incident(repo, cli) -> State:
    """A real history in the local folder: a release, a failed one (its incident report),
    the same release finished, and a release tagged before Scalpel, imported."""
    tag_by_hand(repo, "v0.0.9", "2025-01-01T00:00:00+00:00")
    spec(repo)
    assert cli(repo.path, "state", "import").code == 0
    repo.commit("feat: one")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: two")
    (repo.path / "fail").touch()
    assert cli(repo.path, "apply", "--auto-approve").code == 1
    (repo.path / "fail").unlink()
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    return state_of(repo.path)


def everything(backend) -> tuple[State, list[dict], dict[str, bytes | None]]:
    state = backend.read()
    runs = [r.apply_id for r in state.releases if r.apply_id]
    records = {name: backend.read_record(name)
               for name in ["alerts.json", *(f"incidents/{run}.md" for run in runs)]}
    return state, backend.read_metrics(), records


def test_migrate_local_to_git_and_back_keeps_everything(repo, cli, tmp_path, monkeypatch):
    before = released_twice_with_an_incident(repo, cli)
    local = everything(LocalBackend(repo.path / ".scalpel"))
    assert any(local[2].values()), "the failed release wrote an incident report"
    assert len(local[1]) > 5 and before.serial > 5

    done = cli(repo.path, "state", "migrate", "--to", "git+origin")
    assert done.code == 0, done.err
    assert f"serial {before.serial}, lineage {before.lineage}" in done.err
    assert "Read back from refs/scalpel/state on origin and compared" in done.err
    assert "state: {backend: git, remote: origin}" in done.err and "SCALPEL_STATE=git+origin" \
        in done.err

    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", "-b", "main", str(repo.remote), str(fresh))
    on_git = everything(GitBackend(fresh, "origin", fresh / ".scalpel"))
    assert on_git == local  # state (serial, lineage), metrics, records: a fresh clone's view
    shown = run_scalpel(fresh, "history", "--json", env={"SCALPEL_STATE": "git+origin",
                                                         "PYTHONPATH": os.pathsep.join(sys.path)})
    assert [r["version"] for r in json.loads(shown.stdout)["releases"]] == \
        [r.version for r in before.releases]
    monkeypatch.setenv("SCALPEL_STATE", "git+origin")
    profile = cli(fresh, "profile")  # no journal on this machine: it came through the ref
    assert profile.code == 0 and "stage.build" in profile.out, profile.err
    back = cli(fresh, "state", "migrate", "--to", "local")
    monkeypatch.delenv("SCALPEL_STATE")
    assert back.code == 0, back.err
    assert everything(LocalBackend(fresh / ".scalpel")) == local
    runs = [r.apply_id for r in before.releases if r.apply_id]
    original, copied = LocalBackend(repo.path / ".scalpel"), LocalBackend(fresh / ".scalpel")
    assert copied.read_journal(runs[-1]) == original.read_journal(runs[-1]) != []  # seq, ts
    assert all(copied.read_journal(r) in ([], original.read_journal(r)) for r in runs)
    assert cli(fresh, "rollback", "--to", "0.0.9", "--out", "rb.json").code == 0

    again = cli(repo.path, "state", "migrate", "--to", "git+origin")
    assert again.code == 0 and "already holds this state" in again.err


def test_migrate_refuses_a_destination_with_another_lineage_unless_forced(repo, cli):
    before = released_twice_with_an_incident(repo, cli)
    other = GitBackend(repo.path, "origin", repo.path / ".scalpel-other")
    theirs = State(lineage="another-project", serial=3, releases=[ReleaseRecord(
        version="9.0.0", commit="a" * 40, status="succeeded")], rollback_points=[RollbackPoint(
            name="v9.0.0", version="9.0.0", commit="a" * 40)])
    other.write(theirs)
    ref = git(repo.path, "ls-remote", "origin", STATE_REF)

    refused = cli(repo.path, "state", "migrate", "--to", "git+origin")
    assert refused.code == 1
    assert "already holds another state (lineage another-project" in refused.err
    assert "--force" in refused.err
    assert git(repo.path, "ls-remote", "origin", STATE_REF) == ref  # untouched
    assert GitBackend(repo.path, "origin", repo.path / ".scalpel-other").read() == theirs

    forced = cli(repo.path, "state", "migrate", "--to", "git+origin", "--force")
    assert forced.code == 0, forced.err
    assert "Replaced the state of lineage another-project" in forced.err
    assert GitBackend(repo.path, "origin", repo.path / ".scalpel-check").read() == before


def test_migrate_refuses_where_the_state_already_is_and_an_unknown_url(repo, cli):
    released_twice_with_an_incident(repo, cli)
    same = cli(repo.path, "state", "migrate", "--to", "local")
    assert same.code == 1 and "already in" in same.err
    unknown = cli(repo.path, "state", "migrate", "--to", "ftp://user:hunter2pass@host/x")
    assert unknown.code == 1 and "names no state backend" in unknown.err
    assert "hunter2pass" not in unknown.err + unknown.out
    assert "Traceback" not in unknown.err


def big_local_state(folder: Path) -> tuple[State, list[dict]]:
    """A long history written through the local backend: a state of 400 releases, 4,000
    metric records and a report, so that a migration takes long enough to be killed."""
    backend = LocalBackend(folder)
    releases = [ReleaseRecord(version=f"1.{n}.0", tag=f"v1.{n}.0", commit=f"{n:040x}",
                              status="succeeded", apply_id=None) for n in range(400)]
    points = [RollbackPoint(name=r.tag or "", version=r.version, commit=r.commit)
              for r in releases]
    state = State(lineage="big-history", serial=401, releases=releases, rollback_points=points,
                  live="1.399.0")
    backend.write(state)
    metrics = [{"name": "release.duration", "value": n / 10, "type": "total",
                "release": f"1.{n % 400}.0", "run": None} for n in range(4000)]
    backend.append_metrics(metrics)
    backend.write_record("alerts.json", b'{"fp": {"console": "2026-01-01T00:00:00Z"}}')
    return state, backend.read_metrics()


def test_a_migration_killed_at_any_point_leaves_the_destination_untouched_or_complete(
        repo, tmp_path):
    spec(repo)
    state, metrics = big_local_state(repo.path / ".scalpel")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    seen = {"untouched": 0, "complete": 0}
    for attempt, extra in enumerate([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0, 3.0]):
        proc = subprocess.Popen([*scalpel_cmd(), "state", "migrate", "--to", "git+origin"],
                                cwd=repo.path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for(lambda p=proc: p.poll() is not None or git(
            repo.remote, "for-each-ref", "refs/scalpel/lock"), timeout=60,
            what="it never took the lock")
        time.sleep(extra)  # then killed while it copies (or, at last, after it finished)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        reader = GitBackend(repo.path, "origin", tmp_path / f"reader-{attempt}")
        there, their_metrics = reader.read(), reader.read_metrics()
        if there == state:
            assert their_metrics == metrics  # the state comes last: all came before it
            seen["complete"] += 1
        else:
            assert there == State(), "a killed migration left a state half written"
            assert their_metrics in ([], metrics)  # one push each: none or all
            seen["untouched"] += 1
        holder = reader.lock_holder()
        if holder is not None:  # a SIGKILL leaves the lock ref: its holder is gone
            reader.unlock(holder.id)
        resumed = run_scalpel(repo.path, "state", "migrate", "--to", "git+origin", env=env)
        assert resumed.returncode == 0, resumed.stderr
        done = GitBackend(repo.path, "origin", tmp_path / f"after-{attempt}")
        assert (done.read(), done.read_metrics()) == (state, metrics)
        if seen["untouched"] and seen["complete"]:
            break
        for ref in git(repo.remote, "for-each-ref", "--format=%(refname)",
                       "refs/scalpel").splitlines():  # start again from an empty remote
            git(repo.remote, "update-ref", "-d", ref)
    assert seen["untouched"] >= 1 and seen["complete"] >= 1, seen


def test_migrate_to_postgres_keeps_the_project_key(repo, cli, postgres_url, monkeypatch,
                                                     tmp_path):
    """The copy is under the project's own key (release.yml's name), where every later
    command reads it, not under the name of a scratch folder."""
    before = released_twice_with_an_incident(repo, cli)
    done = cli(repo.path, "state", "migrate", "--to", postgres_url)
    assert done.code == 0, done.err
    assert "scalpel-migrate-" not in done.err
    monkeypatch.setenv("SCALPEL_STATE", postgres_url)
    shown = cli(repo.path, "history", "--json")
    assert shown.code == 0, shown.err
    assert [r["version"] for r in json.loads(shown.out)["releases"]] == \
        [r.version for r in before.releases]
    listed = cli(repo.path, "status", "--all", "--json")
    assert listed.code == 0, listed.err
    assert [p["project"] for p in json.loads(listed.out)["projects"]] == ["demo"]
    fresh = tmp_path / "fresh"  # another machine: the journals came through the database
    git(tmp_path, "clone", "-q", "-b", "main", str(repo.remote), str(fresh))
    profile = cli(fresh, "profile")
    assert profile.code == 0 and "stage.build" in profile.out, profile.err
