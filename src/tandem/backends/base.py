"""The backend contract: how placed tasks are executed.

Contract: a backend executes a :class:`LaunchRequest` on exactly the resources of its
placement and reports what happened through a :class:`Reporter`; it never touches scheduler
state. Four methods: ``start``, ``launch``, ``kill``, ``shutdown``; a ``steerable`` backend also
has ``pause``, ``resume`` and ``preempt`` (the session refuses those requests for other
backends). ``launch``, ``kill`` and the steering methods are called on the event-loop thread,
must not block for long, and never raise for a task's own problems: a task that cannot be
started is reported as exited with a ``LAUNCH`` failure.
``shutdown`` ends every process the backend started; none outlives the session.
Imports: tandem.core.values, tandem.errors, tandem.spec.

A backend says which nodes of a platform it can execute on (:meth:`Backend.unreachable`): the
local backends execute only the node that is this machine (:mod:`tandem.backends.local`); the
mock backend executes logical slots of any node; inside a Slurm allocation, job steps
(:mod:`tandem.backends.srun`), node workers (:mod:`tandem.backends.node_workers`) and Dask
workers (:mod:`tandem.backends.dask`) execute the allocation's nodes. The session refuses a task
whose backend cannot execute every node it could be placed on, naming the platform and the
backend. Whatever the engine, the core decides the node, core ids and GPU ids; a backend only
executes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Protocol

from tandem.core.values import Failure, Placement
from tandem.errors import BackendError
from tandem.spec.platform import Platform
from tandem.spec.task import Work


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchRequest:
    """Run ``work`` (dependency results already substituted into its arguments) on
    ``placement``. ``workdir`` is the path of the task's own directory (it may not exist yet; a
    backend that writes files there creates it). ``attempt`` counts from 1; ``preempted`` is how
    many earlier attempts were preempted (the task should continue from its checkpoint).
    ``shared_cores``: for a task placed on no cores (``cores=0``), the core ids its threads may
    run on without holding them (see :func:`tandem.backends.placement.pin_cores`).
    ``memory_mb``: the memory the task asked for per rank (``None``: no request)."""

    task_id: int
    name: str
    kind: str
    work: Work
    placement: Placement
    workdir: str
    attempt: int = 1
    preempted: int = 0
    shared_cores: tuple[int, ...] = ()
    memory_mb: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a launched task ended: ``failure is None`` means success with ``value`` (for
    functions; ``None`` for executables). ``peak_mb``: the attempt's peak memory in MiB, where
    the backend measured it (:mod:`tandem.backends.memory`; ``None``: not measured)."""

    task_id: int
    value: Any = None
    failure: Failure | None = None
    peak_mb: float | None = None


class Reporter(Protocol):
    """What a backend calls, on the event-loop thread, as its tasks progress."""

    def started(self, task_id: int) -> None: ...

    def exited(self, outcome: Outcome) -> None: ...


class Backend(abc.ABC):
    """Executes placed tasks. See the module docstring for the rules."""

    name: str = "backend"
    #: Whether the backend launches multi-rank (MPI) tasks over all the slots of a placement.
    multi_rank: bool = False
    #: Whether the backend can pause, resume and preempt its tasks.
    steerable: bool = False
    #: Whether ``resume`` can re-pin a task to other cores (what a pause that releases its
    #: cores needs); false for Slurm job steps, whose ranks run on other nodes.
    repins: bool = True

    @abc.abstractmethod
    def accepts(self, work: Work) -> bool:
        """Whether this backend runs this kind of work."""

    def unreachable(self, platform: Platform) -> str | None:
        """Why this backend cannot execute tasks on every node of ``platform``, or ``None`` if
        it can. The default is a backend of logical slots (any node); backends that run real
        processes override it."""
        return None

    def driver_host(self) -> str | None:
        """The address of this host that this backend's tasks on other hosts reach the
        driver at (the session's streams listen there too); ``None``, the default: its tasks
        run on this host."""
        return None

    def keep_results(self, directory: str, above: int | None) -> bool:
        """Keep function results of at least ``above`` bytes (``None``: only of calls with
        ``ref=True``) as segments in ``directory``, reporting
        :class:`~tandem.data.refs.Kept` values; called before :meth:`start`. Returns whether
        this backend does (the default: it does not; its results come by value)."""
        return False

    @abc.abstractmethod
    async def start(self, reporter: Reporter) -> None:
        """Get ready (spawn warm workers, connect to an engine). Called once before launches."""

    @abc.abstractmethod
    def launch(self, request: LaunchRequest) -> None:
        """Start the task now; report ``started`` and later ``exited`` through the reporter."""

    @abc.abstractmethod
    def kill(self, task_id: int) -> None:
        """End the task's whole process tree (SIGTERM, grace period, SIGKILL); ``exited`` is
        reported once it is gone. Killing a task that already ended does nothing."""

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """End everything still running and release all processes and files."""

    def pause(self, task_id: int) -> None:
        """Stop the task's whole process tree (SIGSTOP) where it is."""
        raise BackendError(f"the {self.name} backend cannot pause tasks")

    def resume(self, task_id: int, placement: Placement | None = None) -> None:
        """Continue a paused task (SIGCONT). With ``placement`` (its cores were released while
        it was stopped), first re-pin every thread of its tree to the placement's cores."""
        raise BackendError(f"the {self.name} backend cannot resume tasks")

    def preempt(self, task_id: int, signal: int, grace: float) -> None:
        """Send ``signal`` to the task's tree (continuing it if stopped) and end the tree after
        ``grace`` seconds if it is still there; report ``exited`` as for ``kill``."""
        raise BackendError(f"the {self.name} backend cannot preempt tasks")
