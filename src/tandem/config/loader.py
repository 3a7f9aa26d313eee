"""Load a YAML workflow file into a :class:`~tandem.spec.workflow.Workflow`.

Contract: :func:`load_workflow` (a file) and :func:`loads_workflow` (text) return a validated
``Workflow`` or raise one :class:`~tandem.errors.SpecError` (an
:class:`~tandem.errors.InfeasibleRequest` for a request that can never fit) whose message reads
``file:line: key.path: what was expected, got what``; one line per problem when pydantic finds
several. Never a traceback from inside pydantic or PyYAML. Parsing and line marks live in
:mod:`tandem.config.marks`, the schema in :mod:`tandem.config.schema`, the conversion to spec
values in :mod:`tandem.config.build`.
Imports: tandem.config.build, tandem.config.marks, tandem.config.schema, tandem.errors,
tandem.spec.workflow.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tandem.config.build import build_workflow
from tandem.config.marks import Marks, parse, show
from tandem.config.schema import WorkflowModel, allowed_keys, choices, expected
from tandem.errors import SpecError
from tandem.spec.workflow import Workflow

MAX_PROBLEMS = 10


def load_workflow(path: str | os.PathLike[str]) -> Workflow:
    """Read, validate and build the workflow in the YAML file ``path``."""
    filename = os.fspath(path)
    try:
        text = Path(filename).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{filename}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SpecError(f"{filename}: cannot read: {reason}") from None
    return loads_workflow(text, filename=filename)


def loads_workflow(text: str, *, filename: str = "<string>") -> Workflow:
    """Validate and build the workflow in the YAML ``text``; errors name ``filename``."""
    data, marks = parse(text, filename)
    if not isinstance(data, dict):
        what = "an empty file" if data is None else show(data)
        raise SpecError(f"{filename}:{marks.line(())}: expected a mapping with the keys "
                        f"name, mode, platform, task_sets; got {what}")
    try:
        model = WorkflowModel.model_validate(data)
    except ValidationError as e:
        raise SpecError(_describe(e, data, marks)) from None
    default_name = Path(filename).stem if filename != "<string>" else "workflow"
    return build_workflow(model, marks, default_name=default_name)


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """`` (did you mean "x"?)`` for a close match among ``options``, else ``""``."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {show(close[0])}?)" if close else ""


def _describe(error: ValidationError, data: Any, marks: Marks) -> str:
    lines: list[str] = []
    errors = error.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        loc: tuple[str | int, ...] = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            keys = allowed_keys(loc[:-1])
            msg = f"unknown key {show(key)}{did_you_mean(key, keys)}"
            if keys:
                msg += f"; allowed keys: {', '.join(keys)}"
            lines.append(str(marks.error(loc, msg)))
            continue
        if kind == "invalid_key" or "[key]" in loc:
            at = loc[:loc.index("[key]")] if "[key]" in loc else loc
            line = marks.line((*at[:-1], str(at[-1])))   # YAML keeps the key's text
            lines.append(str(marks.error(at[:-1], f"keys must be strings, got {show(at[-1])}",
                                         line=line)))
            continue
        if kind == "missing":
            lines.append(str(marks.error(loc[:-1], f"missing required key {show(loc[-1])}")))
            continue
        where = _trim(loc, data)
        got = show(err.get("input"))
        if kind == "literal_error":
            options = choices(loc)
            msg = f"expected {' or '.join(options)}, got {got}"
            if isinstance(err.get("input"), str):
                msg += did_you_mean(err["input"], options)
        else:
            what = expected(loc)
            msg = f"expected {what}, got {got}" if what else f"{err['msg']}, got {got}"
        lines.append(str(marks.error(where, msg)))
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"... and {len(errors) - MAX_PROBLEMS} more problems")
    return "\n".join(lines)


def _trim(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """``loc`` cut where the user's data stops (``duration: -5`` is checked as
    ``duration.mean``, but the user wrote ``duration``)."""
    node = data
    for i, part in enumerate(loc):
        inside = (isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node)) \
            or (isinstance(part, str) and isinstance(node, dict) and part in node)
        if not inside:
            return loc[:i] if i else loc
        node = node[part]
    return loc
