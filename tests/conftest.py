"""No test reads or writes the user's task history (``TANDEM_HISTORY``, inherited by the
processes tests start): each test has a fresh, empty one of its own, so no test learns
estimates from another's tasks; fixtures wider than a test (set up before it) have none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_history_outside_tests() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TANDEM_HISTORY", "off")
        yield


@pytest.fixture(autouse=True)
def _own_history(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path_factory.mktemp("history")
    monkeypatch.setenv("TANDEM_HISTORY", str(where))
    return where
