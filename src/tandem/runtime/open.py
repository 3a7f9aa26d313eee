"""``open_session``: the async context manager that starts and ends a :class:`Session`.

Contract: builds the default backends and run directory, refuses backends that cannot execute
the platform, makes the :class:`~tandem.runtime.driver.Driver` and the :class:`Session` over it,
owns the session's task group, and guarantees, through the driver's public lifecycle (start,
use_group, abort, close), that leaving the block (normally, on an error, or on cancellation)
ends every task and every process it started.
Imports: tandem.backends, tandem.core.policy, tandem.errors, tandem.history.estimates,
tandem.history.keeper, tandem.history.store, tandem.runtime.driver,
tandem.runtime.durable, tandem.runtime.kept,
tandem.runtime.session, tandem.runtime.signals, tandem.runtime.walltime, tandem.spec,
tandem.trace.instrument.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

from tandem.backends.base import Backend
from tandem.core.policy import Mode, Order, Policy
from tandem.errors import SpecError
from tandem.history.estimates import Estimates
from tandem.history.keeper import HistoryKeeper
from tandem.history.store import HistoryStore, history_dir
from tandem.runtime.driver import Driver
from tandem.runtime.durable import Durable
from tandem.runtime.kept import DEFAULT_ABOVE
from tandem.runtime.session import Session
from tandem.runtime.signals import sigterm_ends
from tandem.runtime.walltime import WalltimeTally, walltime_of
from tandem.spec.checks import is_int
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.trace.instrument import Instrument


def default_run_dir(label: str = "") -> Path:
    """A fresh ``runs/[<label>-]<date>-<time>-<unique>`` directory (never shared)."""
    Path("runs").mkdir(exist_ok=True)
    prefix = f"{label}-" if label else ""
    return Path(tempfile.mkdtemp(prefix=prefix + time.strftime("%Y%m%d-%H%M%S-"), dir="runs"))


def default_backends(platform: Platform, run_dir: Path, kill_grace: float) -> list[Backend]:
    """The backends a session uses unless given some: on a Slurm allocation, job steps for
    executables and MPI tasks and warm function workers started as steps on the nodes
    (on demand); on this machine, local processes, ``mpiexec`` for several ranks and warm
    function workers; mock tasks everywhere."""
    from tandem.backends.functions import FunctionBackend
    from tandem.backends.mock import MockBackend
    from tandem.backends.mpiexec import Mpiexec, find_mpiexec
    from tandem.backends.process import ProcessBackend

    if platform.slurm_job is not None:
        from tandem.backends.srun import Srun, default_mpi

        steps = Srun.of(platform, mpi=default_mpi(os.environ))
        return [ProcessBackend(kill_grace=kill_grace, launcher=steps),
                FunctionBackend(log_dir=run_dir / "workers", kill_grace=kill_grace,
                                launcher=steps, prespawn=0),
                MockBackend()]
    mpi = [ProcessBackend(kill_grace=kill_grace, launcher=Mpiexec())] if find_mpiexec() else []
    return [ProcessBackend(kill_grace=kill_grace), *mpi,
            FunctionBackend(log_dir=run_dir / "workers", kill_grace=kill_grace),
            MockBackend()]


@contextlib.asynccontextmanager
async def open_session(
    platform: Platform | None = None,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    mode: Mode | str = Mode.ASYNC,
    order: Order | str = Order.CRITICAL_PATH,
    policy: Policy | None = None,
    backends: Sequence[Backend] | None = None,
    instruments: Sequence[Instrument] = (),
    kill_grace: float = 3.0,
    trace: bool = True,
    pools: Mapping[str, Quota] | None = None,
    clock: Callable[[], float] | None = None,
    resume: bool = False,
    journal: bool = True,
    walltime: float | None = None,
    end_time: float | None = None,
    margin: float | None = None,
    grace: float | None = None,
    history: str | os.PathLike[str] | bool | None = None,
    ref_above: int | None = DEFAULT_ABOVE,
) -> AsyncIterator[Session]:
    """Open a session on ``platform``. The default is the Slurm allocation this process runs
    in when ``SLURM_JOB_ID`` is set (:meth:`Platform.from_slurm`; set ``TANDEM_SLURM=0`` to
    opt out), else this machine (:meth:`Platform.local`). On an allocation the default
    backends launch executables and MPI tasks as job steps placed on their exact nodes, cores
    and GPUs (:mod:`tandem.backends.srun`).

    ``pools`` partitions the platform into named resource pools with quotas, e.g.
    ``{"md": Quota(cores=6), "ml": Quota(cores=2, gpus=1)}``; tasks choose one with ``pool=``
    and those without go to the ``"default"`` pool, which gets the rest. ``session.move``
    moves quota between pools while the session runs.

    ``backends`` given here must all be able to execute ``platform``
    (:meth:`Backend.unreachable`); of the default ones, a task whose backend cannot (a
    function on a platform of two nodes, whose local processes would share this machine's
    cores) is refused when submitted. ``clock``: the session's clock, on the event loop's time
    axis (default ``time.monotonic``; a virtual-time loop passes its own ``time``).

    ``journal`` (default on): the run directory keeps a journal of every task
    (``journal.sqlite``: keys, states, attempts, stored results; :mod:`tandem.journal`).
    ``resume=True`` continues the campaign whose journal ``run_dir`` holds: a submission whose
    key finished there returns its stored result at once, without running; the rest run (see
    docs/running.md, "Resuming a campaign"). Without ``resume``, a journal already in the run
    directory is moved aside (``journal.<n>.sqlite``, said in a warning) and a new one begun.

    ``walltime`` (seconds from now) or ``end_time`` (a Unix time; inside a Slurm allocation the
    default is the allocation's end): a task whose estimate would not end ``margin`` seconds
    (default 1) before the end's preemption is deferred; ``grace`` seconds (default
    ``kill_grace``) before the end every running task is preempted to checkpoint, and every
    task left ends with a ``WALLTIME`` failure; ``session.walltime`` is then the summary of
    what is left (docs/running.md, "Walltime").

    ``history``: the directory of the task history (default: ``$TANDEM_HISTORY``, else
    ``$XDG_DATA_HOME/tandem/history``, else ``~/.local/share/tandem/history``; ``False``: none).
    A traced session on real time (no ``clock``) adds its ended tasks to it when it closes,
    and a task submitted without an ``estimate`` gets one learned from earlier runs' tasks of
    the same work (recorded as ``"learned"`` in the trace; see docs/history.md). A history
    that cannot be read or written is said once, in a warning; the session goes on without it.

    ``ref_above`` (bytes, default 1 MiB): a function's result at least this large stays in its
    node's shared memory and reaches its dependents by reference, without a copy through the
    driver; awaiting its future maps it (``None``: only tasks submitted with ``ref=True``;
    see docs/data.md).

    Leaving the block waits for every task; on an error (or cancellation, or SIGTERM) inside
    it, every unfinished task is cancelled and its process tree ended before the error
    propagates (see :mod:`tandem.runtime.signals`).
    """
    if platform is None:
        platform = Platform.default()
    if policy is None:
        try:
            policy = Policy(mode=Mode(mode), order=Order(order))
        except ValueError as e:
            raise SpecError(f"open_session: {e} (modes: async, barrier; orders: fifo, "
                            "priority, critical_path)") from None
    if ref_above is not None and (not is_int(ref_above) or ref_above < 0):
        raise SpecError(f"open_session: ref_above must be a number of bytes >= 0 or None, "
                        f"got {ref_above!r}")
    if resume and run_dir is None:
        raise SpecError("open_session: resume=True needs the run_dir of the campaign to resume")
    if resume and not journal:
        raise SpecError("open_session: resume=True reads the journal: it needs journal=True")
    wall, wall_end = walltime_of(platform, walltime=walltime, end_time=end_time, margin=margin,
                                 grace=grace, kill_grace=kill_grace,
                                 clock=clock if clock is not None else time.monotonic)
    if wall is not None and wall_end is not None:
        instruments = [*instruments, WalltimeTally(wall, wall_end)]
    rd = Path(run_dir) if run_dir is not None else default_run_dir()
    rd.mkdir(parents=True, exist_ok=True)
    durable = Durable(rd, resume=resume) if journal else None
    estimates = None
    where = history_dir(history)
    if where is not None:
        store = HistoryStore(where)
        estimates = Estimates(store)
        if trace and clock is None:      # measured durations only: not a simulator's
            instruments = [*instruments, HistoryKeeper(store, str(rd.resolve()))]
    if backends is None:
        backends = default_backends(platform, rd, kill_grace)
    else:
        for b in backends:
            why = b.unreachable(platform)
            if why is not None:
                raise SpecError(f"open_session: the {b.name} backend cannot execute "
                                f"platform {platform.name!r} ({platform.describe()}): {why}")
    try:
        driver = Driver(platform, rd, policy=policy, backends=backends,
                        instruments=instruments, trace=trace, pools=pools, clock=clock,
                        durable=durable, walltime=wall, estimates=estimates,
                        ref_above=ref_above)
    except BaseException:
        if durable is not None:
            durable.close("the session could not start")
        raise
    with sigterm_ends(asyncio.current_task()):
        if estimates is not None:
            estimates.start()
        await driver.start()
        # The task group is entered by hand so that an error raised by the user's block comes
        # out as itself, not wrapped in an ExceptionGroup; errors of spawned coroutines still
        # come out as the group raises them.
        group = asyncio.TaskGroup()
        await group.__aenter__()
        driver.use_group(group)
        try:
            try:
                yield Session(driver)
                driver.drain()
                await driver.wait_idle()
            except BaseException as e:
                driver.abort("the session is closing on an error")
                if isinstance(e, asyncio.CancelledError):
                    await group.__aexit__(type(e), e, e.__traceback__)
                else:
                    with contextlib.suppress(BaseException):
                        await group.__aexit__(None, None, None)
                raise
            try:
                await group.__aexit__(None, None, None)
            except BaseException:
                driver.abort("a coroutine of the session failed")
                raise
            await driver.wait_idle()
        finally:
            driver.use_group(None)
            await asyncio.shield(driver.close())
