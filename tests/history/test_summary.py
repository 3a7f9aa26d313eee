"""``tandem history``: what it knows, in one line per key; empty and corrupt histories are
one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.cli import main
from tandem.history.store import FILE, HistoryStore, Row
from tandem.history.summary import summarize


def rows(key: str, durations: list[float], run: str = "r1") -> list[Row]:
    return [Row(key=key, kind="sim", name=key, state="done", cores=1, gpus=0, ranks=1,
                memory_mb=None, features={"n": i}, sizes=None, duration=d, node="n0", run=run,
                t=float(i)) for i, d in enumerate(durations)]


def test_each_key_its_samples_durations_model_and_held_out_error(tmp_path: Path) -> None:
    HistoryStore(tmp_path).add([*rows("flat", [2.0] * 6), *rows("few", [1.0, 3.0], "r2")])
    s = summarize(tmp_path)
    flat, few = sorted(s.keys, key=lambda k: k.key)[::-1]
    assert (flat.key, flat.done, flat.runs, flat.median_s, flat.model, flat.error) == \
        ("flat", 6, 1, 2.0, "median", 0.0)
    assert (few.done, few.median_s, few.error) == (2, 2.0, None)


def test_the_command_prints_a_table_and_json(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    HistoryStore(tmp_path).add(rows("mod.fn@sim", [1.0, 2.0, 3.0, 4.0, 5.0]))
    assert main(["history", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mod.fn@sim" in out and "held-out error" in out and "3 s" in out
    assert main(["history", str(tmp_path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["keys"][0]["key"] == "mod.fn@sim" and got["keys"][0]["done"] == 5


def test_an_empty_history_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("no task history in") and "\n" not in out


def test_a_corrupt_history_is_one_error_line_and_status_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / FILE).write_text("garbage")
    assert main(["history", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tandem: error:") and "not a tandem history" in err
    assert "\n" not in err and "Traceback" not in err
    assert main(["history", str(tmp_path), "--clear"]) == 0
    assert not (tmp_path / FILE).exists()


def test_the_default_directory_is_tandem_history(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TANDEM_HISTORY", str(tmp_path))
    HistoryStore(tmp_path).add(rows("k", [1.0]))
    assert main(["history"]) == 0
    assert str(tmp_path / FILE) in capsys.readouterr().out
