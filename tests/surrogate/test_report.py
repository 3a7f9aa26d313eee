"""A surrogate leaves its summary in the run directory, and the run's report shows it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tandem import Platform
from tandem.sim import open_simulated_session, run_virtual
from tandem.surrogate import GPModel, Surrogate
from tandem.surrogate.summary import SUMMARY_SCHEMA
from tandem.trace.report import write_report
from tandem.trace.surrogates import load_surrogates

from .funcs import wiggle
from .test_wrapper import DURATIONS, chains


def test_the_report_shows_what_the_surrogate_did(tmp_path: Path) -> None:
    async def main() -> Surrogate:
        async with open_simulated_session(Platform.uniform(1, cores=4), run_dir=tmp_path,
                                          durations=DURATIONS) as s:
            sur = Surrogate(s, wiggle, bound=1e-3, model=GPModel(restarts=0),
                            audit_fraction=0.3)
            await chains(sur, 4, 30)
        return sur
    sur = run_virtual(main())
    summary = sur.summary()
    body = json.loads((tmp_path / "surrogate.summary.json").read_text())
    assert body["schema"] == SUMMARY_SCHEMA and body["calls"] == summary.calls == 120
    [view] = load_surrogates(tmp_path)
    assert (view.calls, view.share, view.audits, view.mean_error, view.versions) == (
        summary.calls, summary.share, summary.audits, summary.mean_error, summary.versions)
    assert view.met is True and len(view.thresholds) == summary.audits + 1
    page = write_report(tmp_path).html.read_text()
    assert "<h2>Surrogates</h2>" in page
    assert f"{100 * summary.share:.1f} %" in page and "within the bound" in page
    assert 'aria-label="threshold over time"' in page


def test_other_json_is_left_alone_and_a_broken_summary_is_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "other.summary.json").write_text('{"schema": "someone else"}')
    (tmp_path / "broken.summary.json").write_text(f'{{"schema": "{SUMMARY_SCHEMA}"}}')
    with caplog.at_level(logging.WARNING, logger="tandem"):
        assert load_surrogates(tmp_path) == []
    assert "broken.summary.json: not a readable surrogate summary" in caplog.text
