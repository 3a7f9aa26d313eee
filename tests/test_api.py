"""The public API: every lazily imported name is exported, and imports."""

from __future__ import annotations

import tandem


def test_all_lists_exactly_the_lazy_names() -> None:
    assert sorted(tandem.__all__) == sorted([*tandem._WHERE, "__version__"])


def test_every_exported_name_imports() -> None:
    for name in tandem.__all__:
        assert getattr(tandem, name) is not None
