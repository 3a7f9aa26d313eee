"""A faster ``__init__`` for the frozen, slotted dataclasses the core makes per task.

Contract: a class decorator over ``@dataclass(frozen=True, slots=True)`` classes; imports only
the standard library.

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__(self,
"name", value)``, which looks the slot up by name on every call. Events and actions are made a
few times per task lifecycle, so the core's throughput feels it. :func:`fast_init` replaces the
``__init__`` with one that calls each slot's descriptor directly: the same signature (order,
defaults, keyword-only fields), the same frozen value afterwards (assignment still raises), the
same ``__eq__``, ``__hash__``, ``__repr__`` and ``dataclasses.replace``.

Imports: nothing from tandem.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C", bound=type)


def fast_init(cls: C) -> C:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that sets slots directly."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init needs a @dataclass(frozen=True, slots=True) class, "
                        f"got {cls.__qualname__}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_init does not run __post_init__ ({cls.__qualname__} has one)")
    namespace: dict[str, Any] = {}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            raise TypeError(f"fast_init: field {cls.__qualname__}.{f.name} has init=False")
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"fast_init: field {cls.__qualname__}.{f.name} has a "
                            "default_factory")
        param = f.name
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            param = f"{f.name}=_default_{f.name}"
        (keyword if f.kw_only else positional).append(param)
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        body.append(f"    _set_{f.name}(self, {f.name})\n")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}) -> None:\n" + "".join(body or ["    pass\n"])
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__dict__["__init__"].__doc__
    cls.__init__ = init   # type: ignore[misc]
    return cls
