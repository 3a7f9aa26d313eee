"""The campaign configuration: defaults, overrides, and errors that name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem_apps.ddmd.config import ConfigError, load_config


def test_defaults_are_the_laptop_campaign() -> None:
    cfg = load_config()
    assert cfg.modes == ("sync", "async")
    assert cfg.outliers == cfg.simulations
    assert cfg.candidates == 2 * cfg.simulations
    assert cfg.training.gpu_count(0) == 0 and cfg.training.gpu_count(2) == 1
    assert cfg.md.gpu_count(4) == 0


def test_file_then_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("iterations: 7\nmd: {segment_ps: 2.5, cores: 2}\n")
    cfg = load_config(p, {"md": {"segment_ps": 5.0}, "simulations": 3})
    assert (cfg.iterations, cfg.simulations, cfg.md.segment_ps, cfg.md.cores) == (7, 3, 5.0, 2)


@pytest.mark.parametrize(("text", "needle"), [
    ("md: {segment_ps: -1}\n", "md.segment_ps: Input should be greater than 0, got -1"),
    ("trainng: {epochs: 3}\n", "trainng: unknown key"),
    ("md: {report_interval_ps: 5, segment_ps: 1}\n", "md: report_interval_ps must not exceed"),
    ("sequence: AAXAA\n", "sequence: 'X' are not amino-acid letters"),
    ("modes: [sync, later]\n", "modes.1: Input should be 'sync' or 'async'"),
    ("training: {gpus: many}\n", "training.gpus"),
    ("- a\n- b\n", "the top level must be a mapping"),
    ("md: [1, 2\n", "not valid YAML"),
])
def test_bad_configs_name_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(p) in str(info.value)
    assert needle in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.yaml")
