"""A typed resource request.

Contract: one frozen value; validates on construction; no I/O. ``cores`` and ``gpus`` are per
rank; a task with ``ranks=1`` (the default) runs on one node. MPI tasks (``ranks > 1``) may spread
their ranks over several nodes, each rank's cores and GPUs on one node.
Imports: tandem.errors, tandem.spec.checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tandem.errors import SpecError
from tandem.spec.checks import is_int


def _check_count(owner: str, key: str, value: object, minimum: int) -> None:
    if not is_int(value):
        raise SpecError(f"{owner}: {key} must be an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{owner}: {key} must be >= {minimum}, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """What one task needs: ``cores`` and ``gpus`` per rank, ``ranks``, optional ``memory_mb``.

    ``Resources(cores=2, gpus=1)`` is one process on two cores and one GPU of a node;
    ``Resources(ranks=4, cores=1)`` is a 4-rank MPI job, one core per rank.
    A request of zero cores is legal for tasks that only drive a GPU, and a request of
    nothing (``cores=0, gpus=0``, one rank) for a light task that mostly waits: a stream's
    reader, a controller. Such a task is placed on a node but holds none of it; its
    processes run on the node's shared cores (those no task holds: backends/placement.py).
    """

    cores: int = 1
    gpus: int = 0
    ranks: int = 1
    memory_mb: int | None = None
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __hash__(self) -> int:
        # Requests are dictionary keys on the scheduler's hot path: hash once.
        return self._hash

    def __post_init__(self) -> None:
        _check_count("Resources", "cores", self.cores, 0)
        _check_count("Resources", "gpus", self.gpus, 0)
        _check_count("Resources", "ranks", self.ranks, 1)
        if self.memory_mb is not None:
            _check_count("Resources", "memory_mb", self.memory_mb, 0)
        if self.cores == 0 and self.gpus == 0 and self.ranks > 1:
            raise SpecError(f"Resources: a task of {self.ranks} ranks must ask for at least "
                            "one core or one GPU per rank")
        object.__setattr__(
            self, "_hash", hash((self.cores, self.gpus, self.ranks, self.memory_mb)))

    @property
    def needs_nothing(self) -> bool:
        """Neither cores nor GPUs: it fits on any node at any time."""
        return self.cores == 0 and self.gpus == 0

    @property
    def total_cores(self) -> int:
        return self.cores * self.ranks

    @property
    def total_gpus(self) -> int:
        return self.gpus * self.ranks

    def describe(self) -> str:
        parts = [f"{self.cores} core{'s' if self.cores != 1 else ''}"]
        if self.gpus:
            parts.append(f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}")
        if self.memory_mb is not None:
            parts.append(f"{self.memory_mb} MB")
        text = " + ".join(parts)
        return text if self.ranks == 1 else f"{self.ranks} ranks x ({text})"


ONE_CORE = Resources()
