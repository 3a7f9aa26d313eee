"""Resource pools: named partitions of a platform, each with a quota of cores and GPUs.

Contract: frozen values and one pure function, :func:`partition`, that checks the pools against a
platform and gives the rest of it to the default pool. No I/O.

A pool's quota is a count of cores and GPUs, not specific ids: the core admits a task of pool
``p`` only while what ``p``'s tasks hold plus the request is within ``p``'s quota (and the
platform has the free ids). Tasks without a pool go to :data:`DEFAULT_POOL`, which gets what the
named pools leave of the platform. Quotas can be moved between pools while a session runs.
Imports: tandem.errors, tandem.spec.checks, tandem.spec.platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tandem.errors import SpecError
from tandem.spec.checks import is_int
from tandem.spec.platform import Platform

DEFAULT_POOL = "default"
"""The pool of tasks submitted without ``pool=``: the part of the platform no named pool has."""


def _count(owner: str, key: str, value: object) -> None:
    if not is_int(value) or value < 0:
        raise SpecError(f"{owner}: {key} must be an integer >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """How many cores and GPUs a pool's running tasks may hold at once (over all nodes)."""

    cores: int = 0
    gpus: int = 0

    def __post_init__(self) -> None:
        _count("Quota", "cores", self.cores)
        _count("Quota", "gpus", self.gpus)

    def describe(self) -> str:
        return f"{self.cores} core{'s' if self.cores != 1 else ''} and " \
               f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}"


def partition(platform: Platform, pools: Mapping[str, Quota]) -> dict[str, Quota]:
    """The named ``pools`` plus :data:`DEFAULT_POOL` with the rest of ``platform``.

    Raises :class:`SpecError` for a bad name, a value that is not a :class:`Quota`, or quotas
    that add up to more than the platform has."""
    out: dict[str, Quota] = {}
    cores = gpus = 0
    for name, quota in pools.items():
        if not isinstance(name, str) or not name:
            raise SpecError(f"pools: a pool name must be a non-empty string, got {name!r}")
        if name == DEFAULT_POOL:
            raise SpecError(f"pools: {DEFAULT_POOL!r} is the pool of tasks without a pool (the "
                            "rest of the platform); give your pools other names")
        if not isinstance(quota, Quota):
            raise SpecError(f"pools: pool {name!r} must be a tandem.Quota, got {quota!r}")
        out[name] = quota
        cores += quota.cores
        gpus += quota.gpus
    total_c, total_g = platform.total_cores, platform.total_gpus
    if cores > total_c or gpus > total_g:
        asked = ", ".join(f"{n}: {q.describe()}" for n, q in out.items())
        raise SpecError(f"pools ask for {cores} cores and {gpus} GPUs in all ({asked}), but the "
                        f"platform has {total_c} cores and {total_g} GPUs")
    out[DEFAULT_POOL] = Quota(cores=total_c - cores, gpus=total_g - gpus)
    return out
