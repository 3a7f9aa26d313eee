"""Quota bookkeeping of resource pools: what each pool may hold and what its tasks hold now.

Contract: pure bookkeeping, no I/O, no clock; imports ``tandem.spec`` and ``tandem.errors``.
The scheduler asks :meth:`Quotas.admits` before placing a task of a pool, charges the pool with
:meth:`take` when it places one and credits it with :meth:`give` when the task's resources come
back (exit, or a pause that releases cores). Counts only: which ids a task gets is the resource
pool's business (:mod:`tandem.core.pool`).

Rules:

- a task is admitted only if its pool's use plus its request is within the pool's quota;
- :meth:`move` never touches running tasks: a pool that holds more than its new quota admits
  nothing until enough of its tasks have ended;
- a quota never goes below zero, and the quotas always add up to the platform.

Imports: tandem.errors, tandem.spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tandem.errors import InfeasibleRequest, SpecError, TandemInternalError
from tandem.spec.checks import is_int
from tandem.spec.platform import Platform
from tandem.spec.pools import DEFAULT_POOL, Quota, partition
from tandem.spec.resources import Resources


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolUsage:
    """One pool at one instant: its quota and what its running tasks hold."""

    name: str
    quota_cores: int
    quota_gpus: int
    used_cores: int
    used_gpus: int

    @property
    def free_cores(self) -> int:
        """Cores it may still admit (0 while it holds more than its quota)."""
        return max(0, self.quota_cores - self.used_cores)

    @property
    def free_gpus(self) -> int:
        return max(0, self.quota_gpus - self.used_gpus)


class _Pool:
    __slots__ = ("cores", "gpus", "name", "used_cores", "used_gpus")

    def __init__(self, name: str, quota: Quota) -> None:
        self.name = name
        self.cores = quota.cores
        self.gpus = quota.gpus
        self.used_cores = 0
        self.used_gpus = 0


class Quotas:
    """Every pool's quota and use. Built from the named pools; the default pool gets the rest."""

    def __init__(self, platform: Platform, pools: Mapping[str, Quota]) -> None:
        self.platform = platform
        self._pools = {name: _Pool(name, q) for name, q in partition(platform, pools).items()}

    # -- queries ---------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._pools)

    def usage(self, name: str) -> PoolUsage:
        p = self._pool(name)
        return PoolUsage(name=p.name, quota_cores=p.cores, quota_gpus=p.gpus,
                         used_cores=p.used_cores, used_gpus=p.used_gpus)

    def admits(self, name: str, cores: int, gpus: int) -> bool:
        """Whether pool ``name`` may take ``cores`` and ``gpus`` more now."""
        p = self._pools[name]
        return p.used_cores + cores <= p.cores and p.used_gpus + gpus <= p.gpus

    def resolve(self, pool: str | None, request: Resources, task: str) -> str:
        """The pool a task of ``pool`` (``None``: the default) draws on. Raises
        :class:`SpecError` for an unknown pool and :class:`InfeasibleRequest` for a request
        that no quota could ever hold (more than the whole platform)."""
        name = DEFAULT_POOL if pool is None else pool
        if name not in self._pools:
            raise SpecError(f"task {task!r}: no pool named {name!r} "
                            f"(pools: {', '.join(self._pools)})")
        total_c, total_g = self.platform.total_cores, self.platform.total_gpus
        if request.total_cores > total_c or request.total_gpus > total_g:
            raise InfeasibleRequest(
                f"task {task!r}: request for {request.describe()} in pool {name!r} can never "
                f"fit: even with every quota moved to {name!r} it would hold {total_c} cores "
                f"and {total_g} GPUs")
        return name

    def check_move(self, source: str, target: str, cores: int, gpus: int) -> None:
        """Raise :class:`SpecError` if this move is not possible now."""
        for name in (source, target):
            if name not in self._pools:
                raise SpecError(f"move: no pool named {name!r} (pools: {', '.join(self._pools)})")
        if source == target:
            raise SpecError(f"move: source and target are the same pool {source!r}")
        for key, n in (("cores", cores), ("gpus", gpus)):
            if not is_int(n) or n < 0:
                raise SpecError(f"move: {key} must be an integer >= 0, got {n!r}")
        p = self._pools[source]
        if cores > p.cores or gpus > p.gpus:
            raise SpecError(
                f"move: pool {source!r} has a quota of {p.cores} cores and {p.gpus} GPUs; "
                f"cannot move {cores} cores and {gpus} GPUs out of it")

    def check_moves(self, moves: Sequence[tuple[str, str, int, int]]) -> None:
        """Raise :class:`SpecError` if these moves, made in order, are not all possible now
        (nothing is moved either way)."""
        saved = {name: (p.cores, p.gpus) for name, p in self._pools.items()}
        try:
            for source, target, cores, gpus in moves:
                self.move(source, target, cores, gpus)
        finally:
            for name, (cores, gpus) in saved.items():
                p = self._pools[name]
                p.cores, p.gpus = cores, gpus

    # -- changes ---------------------------------------------------------------------------
    def take(self, name: str, cores: int, gpus: int) -> None:
        p = self._pools[name]
        p.used_cores += cores
        p.used_gpus += gpus

    def give(self, name: str, cores: int, gpus: int) -> None:
        p = self._pools[name]
        p.used_cores -= cores
        p.used_gpus -= gpus
        if p.used_cores < 0 or p.used_gpus < 0:
            raise TandemInternalError(f"pool {name!r} gave back more than it held")

    def move(self, source: str, target: str, cores: int, gpus: int) -> None:
        """Move quota from ``source`` to ``target`` (see :meth:`check_move`)."""
        self.check_move(source, target, cores, gpus)
        s, t = self._pools[source], self._pools[target]
        s.cores -= cores
        s.gpus -= gpus
        t.cores += cores
        t.gpus += gpus

    def _pool(self, name: str) -> _Pool:
        try:
            return self._pools[name]
        except KeyError:
            raise SpecError(f"no pool named {name!r} (pools: {', '.join(self._pools)})") from None
