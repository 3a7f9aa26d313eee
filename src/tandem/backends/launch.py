"""How an executable's placement becomes the local command that starts it.

Contract: a :class:`Launcher` turns a :class:`~tandem.backends.base.LaunchRequest` and the
task's argv into a :class:`Command`: the argv of the local leader process (the task itself, an
``mpiexec`` that starts its ranks, or an ``srun`` that starts them as a Slurm job step),
variables added to its environment, and whether the leader is pinned to the placement's cores
here. :class:`~tandem.backends.process.ProcessBackend` runs the command and owns the process
lifecycle (process group, pidfd, kill, steering); a launcher only translates, so every way of
launching shares one lifecycle. A backend without a launcher runs the task itself as the
leader, pinned to its cores (the fast path). A launcher also says which platforms it can execute
(``unreachable``), whether it starts several ranks (``multi_rank``), how the leader's exit code
maps back to a signal (``srun`` and ``mpiexec`` exit with 128 + the signal that killed a rank),
which exits mean that a node failed (``lost_node``), and what of the inherited environment
reaches tasks (``environ``).
Imports: tandem.backends.base, tandem.spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tandem.backends.base import LaunchRequest
from tandem.spec.platform import Platform


@dataclass(frozen=True, slots=True)
class Command:
    """The local process that runs a task: ``argv``, ``env`` added to the task's environment
    (over its own ``env``), and ``pin``: the core ids the leader is pinned to at spawn (empty:
    it keeps the backend's mask, e.g. an ``srun`` whose ranks are pinned on their nodes)."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    pin: tuple[int, ...] = ()


class Launcher(Protocol):
    """Translates placed executables into local commands (see the module docstring)."""

    name: str
    multi_rank: bool
    #: Whether the backend can pause, resume and preempt its tasks.
    steerable: bool
    #: Whether the ranks run outside the leader's process tree here (``srun``: under
    #: slurmstepd on their nodes): signals then go through :meth:`signal_argv`, and a resumed
    #: task cannot be re-pinned to other cores (a pause cannot release them).
    remote: bool

    def unreachable(self, platform: Platform) -> str | None:
        """Why this launcher cannot place tasks on every node of ``platform``, or ``None``."""
        ...

    def command(self, request: LaunchRequest, argv: tuple[str, ...]) -> Command:
        """The command that runs ``argv`` on ``request``'s placement. Raises ``ValueError``
        with a message naming what is wrong when it cannot (reported as a launch failure)."""
        ...

    def signal_of(self, code: int) -> int | None:
        """The signal that ended a rank when the leader exited with ``code``, or ``None``."""
        ...

    def environ(self, environ: Mapping[bytes, bytes]) -> Mapping[bytes, bytes]:
        """What of the driver's environment tasks inherit."""
        ...

    def signal_argv(self, task_id: int, sig: int) -> tuple[str, ...] | None:
        """A command that delivers ``sig`` to every rank of ``task_id`` where it runs, or
        ``None`` when signalling the leader's process tree here reaches them."""
        ...

    def lost_node(self, code: int, stderr_tail: str) -> str | None:
        """The node whose failure made the leader exit with ``code`` (its stderr ending in
        ``stderr_tail``), or ``None`` when no node failed: the task then fails with
        ``NODE_FAILED`` and the core places nothing on that node again."""
        ...

