"""docs/history.md's example runs and prints what the page says."""

from __future__ import annotations

from pathlib import Path

from tests.doc_examples import check_page_example


def test_history_page_example(tmp_path: Path) -> None:
    check_page_example("history.md", tmp_path)
