"""Which backend runs a task, and whether it can run it on this platform.

Contract: :class:`Routing` holds a session's backends in order; a task goes to the first that
accepts its kind of work, and a task of several ranks to the first of those that launches
several ranks (an MPI launcher) when there is one (cached per kind and rank count).
:meth:`Routing.check` refuses, with a :class:`SpecError` naming the task, the backend and (for
nodes) the platform, a task its backend cannot execute: several ranks on a backend of one
process per task, or a platform whose nodes the backend cannot reach
(:meth:`Backend.unreachable`, asked once per backend).
Imports: tandem.backends.base, tandem.errors, tandem.spec.
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.backends.base import Backend
from tandem.errors import SpecError
from tandem.spec.platform import Platform
from tandem.spec.task import TaskSpec


class Routing:
    """A session's backends, by kind of work (see the module docstring)."""

    __slots__ = ("_by_kind", "_platform", "_unreachable", "backends")

    def __init__(self, backends: Sequence[Backend], platform: Platform) -> None:
        self.backends = tuple(backends)
        self._platform = platform
        self._by_kind: dict[tuple[type, bool], Backend] = {}
        self._unreachable: dict[int, str | None] = {}      # id(backend) -> why not

    def backend_of(self, spec: TaskSpec) -> Backend:
        """The backend that runs ``spec``: the first that accepts its kind of work; for
        several ranks, the first of those that launches several ranks, if any."""
        work = spec.work
        key = (type(work), spec.resources.ranks > 1)
        b = self._by_kind.get(key)
        if b is not None:
            return b
        accepting = [b for b in self.backends if b.accepts(work)]
        if not accepting:
            raise SpecError(f"no backend of this session runs {type(work).__name__} tasks "
                            f"(backends: {', '.join(b.name for b in self.backends)})")
        multi = [b for b in accepting if b.multi_rank] if key[1] else []
        b = self._by_kind[key] = (multi or accepting)[0]
        return b

    def check(self, spec: TaskSpec) -> Backend:
        """The backend of ``spec``, if it can execute it here; else a :class:`SpecError`."""
        backend = self.backend_of(spec)
        if spec.resources.ranks > 1 and not backend.multi_rank:
            raise SpecError(
                f"task {spec.name!r} asks for {spec.resources.ranks} ranks, but the "
                f"{backend.name} backend launches one process per task; multi-rank (MPI) "
                "tasks need an MPI launcher backend (the simulator places them already)")
        key = id(backend)
        if key not in self._unreachable:
            self._unreachable[key] = backend.unreachable(self._platform)
        why = self._unreachable[key]
        if why is not None:
            raise SpecError(f"task {spec.name!r} runs on the {backend.name} backend, which "
                            f"cannot execute platform {self._platform.name!r} "
                            f"({self._platform.describe()}): {why}; use a platform of this "
                            "machine (Platform.local()), or mock tasks on a logical platform")
        return backend
