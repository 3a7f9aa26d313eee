"""The journal of a campaign: one SQLite file in the run directory, written in batches.

Contract: :class:`Journal` opens (or creates) ``<run_dir>/journal.sqlite`` in WAL mode with
the standard library's ``sqlite3``, checks that it is a tandem journal of a format this version
reads, and keeps, per task key: its name, kind, spec digest, state, attempts so far (over all
runs), how many of them were preempted, its directory, its failure, its placement and its
stored result (:mod:`tandem.journal.results`); per run: when it began and ended and whether it
resumed; every state change as a row of ``events``; and each agent's saved state. Writes are
buffered by the caller's thread and written by :meth:`flush` in one transaction: a
``kill -9`` loses at most what was not flushed (WAL with ``synchronous=NORMAL`` survives the
process's death, not the machine's). Nothing here deletes a row of an earlier run, and a file
that is not a journal is never written to: :class:`~tandem.errors.JournalError` says what it
is and what to do.
Imports: tandem.errors, tandem.journal.results.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import JournalError
from tandem.journal.results import Stored

JOURNAL_FILE = "journal.sqlite"
FORMAT = "tandem-journal"
VERSION = 1

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL,
                   resumed INTEGER NOT NULL, pid INTEGER, host TEXT, summary TEXT);
CREATE TABLE tasks (key TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                    digest TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                    preempted INTEGER NOT NULL, run INTEGER NOT NULL, workdir TEXT,
                    placement TEXT, failure TEXT, result BLOB, result_file TEXT,
                    submitted REAL NOT NULL, ended REAL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, run INTEGER NOT NULL, key TEXT NOT NULL,
                     state TEXT NOT NULL, attempt INTEGER NOT NULL, at REAL NOT NULL,
                     detail TEXT);
CREATE TABLE agents (name TEXT PRIMARY KEY, state BLOB NOT NULL, run INTEGER NOT NULL,
                     at REAL NOT NULL);
"""

_UPSERT_SUBMIT = (
    "INSERT INTO tasks (key, name, kind, digest, state, attempts, preempted, run, workdir, "
    "submitted) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
    "name=excluded.name, kind=excluded.kind, digest=excluded.digest, state='pending', "
    "run=excluded.run, workdir=excluded.workdir, submitted=excluded.submitted, ended=NULL")
_UPDATE_END = (
    "UPDATE tasks SET state=?, attempts=?, preempted=?, placement=?, failure=?, result=?, "
    "result_file=?, ended=? WHERE key=?")
_EVENT = "INSERT INTO events (run, key, state, attempt, at, detail) VALUES (?, ?, ?, ?, ?, ?)"
_AGENT = ("INSERT INTO agents (name, state, run, at) VALUES (?, ?, ?, ?) ON CONFLICT(name) "
          "DO UPDATE SET state=excluded.state, run=excluded.run, at=excluded.at")


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What the journal holds of one task key."""

    key: str
    name: str
    kind: str
    digest: str
    state: str
    attempts: int
    preempted: int
    run: int
    workdir: str | None
    failure: str | None
    result: Stored | None

    @property
    def finished(self) -> bool:
        """Done, with a result that can be returned (or none needed)."""
        return self.state == "done" and self.result is not None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _check(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a journal of this format (it is left as it is)."""
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise JournalError(f"{path} is not a tandem journal ({e}); it was left untouched: move "
                           "it away, or give the session another run directory") from None
    if "meta" not in tables:
        raise JournalError(f"{path} is an SQLite file but not a tandem journal (its tables: "
                           f"{', '.join(sorted(tables)) or 'none'}); it was left untouched: "
                           "move it away, or give the session another run directory")
    meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
    if meta.get("format") != FORMAT:
        raise JournalError(f"{path} is not a tandem journal (format {meta.get('format')!r}); "
                           "it was left untouched")
    version = int(meta.get("version", "0"))
    if version != VERSION:
        raise JournalError(f"{path} is a tandem journal of format version {version}; this "
                           f"tandem reads version {VERSION}: resume it with the tandem that "
                           "wrote it")


def _read_only(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError as e:
        raise JournalError(f"{path} cannot be opened ({e}); it was left untouched") from None


def check_file(path: Path) -> None:
    """Raise :class:`JournalError` unless ``path`` is a journal this version reads."""
    db = _read_only(path)
    try:
        _check(db, path)
    finally:
        db.close()


def exists(run_dir: Path) -> bool:
    return (run_dir / JOURNAL_FILE).exists()


class Journal:
    """The run directory's journal (see the module docstring)."""

    def __init__(self, run_dir: Path, *, resume: bool) -> None:
        self.run_dir = run_dir
        self.path = run_dir / JOURNAL_FILE
        new = not self.path.exists()
        if not new and not resume:
            raise JournalError(
                f"{run_dir} already holds a campaign's journal ({self.path.name}); open the "
                "session with resume=True (tandem run --resume) to continue it, or give it "
                "another run directory (nothing was changed)")
        if not new:
            check_file(self.path)      # read-only first: a foreign file is never changed
        try:
            db = _connect(self.path)
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{self.path} cannot be opened as a journal ({e}); it was left "
                               "untouched") from None
        try:
            if new:
                db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [("format", FORMAT), ("version", str(VERSION)),
                                ("created", repr(time.time()))])
            row = db.execute("SELECT COALESCE(MAX(run), 0) FROM runs").fetchone()
        except BaseException:
            db.close()
            raise
        self._db: sqlite3.Connection | None = db
        self.run = int(row[0]) + 1
        self.resumed = not new
        self._submits: list[tuple[Any, ...]] = []
        self._ends: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []
        self._agents: list[tuple[Any, ...]] = []
        db.execute("INSERT INTO runs (run, started, resumed, pid, host) VALUES (?, ?, ?, ?, ?)",
                   (self.run, time.time(), int(self.resumed), os.getpid(),
                    socket.gethostname()))

    # -- reading ---------------------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        """Every task key of earlier runs."""
        return {e.key: e for e in read_entries(self._conn())}

    def agent_states(self) -> dict[str, bytes]:
        return {n: bytes(s) for n, s in self._conn().execute("SELECT name, state FROM agents")}

    # -- writing (buffered) ----------------------------------------------------------------
    def submitted(self, key: str, name: str, kind: str, digest: str, attempts: int,
                  preempted: int, workdir: str, at: float) -> None:
        self._submits.append((key, name, kind, digest, attempts, preempted, self.run, workdir,
                              at))

    def event(self, key: str, state: str, attempt: int, at: float, detail: str | None) -> None:
        self._events.append((self.run, key, state, attempt, at, detail))

    def ended(self, key: str, state: str, attempts: int, preempted: int,
              placement: str | None, failure: str | None, stored: Stored | None,
              at: float) -> None:
        blob, file = (stored.blob, stored.file) if stored is not None else (None, None)
        self._ends.append((state, attempts, preempted, placement, failure, blob, file, at, key))

    def agent_state(self, name: str, state: bytes, at: float) -> None:
        self._agents.append((name, state, self.run, at))

    @property
    def pending(self) -> int:
        """Rows buffered, not yet written."""
        return len(self._submits) + len(self._ends) + len(self._events) + len(self._agents)

    def flush(self) -> None:
        """Write what is buffered, in one transaction."""
        if not self.pending:
            return
        db = self._conn()
        submits, self._submits = self._submits, []
        ends, self._ends = self._ends, []
        events, self._events = self._events, []
        agents, self._agents = self._agents, []
        db.execute("BEGIN")
        try:
            db.executemany(_UPSERT_SUBMIT, submits)
            db.executemany(_EVENT, events)
            db.executemany(_UPDATE_END, ends)
            db.executemany(_AGENT, agents)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self, summary: str | None = None) -> None:
        """Flush, record the run's end, and close the file."""
        if self._db is None:
            return
        try:
            self.flush()
            self._db.execute("UPDATE runs SET ended=?, summary=? WHERE run=?",
                             (time.time(), summary, self.run))
        finally:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError(f"{self.path}: the journal is closed")
        return self._db


def read_entries(db: sqlite3.Connection) -> Iterator[Entry]:
    for (key, name, kind, digest, state, attempts, preempted, run, workdir, failure, blob,
         file) in db.execute(
            "SELECT key, name, kind, digest, state, attempts, preempted, run, workdir, "
            "failure, result, result_file FROM tasks"):
        stored = Stored(blob=blob, file=file) if blob is not None or file is not None else None
        yield Entry(key=key, name=name, kind=kind, digest=digest, state=state,
                    attempts=attempts, preempted=preempted, run=run, workdir=workdir,
                    failure=failure, result=stored)


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One run (session) of a campaign, as the journal recorded it."""

    run: int
    started: float
    ended: float | None
    resumed: bool
    pid: int | None
    host: str | None
    summary: str | None


def read(run_dir: Path) -> tuple[list[Run], list[Entry], dict[str, str]]:
    """The runs and task entries of ``run_dir``'s journal, read-only, and each key's last
    event (``launched``, ``preempted``, ...), for ``tandem journal``."""
    path = run_dir / JOURNAL_FILE
    if not path.exists():
        raise JournalError(f"{run_dir} has no journal ({JOURNAL_FILE}): is it a run directory "
                           "of a session that ran with a journal?")
    db = _read_only(path)
    try:
        _check(db, path)
        runs = [Run(run=r[0], started=r[1], ended=r[2], resumed=bool(r[3]), pid=r[4],
                    host=r[5], summary=r[6])
                for r in db.execute("SELECT run, started, ended, resumed, pid, host, summary "
                                    "FROM runs ORDER BY run")]
        entries = list(read_entries(db))
        last = dict(db.execute("SELECT key, state FROM events WHERE seq IN "
                               "(SELECT MAX(seq) FROM events GROUP BY key)").fetchall())
    except sqlite3.DatabaseError as e:
        raise JournalError(f"{path} is damaged ({e}); it was left untouched") from None
    finally:
        db.close()
    return runs, entries, last
