"""The history file: rows in, rows out; bad files are named, never written over."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tandem.errors import SpecError
from tandem.history import store as store_module
from tandem.history.store import FILE, HistoryStore, Row, history_dir


def row(key: str = "k", duration: float | None = 1.0, state: str = "done", **over: object) -> Row:
    base = dict(key=key, kind="task", name="t", state=state, cores=1, gpus=0, ranks=1,
                memory_mb=None, features={"n": 3}, sizes={"arg0": 2.0}, duration=duration,
                node="n0", run="/runs/a", t=1e9)
    base.update(over)
    return Row(**base)  # type: ignore[arg-type]


def test_rows_written_are_read_back_and_only_done_ones_are_samples(tmp_path: Path) -> None:
    s = HistoryStore(tmp_path / "h")
    assert not s.exists() and s.rows() == [] and s.done_counts() == {}
    assert not (tmp_path / "h").exists()           # reading never creates it
    assert s.add([row(duration=1.0), row(duration=2.0), row(state="failed"),
                  row(key="other", features=None, sizes=None)]) == 4
    assert s.done_counts() == {"k": 2, "other": 1}
    got = s.samples("k")
    assert [r.duration for r in got] == [1.0, 2.0]
    assert got[0].features == {"n": 3} and got[0].sizes == {"arg0": 2.0}
    assert s.samples("other")[0].features is None
    assert sqlite3.connect(s.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_key_keeps_its_newest_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "KEEP_PER_KEY", 3)
    s = HistoryStore(tmp_path)
    s.add([row(duration=float(i)) for i in range(5)])
    s.add([row(duration=9.0), row(key="b")])
    assert [r.duration for r in s.samples("k")] == [3.0, 4.0, 9.0]
    assert s.done_counts() == {"k": 3, "b": 1}


def test_a_file_that_is_not_a_history_is_named_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / FILE).write_text("not sqlite")
    s = HistoryStore(tmp_path)
    for call in (s.rows, s.done_counts, lambda: s.add([row()])):
        with pytest.raises(SpecError, match="not a tandem history") as e:
            call()
        assert str(tmp_path / FILE) in str(e.value) and "--clear" in str(e.value)
    assert (tmp_path / FILE).read_text() == "not sqlite"
    assert s.clear() and not (tmp_path / FILE).exists()


def test_another_sqlite_file_is_not_a_history(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / FILE).execute("CREATE TABLE x (y)")
    with pytest.raises(SpecError, match="not a tandem history"):
        HistoryStore(tmp_path).rows()


def test_where_the_history_is(tmp_path: Path) -> None:
    home = {"XDG_DATA_HOME": str(tmp_path)}
    assert history_dir(None, home) == tmp_path / "tandem" / "history"
    assert history_dir(None, {**home, "TANDEM_HISTORY": "/h"}) == Path("/h")
    assert history_dir(None, {"TANDEM_HISTORY": "off"}) is None
    assert history_dir(False, home) is None
    assert history_dir(tmp_path / "x", {"TANDEM_HISTORY": "/h"}) == tmp_path / "x"
    assert history_dir(None, {}) == Path.home() / ".local" / "share" / "tandem" / "history"
