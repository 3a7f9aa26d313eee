"""Every YAML block of docs/workflows.md is a workflow that loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tandem.config import loads_workflow

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflows.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_loads(index: int) -> None:
    wf = loads_workflow(BLOCKS[index], filename=f"workflows.md[{index}]")
    assert wf.task_sets


def test_stale_restarts_example() -> None:
    wf = loads_workflow(BLOCKS[1])
    assert wf.levels("barrier")["S2"] == 2 and wf.levels("async")["S2"] == 1
