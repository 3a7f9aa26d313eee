"""Package attributes imported on first use.

Contract: :func:`lazy_getattr` returns a module-level ``__getattr__`` (PEP 562) for package
``package`` that imports ``where[name]`` the first time ``name`` is read, stores the value in the
package's ``namespace`` (so later reads are plain lookups) and raises ``AttributeError`` naming
the package for a name it does not export. ``tandem``, ``tandem.sim`` and ``tandem.surrogate``
use it so that importing them costs nothing until a name is used.
Imports: nothing from tandem.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, where: Mapping[str, str],
                 namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package`` (see the module docstring)."""
    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value
    return __getattr__
