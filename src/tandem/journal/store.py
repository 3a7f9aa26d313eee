"""The journal of a campaign: one SQLite file in the run directory, written in batches.

Contract: :class:`Journal` opens (or creates) ``<run_dir>/journal.sqlite`` in WAL mode with
the standard library's ``sqlite3``, checks that it is a tandem journal of a format this version
reads, and keeps, per task key: its name, kind, spec digest, state, attempts so far (over all
runs), how many of them were preempted, its directory, its failure, its placement and its
stored result (:mod:`tandem.journal.results`); per run: when it began and ended and whether it
resumed; in ``events``, each state change that the task's row alone does not show (a launch
still running at a flush, so that an attempt in flight is known after a crash, and the end
that follows it); and each agent's saved state. Writes are buffered by the caller's thread and handed over by :meth:`Journal.flush`, one transaction per
flush (a task submitted and ended between two flushes is one row): a
``kill -9`` loses at most what was not flushed (WAL with ``synchronous=NORMAL`` survives the
process's death, not the machine's). The transactions run on a writer thread of the journal's
own (``sqlite3`` lets other threads run while it writes); :meth:`Journal.close` joins it.
Nothing here deletes a row of an earlier run, and a file
that is not a journal is never written to: :class:`~tandem.errors.JournalError` says what it
is and what to do. A session that does not resume, in a run directory that holds a journal,
moves it aside (``journal.<n>.sqlite``) and starts a new one.
Imports: tandem.errors, tandem.journal.results.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

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
                    submitted REAL NOT NULL, launched REAL, ended REAL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, run INTEGER NOT NULL, key TEXT NOT NULL,
                     state TEXT NOT NULL, attempt INTEGER NOT NULL, at REAL NOT NULL,
                     detail TEXT);
CREATE TABLE agents (name TEXT PRIMARY KEY, state BLOB NOT NULL, run INTEGER NOT NULL,
                     at REAL NOT NULL);
"""

_COLUMNS = ("key", "name", "kind", "digest", "state", "attempts", "preempted", "run", "workdir",
            "placement", "failure", "result", "result_file", "submitted", "launched", "ended")
_UPSERT_ROW = (
    f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS[1:]))
_UPDATE_END = (
    "UPDATE tasks SET state=?, attempts=?, preempted=?, placement=?, failure=?, result=?, "
    "result_file=?, launched=?, ended=? WHERE key=?")
_EVENT = "INSERT INTO events (run, key, state, attempt, at, detail) VALUES (?, ?, ?, ?, ?, ?)"
_AGENT = ("INSERT INTO agents (name, state, run, at) VALUES (?, ?, ?, ?) ON CONFLICT(name) "
          "DO UPDATE SET state=excluded.state, run=excluded.run, at=excluded.at")


class Entry(NamedTuple):
    """What the journal holds of one task key (a NamedTuple: a resumed run reads one per task
    it ever ran, and these are built four times faster than a frozen dataclass)."""

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
    blob: bytes | None
    file: str | None

    @property
    def result(self) -> Stored | None:
        """Its stored result, if any."""
        if self.blob is None and self.file is None:
            return None
        return Stored(blob=self.blob, file=self.file)

    @property
    def finished(self) -> bool:
        """Done, with a result that can be returned (or none needed)."""
        return self.state == "done" and (self.blob is not None or self.file is not None)


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


def aside(path: Path, companions: tuple[str, ...] = ()) -> Path:
    """Move ``path`` (and the files named ``path`` + each of ``companions``, SQLite's WAL and
    shared memory) to ``<stem>.<n><suffix>``, the first ``n`` free; return the new path."""
    n = 1
    while True:
        target = path.with_name(f"{path.stem}.{n}{path.suffix}")
        if not target.exists():
            break
        n += 1
    for extra in companions:
        moved = path.with_name(path.name + extra)
        if moved.exists():
            os.replace(moved, target.with_name(target.name + extra))
    os.replace(path, target)
    return target


def exists(run_dir: Path) -> bool:
    return (run_dir / JOURNAL_FILE).exists()


class Journal:
    """The run directory's journal (see the module docstring)."""

    def __init__(self, run_dir: Path, *, resume: bool) -> None:
        self.run_dir = run_dir
        self.path = run_dir / JOURNAL_FILE
        new = not self.path.exists()
        #: Where an earlier journal of the run directory was moved, when not resuming.
        self.set_aside: Path | None = None
        if not new and not resume:
            self.set_aside = aside(self.path, ("-wal", "-shm"))
            new = True
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
        self._new: dict[str, list[Any]] = {}      # submitted since the last flush: whole rows
        self._ends: list[tuple[Any, ...]] = []    # ends of tasks submitted before it
        self._events: list[tuple[Any, ...]] = []
        self._agents: list[tuple[Any, ...]] = []
        db.execute("INSERT INTO runs (run, started, resumed, pid, host) VALUES (?, ?, ?, ?, ?)",
                   (self.run, time.time(), int(self.resumed), os.getpid(),
                    socket.gethostname()))
        self._previous = {e.key: e for e in read_entries(db)} if self.resumed else {}
        self._agent_states = {n: bytes(st) for n, st in
                              db.execute("SELECT name, state FROM agents")}
        # From here on the connection is the writer thread's.
        self._queue: queue.SimpleQueue[list[tuple[str, list[Any]]] | threading.Event | None] \
            = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="tandem-journal",
                                        daemon=True)
        self._writer.start()

    # -- reading (what the earlier runs left, read when opened) -----------------------------
    def entries(self) -> dict[str, Entry]:
        """Every task key of earlier runs."""
        return self._previous

    def agent_states(self) -> dict[str, bytes]:
        return self._agent_states

    # -- writing (buffered; written by the writer thread) ------------------------------------
    def submitted(self, key: str, name: str, kind: str, digest: str, attempts: int,
                  preempted: int, workdir: str, at: float) -> None:
        self._new[key] = [key, name, kind, digest, "pending", attempts, preempted, self.run,
                          workdir, None, None, None, None, at, None, None]

    def event(self, key: str, state: str, attempt: int, at: float, detail: str | None) -> None:
        self._events.append((self.run, key, state, attempt, at, detail))

    def ended(self, key: str, state: str, attempts: int, preempted: int,
              placement: str | None, failure: str | None, stored: Stored | None,
              launched: float | None, at: float) -> bool:
        """Record the end of ``key``; whether its whole life is in the one row written since
        its submission (else the caller records the end as an event too)."""
        blob, file = (stored.blob, stored.file) if stored is not None else (None, None)
        row = self._new.get(key)
        if row is not None:        # submitted since the last flush: one row says it all
            row[4:7] = state, attempts, preempted
            row[9:13] = placement, failure, blob, file
            row[14:16] = launched, at
            return True
        self._ends.append((state, attempts, preempted, placement, failure, blob, file,
                           launched, at, key))
        return False

    def agent_state(self, name: str, state: bytes, at: float) -> None:
        self._agents.append((name, state, self.run, at))

    @property
    def pending(self) -> int:
        """Rows buffered, not yet handed to the writer."""
        return len(self._new) + len(self._ends) + len(self._events) + len(self._agents)

    def flush(self) -> None:
        """Hand what is buffered to the writer thread, which writes it in one transaction."""
        if self._error is not None:
            raise JournalError(f"{self.path}: writing the journal failed "
                               f"({type(self._error).__name__}: {self._error})")
        if self._db is None:
            raise JournalError(f"{self.path}: the journal is closed")
        if not self.pending:
            return
        batch: list[tuple[str, list[Any]]] = []
        if self._new:
            batch.append((_UPSERT_ROW, list(self._new.values())))
            self._new = {}
        for sql, rows in ((_EVENT, self._events), (_UPDATE_END, self._ends),
                          (_AGENT, self._agents)):
            if rows:
                batch.append((sql, rows))
        self._events, self._ends, self._agents = [], [], []
        self._queue.put(batch)

    def sync(self, timeout: float | None = None) -> bool:
        """Flush and wait until the writer has written everything (``False``: not within
        ``timeout`` seconds). Blocks the calling thread."""
        self.flush()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _write_loop(self) -> None:
        db = self._db
        assert db is not None
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if isinstance(batch, threading.Event):
                batch.set()
                continue
            if self._error is not None:
                continue
            try:
                db.execute("BEGIN")
                for sql, rows in batch:
                    db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException as e:
                self._error = e
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")

    def close(self, summary: str | None = None) -> None:
        """Write the rest, record the run's end, and close the file."""
        if self._db is None:
            return
        db = self._db
        try:
            with contextlib.suppress(JournalError):
                self.flush()
            self._queue.put(None)
            self._writer.join()
            db.execute("UPDATE runs SET ended=?, summary=? WHERE run=?",
                       (time.time(), summary, self.run))
        finally:
            db.close()
            self._db = None
        if self._error is not None:
            raise JournalError(f"{self.path}: writing the journal failed "
                               f"({type(self._error).__name__}: {self._error}); the runs "
                               "after the last good write are not in it")


def read_entries(db: sqlite3.Connection) -> Iterator[Entry]:
    # An attempt that was launched and never ended (its run was killed) counts too: only such
    # attempts have a 'launched' event without a later end in the task's row.
    launched = dict(db.execute(
        "SELECT key, MAX(attempt) FROM events WHERE state = 'launched' GROUP BY key"))
    make = Entry._make
    for row in db.execute(
            "SELECT key, name, kind, digest, state, attempts, preempted, run, workdir, "
            "failure, result, result_file FROM tasks"):
        if launched and row[5] < launched.get(row[0], 0):
            row = (*row[:5], launched[row[0]], *row[6:])
        yield make(row)


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
