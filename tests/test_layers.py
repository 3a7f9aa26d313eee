"""The layers of tandem, checked by walking the source (``ast``); nothing is imported.

- each layer imports only the layers below it (``LAYERS``);
- every module says what it imports on one ``Imports:`` line of its docstring, and the line is
  true: every ``tandem`` import (at module level, inside functions, under ``TYPE_CHECKING``) is
  covered by an entry, and every entry is used;
- no cycle in the import graph inside a package, nor between ``runtime`` and ``backends``;
- no module imports another module's underscore names or reads another object's underscore
  attributes (``self``/``cls`` and names the module itself defines are its own).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Layer (a package or module under tandem) -> what it may import besides itself.
BASE = frozenset({"tandem.errors", "tandem.version", "tandem.guardian", "tandem.sink",
                  "tandem.lazy"})
LAYERS: dict[str, frozenset[str]] = {
    "tandem.errors": frozenset(),
    "tandem.version": frozenset(),
    "tandem.lazy": frozenset(),
    "tandem.guardian": frozenset(),
    "tandem.sink": frozenset({"tandem.guardian"}),
    "tandem.spec": BASE,
    "tandem.data": BASE,
    "tandem.core": BASE | {"tandem.spec"},
    "tandem.backends": BASE | {
        "tandem.spec", "tandem.core.values", "tandem.core.actions", "tandem.core.events",
        "tandem.data",
    },
    "tandem.model": BASE | {"tandem.spec", "tandem.core"},
    "tandem.trace": BASE | {"tandem.spec", "tandem.core", "tandem.model"},
    "tandem.config": BASE | {"tandem.spec", "tandem.core"},
    "tandem.journal": BASE | {"tandem.spec", "tandem.data"},
    "tandem.history": BASE | {"tandem.spec", "tandem.core", "tandem.model", "tandem.trace"},
    # Above the runtime, like sim: it uses a Session; nothing below imports it.
    "tandem.surrogate": BASE | {"tandem.spec", "tandem.core", "tandem.trace", "tandem.runtime"},
}
# Packages whose modules must not import each other in a cycle, and pairs of packages between
# which no cycle may run.
ACYCLIC = ("tandem.core", "tandem.runtime", "tandem.backends", "tandem.spec", "tandem.trace",
           "tandem.sim", "tandem.model", "tandem.config", "tandem.journal", "tandem.history",
           "tandem.surrogate", "tandem.data")
ACYCLIC_BETWEEN = (("tandem.runtime", "tandem.backends"),)
# Underscore attributes that are public API of the standard library.
PUBLIC_UNDERSCORE = frozenset({
    "_fields", "_replace", "_asdict", "_make", "_field_defaults",   # namedtuple
    "_exit", "_getframe", "_value_", "_name_", "_missing_", "_member_map_",
})


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, int] = field(default_factory=dict)   # tandem module -> first line

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def modules() -> list[Module]:
    out = []
    for path in sorted((SRC / "tandem").rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        m = Module(".".join(parts), path, ast.parse(path.read_text(), str(path)))
        out.append(m)
    names = {m.name for m in out}
    for m in out:
        m.imports = dict(tandem_imports(m, names))
    return out


def tandem_imports(m: Module, names: set[str]) -> Iterator[tuple[str, int]]:
    """Each tandem module ``m`` imports (the module a name comes from, when it is one)."""
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "tandem" or a.name.startswith("tandem."):
                    yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = m.package.split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            if base != "tandem" and not base.startswith("tandem."):
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                yield (sub if sub in names else base), node.lineno


def own_imports(m: Module) -> set[str]:
    """What ``m`` imports besides itself (a package's own modules count for its ``__init__``:
    they are what it re-exports)."""
    if m.path.name == "__init__.py":
        return {t for t in m.imports if t != m.name}
    return {t for t in m.imports if not covered(t, {m.name})}


def covered(target: str, entries: set[str]) -> bool:
    return any(target == e or target.startswith(e + ".") for e in entries)


def layer_of(name: str) -> str | None:
    best = None
    for layer in LAYERS:
        if (name == layer or name.startswith(layer + ".")) and (best is None
                                                                or len(layer) > len(best)):
            best = layer
    return best


def declared(m: Module) -> set[str] | None:
    """The entries of the module's ``Imports:`` line, or None without one."""
    doc = ast.get_docstring(m.tree) or ""
    at = doc.find("Imports:")
    if at < 0:
        return None
    text = doc[at + len("Imports:"):]
    end = re.search(r"\.(\s|$)", text)
    text = text[: end.start()] if end else text
    if text.strip() == "nothing from tandem":
        return set()
    return set(re.findall(r"tandem(?:\.\w+)*", text))


ALL = modules()


def test_every_module_has_a_true_imports_line() -> None:
    problems = []
    for m in ALL:
        entries = declared(m)
        if entries is None:
            problems.append(f"{m.path.relative_to(SRC)}: no 'Imports:' line in its docstring")
            continue
        actual = own_imports(m)
        missing = sorted(t for t in actual if not covered(t, entries))
        unused = sorted(e for e in entries if not any(covered(t, {e}) for t in actual))
        if missing:
            problems.append(f"{m.path.relative_to(SRC)}: imports {missing}, not on its "
                            "'Imports:' line")
        if unused:
            problems.append(f"{m.path.relative_to(SRC)}: 'Imports:' names {unused}, which it "
                            "does not import")
    assert not problems, "\n".join(problems)


def test_layers_import_only_what_is_below_them() -> None:
    problems = []
    for m in ALL:
        layer = layer_of(m.name)
        if layer is None:
            continue
        allowed = LAYERS[layer] | {layer}
        for target, line in m.imports.items():
            if not covered(target, allowed):
                problems.append(f"{m.path.relative_to(SRC)}:{line}: {layer} may not import "
                                f"{target} (allowed: {sorted(LAYERS[layer])})")
    assert not problems, "\n".join(problems)


def _graph(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    """Import edges among the modules under ``prefixes`` (package ``__init__`` files are
    re-export lists, not concepts, and stay out; importing one's own package is refused by
    :func:`test_no_module_imports_its_own_package`)."""
    inside = {m.name: m for m in ALL if m.path.name != "__init__.py"
              and any(covered(m.name, {p}) for p in prefixes)}
    return {n: {t for t in m.imports if t in inside and t != n} for n, m in inside.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        colour[n] = 1
        stack.append(n)
        for t in sorted(graph[n]):
            if colour.get(t) == 1:
                return [*stack[stack.index(t):], t]
            if t not in colour and (found := visit(t)):
                return found
        stack.pop()
        colour[n] = 2
        return None

    for n in sorted(graph):
        if n not in colour and (found := visit(n)):
            return found
    return None


def test_no_import_cycles() -> None:
    problems = []
    for group in [(p,) for p in ACYCLIC] + list(ACYCLIC_BETWEEN):
        found = _cycle(_graph(group))
        if found:
            problems.append(f"cycle in {' + '.join(group)}: {' -> '.join(found)}")
    assert not problems, "\n".join(problems)


def test_no_module_imports_its_own_package() -> None:
    problems = [f"{m.path.relative_to(SRC)}: imports its own package {m.package} "
                "(import the module that defines the name)"
                for m in ALL if m.path.name != "__init__.py" and m.package != "tandem"
                and m.package in m.imports]
    assert not problems, "\n".join(problems)


def _own_names(tree: ast.Module) -> set[str]:
    """Underscore names a module defines: functions, classes, assignments, attributes it
    sets on ``self``/``cls`` or declares in ``__slots__`` or class bodies."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            own.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            own.add(node.value)    # __slots__ entries, getattr(..., "_name") of its own
    return {n for n in own if n.startswith("_")}


def test_no_module_reads_another_modules_underscore_names() -> None:
    problems = []
    for m in ALL:
        own = _own_names(m.tree)
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tandem"):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        problems.append(f"{m.path.relative_to(SRC)}:{node.lineno}: imports "
                                        f"{node.module}.{a.name}")
            elif isinstance(node, ast.Attribute):
                attr = node.attr
                if not attr.startswith("_") or attr.startswith("__") or \
                        attr in PUBLIC_UNDERSCORE:
                    continue
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                    continue
                if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and \
                        base.func.id == "super":
                    continue
                if attr in own:
                    continue
                problems.append(f"{m.path.relative_to(SRC)}:{node.lineno}: reads "
                                f"{ast.unparse(node)}")
    assert not problems, "\n".join(problems)
