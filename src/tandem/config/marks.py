"""Parse YAML and remember where every key and value came from.

Contract: :func:`parse` turns YAML text into plain Python data plus a :class:`Marks` map from
key paths (``("task_sets", 2, "cores")``) to 1-based line numbers, and raises
:class:`~tandem.errors.SpecError` naming ``file:line`` for a syntax error or a key given twice.
Uses PyYAML's safe loader only (no Python objects from tags).
Imports: tandem.errors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from tandem.errors import SpecError

Path_ = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("task_sets", 2, "cores")`` -> ``task_sets[2].cores``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def show(value: Any) -> str:
    """A value as the user would write it: strings in double quotes, lists and maps compact."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


class Marks:
    """Lines of the keys (and of the values) of a parsed document."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.key_lines: dict[Path_, int] = {}
        self.value_lines: dict[Path_, int] = {}

    def line(self, path: Sequence[str | int]) -> int:
        """The line of ``path``'s key (or item), else of its nearest enclosing one, else 1."""
        p = tuple(path)
        while p:
            if p in self.key_lines:
                return self.key_lines[p]
            p = p[:-1]
        return self.value_lines.get((), 1)

    def error(self, path: Sequence[str | int], message: str,
              cls: type[SpecError] = SpecError, *, line: int | None = None) -> SpecError:
        """A ``cls`` error reading ``file:line: key.path: message`` (the line of ``path``
        unless given)."""
        where = format_path(path)
        prefix = f"{self.filename}:{self.line(path) if line is None else line}: "
        return cls(prefix + (f"{where}: {message}" if where else message))

    def _walk(self, node: yaml.Node, path: Path_, seen: set[int]) -> None:
        self.value_lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen:     # an alias of a node already walked
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    continue
                line = key_node.start_mark.line + 1
                if key in keys and key != "<<":
                    raise SpecError(f"{self.filename}:{line}: "
                                    f"{format_path((*path, key))}: key given twice "
                                    f"(first on line {keys[key]})")
                keys[key] = line
                self.key_lines[(*path, key)] = line
                self._walk(value_node, (*path, key), seen)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.key_lines[(*path, i)] = item.start_mark.line + 1
                self._walk(item, (*path, i), seen)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def parse(text: str, filename: str) -> tuple[Any, Marks]:
    """The data of one YAML document and where each part of it is."""
    marks = Marks(filename)
    try:
        loader = yaml.SafeLoader(text)   # refuses control characters (a binary file) at once
    except yaml.YAMLError as e:
        raise SpecError(f"{filename}: not a YAML text file: {_first_line(e)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        marks._walk(node, (), set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = e.problem or e.context or "cannot parse"
        if e.context and e.problem:
            start = e.context_mark
            if start is not None and start.line + 1 != line:
                what += f" ({e.context} that starts on line {start.line + 1})"
            else:
                what += f" ({e.context})"
        raise SpecError(f"{filename}:{line}: YAML syntax error: {what}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{filename}:1: YAML error: {e}") from None
    finally:
        loader.dispose()
    return data, marks
