"""docs/surrogate.md's first example runs and prints what the page says."""

from __future__ import annotations

from pathlib import Path

from tests.doc_examples import check_page_example


def test_the_surrogate_page_example_runs(tmp_path: Path) -> None:
    check_page_example("surrogate.md", tmp_path, timeout=300)
    assert (tmp_path / "run" / "surrogate.jsonl").exists()
    assert (tmp_path / "run" / "surrogate" / "models" / "v1.pkl").exists()
