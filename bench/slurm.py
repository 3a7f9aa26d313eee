"""tandem inside a Slurm allocation of the test cluster, each number beside its baseline.

    python bench/slurm.py [--quick] [--repeats N] [--only NAME[,NAME]] [--out FILE]

It allocates both nodes of the test cluster started by ``scripts/slurm.sh`` (``salloc
--no-shell -N2 --ntasks-per-node=2 --gres=gpu:2``; its configuration is
``$TANDEM_SLURM_DIR/slurm.conf``, ``/tmp/tandem-slurm`` by default; the allocation helpers are
tests/slurm/cluster.py's), runs the driver in this process as if
inside the allocation (``SLURM_JOB_ID`` set, as a batch script has it), and cancels the job by
its id at the end. Measurements (``--only`` takes these names):

- ``steps``: ``/bin/true`` executables through tandem on :meth:`Platform.from_slurm` with the
  default backends (one job step each, 4 in flight: one per core of the two nodes), beside a
  bare asyncio loop of ``srun --jobid=J --overlap -N1 -n1 -w <node> --cpu-bind=mask_cpu:<m>
  /bin/true`` with the same 4 in flight, alternating nodes and cores; steps/s.
- ``first_result``: entering ``open_session()`` (default platform: the allocation) to the
  result of one ``/bin/true`` step, beside one bare ``srun`` step.
- ``ddmd``: a two-node DeepDriveMD-shape DAG (4 iterations of 8 one-core simulations, an
  aggregation, a one-GPU training and inference; the structure of examples/ddmd_shape.py) of
  real ``sleep`` steps, durations scaled to a ~7 s schedule; its makespan beside the
  zero-overhead list schedule of the same specs and durations on the same platform
  (``tandem.sim.run``).
- ``functions``: no-op function tasks/s through ``FunctionBackend(launcher=Srun...)`` (warm
  workers as job steps, connected back over TCP on 127.0.0.1) on both nodes, beside the same on
  one node (n1 only).

Interleaving and reporting as in bench/run.py (its ``interleave``, ``paired``, ``med``): A, B,
A, B, ... for N rounds, medians of each, ratios as the median of per-round ratios. Prints one
line per measurement and, last, one JSON object (``--out`` also writes it with the samples and
the machine's load). Both "nodes" are this host: their cores are the same real cores.
Imports: tandem, tandem.backends.functions, tandem.backends.srun, tandem.sim, tandem.spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parent):      # bench/run.py; tests/slurm/cluster.py
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.slurm.cluster import allocate, inside, slurm_env  # noqa: E402

import tandem  # noqa: E402
from run import Run, interleave, med, options, paired, scratch, write_results  # noqa: E402
from tandem import Node, Platform, Resources  # noqa: E402
from tandem.backends.functions import FunctionBackend  # noqa: E402
from tandem.backends.srun import Srun  # noqa: E402
from tandem.sim import run as simulate  # noqa: E402
from tandem.spec import TaskSpec  # noqa: E402
from tandem.spec.task import Executable  # noqa: E402

ROOT = HERE.parent
ALLOC = ("-N2", "--ntasks-per-node=2", "--gres=gpu:2", "--mem=500", "-J", "tandem-bench")
SLOTS = (("n1", 0), ("n2", 0), ("n1", 1), ("n2", 1))   # the baseline's 4 places, in turn


def noop() -> None:
    return None


def check_done(futures: list[tandem.TaskFuture], what: str) -> None:
    """Raise with the first failure's cause unless every task is done."""
    for f in futures:
        if f.state is not tandem.TaskState.DONE:
            raise RuntimeError(f"{what}: task {f.record.name!r} ended {f.state.name}: "
                               f"{f.exception()}")


# -- the allocation ------------------------------------------------------------------------
@contextlib.contextmanager
def allocation() -> Iterator[str]:
    """Both nodes of the test cluster (tests/slurm/cluster.py's ``allocate``)."""
    try:
        with allocate(*ALLOC) as job:
            yield job
    except RuntimeError as e:
        sys.exit(f"bench/slurm.py: {e} -- start the test cluster with scripts/slurm.sh start")


def bare_argv(job: str, node: str, core: int, argv: tuple[str, ...] = ("/bin/true",)
              ) -> list[str]:
    return ["srun", f"--jobid={job}", "--overlap", "-N1", "-n1", "-w", node,
            f"--cpu-bind=mask_cpu:{hex(1 << core)}", *argv]


async def bare_step(job: str, node: str, core: int) -> None:
    argv = bare_argv(job, node, core)
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, env=slurm_env())
    if await proc.wait() != 0:
        raise RuntimeError(f"bare srun exited {proc.returncode}: {' '.join(argv)} (run it by "
                           "hand to see Slurm's message)")


# -- steps ---------------------------------------------------------------------------------
async def tandem_steps(n: int) -> float:
    run_dir = scratch()
    try:
        async with tandem.open_session(Platform.from_slurm(), run_dir=run_dir) as s:
            t0 = time.perf_counter()
            futures = [s.execute(["/bin/true"]) for _ in range(n)]
            await s.wait_all()
            dt = time.perf_counter() - t0
        check_done(futures, "steps")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return n / dt


async def bare_steps(job: str, n: int) -> float:
    left = iter(range(n))

    async def lane(node: str, core: int) -> None:
        for _ in left:
            await bare_step(job, node, core)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane(node, core) for node, core in SLOTS))
    return n / (time.perf_counter() - t0)


# -- first result --------------------------------------------------------------------------
async def tandem_first_result() -> float:
    run_dir = scratch()
    try:
        t0 = time.perf_counter()
        async with tandem.open_session(run_dir=run_dir) as s:
            await s.execute(["/bin/true"])
            dt = time.perf_counter() - t0
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return dt


async def bare_first_result(job: str) -> float:
    t0 = time.perf_counter()
    await bare_step(job, "n1", 0)
    return time.perf_counter() - t0


# -- the DeepDriveMD shape -----------------------------------------------------------------
DDMD = {"simulation": 1.0, "aggregation": 0.2, "training": 2.0, "inference": 0.5}
DDMD_ITERATIONS, DDMD_SIMS, DDMD_SCALE = 4, 8, 0.6


def ddmd_dag() -> tuple[list[TaskSpec], list[tuple[int, ...]], list[float]]:
    """examples/ddmd_shape.py's graph as ``sleep`` executables: specs, deps (indices), durations.
    Simulation j of iteration i follows simulation j of i-1 and, from i >= 2, inference i-2;
    aggregation i follows the simulations of i; training i follows aggregation i and training
    i-1; inference i follows training i. Training and inference ask for one GPU and no core."""
    specs: list[TaskSpec] = []
    deps: list[tuple[int, ...]] = []
    durations: list[float] = []

    def add(name: str, kind: str, res: Resources, after: list[int]) -> int:
        d = round(DDMD[kind] * DDMD_SCALE, 3)
        specs.append(TaskSpec(name=name, work=Executable(argv=("sleep", f"{d}")), kind=kind,
                              resources=res, estimate=d))
        deps.append(tuple(after))
        durations.append(d)
        return len(specs) - 1

    one_core, one_gpu = Resources(cores=1), Resources(cores=0, gpus=1)
    sim: dict[tuple[int, int], int] = {}
    inf: dict[int, int] = {}
    train: dict[int, int] = {}
    for i in range(DDMD_ITERATIONS):
        for j in range(DDMD_SIMS):
            after = [sim[i - 1, j]] if i else []
            if i >= 2:
                after.append(inf[i - 2])
            sim[i, j] = add(f"sim{i}.{j}", "simulation", one_core, after)
        agg = add(f"aggregate{i}", "aggregation", one_core,
                  [sim[i, j] for j in range(DDMD_SIMS)])
        train[i] = add(f"train{i}", "training", one_gpu, [agg] + ([train[i - 1]] if i else []))
        inf[i] = add(f"infer{i}", "inference", one_gpu, [train[i]])
    return specs, deps, durations


async def tandem_ddmd(specs: list[TaskSpec], deps: list[tuple[int, ...]]) -> float:
    run_dir = scratch()
    try:
        async with tandem.open_session(Platform.from_slurm(), run_dir=run_dir) as s:
            futures: list[tandem.TaskFuture] = []
            for spec, d in zip(specs, deps, strict=True):
                futures.append(s.submit_spec(spec, after=[futures[i] for i in d]))
            await s.wait_all()
        check_done(futures, "ddmd")
        records = [f.record for f in futures]
        start = min(r.submitted for r in records)
        return max(r.ended for r in records if r.ended is not None) - start
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# -- function tasks ------------------------------------------------------------------------
async def node_functions(platform: Platform, n: int) -> float:
    run_dir = scratch()
    try:
        backend = FunctionBackend(Path(run_dir) / "workers", launcher=Srun.of(platform),
                                  driver_address="127.0.0.1")
        async with tandem.open_session(platform, run_dir=run_dir, backends=[backend]) as s:
            await tandem.gather(*(s.submit(noop) for _ in range(platform.total_cores)))
            t0 = time.perf_counter()
            futures = [s.submit(noop) for _ in range(n)]
            await s.wait_all()
            dt = time.perf_counter() - t0
        check_done(futures, "functions")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return n / dt


def one_node(platform: Platform, name: str) -> Platform:
    node = platform.node(name)
    return Platform(nodes=(Node(name=node.name, cores=node.cores, gpus=node.gpus,
                                memory_mb=node.memory_mb),),
                    name=f"{platform.name}-{name}", ends_at=platform.ends_at,
                    slurm_job=platform.slurm_job)


# -- the measurements ----------------------------------------------------------------------
def bench_steps(r: Run, job: str) -> None:
    n = 40 if r.quick else 200
    ts, bs = interleave(r.reps, lambda: asyncio.run(tandem_steps(n)),
                        lambda: asyncio.run(bare_steps(job, n)))
    ratio = paired(ts, bs)
    r.out.update(slurm_steps_per_s=round(med(ts), 1), slurm_steps_baseline_per_s=round(med(bs), 1),
                 slurm_steps_ratio=round(ratio, 3))
    r.samples["steps"] = {"steps": n, "in_flight": len(SLOTS), "tandem_per_s": ts,
                          "bare_srun_per_s": bs}
    print(f"job steps ({n} /bin/true, 4 in flight on 2 nodes, {r.reps} rounds): tandem "
          f"{med(ts):.1f}/s, bare srun loop {med(bs):.1f}/s, ratio {ratio:.2f}")


def bench_first_result(r: Run, job: str) -> None:
    ts, bs = interleave(r.reps, lambda: asyncio.run(tandem_first_result()),
                        lambda: asyncio.run(bare_first_result(job)))
    r.out.update(slurm_first_result_s=round(med(ts), 4),
                 slurm_first_result_baseline_s=round(med(bs), 4),
                 slurm_first_result_ratio=round(paired(ts, bs), 2))
    r.samples["first_result"] = {"tandem_s": ts, "bare_srun_s": bs}
    print(f"open_session() in the allocation to the first /bin/true step's result "
          f"({r.reps} rounds): {med(ts):.3f} s; one bare srun step {med(bs):.3f} s")


def bench_ddmd(r: Run, job: str) -> None:
    specs, deps, durations = ddmd_dag()
    predicted = simulate(Platform.from_slurm(), specs, deps, durations).makespan_from_submit
    spans = [asyncio.run(tandem_ddmd(specs, deps)) for _ in range(r.reps)]
    ratio = med([x / predicted for x in spans])
    r.out.update(slurm_ddmd_makespan_s=round(med(spans), 3),
                 slurm_ddmd_list_schedule_s=round(predicted, 3), slurm_ddmd_ratio=round(ratio, 3))
    r.samples["ddmd"] = {"tasks": len(specs), "iterations": DDMD_ITERATIONS,
                         "sims": DDMD_SIMS, "scale": DDMD_SCALE, "makespan_s": spans,
                         "list_schedule_s": predicted}
    print(f"DeepDriveMD shape on 2 nodes ({len(specs)} sleep steps, {r.reps} rounds): makespan "
          f"{med(spans):.2f} s; zero-overhead list schedule {predicted:.2f} s; ratio {ratio:.3f}")


def bench_functions(r: Run, job: str) -> None:
    n = 2_000 if r.quick else 10_000
    both = Platform.from_slurm()
    n1 = one_node(both, "n1")
    two, one = interleave(r.reps, lambda: asyncio.run(node_functions(both, n)),
                          lambda: asyncio.run(node_functions(n1, n)))
    ratio = paired(two, one)
    r.out.update(slurm_functions_2_nodes_per_s=round(med(two)),
                 slurm_functions_1_node_per_s=round(med(one)),
                 slurm_functions_ratio=round(ratio, 3))
    r.samples["functions"] = {"tasks": n, "two_nodes_per_s": two, "one_node_per_s": one}
    print(f"function tasks ({n:,} no-ops, workers as job steps, {r.reps} rounds): 2 nodes "
          f"{med(two):,.0f}/s, 1 node {med(one):,.0f}/s, ratio {ratio:.2f}")


BENCHES: dict[str, Callable[[Run, str], None]] = {
    "steps": bench_steps, "first_result": bench_first_result, "ddmd": bench_ddmd,
    "functions": bench_functions,
}


def main() -> None:
    args, names, r = options(__doc__ or "", list(BENCHES))
    load0 = os.getloadavg()
    t0 = time.time()
    with allocation() as job, inside(job):
        for name in names:
            try:
                BENCHES[name](r, job)
            except Exception as exc:   # one failed measurement keeps the others' numbers
                r.out.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name}: failed: {type(exc).__name__}: {exc}")
    write_results(args.out, r, t0, load0,
                  slurm_nodes="n1, n2: two slurmd on this host, 2 CPUs and 2 fake GPUs each")


if __name__ == "__main__":
    main()
