"""Placed tasks as Slurm job steps: the exact ``srun`` line for a placement.

Contract: pure functions from a placement to an ``srun`` argv, and :class:`Srun`, the
:class:`~tandem.backends.launch.Launcher` that :class:`~tandem.backends.process.ProcessBackend`
uses inside an allocation (one local ``srun`` per task; its lifecycle is the process backend's).
Imports: tandem.backends.base, tandem.backends.launch, tandem.backends.mpiexec,
tandem.core.values, tandem.spec.

The step line (docs/slurm.md shows examples)::

    srun --jobid=J --overlap --job-name=tandem-<task> -N <nodes> -n <ranks>
         -w <node of rank 0>,<node of rank 1>,... --distribution=arbitrary
         --cpu-bind=mask_cpu:<mask of local rank 0>,<...> [--mem=<MB per node>]
         [--mpi=pmix|pmi2] --kill-on-bad-exit=1 --immediate=<step_wait>
         /bin/sh -c <rank wrapper> tandem-rank <argv>

- Exact nodes: ``-w`` lists each rank's node in rank order and ``--distribution=arbitrary``
  lays the ranks out in that order.
- Exact cores: ``--overlap`` (the step may use every CPU the job holds on its nodes; Slurm does
  not account overlapping steps against each other: tandem's core owns the accounting) and
  ``--cpu-bind=mask_cpu`` with one mask per local rank, which Slurm applies on every node of
  the step. When the masks differ between nodes (or a rank has no cores) the step is bound
  ``--cpu-bind=none`` and the wrapper runs the rank under ``taskset -c <its cores>``.
- Exact GPUs: Slurm sets ``CUDA_VISIBLE_DEVICES`` inside a step to every GPU the job holds on
  the node, so the wrapper sets each rank's own (``TANDEM_RANK_GPUS_<rank>``; the ROCm names
  too) after Slurm did. ``TANDEM_NODE`` is each rank's ``SLURMD_NODENAME``.
- Environment: the allocation's ``SLURM_*`` (and ``SRUN_*``, ``SALLOC_*``, ``SBATCH_*``)
  variables are kept out (``SLURM_NNODES``, ``SLURM_NTASKS``... would reshape every step), except
  ``SLURM_CONF``; the job is named with ``--jobid``. Inside the step Slurm sets the step's own
  ``SLURM_PROCID``, ``SLURM_LOCALID``... (what MPI reads).
- MPI: tasks of several ranks get ``--mpi=<mpi>`` (``pmix`` for OpenMPI, ``pmi2`` for Debian's
  MPICH); one-rank tasks get none. By default (:func:`default_mpi`) the plugin follows
  ``$TANDEM_SRUN_MPI`` when set, else the MPI whose ``mpiexec`` is first on ``PATH`` (the one a
  site's ``module load`` put there, which the task's binaries were built with).
  ``--kill-on-bad-exit=1`` ends every rank when one fails.
- A step Slurm cannot create within ``step_wait`` seconds (``--immediate``) fails at once with
  Slurm's message in the task's stderr, instead of waiting forever.
- A failed node: when ``srun`` says a node could not be reached or failed ("Task launch for
  StepId=... failed on node n2: Communication connection failure", "Node failure on n2", "...
  CANCELLED ... DUE TO NODE FAILURE"), the task fails with ``NODE_FAILED`` naming the node
  (:meth:`Srun.lost_node`), and the core places nothing there again; its retry, if it has one,
  runs on the nodes left.
- Exit codes: ``srun`` exits with the highest exit code of its ranks, and with 128 + n when a
  rank was killed by signal n (:meth:`Srun.signal_of`); a rank that exits with a code above 128
  by itself is therefore reported as killed by a signal.
- Ending a step: SIGTERM to ``srun`` makes it cancel the step (Slurm sends SIGTERM, waits
  ``KillWait``, then SIGKILL to every rank on every node); the process backend SIGKILLs ``srun``
  after its grace period, which also ends the step.
- Steering: a step is named ``tandem-<launcher tag>-<task id>``; pause, resume and the signal
  of a preemption reach every rank on every node through ``scancel --signal=<sig>
  <job>.<step>`` (:meth:`Srun.signal_argv`, the step found by its name with ``squeue -s``; run
  off the event loop by :mod:`tandem.backends.stepsignal`). A signal sent before Slurm created
  the step is lost (a preemption still ends the task after its grace period). A step cannot be
  re-pinned to other cores on its nodes, so a pause that releases its cores is refused.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence

from tandem.backends.base import LaunchRequest
from tandem.backends.launch import Command
from tandem.backends.mpiexec import MpiFlavour, resolve
from tandem.core.values import Slot
from tandem.spec.platform import Platform

#: The rank wrapper: run by ``/bin/sh -c`` on each rank, with ``$0 = tandem-rank`` and the task's
#: argv as ``$@``.
RANK_WRAPPER = (
    'r=${SLURM_PROCID:-0}; eval "c=\\${TANDEM_RANK_CORES_$r-} g=\\${TANDEM_RANK_GPUS_$r-}"; '
    'export CUDA_VISIBLE_DEVICES="$g" ROCR_VISIBLE_DEVICES="$g" HIP_VISIBLE_DEVICES="$g" '
    'TANDEM_GPUS="$g" TANDEM_NODE="${SLURMD_NODENAME:-}"; '
    'if [ -n "$c" ]; then export TANDEM_CORES="$c"; exec taskset -c "$c" "$@"; fi; exec "$@"'
)
_LOST_NODE = re.compile(r"failed on node ([^\s:]+): Communication connection failure"
                        r"|Node failure on ([^\s:]+)"
                        r"|ON ([^\s:]+) CANCELLED AT \S+ DUE TO NODE FAILURE")
#: ``$1`` job id, ``$2`` step name, ``$3`` signal number: signal every step of that name.
_SIGNAL_STEP = ('ids=$(squeue -h -s -j "$1" -o "%i %j" | awk -v n="$2" \'$2 == n {print $1}\'); '
                'if [ -n "$ids" ]; then exec scancel --quiet --signal="$3" $ids; fi')
_DROPPED = (b"SLURM_", b"SRUN_", b"SALLOC_", b"SBATCH_")
_KEPT = frozenset({b"SLURM_CONF"})
_MAX_SIGNAL = 64


_PMI = {MpiFlavour.OPENMPI: "pmix", MpiFlavour.MPICH: "pmi2"}


def default_mpi(environ: Mapping[str, str]) -> str | None:
    """The ``--mpi`` plugin for multi-rank steps: ``$TANDEM_SRUN_MPI``, else ``pmix`` when the
    ``mpiexec`` on ``PATH`` is Open MPI's and ``pmi2`` when it is MPICH's, else ``None``
    (Slurm's ``MpiDefault``)."""
    named = environ.get("TANDEM_SRUN_MPI")
    if named:
        return named
    flavour = resolve(None, None).flavour
    return _PMI.get(flavour) if flavour is not None else None


def task_environ(environ: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The driver's environment without the allocation's Slurm variables (``SLURM_CONF``
    stays, so that ``srun`` finds the cluster)."""
    return {k: v for k, v in environ.items() if k in _KEPT or not k.startswith(_DROPPED)}


def cpu_mask(cores: Iterable[int]) -> str:
    """The hexadecimal mask ``--cpu-bind=mask_cpu`` takes for these core ids."""
    mask = 0
    for c in cores:
        mask |= 1 << c
    return hex(mask)


def step_argv(slots: Sequence[Slot], argv: Sequence[str], *, job_id: str, name: str,
              memory_mb: int | None = None, mpi: str | None = None, step_wait: int = 60,
              shared_cores: tuple[int, ...] = (), srun: str = "srun"
              ) -> tuple[tuple[str, ...], dict[str, str]]:
    """The ``srun`` argv that runs ``argv`` with rank ``i`` on ``slots[i]`` (its node, cores and
    GPUs), and the variables the rank wrapper reads. ``shared_cores``: where a one-rank task
    placed on no cores runs (see :class:`~tandem.backends.base.LaunchRequest`)."""
    ranks = len(slots)
    cores = [s.cores or (shared_cores if ranks == 1 else ()) for s in slots]
    per_node: dict[str, list[str]] = {}
    for slot, c in zip(slots, cores, strict=True):
        per_node.setdefault(slot.node, []).append(cpu_mask(c))
    masks = list(per_node.values())
    uniform = all(cores) and all(m == masks[0] for m in masks)
    env = {f"TANDEM_RANK_GPUS_{i}": ",".join(s.gpus) for i, s in enumerate(slots)}
    if not uniform:
        env.update({f"TANDEM_RANK_CORES_{i}": ",".join(map(str, c))
                    for i, c in enumerate(cores) if c})
    args = [srun, f"--jobid={job_id}", "--overlap", f"--job-name={name}",
            "-N", str(len(per_node)), "-n", str(ranks), "-w", ",".join(s.node for s in slots)]
    if ranks > 1:
        args.append("--distribution=arbitrary")
    args.append(f"--cpu-bind=mask_cpu:{','.join(masks[0])}" if uniform else "--cpu-bind=none")
    if memory_mb:
        args.append(f"--mem={memory_mb * max(map(len, masks))}")
    if mpi and ranks > 1:
        args.append(f"--mpi={mpi}")
    args += ["--kill-on-bad-exit=1", f"--immediate={step_wait}",
             "/bin/sh", "-c", RANK_WRAPPER, "tandem-rank", *argv]
    return tuple(args), env


def worker_argv(node: str, cores: tuple[int, ...], gpus: tuple[str, ...], argv: Sequence[str],
                *, job_id: str, name: str, srun: str = "srun", step_wait: int = 60
                ) -> tuple[tuple[str, ...], dict[str, str]]:
    """A long-lived one-rank step (a warm worker) on ``node``, bound to ``cores`` (every CPU
    the job holds there when empty) and seeing exactly ``gpus``: the argv and the variables
    its wrapper reads (to be added to its environment)."""
    return step_argv((Slot(node=node, cores=cores, gpus=gpus),), argv, job_id=job_id,
                     name=name, srun=srun, step_wait=step_wait)


class Srun:
    """The launcher of job steps inside Slurm job ``job_id`` on ``nodes`` (see the module
    docstring). ``mpi``: the PMI plugin for multi-rank tasks (``pmix`` for OpenMPI, ``pmi2``
    for MPICH; ``None``: Slurm's ``MpiDefault``)."""

    name = "slurm"
    multi_rank = True
    steerable = True
    remote = True

    def __init__(self, *, job_id: str, nodes: Iterable[str], mpi: str | None = "pmix",
                 step_wait: int = 60, srun: str = "srun") -> None:
        self.job_id = job_id
        self.nodes = frozenset(nodes)
        self.mpi = mpi
        self.step_wait = step_wait
        self.srun = srun
        self.tag = secrets.token_hex(3)    # steps of this launcher, among others in the job

    @classmethod
    def of(cls, platform: Platform, *, mpi: str | None = "pmix", step_wait: int = 60,
           srun: str = "srun") -> Srun:
        """The launcher for the allocation ``platform`` was read from
        (:meth:`Platform.from_slurm <tandem.spec.platform.Platform.from_slurm>`)."""
        if platform.slurm_job is None:
            raise ValueError(f"platform {platform.name!r} is not a Slurm allocation (read it "
                             "with Platform.from_slurm())")
        return cls(job_id=platform.slurm_job, nodes=(n.name for n in platform.nodes), mpi=mpi,
                   step_wait=step_wait, srun=srun)

    def unreachable(self, platform: Platform) -> str | None:
        outside = [n.name for n in platform.nodes if n.name not in self.nodes]
        if outside:
            return (f"nodes {outside} are not in Slurm job {self.job_id} "
                    f"(its nodes: {sorted(self.nodes)})")
        return None

    def command(self, request: LaunchRequest, argv: tuple[str, ...]) -> Command:
        argv_out, env = step_argv(
            request.placement.slots, argv, job_id=self.job_id, name=self.step_name(request.task_id),
            memory_mb=request.memory_mb, mpi=self.mpi, step_wait=self.step_wait,
            shared_cores=request.shared_cores, srun=self.srun)
        return Command(argv_out, env, ())

    def step_name(self, task_id: int) -> str:
        """The job-step name of task ``task_id`` (``--job-name``)."""
        return f"tandem-{self.tag}-{task_id}"

    def signal_argv(self, task_id: int, sig: int) -> tuple[str, ...] | None:
        return ("/bin/sh", "-c", _SIGNAL_STEP, "tandem-signal", self.job_id,
                self.step_name(task_id), str(int(sig)))

    def signal_of(self, code: int) -> int | None:
        return code - 128 if 128 < code <= 128 + _MAX_SIGNAL else None

    def environ(self, environ: Mapping[bytes, bytes]) -> Mapping[bytes, bytes]:
        return task_environ(environ)

    def lost_node(self, code: int, stderr_tail: str) -> str | None:
        m = _LOST_NODE.search(stderr_tail)
        return next(g for g in m.groups() if g) if m else None
