"""The tests' task history is a directory of their own: no test reads or writes the user's
(``TANDEM_HISTORY``, set for the whole run, before any fixture, and inherited by the processes
tests start). Tests that look at a history open their sessions with ``history=tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _own_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TANDEM_HISTORY", str(where))
        yield where
