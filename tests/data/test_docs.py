"""docs/data.md's example runs and prints what the page says."""

from __future__ import annotations

from pathlib import Path

from tests.doc_examples import check_page_example


def test_the_data_page_example_runs(tmp_path: Path) -> None:
    check_page_example("data.md", tmp_path, timeout=120)
