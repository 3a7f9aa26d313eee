"""MPI tasks on this machine through ``mpiexec``: each rank bound to exactly its placed cores.

Contract: :class:`Mpiexec` is a :class:`~tandem.backends.launch.Launcher` (name ``"mpi"``,
multi-rank, steerable) that turns a placed executable into one local ``mpiexec`` command whose
rank ``i`` runs on ``placement.slots[i].cores`` (OS cpu ids, the ids of ``sched_setaffinity``) and
sees ``placement.slots[i].gpus``; :class:`~tandem.backends.process.ProcessBackend` runs it and owns
the process lifecycle (``ProcessBackend(launcher=Mpiexec())``, which sessions use when this machine
has an ``mpiexec``: :func:`find_mpiexec`). Every task of this launcher is an MPI launch, a one-rank
task too (``-n 1``: MPI programs that spawn or read their world work the same way at any size).
Imports: tandem.backends.base, tandem.backends.launch, tandem.backends.local,
tandem.backends.placement, tandem.core.values, tandem.spec.

The commands (``WD`` is the task's workdir, ``R`` the number of ranks; measured with Open MPI
4.1.4 and MPICH 4.0.2 on Debian 12):

- Open MPI: a rankfile ``WD/rankfile`` with one line per rank, ``rank i=localhost slot=C,C...``
  (a slot of several cores lists them all), and::

      mpiexec [--allow-run-as-root] --mca plm isolated --mca ras ^slurm -n R
              --use-hwthread-cpus --mca rmaps_rank_file_physical 1 --rankfile WD/rankfile ARGV

  ``rmaps_rank_file_physical 1`` makes the ids OS ids, not hwloc's logical ones;
  ``--use-hwthread-cpus`` makes them hardware threads (what the OS numbers), not cores (on a
  machine with SMT a core id would name two cpus). ``--allow-run-as-root`` only when uid is 0.
  ``plm isolated`` and ``ras ^slurm`` keep the launch on this machine even inside a Slurm
  allocation (the Slurm backend launches there; without them, inside ``salloc`` Open MPI
  maps onto the allocation and refuses the rankfile's host).
- MPICH (hydra)::

      mpiexec -launcher fork -hosts localhost -n R -bind-to user:C+C,C+C ARGV

  one entry per rank, the cores of a rank joined by ``+`` (hydra 4.0 binds rank 0 of
  ``user:0+1,1`` to cpus 0-1).
- A task placed on no cores (``cores=0``) binds no rank (``--bind-to none --oversubscribe`` /
  ``-bind-to none``); the leader is pinned to the request's ``shared_cores`` and its ranks
  inherit them. Slots with cores beside slots without are refused.

The leader (``mpiexec``) keeps the backend's mask (``Command.pin`` is empty); ranks are bound
by ``mpiexec``. The leader's environment is the first slot's view
(:func:`~tandem.backends.placement.placement_env`). When ranks' views differ (their
``TANDEM_CORES``, GPU ids or thread counts), ``ARGV`` is wrapped in a POSIX ``sh`` that reads the
rank from ``OMPI_COMM_WORLD_RANK`` or ``PMI_RANK``, exports that rank's values (passed as
``TANDEM_RANK_<i>_<NAME>``) and ``exec``\\ s the task, so the rank process is the task's own.

Exit codes (:meth:`Mpiexec.signal_of`), measured by killing one rank: Open MPI's ``mpiexec``
exits with 128 + the signal (137 for SIGKILL), so those codes map back to signals; MPICH's
exits with the bare signal number (9 for SIGKILL; its stdout says "EXIT STRING: Killed
(signal 9)"), which cannot be told from a rank's own exit code, so nothing is mapped and such
a task fails as ``EXIT`` with that code. A rank's own non-zero exit code after
``MPI_Finalize`` is ``mpiexec``'s (both). A rank that exits before ``MPI_Finalize`` makes both
kill the other ranks; Open MPI still reports the rank's code, hydra combines every rank's wait
status, so the SIGKILL it sent may come out instead (code 9).
Killing: ranks run outside the leader's process group (Open MPI gives each its own group,
hydra's proxy does too); ``ProcessBackend.kill`` finds them as descendants and ends them.

Detection: the flavour is read once, lazily (first ``unreachable`` or ``command``), from
``mpiexec --version`` ("Open MPI"/"OpenRTE" or "HYDRA"/"MPICH"). ``Mpiexec(flavour=...)``
without ``executable`` uses ``mpiexec.openmpi``/``mpiexec.mpich`` when on ``PATH``, else
``mpiexec``. The inherited environment reaches tasks as given (:meth:`Mpiexec.environ`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from tandem.backends.base import LaunchRequest
from tandem.backends.launch import Command
from tandem.backends.local import local_unreachable
from tandem.backends.placement import placement_env
from tandem.core.values import Placement
from tandem.spec.platform import Platform

HOST = "localhost"
RANKFILE = "rankfile"
_INSTALL = ("install Open MPI (Debian: apt-get install openmpi-bin) or MPICH "
            "(apt-get install mpich), or pass Mpiexec(executable=...)")
_SIGNALS = frozenset(s.value for s in signal.Signals)
_RANK_VAR = "TANDEM_RANK_{rank}_{name}"
_WRAPPER_HEAD = ('r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-}}\n'
                 "case $r in ''|*[!0-9]*) echo \"tandem: no MPI rank in the environment "
                 "(OMPI_COMM_WORLD_RANK, PMI_RANK)\" >&2; exit 127;; esac\n")


class MpiFlavour(Enum):
    """Which MPI implementation an ``mpiexec`` belongs to."""

    OPENMPI = "openmpi"   # Open MPI's mpiexec (OpenRTE in 4.x, PRRTE in 5.x)
    MPICH = "mpich"       # MPICH's hydra process manager


@dataclass(frozen=True, slots=True)
class Resolved:
    """The ``mpiexec`` a launcher uses: its path and flavour, or why there is none."""

    executable: str = ""
    flavour: MpiFlavour | None = None
    error: str | None = None


def flavour_of(version_text: str) -> MpiFlavour | None:
    """The flavour an ``mpiexec --version`` output names, or ``None``."""
    if "Open MPI" in version_text or "OpenRTE" in version_text:
        return MpiFlavour.OPENMPI
    if "HYDRA" in version_text or "MPICH" in version_text:
        return MpiFlavour.MPICH
    return None


def find_mpiexec(flavour: MpiFlavour | None = None) -> str | None:
    """The path of the ``mpiexec`` to use for ``flavour`` (any when ``None``), or ``None``."""
    if flavour is not None:
        named = shutil.which(f"mpiexec.{flavour.value}")
        if named is not None:
            return named
    return shutil.which("mpiexec")


def resolve(flavour: MpiFlavour | None, executable: str | None) -> Resolved:
    """Find the executable and, unless given, its flavour (runs ``--version`` once)."""
    path = shutil.which(executable) if executable is not None else find_mpiexec(flavour)
    if path is None:
        what = repr(executable) if executable is not None else "mpiexec"
        return Resolved(error=f"no {what} found on PATH: {_INSTALL}")
    if flavour is not None:
        return Resolved(path, flavour)
    try:
        done = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Resolved(error=f"cannot run {path} --version: {exc}")
    text = (done.stdout + done.stderr).decode(errors="replace")
    found = flavour_of(text)
    if found is None:
        first = text.strip().splitlines()[0] if text.strip() else "(no output)"
        return Resolved(error=f"{path} is neither Open MPI nor MPICH (its --version says "
                        f"{first!r}); pass Mpiexec(flavour=MpiFlavour...) if it is one of them")
    return Resolved(path, found)


# -- pure builders -------------------------------------------------------------------------

def rank_cores(placement: Placement) -> tuple[tuple[int, ...], ...] | None:
    """Each rank's core ids, or ``None`` for a task placed on no cores. Raises ``ValueError``
    for slots on different nodes or slots with cores beside slots without."""
    slots = placement.slots
    nodes = sorted({s.node for s in slots})
    if len(nodes) != 1:
        raise ValueError(f"its ranks are placed on nodes {nodes}, and mpiexec launches on "
                         "this machine only (one node)")
    with_cores = sum(1 for s in slots if s.cores)
    if with_cores == 0:
        return None
    if with_cores != len(slots):
        raise ValueError("some of its ranks are placed on cores and some on none; mpiexec "
                         "binds all ranks or none")
    return tuple(s.cores for s in slots)


def rankfile_text(cores: Sequence[Sequence[int]], host: str = HOST) -> str:
    """An Open MPI rankfile: ``rank i=HOST slot=C,C...`` per rank (OS ids)."""
    return "".join(f"rank {i}={host} slot={','.join(map(str, c))}\n"
                   for i, c in enumerate(cores))


def openmpi_argv(executable: str, ranks: int, rankfile: str | None, argv: Sequence[str], *,
                 root: bool) -> tuple[str, ...]:
    """Open MPI's command: bound by ``rankfile``, or bound to nothing when it is ``None``."""
    head = [executable]
    if root:
        head.append("--allow-run-as-root")
    head += ["--mca", "plm", "isolated", "--mca", "ras", "^slurm", "-n", str(ranks)]
    if rankfile is None:
        head += ["--bind-to", "none", "--oversubscribe"]
    else:
        head += ["--use-hwthread-cpus", "--mca", "rmaps_rank_file_physical", "1",
                 "--rankfile", rankfile]
    return (*head, *argv)


def mpich_argv(executable: str, ranks: int, cores: Sequence[Sequence[int]] | None,
               argv: Sequence[str]) -> tuple[str, ...]:
    """MPICH hydra's command: ``-bind-to user:`` one entry per rank, or no binding."""
    bind = "none" if cores is None else "user:" + ",".join(
        "+".join(map(str, c)) for c in cores)
    return (executable, "-launcher", "fork", "-hosts", HOST, "-n", str(ranks),
            "-bind-to", bind, *argv)


def rank_views(placement: Placement, shared_cores: tuple[int, ...] = ()
               ) -> tuple[dict[str, str], tuple[str, ...]]:
    """The variables that differ between ranks' views of their slots, as ``TANDEM_RANK_<i>_
    <NAME>`` values, and the names that differ (empty: every rank sees the first slot's view,
    and no wrapper is needed)."""
    views = [placement_env(Placement(slots=(s,)), shared_cores) for s in placement.slots]
    first = views[0]
    names = tuple(k for k in first if any(v[k] != first[k] for v in views[1:]))
    env = {_RANK_VAR.format(rank=i, name=k): v[k] for i, v in enumerate(views) for k in names}
    return env, names


def wrapper_argv(names: Sequence[str], argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` run by a POSIX ``sh`` that first exports the rank's own ``names``."""
    lines = [_WRAPPER_HEAD]
    for name in names:
        var = _RANK_VAR.format(rank="${r}", name=name)
        lines.append(f'eval "export {name}=\\"\\${{{var}-}}\\""\n')
    lines.append('exec "$@"\n')
    return ("/bin/sh", "-c", "".join(lines), "tandem-rank", *argv)


# -- the launcher --------------------------------------------------------------------------

class Mpiexec:
    """Launches placed executables through a local ``mpiexec`` (see the module docstring)."""

    name = "mpi"
    multi_rank = True
    steerable = True
    remote = False

    def __init__(self, flavour: MpiFlavour | None = None, executable: str | None = None) -> None:
        if flavour is not None and not isinstance(flavour, MpiFlavour):
            raise TypeError(f"Mpiexec: flavour must be an MpiFlavour, not {flavour!r}")
        self._flavour = flavour
        self._executable = executable
        self._resolved: Resolved | None = None

    def resolved(self) -> Resolved:
        """The ``mpiexec`` this launcher uses (found and identified on first use)."""
        if self._resolved is None:
            self._resolved = resolve(self._flavour, self._executable)
        return self._resolved

    @property
    def flavour(self) -> MpiFlavour | None:
        """The flavour in use, or ``None`` when there is no usable ``mpiexec``."""
        return self.resolved().flavour

    def unreachable(self, platform: Platform) -> str | None:
        why = local_unreachable(platform)
        if why is not None:
            return why
        return self.resolved().error

    def command(self, request: LaunchRequest, argv: tuple[str, ...]) -> Command:
        found = self.resolved()
        if found.error is not None:
            raise ValueError(found.error)
        placement = request.placement
        ranks = len(placement.slots)
        cores = rank_cores(placement)
        env, names = rank_views(placement, request.shared_cores)
        task_argv = wrapper_argv(names, argv) if names else argv
        pin = request.shared_cores if cores is None else ()
        if found.flavour is MpiFlavour.OPENMPI:
            rankfile = None
            if cores is not None:
                rankfile = os.path.join(request.workdir, RANKFILE)
                write_file(rankfile, rankfile_text(cores))
            full = openmpi_argv(found.executable, ranks, rankfile, task_argv,
                                root=os.geteuid() == 0)
        else:
            full = mpich_argv(found.executable, ranks, cores, task_argv)
        return Command(argv=full, env=env, pin=pin)

    def signal_of(self, code: int) -> int | None:
        if self.resolved().flavour is MpiFlavour.OPENMPI and code - 128 in _SIGNALS:
            return code - 128
        return None

    def lost_node(self, code: int, stderr_tail: str) -> str | None:
        return None   # one node: this machine

    def signal_argv(self, task_id: int, sig: int) -> tuple[str, ...] | None:
        return None   # the ranks are in mpiexec's process tree here

    def environ(self, environ: Mapping[bytes, bytes]) -> Mapping[bytes, bytes]:
        return environ


def write_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (making its directory); ``ValueError`` naming it if not."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
    except OSError as exc:
        raise ValueError(f"cannot write the MPI rankfile {path!r}: "
                         f"{exc.strerror or exc}") from None

