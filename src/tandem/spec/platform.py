"""The machine(s) tasks run on: nodes with named core ids and GPU ids.

Contract: frozen values; ``Platform.local()`` is the only function here that reads the machine
(CPU affinity, ``CUDA_VISIBLE_DEVICES``, ``nvidia-smi``, memory) and ``Platform.from_slurm()``
the only one that asks Slurm (through :mod:`tandem.spec.allocation`).
Imports: tandem.errors, tandem.spec.allocation, tandem.spec.checks, tandem.spec.resources.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from tandem.errors import SpecError
from tandem.spec.allocation import Allocation, in_allocation, read_allocation
from tandem.spec.checks import is_int
from tandem.spec.resources import Resources


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One node: ``cores`` are OS core ids (what ``sched_setaffinity`` takes); ``gpus`` are the
    ids a task sees in ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs). ``virtual_gpus`` marks GPU ids
    that exist only for scheduling (a laptop pretending to have a GPU)."""

    name: str
    cores: tuple[int, ...]
    gpus: tuple[str, ...] = ()
    memory_mb: int | None = None
    virtual_gpus: bool = False

    def __post_init__(self) -> None:
        where = f"Node {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"Node: name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "cores", tuple(self.cores))
        object.__setattr__(self, "gpus", tuple(str(g) for g in self.gpus))
        for c in self.cores:
            if not is_int(c) or c < 0:
                raise SpecError(f"{where}: core ids must be non-negative integers, got {c!r}")
        if len(set(self.cores)) != len(self.cores):
            raise SpecError(f"{where}: core ids repeat: {list(self.cores)}")
        if len(set(self.gpus)) != len(self.gpus):
            raise SpecError(f"{where}: GPU ids repeat: {list(self.gpus)}")
        if not self.cores and not self.gpus:
            raise SpecError(f"{where}: a node needs at least one core or GPU")
        if self.memory_mb is not None and self.memory_mb < 0:
            raise SpecError(f"{where}: memory_mb must be >= 0, got {self.memory_mb}")

    def fits(self, request: Resources) -> bool:
        """Whether one rank of ``request`` fits this node when it is empty."""
        if request.cores > len(self.cores) or request.gpus > len(self.gpus):
            return False
        return (
            request.memory_mb is None or self.memory_mb is None
            or request.memory_mb <= self.memory_mb
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """How fast data moves from one node to another: ``bandwidth`` in bytes per second and
    ``latency`` in seconds per transfer. Data-aware placement (:mod:`tandem.core.locality`)
    and the simulator read it; the default (1.25 GB/s, 50 µs) is a 10 Gb/s Ethernet."""

    bandwidth: float = 1.25e9
    latency: float = 50e-6

    def __post_init__(self) -> None:
        for name in ("bandwidth", "latency"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v < 0 \
                    or (name == "bandwidth" and v == 0):
                need = "> 0" if name == "bandwidth" else ">= 0"
                raise SpecError(f"Network: {name} must be a number {need}, got {v!r}")

    def transfer_s(self, nbytes: int) -> float:
        """Seconds to move ``nbytes`` from one node to another (0 for nothing)."""
        return self.latency + nbytes / self.bandwidth if nbytes > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """A list of nodes. Build one by hand, with :meth:`uniform`, detect this machine with
    :meth:`local`, or read the Slurm allocation this process runs in with :meth:`from_slurm`.
    ``ends_at``: when the platform goes away (a batch allocation's end, as a Unix time), or
    ``None``. ``slurm_job``: the Slurm job whose allocation this is (set by
    :meth:`from_slurm`; backends launch job steps in it). ``network``: how fast data moves
    between its nodes (:class:`Network`)."""

    nodes: tuple[Node, ...]
    name: str = "platform"
    ends_at: float | None = None
    slurm_job: str | None = None
    network: Network = Network()
    _by_name: dict[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        if not self.nodes:
            raise SpecError("Platform: needs at least one node")
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise SpecError(f"Platform: node names repeat: {names}")
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise SpecError(
                f"Platform: no node named {name!r} (nodes: {list(self._by_name)})"
            ) from None

    @property
    def total_cores(self) -> int:
        return sum(len(n.cores) for n in self.nodes)

    @property
    def total_gpus(self) -> int:
        return sum(len(n.gpus) for n in self.nodes)

    def describe(self) -> str:
        if len(self.nodes) == 1:
            n = self.nodes[0]
            gpus = f", GPUs {list(n.gpus)}" if n.gpus else ", no GPU"
            return f"node {n.name!r} with cores {list(n.cores)}{gpus}"
        return f"{len(self.nodes)} nodes, {self.total_cores} cores, {self.total_gpus} GPUs in all"

    def check_feasible(self, request: Resources, *, task: str = "") -> None:
        """Raise :class:`InfeasibleRequest` if ``request`` can never run here."""
        from tandem.errors import InfeasibleRequest

        who = f"task {task!r}: " if task else ""
        if request.ranks == 1:
            if any(n.fits(request) for n in self.nodes):
                return
        else:
            per_node = [_ranks_fitting(n, request) for n in self.nodes]
            if sum(per_node) >= request.ranks:
                return
        biggest = max(self.nodes, key=lambda n: (len(n.cores), len(n.gpus)))
        raise InfeasibleRequest(
            f"{who}request for {request.describe()} can never fit this platform "
            f"({self.describe()}; largest node {biggest.name!r} has {len(biggest.cores)} cores "
            f"and {len(biggest.gpus)} GPUs)"
        )

    @classmethod
    def uniform(
        cls, nodes: int, *, cores: int, gpus: int = 0, memory_mb: int | None = None,
        prefix: str = "node",
    ) -> Platform:
        """``nodes`` identical nodes ``node0``, ``node1``, ... (for clusters and simulation)."""
        if nodes < 1:
            raise SpecError(f"Platform.uniform: nodes must be >= 1, got {nodes}")
        return cls(nodes=tuple(
            Node(name=f"{prefix}{i}", cores=tuple(range(cores)),
                 gpus=tuple(str(g) for g in range(gpus)), memory_mb=memory_mb)
            for i in range(nodes)
        ))

    @classmethod
    def local(cls, *, virtual_gpus: int = 0, cores: Sequence[int] | None = None) -> Platform:
        """This machine: the cores this process may run on, and its GPUs.

        GPUs come from ``CUDA_VISIBLE_DEVICES`` when it is set, else from ``nvidia-smi -L``.
        ``virtual_gpus=N`` declares N GPUs for scheduling on a machine without one (their ids
        still reach tasks through ``CUDA_VISIBLE_DEVICES``). ``cores`` restricts the core ids.
        """
        allowed = sorted(os.sched_getaffinity(0))
        if cores is not None:
            missing = sorted(set(cores) - set(allowed))
            if missing:
                raise SpecError(
                    f"Platform.local: cores {missing} are not available to this process "
                    f"(allowed: {allowed})"
                )
            allowed = sorted(set(cores))
        if virtual_gpus < 0:
            raise SpecError(f"Platform.local: virtual_gpus must be >= 0, got {virtual_gpus}")
        gpus = detect_gpus()
        virtual = False
        if virtual_gpus:
            if gpus:
                raise SpecError(
                    f"Platform.local: this machine has GPUs {list(gpus)}; "
                    "virtual_gpus is only for machines without one"
                )
            gpus = tuple(str(i) for i in range(virtual_gpus))
            virtual = True
        mem = None
        with contextlib.suppress(ValueError, OSError):
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
        node = Node(name=os.uname().nodename or "localhost", cores=tuple(allowed), gpus=gpus,
                    memory_mb=mem, virtual_gpus=virtual)
        return cls(nodes=(node,), name="local")


    @classmethod
    def default(cls) -> Platform:
        """Where tandem runs unless told: the Slurm allocation this process runs in
        (``SLURM_JOB_ID`` set, and ``TANDEM_SLURM`` not ``0``), else this machine."""
        return cls.from_slurm() if in_allocation(os.environ) else cls.local()

    @classmethod
    def from_slurm(cls, job_id: str | None = None, *,
                   allocation: Allocation | None = None) -> Platform:
        """The Slurm allocation this process runs in (``$SLURM_JOB_ID``, or ``job_id``): its
        nodes with the CPU ids, GPU ids and memory the job holds on each, and its end time
        (``scontrol show job -d``; see :mod:`tandem.spec.allocation`). ``allocation``: one
        already read."""
        alloc = allocation if allocation is not None else read_allocation(job_id)
        nodes = tuple(Node(name=n.name, cores=n.cores, gpus=n.gpus, memory_mb=n.memory_mb)
                      for n in alloc.nodes)
        return cls(nodes=nodes, name=f"slurm-{alloc.job_id}", ends_at=alloc.ends_at,
                   slurm_job=alloc.job_id)


def _ranks_fitting(node: Node, request: Resources) -> int:
    by_cores = len(node.cores) // request.cores if request.cores else 1 << 30
    by_gpus = len(node.gpus) // request.gpus if request.gpus else 1 << 30
    return min(by_cores, by_gpus)


def detect_gpus() -> tuple[str, ...]:
    """GPU ids visible to this process: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        # "-1" or "" means: no GPU visible.
        return tuple(g for g in ids if g != "-1")
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if out.returncode != 0:
        return ()
    return tuple(str(i) for i, line in enumerate(out.stdout.splitlines())
                 if line.startswith("GPU "))
