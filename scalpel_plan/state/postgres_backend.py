"""The PostgreSQL state backend: one database for many projects, each under its project key.

Tables (schema ``scalpel``, created on first use, their version in ``scalpel.meta``):
``states`` (one row a project: the state, and the ``revision`` every write compares and
swaps), ``journals`` (each apply's journal, written locally first and carried with each state
write; all are kept, for ``scalpel profile`` of any release), ``metrics`` and ``records``
(appends, never in the way of a state write) and ``locks`` (who holds a project's lock: the
visible holder row).

Every state write is ``UPDATE ... WHERE revision = <the one read>``: a writer that lost the
race changes nothing, says who wrote, and overwrites nothing. The lock is a session advisory
lock (``pg_try_advisory_lock`` on ``hashtextextended('scalpel:' || project, 0)``), which the
server releases when its session ends however its process died, plus the holder row that
any machine reads (``scalpel state lock``). A row whose session is gone holds nothing; the
next lock replaces it and ``scalpel state unlock ID`` clears it.

The password never comes from release.yml: ``PGPASSWORD`` (hidden from stages, masked),
``~/.pgpass``, or the ``SCALPEL_STATE`` URL (masked wherever text leaves Scalpel).
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from scalpel_plan import masking
from scalpel_plan.errors import LockHeldError, StateError
from scalpel_plan.secrets import environment_value
from scalpel_plan.state import format as state_format
from scalpel_plan.state.git_backend import _lines
from scalpel_plan.state.journal import Event, Journal, read_journal
from scalpel_plan.state.local import LocalBackend
from scalpel_plan.state.lock import LockInfo, new_holder
from scalpel_plan.state.model import FORMAT_VERSION, RollbackPoint, State
from scalpel_plan.state.overview import Overview, points_from_json
from scalpel_plan.state.postgres_url import masked_url, url_password

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1
POLL_SECONDS = 1.0
INSTALL = "pip install 'scalpel-plan[postgres]'"
# the overview of a project's state (``state.overview``): fit is false for a state of
# another format or with an apply's journal to fold in (read in full then)
OVERVIEW = """
SELECT revision,
  s->'format_version' = to_jsonb(%s::int) AND jsonb_typeof(s->'active_apply') IS DISTINCT
    FROM 'object',
  jsonb_build_object('lineage', s->'lineage', 'serial', s->'serial', 'live', s->'live',
    'releases', s->'releases', 'rollbacks', s->'rollbacks', 'hotfixes', s->'hotfixes')::text,
  CASE WHEN %s THEN (
    SELECT coalesce(jsonb_agg(jsonb_build_object(
      'name', p->'name', 'version', p->'version', 'commit', p->'commit',
      'created_at', p->'created_at', 'artifacts', (
        SELECT coalesce(jsonb_agg(k ORDER BY k COLLATE "C"), '[]'::jsonb)
        FROM jsonb_object_keys(p->'resources') AS k)) ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(s->'rollback_points') WITH ORDINALITY AS e(p, n))::text END
FROM (SELECT revision, state::jsonb AS s FROM scalpel.states WHERE project = %s) AS found
"""
KEY = "hashtextextended('scalpel:' || %s, 0)"  # a project's advisory lock

TABLES = """
CREATE SCHEMA IF NOT EXISTS scalpel;
CREATE TABLE IF NOT EXISTS scalpel.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS scalpel.states (
  project text PRIMARY KEY,
  revision bigint NOT NULL,
  serial bigint NOT NULL,
  lineage text NOT NULL,
  state text NOT NULL,
  written_by text NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS scalpel.journals (
  project text NOT NULL, apply_id text NOT NULL, journal text NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (project, apply_id));
CREATE TABLE IF NOT EXISTS scalpel.metrics (
  id bigserial PRIMARY KEY, project text NOT NULL, record text NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_by_project ON scalpel.metrics (project, id);
CREATE TABLE IF NOT EXISTS scalpel.records (
  project text NOT NULL, name text NOT NULL, data bytea NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (project, name));
CREATE TABLE IF NOT EXISTS scalpel.locks (
  project text PRIMARY KEY, id text NOT NULL, holder text NOT NULL,
  session integer NOT NULL, since timestamptz NOT NULL DEFAULT now());
"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError("the postgres state backend needs psycopg (PostgreSQL's driver), "
                         "which is not installed",
                         hint=f"install it: `{INSTALL}`, or choose another backend in "
                         "release.yml's `state:` or SCALPEL_STATE") from None
    return psycopg


class PostgresBackend:
    """The state of project ``project`` in the database at ``url``; ``folder`` keeps this
    run's journal (and copies of the records) on disk."""

    snapshot_interval = 0.0  # every change reaches the database: a CI runner's disk is not kept

    def __init__(self, url: str, project: str, folder: Path) -> None:
        self.url = url
        self.project = project
        self.folder = folder
        self.local = LocalBackend(folder)
        self._password = url_password(url) or environment_value("PGPASSWORD")
        for form in (self._password, urllib.parse.quote(self._password or "", safe="")):
            if form:
                masking.register(form)  # as libpq reads it, and as the URL spells it
        self._seen: int | None = None  # the revision last read (what the next write expects)
        self._read_once = False
        self._ready = False
        self._operation = "write"
        self._journaling: str | None = None  # the apply whose journal this run carries
        self._held: psycopg.Connection[Any] | None = None  # the lock's session, while held

    def describe(self) -> str:
        return f"project {self.project!r} in {masked_url(self.url)}"

    # connecting -------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        pg = _psycopg()
        options: dict[str, Any] = {"autocommit": True, "connect_timeout": 10,
                                   "application_name": "scalpel"}
        if self._password and not url_password(self.url):
            options["password"] = self._password  # PGPASSWORD, hidden from our environment
        try:
            conn: psycopg.Connection[Any] = pg.connect(self.url, **options)
        except pg.Error as exc:
            raise self._failed("reach", exc) from None
        except ValueError as exc:  # not a conninfo psycopg can read
            raise StateError(f"{masked_url(self.url)} is not a PostgreSQL URL psycopg can "
                             f"use: {masking.mask(str(exc))}",
                             hint="write it as postgresql://USER@HOST:PORT/DATABASE") from None
        if not self._ready:
            try:
                self._prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._ready = True
        return conn

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """The lock's session while this run holds it, else a connection of its own."""
        if self._held is not None:
            yield self._held
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _run(self, what: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement, its rows (none for a statement that returns none)."""
        pg = _psycopg()
        with self._session() as conn:
            try:
                cur = conn.execute(query, params)
                return cur.fetchall() if cur.description else []
            except pg.Error as exc:
                raise self._failed(what, exc) from None

    def _failed(self, what: str, exc: Exception) -> StateError:
        problem = masking.mask(str(exc).strip().splitlines()[0] if str(exc).strip() else
                               type(exc).__name__)
        kept = "; what was applied is in the local journal" if what == "write" else ""
        return StateError(f"cannot {what} the state of {self.describe()}: {problem}",
                          hint="check the URL, that the server runs and lets this user in "
                          f"(the password from PGPASSWORD or ~/.pgpass){kept}")

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create the tables on first use (one creator at a time), and refuse a database
        whose tables a newer Scalpel made."""
        pg = _psycopg()
        try:
            found = conn.execute("SELECT to_regclass('scalpel.meta') IS NOT NULL").fetchone()
            if not (found and found[0]):
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended("
                                 "'scalpel:schema', 0))")
                    conn.execute(TABLES)
                    conn.execute("INSERT INTO scalpel.meta VALUES ('schema_version', %s) "
                                 "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
            row = conn.execute("SELECT value FROM scalpel.meta WHERE key = "
                               "'schema_version'").fetchone()
        except pg.Error as exc:
            raise self._failed("make the tables for", exc) from None
        version = int(row[0]) if row and str(row[0]).isdigit() else 0
        if version > SCHEMA_VERSION:
            raise StateError(f"the tables of {masked_url(self.url)} were made by a newer "
                             f"Scalpel (schema {version}; this one knows up to "
                             f"{SCHEMA_VERSION})", hint="upgrade Scalpel: "
                             "`pip install -U scalpel-plan`")

    # reading ------------------------------------------------------------------------------------
    def read(self) -> State:
        """The project's latest state, with an unfinished apply's journal folded in; the
        revision read is what the next write expects to replace."""
        rows = self._run("read", "SELECT revision, state FROM scalpel.states WHERE project = %s",
                         self.project)
        self._seen, self._read_once = (int(rows[0][0]) if rows else None), True
        state = self._loaded(rows[0][1], self.project) if rows else State()
        if state.active_apply:
            journal = state.active_apply.journal
            state = state_format.folded(
                state, self.read_journal(Path(journal).stem),
                f"the journal {journal} of {self.describe()}",
                "it was damaged; `scalpel state show` shows the state without it")
        return state_format.checked(state, self.describe(), "it was written by hand or damaged")

    def read_overview(self, points: bool = True, every_release: bool = True) -> Overview:
        """What `status` and `history` show of the project's latest state (``state.overview``),
        cut out by the server (``OVERVIEW``): the resources and the rollback points' values
        never travel. A state with an apply's journal to fold in, or one this query cannot
        take apart, is read in full (``read``)."""
        try:
            rows = self._run("read", OVERVIEW, FORMAT_VERSION, points, self.project)
        except StateError:  # (a state the query cannot take apart: read says what is wrong)
            rows = [(None, None, None, None)]
        if not rows:
            return Overview(points=[] if points else None)
        revision, fit, body, listed = rows[0]
        try:
            if fit:
                state = State.model_validate_json(body)
                state.rollback_points = [RollbackPoint.model_construct(
                    name=p.name, version=p.version, commit=p.commit, created_at=p.created_at,
                    resources={a: {} for a in p.artifacts})
                    for p in (points_from_json(listed) if points else [])]
                state_format.checked(state, self.describe(), "it was written by hand or damaged")
                self._seen, self._read_once = int(revision), True
                return Overview.of(state, points, every_release)
        except ValidationError:
            pass
        return Overview.of(self.read(), points, every_release)

    def _loaded(self, text: str, project: str) -> State:
        return state_format.decoded(
            text, f"the state of project {project!r} in {masked_url(self.url)}",
            "it was written by hand or damaged; scalpel.states.written_by says who wrote it")

    def project_states(self) -> dict[str, State]:
        """Every project's state in this database (``scalpel status --all``)."""
        rows = self._run("read", "SELECT project, state FROM scalpel.states ORDER BY project")
        return {str(project): self._loaded(text, str(project)) for project, text in rows}

    # writing: compare-and-swap on the revision ------------------------------------------------
    def write(self, state: State) -> None:
        """Replace the project's state, if nobody wrote it since this run read it."""
        pg = _psycopg()
        if not self._read_once:  # nothing read: what is there now is what it replaces
            rows = self._run("read", "SELECT revision FROM scalpel.states WHERE project = %s",
                             self.project)
            self._seen, self._read_once = (int(rows[0][0]) if rows else None), True
        writer = new_holder(self._operation)
        run = f", CI run {writer.run}" if writer.run else ""
        by = masking.mask(f"{writer.who}@{writer.host} (pid {writer.pid}{run}) for "
                          f"`{writer.operation}` at {writer.since}")
        text = state_format.dump(state).decode()
        journals = [j for j in (self._carried(state),) if j is not None]
        if self._seen is None:  # a first write (a migration): the journals it records too
            journals += self._recorded_journals(state, {j[0] for j in journals})
        with self._session() as conn:
            try:
                with conn.transaction():
                    if self._seen is None:
                        cur = conn.execute(
                            "INSERT INTO scalpel.states (project, revision, serial, lineage, "
                            "state, written_by) VALUES (%s, 1, %s, %s, %s, %s) "
                            "ON CONFLICT (project) DO NOTHING RETURNING revision",
                            (self.project, state.serial, state.lineage, text, by))
                    else:
                        cur = conn.execute(
                            "UPDATE scalpel.states SET revision = revision + 1, serial = %s, "
                            "lineage = %s, state = %s, written_by = %s, written_at = now() "
                            "WHERE project = %s AND revision = %s RETURNING revision",
                            (state.serial, state.lineage, text, by, self.project, self._seen))
                    done = cur.fetchone()
                    for journal in journals if done is not None else []:
                        conn.execute(
                            "INSERT INTO scalpel.journals (project, apply_id, journal) "
                            "VALUES (%s, %s, %s) ON CONFLICT (project, apply_id) DO UPDATE "
                            "SET journal = EXCLUDED.journal, written_at = now()",
                            (self.project, *journal))
                latest = None if done else conn.execute(
                    "SELECT written_by FROM scalpel.states WHERE project = %s",
                    (self.project,)).fetchone()
            except pg.Error as exc:
                raise self._failed("write", exc) from None
        if done is None:
            who = str(latest[0]) if latest else "someone"
            raise StateError(f"{self.describe()} was written by {who} after this run read "
                             "it; nothing was overwritten",
                             hint="run the command again: it reads the new state first")
        self._seen = int(done[0])
        self._journaling = Path(state.active_apply.journal).stem if state.active_apply \
            else None

    def _recorded_journals(self, state: State, but: set[str]) -> list[tuple[str, str]]:
        """(apply id, journal text) of every apply ``state`` records whose journal is here."""
        found = []
        for apply_id in [a for r in state.releases for a in r.runs] + \
                [r.id for r in state.rollbacks]:
            path = self.local.journal_path(apply_id)
            if apply_id not in but and path.exists():
                found.append((apply_id, path.read_text(errors="replace")))
                but.add(apply_id)
        return found

    def _carried(self, state: State) -> tuple[str, str] | None:
        """(apply id, journal text) of the apply under way, or of the one that just ended:
        the local copy is ahead of the database's, which any machine reads."""
        active = Path(state.active_apply.journal).stem if state.active_apply else None
        carried = active or self._journaling
        path = self.local.journal_path(carried) if carried else None
        if carried is None or path is None or not path.exists():
            return None
        return carried, path.read_text(errors="replace")

    # locking: a session advisory lock and a visible holder row --------------------------------
    @contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the project's advisory lock (its session stays open for as long as
        ``operation``) and say who holds it in ``scalpel.locks``. A plan only reads (a job
        with read-only rights plans too): it takes no lock; a saved plan's fingerprint
        (serial, lineage) refuses it if the state moved since."""
        info = new_holder(operation)
        if operation == "plan":
            yield info
            return
        import time

        pg = _psycopg()
        conn = self._connect()
        deadline = time.monotonic() + timeout
        try:
            while not self._take(conn, info):
                if time.monotonic() >= deadline:
                    holder = self.lock_holder()
                    who = holder.describe() if holder else "another run"
                    raise LockHeldError(
                        f"the state of {self.describe()} is locked by {who}",
                        hint="wait for it to finish, or retry with --lock-timeout 5m; the lock "
                        "is released when its holder's session ends")
                time.sleep(POLL_SECONDS)
        except BaseException:
            conn.close()
            raise
        self._held, self._operation = conn, operation
        try:
            yield info
        finally:
            self._held, self._operation = None, "write"
            try:
                with conn.transaction():
                    conn.execute("DELETE FROM scalpel.locks WHERE project = %s AND id = %s",
                                 (self.project, info.id))
                    conn.execute(f"SELECT pg_advisory_unlock({KEY})", (self.project,))
            except pg.Error:  # never in place of the operation's own outcome
                sys.stderr.write(masking.mask(
                    f"Warning: the holder row of lock {info.id} in {masked_url(self.url)} "
                    f"could not be removed; the lock itself ends with this session, and "
                    f"`scalpel state unlock {info.id}` clears the row.\n"))
            finally:
                conn.close()  # ends the session: the server releases its advisory lock

    def _take(self, conn: psycopg.Connection[Any], info: LockInfo) -> bool:
        pg = _psycopg()
        try:
            got = conn.execute(f"SELECT pg_try_advisory_lock({KEY})", (self.project,)).fetchone()
            if not (got and got[0]):
                return False
            with conn.transaction():  # a row left by a session that is gone is replaced
                conn.execute("DELETE FROM scalpel.locks WHERE project = %s", (self.project,))
                conn.execute("INSERT INTO scalpel.locks (project, id, holder, session) "
                             "VALUES (%s, %s, %s, pg_backend_pid())",
                             (self.project, info.id, masking.mask(info.model_dump_json())))
        except pg.Error as exc:
            raise self._failed("lock", exc) from None
        return True

    def _holder_row(self) -> tuple[LockInfo, int, bool] | None:
        """The holder row: who, its session's server pid, and whether that session still
        holds the project's advisory lock (pg_locks)."""
        rows = self._run(
            "read the lock of",
            "SELECT l.id, l.holder, l.session, EXISTS (SELECT 1 FROM pg_locks p WHERE "
            "p.locktype = 'advisory' AND p.granted AND p.pid = l.session AND p.objsubid = 1 "
            f"AND p.classid::bigint = ({KEY} >> 32) & 4294967295 "
            f"AND p.objid::bigint = {KEY} & 4294967295) "
            "FROM scalpel.locks l WHERE l.project = %s", self.project, self.project, self.project)
        if not rows:
            return None
        lock_id, holder, session, live = rows[0]
        try:
            info = LockInfo.model_validate_json(holder)
        except ValueError:
            info = LockInfo(id=str(lock_id), who="unknown", host="unknown", pid=0,
                            operation="unknown", since="unknown")
        return info.model_copy(update={"id": str(lock_id)}), int(session), bool(live)

    def lock_holder(self) -> LockInfo | None:
        """Who holds the lock now, from any machine; a row whose session is gone holds none."""
        found = self._holder_row()
        return found[0] if found and found[2] else None

    def unlock(self, lock_id: str) -> LockInfo:
        """Clear a holder row whose session is gone (refused while it holds the lock)."""
        found = self._holder_row()
        if found is None or found[0].id != lock_id:
            raise StateError(f"no lock with ID {lock_id} in {self.describe()}",
                             hint="`scalpel state lock` shows the current holder, if any")
        info, session, live = found
        if live:
            raise StateError(
                f"lock {lock_id} is held by a running session: {info.describe()}",
                hint="its lock is released when it ends; if its process is gone but its "
                f"connection is not, a database administrator ends it with "
                f"`SELECT pg_terminate_backend({session})`")
        self._run("unlock", "DELETE FROM scalpel.locks WHERE project = %s AND id = %s",
                  self.project, lock_id)
        return info

    # the journal ----------------------------------------------------------------------------------
    def open_journal(self, apply_id: str) -> Journal:
        return self.local.open_journal(apply_id)

    def read_journal(self, apply_id: str) -> list[Event]:
        """This machine's copy when it has one (it is ahead of the database's), else the
        database's."""
        path = self.local.journal_path(apply_id)
        if path.exists():
            return read_journal(path)
        rows = self._run("read", "SELECT journal FROM scalpel.journals WHERE project = %s "
                         "AND apply_id = %s", self.project, apply_id)
        return _lines(rows[0][0]) if rows else []

    # metrics and records: appends, never in a state write's way ------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        pg = _psycopg()
        lines = [(self.project, json.dumps(r, separators=(",", ":"))) for r in records]
        with self._session() as conn:
            try:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO scalpel.metrics (project, record) "
                                    "VALUES (%s, %s)", lines)
            except pg.Error as exc:
                raise self._failed("add metrics to", exc) from None

    def read_metrics(self) -> list[dict[str, Any]]:
        rows = self._run("read", "SELECT record FROM scalpel.metrics WHERE project = %s "
                         "ORDER BY id", self.project)
        return _lines("\n".join(str(row[0]) for row in rows))

    def write_record(self, name: str, data: bytes) -> str:
        where = self.local.write_record(name, data)  # also checks the name
        self._run("write a record to",
                  "INSERT INTO scalpel.records (project, name, data) VALUES (%s, %s, %s) "
                  "ON CONFLICT (project, name) DO UPDATE SET data = EXCLUDED.data, "
                  "written_at = now()", self.project, name, data)
        return where

    def read_record(self, name: str) -> bytes | None:
        self.local._record_path(name)  # the same names as the local backend's
        rows = self._run("read", "SELECT data FROM scalpel.records WHERE project = %s AND "
                         "name = %s", self.project, name)
        return bytes(rows[0][0]) if rows else self.local.read_record(name)
