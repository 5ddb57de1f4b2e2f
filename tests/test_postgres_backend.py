"""The postgres state backend against a real PostgreSQL cluster that the session starts on
127.0.0.1 (``postgres_server`` in conftest: initdb, pg_ctl, scram passwords over TCP), each
test in a database of its own. Other clones are real `git clone`s; a second apply is a real
second process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_scalpel, scalpel_cmd, wait_for

from scalpel_plan.errors import StateError
from scalpel_plan.state.postgres_backend import PostgresBackend

SPEC = """project: {{name: {name}}}
{state}stages:
  build: {{run: "{build}"}}
publish:
  git.tag: {{push: origin}}
"""


def on_postgres(url: str) -> str:
    return f"state: {{backend: postgres, url: '{url}'}}\n"


def released_spec(repo, *, state: str, build: str = "true", name: str = "demo") -> None:
    repo.write_spec(SPEC.format(state=state, build=build, name=name))
    (repo.path / ".gitignore").write_text(".scalpel/\ngo\nseen-by-the-stage\n")
    git(repo.path, "add", ".")
    git(repo.path, "commit", "-qm", "feat: release with scalpel")
    git(repo.path, "push", "-q", "origin", "main")


def clone(remote: str, into: Path) -> Path:
    git(into.parent, "clone", "-q", "-b", "main", remote, str(into))
    return into


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """What the database holds, read with psycopg directly (not through the backend)."""
    import psycopg

    with psycopg.connect(url, password=os.environ["PGPASSWORD"]) as conn:
        return conn.execute(query, params).fetchall()


def holders(url: str) -> list[tuple[Any, ...]]:
    """The holder rows (none before the first run made the tables)."""
    import psycopg

    try:
        return rows(url, "SELECT project, id, holder FROM scalpel.locks")
    except psycopg.errors.UndefinedTable:
        return []


def history(cli, where: Path) -> list[dict]:
    done = cli(where, "history", "--json")
    assert done.code == 0, done.err
    return json.loads(done.out)["releases"]


def test_a_release_is_in_the_database_and_a_fresh_clone_sees_it_and_rolls_back(
        repo, cli, tmp_path, postgres_url):
    released_spec(repo, state=on_postgres(postgres_url))
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: the second release")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert not (repo.path / ".scalpel" / "state.json").exists()  # nothing kept only here
    [(revision, serial, state)] = rows(postgres_url, "SELECT revision, serial, state FROM "
                                       "scalpel.states WHERE project = 'demo'")
    assert revision > 2 and serial == json.loads(state)["serial"]
    assert [v for (v,) in rows(postgres_url, "SELECT value FROM scalpel.meta")] == ["1"]
    assert holders(postgres_url) == []  # the lock went with its apply

    fresh = clone(str(repo.remote), tmp_path / "fresh")
    assert [r["version"] for r in history(cli, fresh)] == ["0.1.0", "0.2.0"]
    status = cli(fresh, "status")
    assert status.code == 0 and "0.2.0" in status.out
    metrics = cli(fresh, "metrics")
    assert metrics.code == 0 and "release.duration" in metrics.out
    profile = cli(fresh, "profile")  # the last apply's journal is in the database
    assert profile.code == 0 and "stage.build" in profile.out, profile.out
    rollback = cli(fresh, "rollback", "--to", "0.1.0", "--out", "rollback.json")
    assert rollback.code == 0, rollback.err
    assert "0.2.0 → 0.1.0" in rollback.out
    assert cli(fresh, "apply", "rollback.json").code == 0
    assert cli(repo.path, "status").out.count("live: 0.1.0") == 1  # the first clone sees it


def test_two_clones_applying_at_once_one_runs_the_other_names_the_holder(repo, cli, tmp_path,
                                                                       postgres_url):
    # the first apply's build waits for the test's go-ahead (at most 60 s: a safety net)
    released_spec(repo, state=on_postgres(postgres_url),
                  build="for i in $(seq 1200); do [ -f go ] && break; sleep 0.05; done")
    other = clone(str(repo.remote), tmp_path / "other")
    first = subprocess.Popen([*scalpel_cmd(), "apply", "--auto-approve"], cwd=repo.path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        wait_for(lambda: holders(postgres_url), what="the first apply never took the lock")
        second = cli(other, "apply", "--auto-approve")
        assert second.code == 1
        assert "locked by" in second.err and f"(pid {first.pid})" in second.err
        assert "for `apply`" in second.err
        held = cli(other, "state", "lock")  # another clone (any machine) sees the holder
        assert held.code == 0 and f"pid {first.pid}" in held.err
    finally:
        (repo.path / "go").touch()
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert list(repo.remote_tags()) == ["v0.1.0"]  # one release: the other did nothing
    assert [r["version"] for r in history(cli, other)] == ["0.1.0"]
    assert "not locked" in cli(other, "state", "lock").err


def test_a_lost_race_is_reported_with_the_writer_and_nothing_is_overwritten(repo, tmp_path,
                                                                           postgres_url):
    mine = PostgresBackend(postgres_url, "demo", repo.path / ".scalpel")
    theirs = PostgresBackend(postgres_url, "demo", tmp_path / "other" / ".scalpel")
    first, second = mine.read(), theirs.read()  # neither finds a state yet
    mine.write(first)
    with pytest.raises(StateError, match="nothing was overwritten"):
        theirs.write(second)  # the first write of a project races too (an insert)
    state = mine.read()
    with theirs.lock("hotfix"):  # between my read and my write, the other run writes
        their_state = theirs.read()
        their_state.serial = 7
        theirs.write(their_state)
    written = rows(postgres_url, "SELECT revision, state FROM scalpel.states")
    state.serial = 3
    with pytest.raises(StateError) as raised:
        mine.write(state)
    message = str(raised.value)
    assert "was written by" in message and "for `hotfix`" in message
    assert "nothing was overwritten" in message
    assert rows(postgres_url, "SELECT revision, state FROM scalpel.states") == written
    assert PostgresBackend(postgres_url, "demo", tmp_path).read().serial == 7
    mine.read()  # read again: now the write knows what it replaces
    mine.write(state)
    assert PostgresBackend(postgres_url, "demo", tmp_path).read().serial == 3


def test_two_writers_at_once_never_lose_an_update(tmp_path, postgres_url):
    """Each writer adds one to the state's serial, again and again, with no lock: a write on
    a state that moved since its read is refused, re-read and tried again. Every increment
    counts, so a lost update (a blind write over the other's) would show as a smaller sum."""
    rounds, refused = 25, [0, 0]
    barrier = threading.Barrier(2)

    def writer(n: int) -> None:
        backend = PostgresBackend(postgres_url, "demo", tmp_path / f"w{n}")
        barrier.wait()
        done = 0
        while done < rounds:
            state = backend.read()
            state.serial += 1
            try:
                backend.write(state)
                done += 1
            except StateError:
                refused[n] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    final = PostgresBackend(postgres_url, "demo", tmp_path).read()
    assert final.serial == 2 * rounds
    [(revision,)] = rows(postgres_url, "SELECT revision FROM scalpel.states")
    assert revision == 2 * rounds  # one revision a write that took effect, none for the others
    assert sum(refused) > 0  # they did race (else this test proved nothing)


def take_lock_and_vanish(repo) -> str:
    """A process that takes the lock and dies without releasing it, as a killed CI run;
    the lock's ID."""
    took = subprocess.run([sys.executable, "-c", (
        "import os, pathlib\n"
        "from scalpel_plan.operations.project import open_records\n"
        "held = open_records(pathlib.Path('release.yml')).backend.lock('apply')\n"
        "print(held.__enter__().id, flush=True)\n"
        "os._exit(0)\n")],
        cwd=repo.path, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return took.stdout.strip()


def test_a_holder_whose_session_is_gone_blocks_nothing_and_state_unlock_clears_it(
        repo, cli, postgres_url):
    released_spec(repo, state=on_postgres(postgres_url))
    lock_id = take_lock_and_vanish(repo)
    assert [h[1] for h in holders(postgres_url)] == [lock_id]  # its row is left
    assert "not locked" in cli(repo.path, "state", "lock").err  # its session's lock is not
    assert cli(repo.path, "state", "unlock", "not-the-id").code == 1
    cleared = cli(repo.path, "state", "unlock", lock_id)
    assert cleared.code == 0 and lock_id in cleared.err, cleared.err
    assert holders(postgres_url) == []
    take_lock_and_vanish(repo)  # and a row left behind is no lock: the next apply runs
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    assert holders(postgres_url) == []


def test_unlock_refuses_a_lock_whose_session_still_holds_it(repo, cli, tmp_path,
                                                           postgres_url):
    released_spec(repo, state=on_postgres(postgres_url))
    other = PostgresBackend(postgres_url, "demo", tmp_path / "elsewhere")
    with other.lock("apply") as info:
        refused = cli(repo.path, "state", "unlock", info.id)
        assert refused.code == 1 and "running session" in refused.err
        assert "pg_terminate_backend(" in refused.err
        assert [h[1] for h in holders(postgres_url)] == [info.id]
    assert holders(postgres_url) == []


def second_project(tmp_path: Path, name: str, state: str, cli) -> Path:
    """Another repository with its own bare remote, released once."""
    remote = tmp_path / f"{name}.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    work = tmp_path / name
    git(tmp_path, "init", "-q", str(work))
    git(work, "remote", "add", "origin", str(remote))
    (work / "release.yml").write_text(SPEC.format(state=state, build="true", name=name))
    (work / ".gitignore").write_text(".scalpel/\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "feat: first")
    git(work, "push", "-q", "origin", "main")
    assert cli(work, "apply", "--auto-approve").code == 0
    return work


def test_two_projects_in_one_database_and_status_all_lists_both(repo, cli, tmp_path,
                                                               postgres_url, monkeypatch):
    released_spec(repo, state="")  # release.yml says nothing: the environment chooses
    monkeypatch.setenv("SCALPEL_STATE", postgres_url)
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    repo.commit("feat: the second release")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    other = second_project(tmp_path, "widgets", "state: {project: acme/widgets}\n", cli)
    assert {p for (p,) in rows(postgres_url, "SELECT project FROM scalpel.states")} == \
        {"demo", "acme/widgets"}
    assert [r["version"] for r in history(cli, other)] == ["0.1.0"]  # each its own history
    listed = cli(other, "status", "--all", "--json")
    assert listed.code == 0, listed.err
    found = {p["project"]: p for p in json.loads(listed.out)["projects"]}
    assert found["demo"]["last_release"] == "0.2.0" and found["demo"]["live"] == "0.2.0"
    assert found["acme/widgets"]["last_release"] == "0.1.0"
    assert found["acme/widgets"]["status"] == "succeeded"
    table = cli(repo.path, "status", "--all")
    assert table.code == 0 and "acme/widgets" in table.out and "v0.2.0" in table.out


def test_status_all_on_a_backend_of_one_project_says_so(repo, cli):
    released_spec(repo, state="")
    done = cli(repo.path, "status", "--all")
    assert done.code == 1 and "holds this project's state alone" in done.err
    assert "postgres" in done.err and "Traceback" not in done.err


def test_the_password_never_appears_in_any_output_or_record(repo, cli, postgres_server,
                                                            postgres_url, monkeypatch):
    password = postgres_server.password
    monkeypatch.delenv("PGPASSWORD")
    with_password = postgres_url.replace("scalpel@", f"scalpel:{password}@")
    released_spec(repo, state="")
    monkeypatch.setenv("SCALPEL_STATE", with_password)
    outputs = [cli(repo.path, *args) for args in (
        ["apply", "--auto-approve"], ["history"], ["status", "--all"], ["state", "lock"])]
    assert all(done.code == 0 for done in outputs), [d.err for d in outputs]
    monkeypatch.setenv("SCALPEL_STATE", with_password.replace(f":{postgres_server.port}/",
                                                              ":1/"))
    unreachable = cli(repo.path, "history")
    assert unreachable.code == 1 and "cannot reach" in unreachable.err
    assert "scalpel:***@127.0.0.1:1/" in unreachable.err
    outputs.append(unreachable)
    assert not any(password in done.out + done.err for done in outputs)
    monkeypatch.setenv("PGPASSWORD", password)  # for this test's own reading
    stored = rows(postgres_url, "SELECT state || written_by FROM scalpel.states UNION ALL "
                  "SELECT journal FROM scalpel.journals UNION ALL SELECT record FROM "
                  "scalpel.metrics")
    assert stored and not any(password in text for (text,) in stored)
    files = [p.read_bytes() for p in (repo.path / ".scalpel").rglob("*") if p.is_file()]
    assert files and not any(password.encode() in data for data in files)


def test_a_wrong_password_is_refused_by_the_server_and_said_without_it(repo, cli,
                                                                      postgres_url,
                                                                      monkeypatch):
    released_spec(repo, state=on_postgres(postgres_url))
    monkeypatch.setenv("PGPASSWORD", "not-the-Password-123")
    done = cli(repo.path, "history")
    assert done.code == 1 and "password authentication failed" in done.err
    assert "not-the-Password-123" not in done.err


def test_release_yml_may_not_hold_the_password(repo, cli, postgres_url):
    released_spec(repo, state=on_postgres(postgres_url.replace("scalpel@",
                                                                "scalpel:hunter2-Pw9@")))
    done = cli(repo.path, "history")
    assert done.code == 1 and "holds a password" in done.err and "PGPASSWORD" in done.err
    assert "hunter2-Pw9" not in done.out + done.err


def test_without_psycopg_the_error_says_what_to_install(repo, postgres_url):
    released_spec(repo, state=on_postgres(postgres_url))
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['psycopg'] = None\n"
         "from scalpel_plan.cli import main; sys.exit(main(['history']))"],
        cwd=repo.path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 1, done.stderr
    assert "pip install 'scalpel-plan[postgres]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_over_the_environment_a_fresh_clone_reads_the_same_state(repo, tmp_path,
                                                                postgres_url):
    released_spec(repo, state="")
    env = {"SCALPEL_STATE": postgres_url.replace("postgresql://", "postgres://")}
    assert run_scalpel(repo.path, "apply", "--auto-approve", env=env).returncode == 0
    fresh = clone(str(repo.remote), tmp_path / "fresh")
    done = run_scalpel(fresh, "history", env=env)
    assert done.returncode == 0 and "0.1.0" in done.stdout
    local = run_scalpel(fresh, "history", env={"SCALPEL_STATE": "local"})
    assert local.returncode == 0 and "0.1.0" not in local.stdout


def test_a_stage_never_sees_the_database_password(repo, cli, postgres_server, postgres_url):
    released_spec(repo, state=on_postgres(postgres_url),
                  build="printenv > seen-by-the-stage")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    seen = (repo.path / "seen-by-the-stage").read_text()
    assert "PATH=" in seen and postgres_server.password not in seen


def test_a_stage_never_sees_a_password_given_in_scalpel_state(repo, cli, postgres_server,
                                                              postgres_url, monkeypatch):
    """A URL with its password in SCALPEL_STATE (the README advises PGPASSWORD, but a user may
    do it): the stages never inherit the variable."""
    import urllib.parse

    parts = urllib.parse.urlsplit(postgres_url)
    login = f"{postgres_server.user}:{postgres_server.password}@{parts.hostname}:{parts.port}"
    monkeypatch.setenv("SCALPEL_STATE", urllib.parse.urlunsplit(parts._replace(netloc=login)))
    monkeypatch.delenv("PGPASSWORD")
    released_spec(repo, state="", build="printenv > seen-by-the-stage")
    done = cli(repo.path, "apply", "--auto-approve")
    assert done.code == 0, done.err
    seen = (repo.path / "seen-by-the-stage").read_text()
    assert "PATH=" in seen and postgres_server.password not in seen
    assert "SCALPEL_STATE" not in seen
