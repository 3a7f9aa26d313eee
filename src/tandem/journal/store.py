"""The journal of a campaign: one SQLite file in the run directory, written by a process of
its own.

Contract: :class:`Journal` opens (or creates) ``<run_dir>/journal.sqlite`` in WAL mode with
the standard library's ``sqlite3``, checks that it is a tandem journal of a format this version
reads, reads what earlier runs left (:meth:`Journal.entries`, :meth:`Journal.agent_states`)
and records the run. It keeps, per task key: its name, kind, spec digest, state, attempts so
far (over all runs), how many of them were preempted, its directory, its failure, its
placement, its stored result (:mod:`tandem.journal.results`) and when it was submitted,
launched and ended; per run: when it began and ended, where, and whether it resumed; in
``events``, each state change that the task's row alone does not show (a launch still running
at a flush, so that an attempt in flight is known after a crash, and the end that follows
it); and each agent's saved state. From then on the driver only appends items to a list;
:meth:`Journal.flush` hands them as one frame to the journal's writer process
(:mod:`tandem.journal.writer`, through :class:`tandem.sink.ProcessSink`), which writes each
frame in one transaction off the driver's process. What reached the writer is written even
if the driver is then killed; :meth:`Journal.sync` waits until everything is. WAL with
``synchronous=NORMAL`` survives the processes' death, not the machine's. Nothing here deletes
a row of an earlier run, and a file that is not a journal is never written to:
:class:`~tandem.errors.JournalError` says what it is and what to do. A session that does not
resume, in a run directory that holds a journal, moves it aside (``journal.<n>.sqlite``) and
starts a new one.
Imports: tandem.errors, tandem.journal.results, tandem.journal.writer, tandem.sink.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import tandem.journal.writer as writer
from tandem.errors import JournalError
from tandem.journal.results import Stored
from tandem.sink import ProcessSink

JOURNAL_FILE = "journal.sqlite"
FORMAT = "tandem-journal"
VERSION = 1
WRITER = Path(writer.__file__)


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

    def __init__(self, run_dir: Path, *, resume: bool, process: bool = True) -> None:
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
            db = writer.connect(str(self.path))
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{self.path} cannot be opened as a journal ({e}); it was left "
                               "untouched") from None
        try:
            if new:
                db.executescript("BEGIN;" + writer.SCHEMA + "COMMIT;")
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [("format", FORMAT), ("version", str(VERSION)),
                                ("created", repr(time.time()))])
            self.run = int(db.execute("SELECT COALESCE(MAX(run), 0) FROM runs").fetchone()[0]) + 1
            self.resumed = not new
            db.execute("INSERT INTO runs (run, started, resumed, pid, host) VALUES "
                       "(?, ?, ?, ?, ?)", (self.run, time.time(), int(self.resumed),
                                           os.getpid(), socket.gethostname()))
        finally:
            db.close()
        # What earlier runs left is read on a thread of its own while the session starts its
        # backends (sqlite3 lets other threads run while it reads).
        self._previous: dict[str, Entry] = {}
        self._agent_states: dict[str, bytes] = {}
        self._read_error: BaseException | None = None
        self._reader: threading.Thread | None = None
        if self.resumed:
            self._reader = threading.Thread(target=self._read, name="tandem-journal-read",
                                            daemon=True)
            self._reader.start()
        self._local: writer.Applier | None = None     # writes here if the writer cannot
        self._items: list[tuple[Any, ...]] = []
        self._process = process
        self._sink: ProcessSink | None = None
        self.closed = False

    def start(self) -> None:
        """Start the writer (once the guardian runs: the writer is one of the processes it
        ends if the driver dies before it does)."""
        if self._sink is None and not self.closed:
            self._sink = ProcessSink(WRITER, [str(self.path)], what="the journal writer",
                                     local=self._apply_here, process=self._process,
                                     acks=True)

    def _apply_here(self, items: list[Any]) -> None:
        if self._local is None:
            self._local = writer.Applier(writer.connect(str(self.path)))
        self._local.apply(items)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid while it writes (``None``: writing in-process)."""
        return self._sink.pid if self._sink is not None else None

    # -- reading (what the earlier runs left, read when opened) -----------------------------
    def _read(self) -> None:
        try:
            db = _read_only(self.path)
            try:
                self._previous = {e.key: e for e in read_entries(db)}
                self._agent_states = {n: bytes(st) for n, st in
                                      db.execute("SELECT name, state FROM agents")}
            finally:
                db.close()
        except BaseException as e:
            self._read_error = e

    def _wait_read(self) -> None:
        if self._reader is not None:
            self._reader.join()
            self._reader = None
            if self._read_error is not None:
                raise JournalError(f"{self.path} cannot be read ({self._read_error}); it was "
                                   "left untouched") from None

    def entries(self) -> dict[str, Entry]:
        """Every task key of earlier runs (waits for them to be read)."""
        self._wait_read()
        return self._previous

    def agent_states(self) -> dict[str, bytes]:
        self._wait_read()
        return self._agent_states

    # -- writing (appended here, written by the writer at each flush) -----------------------
    def clock(self, clock: float, epoch: float) -> None:
        """The driver's clock reads ``clock`` at Unix time ``epoch`` (times below are its)."""
        self._items.append(("t0", clock, epoch, self.run))

    def submitted(self, key: str, name: str, kind: str, digest: str, attempts: int,
                  preempted: int, workdir: str, at: float) -> None:
        self._items.append(("s", key, name, kind, digest, attempts, preempted, self.run,
                            workdir, at))

    def launched(self, key: str, attempt: int, at: float, placement: str | None) -> None:
        """A launch still running at a flush."""
        self._items.append(("l", key, self.run, attempt, at, placement))

    def ended(self, key: str, state: str, attempts: int, preempted: int,
              placement: str | None, failure: str | None, stored: Stored | None,
              launched: float | None, at: float) -> None:
        blob, file = (stored.blob, stored.file) if stored is not None else (None, None)
        self._items.append(("e", key, state, attempts, preempted, placement, failure, blob,
                            file, launched, at))

    def agent_state(self, name: str, state: bytes, at: float) -> None:
        """``at``: a Unix time."""
        self._items.append(("a", name, state, self.run, at))

    @property
    def pending(self) -> int:
        """Items appended, not yet handed to the writer."""
        return len(self._items)

    def _out(self) -> ProcessSink | None:
        if self.closed:
            raise JournalError(f"{self.path}: the journal is closed")
        return self._sink

    def flush(self) -> None:
        """Hand what was appended to the writer (one transaction; before :meth:`start`,
        nothing is handed over)."""
        sink = self._out()
        if sink is not None and self._items:
            items, self._items = self._items, []
            sink.send(items)

    def sync(self, timeout: float = 60.0) -> bool:
        """Flush and wait until the writer has written everything (``False``: not within
        ``timeout`` seconds). Blocks the calling thread."""
        sink = self._out()
        items, self._items = self._items, []
        items.append(("sync",))
        if sink is None:
            self._apply_here(items)
            return True
        return sink.sync(items, timeout)

    def close(self, summary: str | None = None) -> None:
        """Write the rest, record the run's end, and end the writer."""
        if self.closed:
            return
        self._items.append(("end", self.run, summary, time.time()))
        items, self._items = self._items, []
        sink, self._sink = self._sink, None
        self.closed = True
        try:
            if sink is None:
                self._apply_here(items)
            else:
                sink.send(items)
        finally:
            if sink is not None:
                sink.close()
            if self._local is not None:
                self._local.db.close()
                self._local = None


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
