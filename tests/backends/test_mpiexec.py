"""The local MPI launcher with real ``mpiexec`` (Open MPI and MPICH): ranks on their placed
cores and GPUs, exit codes, signals, kill of every rank; the command builders; a session."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import tandem
from tandem.backends.base import LaunchRequest
from tandem.backends.mpiexec import (
    RANKFILE,
    Mpiexec,
    MpiFlavour,
    flavour_of,
    mpich_argv,
    openmpi_argv,
    rank_cores,
    rank_views,
    rankfile_text,
    resolve,
    wrapper_argv,
)
from tandem.backends.process import ProcessBackend
from tandem.core.values import FailureKind, Placement, Slot
from tandem.spec.platform import Platform
from tandem.spec.resources import Resources
from tandem.spec.task import Executable
from tests.backends.recorder import Recorder
from tests.mpi import hello_binary
from tests.procs import pid_alive

TIMEOUT = 60.0
FLAVOURS = [MpiFlavour.OPENMPI, MpiFlavour.MPICH]
needs_two_cores = pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0),
                                     reason="needs cores 0 and 1 in this process's mask")


def placed(*cores: tuple[int, ...], gpus: tuple[tuple[str, ...], ...] = ()) -> Placement:
    return Placement(slots=tuple(Slot(node="n", cores=c, gpus=gpus[i] if gpus else ())
                                 for i, c in enumerate(cores)))


@pytest.fixture(scope="module", params=FLAVOURS, ids=lambda f: f.value)
def flavour(request: pytest.FixtureRequest) -> MpiFlavour:
    flavour: MpiFlavour = request.param
    return flavour


@pytest.fixture(scope="module")
def hello(flavour: MpiFlavour, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(hello_binary(flavour.value, tmp_path_factory.mktemp(f"mpi-{flavour.value}")))


def request(tmp: Path, task_id: int, argv: tuple[str, ...], placement: Placement, *,
            shell: bool = False, shared: tuple[int, ...] = ()) -> LaunchRequest:
    return LaunchRequest(task_id=task_id, name=f"t{task_id}", kind="task",
                         work=Executable(argv=argv, shell=shell), placement=placement,
                         workdir=str(tmp / f"t{task_id}"), shared_cores=shared)


def run(flavour: MpiFlavour, body: Callable[[ProcessBackend, Recorder], Awaitable[None]],
        launcher: Mpiexec | None = None) -> None:
    async def main() -> None:
        backend = ProcessBackend(kill_grace=5.0, launcher=launcher or Mpiexec(flavour))
        rec = Recorder(TIMEOUT)
        await backend.start(rec)
        try:
            await body(backend, rec)
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)
    asyncio.run(main())


def rank_lines(path: Path) -> dict[int, dict[str, str]]:
    """The ``rank=R key=value ...`` lines of ``path``, by rank."""
    out: dict[int, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("rank="):
            fields = dict(part.split("=", 1) for part in line.split())
            out[int(fields["rank"])] = fields
    return out


async def wait_ranks(path: Path, ranks: int) -> dict[int, dict[str, str]]:
    """The rank lines of ``path`` once every rank wrote its line (bounded short retries)."""
    for _ in range(3000):
        if path.exists():
            lines = rank_lines(path)
            if len(lines) == ranks:
                return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never got {ranks} rank lines")


# -- real mpiexec -------------------------------------------------------------------------

@needs_two_cores
def test_two_ranks_land_on_their_placed_cores(flavour: MpiFlavour, hello: str,
                                              tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, (hello,), placed((1,), (0,))))
        outcome = await rec.wait_exited(1)
        assert outcome.failure is None, outcome.failure
        lines = rank_lines(tmp_path / "t1" / "stdout")
        assert {r: (v["size"], v["cpus"]) for r, v in lines.items()} == {
            0: ("2", "1"), 1: ("2", "0")}
        assert lines[0]["node"] == os.uname().nodename
        assert rec.events == [("started", 1), ("exited", 1)]
    run(flavour, body)


@needs_two_cores
def test_a_rank_of_several_cores_gets_them_all(flavour: MpiFlavour, hello: str,
                                               tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, (hello,), placed((0, 1), (1,))))
        assert (await rec.wait_exited(1)).failure is None
        lines = rank_lines(tmp_path / "t1" / "stdout")
        assert (lines[0]["cpus"], lines[1]["cpus"]) == ("0-1", "1")
    run(flavour, body)


@needs_two_cores
def test_ranks_placed_on_no_cores_share_the_shared_cores(flavour: MpiFlavour, hello: str,
                                                         tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, (hello,), placed((), ()), shared=(1,)))
        assert (await rec.wait_exited(1)).failure is None
        lines = rank_lines(tmp_path / "t1" / "stdout")
        assert [lines[r]["cpus"] for r in (0, 1)] == ["1", "1"]
    run(flavour, body)


@needs_two_cores
def test_each_rank_sees_its_own_gpus_and_cores(flavour: MpiFlavour, tmp_path: Path) -> None:
    script = ("echo rank=${OMPI_COMM_WORLD_RANK:-$PMI_RANK} gpus=$CUDA_VISIBLE_DEVICES "
              "cores=$TANDEM_CORES omp=$OMP_NUM_THREADS")
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        placement = placed((1,), (0,), gpus=(("1",), ("0",)))
        backend.launch(request(tmp_path, 1, (script,), placement, shell=True))
        assert (await rec.wait_exited(1)).failure is None
        lines = rank_lines(tmp_path / "t1" / "stdout")
        assert {r: (v["gpus"], v["cores"], v["omp"]) for r, v in lines.items()} == {
            0: ("1", "1", "1"), 1: ("0", "0", "1")}
    run(flavour, body)


@needs_two_cores
def test_a_rank_exit_code_is_the_task_exit_code(flavour: MpiFlavour, hello: str,
                                                tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, (hello, "exit", "3", "1"), placed((1,), (0,))))
        failure = (await rec.wait_exited(1)).failure
        assert failure is not None and failure.kind is FailureKind.EXIT
        assert failure.exit_code == 3
    run(flavour, body)


@needs_two_cores
def test_a_rank_killed_by_a_signal(flavour: MpiFlavour, hello: str, tmp_path: Path) -> None:
    """Open MPI exits 128 + signal (mapped back to the signal); MPICH exits with the bare
    signal number, which reads as an exit code (see the module docstring)."""
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, (hello, "wait"), placed((1,), (0,))))
        await wait_ranks(tmp_path / "t1" / "stdout", 2)
        os.kill(int((tmp_path / "t1" / "pid.1").read_text()), signal.SIGKILL)
        failure = (await rec.wait_exited(1)).failure
        assert failure is not None
        if flavour is MpiFlavour.OPENMPI:
            assert failure.kind is FailureKind.SIGNAL and failure.signal == signal.SIGKILL
        else:
            assert failure.kind is FailureKind.EXIT and failure.exit_code == signal.SIGKILL
    run(flavour, body)


@needs_two_cores
def test_kill_leaves_no_rank_alive(flavour: MpiFlavour, hello: str, tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, (hello, "wait"), placed((1,), (0,))))
        await wait_ranks(tmp_path / "t1" / "stdout", 2)
        pids = [int((tmp_path / "t1" / f"pid.{r}").read_text()) for r in (0, 1)]
        assert all(pid_alive(p) for p in pids)
        backend.kill(1)
        await rec.wait_exited(1)
        assert not any(pid_alive(p) for p in pids), pids
    run(flavour, body)


def test_a_missing_mpiexec_fails_the_launch_and_names_the_fix(tmp_path: Path) -> None:
    launcher = Mpiexec(MpiFlavour.OPENMPI, executable="no-such-mpiexec")
    why = launcher.unreachable(Platform.local())
    assert why is not None and "no 'no-such-mpiexec' found on PATH" in why
    assert "apt-get install openmpi-bin" in why
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, ("true",), placed((0,))))
        failure = (await rec.wait_exited(1)).failure
        assert failure is not None and failure.kind is FailureKind.LAUNCH
        assert failure.message.startswith("task 't1': no 'no-such-mpiexec' found")
    run(MpiFlavour.OPENMPI, body, launcher)


@needs_two_cores
def test_session_runs_a_two_rank_task(flavour: MpiFlavour, hello: str, tmp_path: Path) -> None:
    async def main() -> None:
        backend = ProcessBackend(launcher=Mpiexec(flavour))
        async with tandem.open_session(Platform.local(cores=[0, 1]), run_dir=tmp_path,
                                       backends=[backend]) as s:
            f = s.execute([hello], resources=Resources(ranks=2, cores=1), name="hello")
            result = await f
            lines = rank_lines(result.stdout)
            record = f.record
            assert record.placement is not None
            slots = record.placement.slots
            assert {r: v["cpus"] for r, v in lines.items()} == {
                i: str(slots[i].cores[0]) for i in (0, 1)}
            assert {v["cpus"] for v in lines.values()} == {"0", "1"}
            assert {v["size"] for v in lines.values()} == {"2"}
    asyncio.run(asyncio.wait_for(main(), 120))


# -- pure builders ------------------------------------------------------------------------

def test_rankfile_lists_each_rank_s_cores() -> None:
    assert rankfile_text([(1,), (0, 2)]) == ("rank 0=localhost slot=1\n"
                                             "rank 1=localhost slot=0,2\n")


def test_openmpi_argv() -> None:
    assert openmpi_argv("/usr/bin/mpiexec", 2, "/w/rankfile", ("a", "b"), root=True) == (
        "/usr/bin/mpiexec", "--allow-run-as-root", "--mca", "plm", "isolated", "--mca", "ras",
        "^slurm", "-n", "2", "--use-hwthread-cpus", "--mca", "rmaps_rank_file_physical", "1",
        "--rankfile", "/w/rankfile", "a", "b")
    unbound = openmpi_argv("mpiexec", 3, None, ("a",), root=False)
    assert unbound == ("mpiexec", "--mca", "plm", "isolated", "--mca", "ras", "^slurm",
                       "-n", "3", "--bind-to", "none", "--oversubscribe", "a")


def test_mpich_argv() -> None:
    assert mpich_argv("mpiexec.mpich", 2, [(0, 1), (2,)], ("a",)) == (
        "mpiexec.mpich", "-launcher", "fork", "-hosts", "localhost", "-n", "2",
        "-bind-to", "user:0+1,2", "a")
    assert mpich_argv("m", 1, None, ("a",))[-3:] == ("-bind-to", "none", "a")


def test_rank_cores_refuses_several_nodes_and_mixed_slots() -> None:
    assert rank_cores(placed((1,), (0,))) == ((1,), (0,))
    assert rank_cores(placed((), ())) is None
    two_nodes = Placement(slots=(Slot(node="a", cores=(0,)), Slot(node="b", cores=(0,))))
    with pytest.raises(ValueError, match=r"nodes \['a', 'b'\]"):
        rank_cores(two_nodes)
    with pytest.raises(ValueError, match="some of its ranks are placed on cores"):
        rank_cores(placed((0,), ()))


def test_rank_views_only_what_differs() -> None:
    env, names = rank_views(placed((1,), (0,), gpus=(("0",), ("0",))))
    assert names == ("TANDEM_CORES",)
    assert env == {"TANDEM_RANK_0_TANDEM_CORES": "1", "TANDEM_RANK_1_TANDEM_CORES": "0"}
    assert rank_views(placed((0, 1))) == ({}, ())
    argv = wrapper_argv(names, ("prog", "x"))
    assert argv[:2] == ("/bin/sh", "-c") and argv[3:] == ("tandem-rank", "prog", "x")


def test_command_writes_the_rankfile_and_keeps_the_leader_unpinned(tmp_path: Path) -> None:
    launcher = Mpiexec(MpiFlavour.OPENMPI, executable="sh")   # any executable on PATH
    req = request(tmp_path, 1, ("prog",), placed((1,), (0,)))
    cmd = launcher.command(req, ("prog",))
    rankfile = tmp_path / "t1" / RANKFILE
    assert rankfile.read_text() == "rank 0=localhost slot=1\nrank 1=localhost slot=0\n"
    assert cmd.pin == () and str(rankfile) in cmd.argv
    assert cmd.env["TANDEM_RANK_1_TANDEM_CORES"] == "0"
    shared = launcher.command(request(tmp_path, 2, ("p",), placed((), ()), shared=(1,)), ("p",))
    assert shared.pin == (1,) and "--bind-to" in shared.argv


def test_flavour_detection_and_signals() -> None:
    assert flavour_of("mpiexec (OpenRTE) 4.1.4\n") is MpiFlavour.OPENMPI
    assert flavour_of("mpiexec (Open MPI) 5.0.3\n") is MpiFlavour.OPENMPI
    assert flavour_of("HYDRA build details:\n    Version: 4.0.2\n") is MpiFlavour.MPICH
    assert flavour_of("Intel(R) MPI Library for Linux\n") is None
    openmpi = Mpiexec(MpiFlavour.OPENMPI, executable="sh")
    assert openmpi.signal_of(137) == signal.SIGKILL and openmpi.signal_of(3) is None
    assert Mpiexec(MpiFlavour.MPICH, executable="sh").signal_of(9) is None


def test_unreachable_platforms_and_the_default_backend() -> None:
    launcher = Mpiexec()
    assert launcher.unreachable(Platform.uniform(2, cores=1)) is not None
    assert launcher.unreachable(Platform.local()) is None
    assert launcher.flavour in (MpiFlavour.OPENMPI, MpiFlavour.MPICH)
    backend = ProcessBackend(kill_grace=1.0, launcher=launcher)
    assert backend.name == "mpi" and backend.multi_rank and backend.steerable


def test_default_backends_send_several_ranks_to_mpiexec_and_one_rank_past_it(
        tmp_path: Path) -> None:
    flavour = resolve(None, None).flavour      # the MPI whose mpiexec is first on PATH
    assert flavour is not None
    hello = hello_binary(flavour.value, tmp_path / "bin")

    async def main() -> None:
        async with tandem.open_session(Platform.local(cores=[0, 1]), run_dir=tmp_path) as s:
            multi = s.execute([str(hello)], resources=Resources(ranks=2, cores=1), name="mpi")
            single = s.execute(["sh", "-c", "echo $OMPI_COMM_WORLD_SIZE$PMI_SIZE"],
                               name="plain")
            lines = rank_lines((await multi).stdout)
            plain = (await single).stdout.read_text()
            assert sorted(v["cpus"] for v in lines.values()) == ["0", "1"]
            assert plain.strip() == ""       # not launched through mpiexec

    asyncio.run(asyncio.wait_for(main(), 120))
