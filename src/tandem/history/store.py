"""The history of ended tasks: one SQLite file, ``history.sqlite``, in a directory of the user's.

Contract: :class:`HistoryStore` reads and writes ``<dir>/history.sqlite`` (WAL mode, the
standard library's ``sqlite3``): one row per ended task of a traced run (:class:`Row`: the key
of its work, kind, name, final state, resource request, user features, argument sizes,
measured duration, node, run, when it ended). Reading never creates the file; :meth:`add`
writes a run's rows in one transaction and keeps at most :data:`KEEP_PER_KEY` rows per key
(the newest). A file that is not a tandem history raises :class:`~tandem.errors.SpecError`
naming it and what to do; a session that cannot use its history calls :meth:`failed`, which
warns once on the ``tandem`` logger and turns the store off, so the run goes on.

Where: :func:`history_dir` (``open_session(history=...)``): a directory given; else
``$TANDEM_HISTORY`` (``off`` turns it off); else ``$XDG_DATA_HOME/tandem/history``; else
``~/.local/share/tandem/history``.
Imports: tandem.errors.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tandem.errors import SpecError

log = logging.getLogger("tandem")

FILE = "history.sqlite"
FORMAT = "1"
KEEP_PER_KEY = 5000
"""Rows kept per key: the newest; older ones are deleted when a run adds more."""
BUSY_S = 2.0
"""How long a write waits for another process's write before giving up (and warning)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    state TEXT NOT NULL, cores INTEGER NOT NULL, gpus INTEGER NOT NULL, ranks INTEGER NOT NULL,
    memory_mb INTEGER, features TEXT, sizes TEXT, duration REAL, node TEXT, run TEXT NOT NULL,
    t REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_key ON tasks (key, state);
"""
_COLUMNS = ("key, kind, name, state, cores, gpus, ranks, memory_mb, features, sizes, duration, "
            "node, run, t")


class Row(NamedTuple):
    """One ended task. ``duration``: seconds its last attempt ran (``None``: it never ran);
    ``run``: the run directory; ``t``: when it ended (Unix time)."""

    key: str
    kind: str
    name: str
    state: str
    cores: int
    gpus: int
    ranks: int
    memory_mb: int | None
    features: Mapping[str, float | int | str] | None
    sizes: Mapping[str, float] | None
    duration: float | None
    node: str | None
    run: str
    t: float


def history_dir(history: str | os.PathLike[str] | bool | None = None,
                env: Mapping[str, str] | None = None) -> Path | None:
    """The history directory ``open_session(history=...)`` uses (``None``: none; see the
    module docstring)."""
    if history is False:
        return None
    if history is not None and history is not True:
        return Path(history)
    env = os.environ if env is None else env
    given = env.get("TANDEM_HISTORY", "")
    if given.strip().lower() == "off":
        return None
    if given:
        return Path(given)
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "tandem" / "history"


def _row(r: tuple[Any, ...]) -> Row:
    features = json.loads(r[8]) if r[8] else None
    sizes = json.loads(r[9]) if r[9] else None
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], features, sizes, r[10], r[11],
               r[12], r[13])


class HistoryStore:
    """The history in ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE
        self.broken = False

    def exists(self) -> bool:
        return self.path.exists()

    def _bad(self, e: Exception) -> SpecError:
        return SpecError(f"{self.path}: not a tandem history ({e}); move it away, or remove "
                         "it with `tandem history --clear`")

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if create:
            self.directory.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_S)
        try:
            if create:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
                db.commit()
            got = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        except sqlite3.DatabaseError as e:
            db.close()
            raise self._bad(e) from None
        if got is None or got[0] != FORMAT:
            db.close()
            raise self._bad(ValueError(f"format {got[0] if got else None!r}, this version "
                                       f"reads {FORMAT!r}"))
        return db

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        db = self._connect(create=False)
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise self._bad(e) from None
        finally:
            db.close()

    def done_counts(self) -> dict[str, int]:
        """Done tasks per key."""
        rows = self._read("SELECT key, COUNT(*) FROM tasks WHERE state = 'done' GROUP BY key")
        return {k: n for k, n in rows}

    def varying_keys(self, at_least: int) -> set[str]:
        """The keys with ``at_least`` done tasks whose inputs (features, argument sizes, the
        resource request) are not all the same: those a boosted model may be fitted for. A
        superset (inputs compared as stored text), read by SQLite alone."""
        rows = self._read(
            "SELECT key FROM tasks WHERE state = 'done' GROUP BY key HAVING COUNT(*) >= ? AND "
            "(COUNT(DISTINCT IFNULL(features, '')) > 1 OR COUNT(DISTINCT IFNULL(sizes, '')) > 1 "
            "OR COUNT(DISTINCT cores) > 1 OR COUNT(DISTINCT gpus) > 1 "
            "OR COUNT(DISTINCT ranks) > 1 OR COUNT(DISTINCT IFNULL(memory_mb, -1)) > 1)",
            (at_least,))
        return {k for (k,) in rows}

    def samples(self, key: str, limit: int = 2000) -> list[Row]:
        """The newest ``limit`` done tasks of ``key``, oldest first."""
        rows = self._read(f"SELECT {_COLUMNS} FROM tasks WHERE key = ? AND state = 'done' "
                          "ORDER BY id DESC LIMIT ?", (key, limit))
        return [_row(r) for r in reversed(rows)]

    def rows(self) -> list[Row]:
        """Every row, oldest first."""
        return [_row(r) for r in self._read(f"SELECT {_COLUMNS} FROM tasks ORDER BY id")]

    def add(self, rows: Iterable[Row]) -> int:
        """Write ``rows`` in one transaction (and drop the oldest beyond
        :data:`KEEP_PER_KEY` per key); returns how many were written."""
        data = [(r.key, r.kind, r.name, r.state, r.cores, r.gpus, r.ranks, r.memory_mb,
                 json.dumps(r.features) if r.features else None,
                 json.dumps(r.sizes) if r.sizes else None, r.duration, r.node, r.run, r.t)
                for r in rows]
        if not data:
            return 0
        db = self._connect(create=True)
        try:
            with db:
                db.executemany(f"INSERT INTO tasks ({_COLUMNS}) VALUES "
                               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
                for key in {d[0] for d in data}:
                    db.execute("DELETE FROM tasks WHERE key = ? AND id <= (SELECT id FROM tasks "
                               "WHERE key = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                               (key, key, KEEP_PER_KEY))
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):
                raise
            raise self._bad(e) from None
        finally:
            db.close()
        return len(data)

    def clear(self) -> bool:
        """Remove the history's files; whether there was one."""
        found = False
        for suffix in ("", "-wal", "-shm"):
            p = self.path.with_name(FILE + suffix)
            if p.exists():
                p.unlink()
                found = found or suffix == ""
        return found

    def failed(self, what: str, e: BaseException) -> None:
        """This session cannot use the history (``what`` it was doing, error ``e``): warn
        once, then leave it alone."""
        if not self.broken:
            self.broken = True
            log.warning("tandem: the task history %s cannot be %s (%s: %s); this session goes "
                        "on without it", self.path, what, type(e).__name__, e)
