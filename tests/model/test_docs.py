"""docs/model.md's example runs and prints what the page says."""

from __future__ import annotations

from pathlib import Path

from tests.doc_examples import check_page_example


def test_model_page_example(tmp_path: Path) -> None:
    check_page_example("model.md", tmp_path)
