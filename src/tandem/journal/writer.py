"""The journal's writer: applies the driver's journal items to the SQLite file, off the driver's
process.

Contract: the standard library only, so it starts in milliseconds as a script
(``python -I -S writer.py JOURNAL_FILE``, through :class:`tandem.sink.ProcessSink`); the
driver imports it too, for the schema and for :class:`Applier`, which writes in-process when
the writer process cannot run. Frames on stdin are a 4-byte little-endian length and a
``marshal``-ed list of items; each frame is one transaction; a frame holding ``("sync",)``
is answered with one byte on stdout once it is committed. It exits at the end of its input
(the driver closed the pipe, or died: what came before is written; it ignores SIGINT and
SIGTERM). Items::

    ("t0", clock, epoch, run)        the driver's clock reads ``clock`` at Unix time ``epoch``;
                                     this is run ``run`` of the campaign
    ("s", key, name, kind, digest, attempts, preempted, run, workdir, submitted)
    ("l", key, run, attempt, launched, placement)       a launch still running at a flush
    ("e", key, state, attempts, preempted, placement, failure, blob, file, launched, ended)
    ("a", name, state, run, at)      an agent's state (``at``: Unix time)
    ("end", run, summary, at)        the run ended
    ("sync",)

A task submitted and ended in one frame is one row, and no event; an end whose submission
came in an earlier frame updates the row and is an event.
Imports: nothing from tandem.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sqlite3
import struct
import sys
from typing import Any

FRAME = struct.Struct("<I")

SCHEMA = """
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

COLUMNS = ("key", "name", "kind", "digest", "state", "attempts", "preempted", "run", "workdir",
           "placement", "failure", "result", "result_file", "submitted", "launched", "ended")
UPSERT_ROW = (
    f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT(key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in COLUMNS[1:]))
UPDATE_END = (
    "UPDATE tasks SET state=?, attempts=?, preempted=?, placement=?, failure=?, result=?, "
    "result_file=?, launched=?, ended=? WHERE key=?")
EVENT = "INSERT INTO events (run, key, state, attempt, at, detail) VALUES (?, ?, ?, ?, ?, ?)"
AGENT = ("INSERT INTO agents (name, state, run, at) VALUES (?, ?, ?, ?) ON CONFLICT(name) "
         "DO UPDATE SET state=excluded.state, run=excluded.run, at=excluded.at")
END_RUN = "UPDATE runs SET ended=?, summary=? WHERE run=?"


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


class Applier:
    """Applies frames of items to one connection, one transaction each."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.clock0 = 0.0
        self.epoch0 = 0.0
        self.run = 0

    def at(self, t: float | None) -> float | None:
        return None if t is None else self.epoch0 + (t - self.clock0)

    def apply(self, items: list[Any]) -> bool:
        """Write ``items``; whether one asked for an answer."""
        rows: dict[str, list[Any]] = {}
        ends: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        agents: list[tuple[Any, ...]] = []
        finals: list[tuple[Any, ...]] = []
        answer = False
        at = self.at
        for item in items:
            kind = item[0]
            if kind == "s":
                _, key, name, kind_, digest, attempts, preempted, run, workdir, t = item
                rows[key] = [key, name, kind_, digest, "pending", attempts, preempted, run,
                             workdir, None, None, None, None, at(t), None, None]
            elif kind == "e":
                (_, key, state, attempts, preempted, placement, failure, blob, file, began,
                 ended) = item
                row = rows.get(key)
                if row is not None:     # submitted in this frame: one row says it all
                    row[4:7] = state, attempts, preempted
                    row[9:13] = placement, failure, blob, file
                    row[14:16] = at(began), at(ended)
                else:
                    ends.append((state, attempts, preempted, placement, failure, blob, file,
                                 at(began), at(ended), key))
                    events.append((self.run, key, state, attempts, at(ended), failure))
            elif kind == "l":
                _, key, run, attempt, t, placement = item
                events.append((run, key, "launched", attempt, at(t), placement))
            elif kind == "a":
                agents.append(item[1:])
            elif kind == "t0":
                self.clock0, self.epoch0, self.run = item[1], item[2], item[3]
            elif kind == "end":
                finals.append((item[3], item[2], item[1]))
            elif kind == "sync":
                answer = True
        db = self.db
        db.execute("BEGIN")
        try:
            if rows:
                db.executemany(UPSERT_ROW, rows.values())
            if ends:
                db.executemany(UPDATE_END, ends)
            if events:
                db.executemany(EVENT, events)
            if agents:
                db.executemany(AGENT, agents)
            if finals:
                db.executemany(END_RUN, finals)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return answer


def _read(stream: Any, n: int) -> bytes | None:
    data = stream.read(n)
    return data if len(data) == n else None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: writer.py JOURNAL_FILE (frames on stdin)", file=sys.stderr)
        return 2
    # The driver's Ctrl-C is not ours; and when the driver dies, the guardian's SIGTERM must
    # not cut short what is still in the pipe: the end of the input ends this process (the
    # guardian's SIGKILL, a second later, ends a writer that is stuck).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(5)    # background work: tasks and the driver come first when cores are busy
    applier = Applier(connect(argv[1]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = _read(stdin, FRAME.size)
        if head is None:
            return 0
        body = _read(stdin, FRAME.unpack(head)[0])
        if body is None:          # the driver died mid-frame: what came before is kept
            return 0
        if applier.apply(marshal.loads(body)):
            stdout.write(b"k")
            stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
