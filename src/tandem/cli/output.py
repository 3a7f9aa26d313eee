"""What a command prints with ``--json``: its values as JSON.

Contract: one function, shared by every command with a ``--json`` option: dataclasses become
objects (without their ``records``, which are the trace itself), dicts, lists and tuples are
walked, numbers, strings, booleans and ``None`` stay, anything else becomes its string.
Imports: nothing from tandem.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def jsonable(x: Any) -> Any:
    """``x`` as values :func:`json.dumps` takes."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)
                if f.name != "records"}
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, float | int | str | bool) or x is None:
        return x
    return str(x)
