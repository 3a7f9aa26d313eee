"""Stable task keys: which submission of a re-run campaign is "the same task" as one before.

Contract: :class:`Keys` derives, for each submission of one run, its **key** (the identity the
journal files it under) and its **digest** (what the task computes). Deterministic across runs
and processes: no ``id()``, no hash randomisation, no clock. Pure apart from a per-function cache
of code digests.

- A task's key is its ``key=`` when given. Else it is derived from its name, its kind, its work
  (a function's module and qualified name; an executable's argv and ``shell``; a mock task's
  seconds), its arguments (their pickled bytes, with each dependency future replaced by that
  task's key and sets sorted) and its position among the submissions of this run that share
  all of those (the first is ``name.<hash>``, the next ``name.<hash>.1``, ...).
- A task's digest covers what it computes: a function's code (bytecode, constants and names,
  nested functions included) and its arguments; an executable's argv, environment, working
  directory and ``shell``; and the digests of its dependencies. Resources, priority, timeout,
  retries and pool are not in either: changing how a task is scheduled does not re-run it.

So two submissions in two runs are the same task when they have the same key; a same task
whose digest differs (its function's code changed, its environment changed, a dependency
changed) runs again.
Imports: tandem.errors, tandem.spec.task.
"""

from __future__ import annotations

import hashlib
import io
import types
from collections.abc import Callable, Iterable
from typing import Any

import cloudpickle

from tandem.errors import SpecError
from tandem.spec.task import Executable, FunctionCall, Mock, TaskSpec

_PLAIN = frozenset({int, float, str, bytes, bool, type(None)})
_MADE_KEPT = 4096


def _hash(*parts: str) -> str:
    return _blake("\x00".join(parts).encode(errors="surrogatepass"))


def _blake(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _plain(x: object, depth: int = 0) -> bool:
    """Whether ``repr(x)`` is a faithful, deterministic text of ``x`` (no sets, no objects)."""
    tp = type(x)
    if tp in _PLAIN:
        return True
    if depth > 4:
        return False
    if tp is tuple or tp is list:
        return all(type(v) in _PLAIN or _plain(v, depth + 1)
                   for v in x)  # type: ignore[attr-defined]
    if tp is dict:
        for k, v in x.items():  # type: ignore[attr-defined]
            if type(k) not in _PLAIN or (type(v) not in _PLAIN and not _plain(v, depth + 1)):
                return False
        return True
    return False


class _Canonical(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle with futures replaced by their keys and sets by their sorted elements'
    digests (the C pickler offers no other hook than ``persistent_id`` for a set)."""

    def __init__(self, file: io.BytesIO, key_of: Callable[[object], str | None]) -> None:
        super().__init__(file, protocol=5)
        self._key_of = key_of

    def persistent_id(self, obj: object) -> object:
        tp = type(obj)
        if tp is set or tp is frozenset:
            assert isinstance(obj, set | frozenset)
            return (tp.__name__, tuple(sorted(canonical(v, self._key_of) for v in obj)))
        return self._key_of(obj)


def canonical(obj: object, key_of: Callable[[object], str | None]) -> str:
    """The digest of ``obj``'s canonical pickle (futures by key, sets sorted)."""
    buf = io.BytesIO()
    _Canonical(buf, key_of).dump(obj)
    return _blake(buf.getvalue())


def code_digest(fn: object) -> str:
    """The digest of a callable's code: bytecode, constants (nested code included) and names;
    a callable without code (a builtin, a class) by its module and name."""
    code = getattr(fn, "__code__", None)
    if code is None:
        func = getattr(fn, "func", None)          # functools.partial
        if func is not None:
            return _hash(code_digest(func), repr(getattr(fn, "args", ())),
                         repr(sorted(getattr(fn, "keywords", {}).items())))
        return _hash(qualname(fn))
    return _blake(b"\x00".join(_code_parts(code)))


def _code_parts(code: types.CodeType) -> Iterable[bytes]:
    yield code.co_code
    yield repr(code.co_names).encode()
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _code_parts(c)
        else:
            yield repr(c).encode(errors="surrogatepass")


def qualname(fn: object) -> str:
    """``module.qualified.name`` of a callable (the type's for an object that is called)."""
    target = getattr(fn, "func", fn)                     # functools.partial
    target = getattr(target, "__func__", target)         # bound method
    mod = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{mod}.{name}"


class Keys:
    """Keys and digests of one run's submissions (see the module docstring). ``key_of`` gives
    the key of a dependency future found among the arguments (``None`` for anything else)."""

    def __init__(self, key_of: Callable[[object], str | None]) -> None:
        self._key_of = key_of
        self._seen: dict[str, int] = {}       # derived base key -> submissions so far
        self._given: set[str] = set()         # keys given with key=
        # id(function) -> (it, its qualified name, its code digest)
        self._fns: dict[int, tuple[object, str, str]] = {}
        # (work's identity, arguments, name, kind) -> (base key, content digest): identical
        # submissions (a sweep's repeats) are hashed once
        self._made: dict[tuple[str, str, str, str], tuple[str, str]] = {}

    def of(self, spec: TaskSpec, dep_digests: Iterable[str] = ()) -> tuple[str, str]:
        """The key and digest of submission ``spec`` whose dependencies have
        ``dep_digests``."""
        work = spec.work
        if type(work) is FunctionCall:
            args = self._args(work.args, work.kwargs)
            ident, code = self._fn(work.fn)
            content_of: tuple[str, ...] = (code, args)
        elif type(work) is Executable:
            argv = work.argv if isinstance(work.argv, str) else repr(tuple(work.argv))
            ident = f"{argv}|{work.shell}"
            args = ""
            content_of = (argv, repr(sorted(work.env.items())), repr(work.cwd),
                          repr(work.shell))
        else:
            assert type(work) is Mock
            ident = f"mock {work.seconds!r}"
            args = ""
            content_of = (ident,)
        name = spec.name
        made = self._made.get((ident, args, name, spec.kind))
        if made is None:
            if len(self._made) > _MADE_KEPT:
                self._made.clear()
            made = self._made[(ident, args, name, spec.kind)] = (
                f"{name}.{_hash(name, spec.kind, ident, args)}", _hash(*content_of))
        base, content = made
        deps = sorted(dep_digests) if dep_digests else ()
        digest = _hash(content, *deps) if deps else content
        if spec.key is not None:
            key = spec.key
            if key in self._given:
                raise SpecError(f"task {name!r}: key {key!r} was already given to another "
                                "task of this session (keys name one task each)")
            self._given.add(key)
            return key, digest
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        return (base if n == 0 else f"{base}.{n}"), digest

    def _fn(self, fn: object) -> tuple[str, str]:
        """A function's qualified name and code digest (a bound method's: its function's)."""
        owner = getattr(fn, "__func__", fn)
        hit = self._fns.get(id(owner))
        if hit is not None and hit[0] is owner:
            return hit[1], hit[2]
        name, digest = qualname(owner), code_digest(owner)
        self._fns[id(owner)] = (owner, name, digest)
        return name, digest

    def _args(self, args: tuple[Any, ...], kwargs: Any) -> str:
        if not kwargs:
            if not args:
                return "()"
            if (len(args) == 1 and type(args[0]) in _PLAIN) or _plain(args):
                return repr(args)
        if _plain(args) and _plain(dict(kwargs)):
            return repr((args, kwargs))
        try:
            return canonical((args, dict(kwargs)), self._key_of)
        except Exception as e:
            raise SpecError(f"the arguments of this task cannot be pickled, so it has no "
                            f"stable key ({type(e).__name__}: {e}); give it key= or open the "
                            "session with journal=False") from None
