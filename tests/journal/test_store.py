"""The journal file: created in WAL mode, refused (and left untouched) when it is not a tandem
journal, written in batches that a reader sees once synced; stored results inline or by file."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from tandem.errors import JournalError
from tandem.journal import results, store
from tandem.journal.store import JOURNAL_FILE, Journal
from tandem.journal.summary import read_journal, render


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("process", [True, False])
def test_a_new_journal_is_wal_and_records_a_run(tmp_path: Path, process: bool) -> None:
    j = Journal(tmp_path, resume=False, process=process)
    assert (j.run, j.resumed) == (1, False)
    j.start()
    assert (j.writer_pid is not None) == process
    j.clock(100.0, 1_000_000.0)               # driver clock 100 s = Unix time 1e6
    j.submitted("a.1", "a", "sim", "d1", 0, 0, str(tmp_path / "tasks/a"), 110.0)
    j.ended("a.1", "done", 1, 0, '[["n", [0], []]]', None, results.NOTHING, 110.5, 111.0)
    j.submitted("b.1", "b", "sim", "d2", 0, 0, "w", 110.5)
    j.flush()
    j.launched("b.1", 1, 110.6, None)          # still running at the next flush
    assert j.sync(timeout=30)
    db = sqlite3.connect(tmp_path / JOURNAL_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = {r[0]: r[1:] for r in db.execute("SELECT key, state, submitted, launched, ended "
                                            "FROM tasks")}
    assert rows == {"a.1": ("done", 1_000_010.0, 1_000_010.5, 1_000_011.0),
                    "b.1": ("pending", 1_000_010.5, None, None)}
    # a.1's life is its row alone; b.1's launch is an event
    assert db.execute("SELECT key, state, attempt FROM events").fetchall() == [
        ("b.1", "launched", 1)]
    db.close()
    j.ended("b.1", "failed", 1, 0, None, "exit: code 1", None, 110.6, 112.0)
    j.close("2 tasks")
    runs, entries, last = store.read(tmp_path)
    assert [r.summary for r in runs] == ["2 tasks"] and runs[0].ended is not None
    by_key = {e.key: e for e in entries}
    assert by_key["a.1"].finished and not by_key["b.1"].finished
    assert (by_key["b.1"].state, by_key["b.1"].failure) == ("failed", "exit: code 1")
    assert last == {"b.1": "failed"}
    assert j.writer_pid is None


def test_a_launch_that_never_ended_counts_as_an_attempt(tmp_path: Path) -> None:
    j = Journal(tmp_path, resume=False)
    j.start()
    j.clock(0.0, 0.0)
    j.submitted("a", "a", "k", "d", 0, 0, "w", 1.0)
    j.flush()
    j.launched("a", 1, 2.0, None)
    assert j.sync(timeout=30)
    pid = j.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)          # the run dies here (its writer with it)
    os.waitpid(pid, 0)
    (e,) = store.read(tmp_path)[1]
    assert (e.state, e.attempts) == ("pending", 1)


def test_a_journal_is_continued_with_resume_and_set_aside_without(tmp_path: Path) -> None:
    j = Journal(tmp_path, resume=False)
    j.submitted("a", "a", "k", "d", 0, 0, "w", 1.0)      # never started: written at close
    j.close()
    j = Journal(tmp_path, resume=True)
    assert (j.run, j.resumed, j.set_aside) == (2, True, None) and "a" in j.entries()
    j.close()
    before = digest(tmp_path / JOURNAL_FILE)
    j = Journal(tmp_path, resume=False)            # a new campaign: the old one is kept
    assert (j.run, j.resumed) == (1, False) and j.entries() == {}
    assert j.set_aside == tmp_path / "journal.1.sqlite"
    j.close()
    assert digest(tmp_path / "journal.1.sqlite") == before
    runs, entries, _ = store.read(tmp_path)
    assert len(runs) == 1 and entries == []
    Journal(tmp_path, resume=False).close()
    assert (tmp_path / "journal.2.sqlite").exists()


@pytest.mark.parametrize("content", [b"\x00\x01garbage" * 100, b"SQLite format 3\x00" + b"x" * 200,
                                     b""])
def test_a_corrupted_journal_is_a_clear_error_and_is_left_as_it_was(tmp_path: Path,
                                                                   content: bytes) -> None:
    (tmp_path / JOURNAL_FILE).write_bytes(content)
    before = digest(tmp_path / JOURNAL_FILE)
    with pytest.raises(JournalError, match="journal|cannot be opened"):
        Journal(tmp_path, resume=True)
    assert digest(tmp_path / JOURNAL_FILE) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [JOURNAL_FILE]


def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / JOURNAL_FILE)
    db.execute("CREATE TABLE people (name TEXT)")
    db.execute("INSERT INTO people VALUES ('ada')")
    db.commit()
    db.close()
    before = digest(tmp_path / JOURNAL_FILE)
    with pytest.raises(JournalError, match="not a tandem journal.*people"):
        Journal(tmp_path, resume=True)
    with pytest.raises(JournalError, match="not a tandem journal"):
        read_journal(tmp_path)
    assert digest(tmp_path / JOURNAL_FILE) == before


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path, resume=False).close()
    db = sqlite3.connect(tmp_path / JOURNAL_FILE)
    db.execute("UPDATE meta SET value='99' WHERE name='version'")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="version 99"):
        Journal(tmp_path, resume=True)


def test_no_journal_is_a_clear_error_for_readers(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="has no journal"):
        read_journal(tmp_path)


def test_results_small_inline_large_by_file_unpicklable_not_stored(tmp_path: Path) -> None:
    small, why = results.store({"x": 1}, tmp_path, "k1")
    assert small is not None and small.blob is not None and why == ""
    assert results.load(small, tmp_path, "k1") == {"x": 1}
    big_value = b"x" * (results.INLINE_BYTES + 1)
    big, _ = results.store(big_value, tmp_path, "k2")
    assert big is not None and big.file is not None and big.blob is None
    assert (tmp_path / big.file).exists()
    assert results.load(big, tmp_path, "k2") == big_value
    closure = (lambda y: lambda: y)(3)
    lam, _ = results.store(closure, tmp_path, "k3")         # cloudpickle takes what pickle cannot
    assert lam is not None and results.load(lam, tmp_path, "k3")() == 3
    none, why = results.store(threading.Lock(), tmp_path, "k4")
    assert none is None and "cannot be pickled" in why
    (tmp_path / big.file).write_bytes(b"broken")
    with pytest.raises(JournalError, match="k2.*cannot be read"):
        results.load(big, tmp_path, "k2")


def test_summary_says_what_finished_failed_and_was_in_flight(tmp_path: Path) -> None:
    j = Journal(tmp_path, resume=False)
    j.start()
    for i, state in enumerate(["done", "failed", None, "done"]):
        key = f"t.{i}"
        j.submitted(key, f"t{i}", "sim" if i < 2 else "ml", "d", 0, 0, "w", float(i))
        if state is not None:
            j.ended(key, state, 1, 0, None, "exit: code 3" if state == "failed" else None,
                    results.NOTHING if state == "done" else None, None, float(i) + 1)
    j.close()
    s = read_journal(tmp_path)
    assert [e.key for e in s.finished] == ["t.0", "t.3"]
    assert [e.key for e in s.failed] == ["t.1"]
    assert [(e.key, last) for e, last in s.in_flight] == [("t.2", "submitted")]
    assert s.by_kind == {"ml": {"finished": 1, "in_flight": 1},
                         "sim": {"finished": 1, "failed": 1}}
    text = render(s)
    assert "2 finished, 1 failed, 1 in flight" in text and "t1 (t.1): failed: exit: code 3" in text
    assert s.as_json()["in_flight"] == 1
