"""tandem never imports its applications: they are built on it, not part of it."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tandem"


def test_tandem_does_not_import_tandem_apps() -> None:
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if "tandem_apps" in p.read_text()]
    assert offenders == []
