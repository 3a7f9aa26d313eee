"""``tandem.cli.command``: errors exit 2 with what to fix, never a traceback (through
``tandem.cli.main``, output captured, no subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.cli import main
from tests.workflows import EXAMPLES


def test_errors_exit_2_with_file_line_and_key(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "dg2.yaml"
    bad.write_text((EXAMPLES / "dg2.yaml").read_text().replace("cores: 40", 'cores: "many"'))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if '"many"' in t)
    assert err == (f'tandem: error: {bad}:{line}: task_sets[1].cores: expected an integer >= 0, '
                   'got "many"\n')
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err
    assert main(["run", str(bad)]) == 2
    assert "Traceback" not in capsys.readouterr().err
