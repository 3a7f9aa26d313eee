"""The srun line a placement becomes (pure; the real cluster runs it in tests/slurm)."""

from __future__ import annotations

from tandem.backends.srun import Srun, cpu_mask, step_argv, task_environ
from tandem.core.values import Slot
from tandem.spec.platform import Node, Platform


def flags(argv: tuple[str, ...]) -> list[str]:
    return list(argv[:argv.index("/bin/sh")])


def test_one_rank_on_exact_node_and_core() -> None:
    argv, env = step_argv([Slot(node="n2", cores=(1,))], ["hostname"], job_id="7", name="t")
    assert flags(argv) == ["srun", "--jobid=7", "--overlap", "--job-name=t", "-N", "1", "-n",
                           "1", "-w", "n2", "--cpu-bind=mask_cpu:0x2", "--kill-on-bad-exit=1",
                           "--immediate=60"]
    assert argv[-2:] == ("tandem-rank", "hostname")
    assert env == {"TANDEM_RANK_GPUS_0": ""}


def test_same_local_cores_on_every_node_is_one_mask_list() -> None:
    slots = [Slot(node="a", cores=(0, 1)), Slot(node="a", cores=(2, 3)),
             Slot(node="b", cores=(0, 1)), Slot(node="b", cores=(2, 3))]
    argv, env = step_argv(slots, ["x"], job_id="1", name="t", mpi="pmix", memory_mb=100)
    f = flags(argv)
    assert f[f.index("-w") + 1] == "a,a,b,b" and "--distribution=arbitrary" in f
    assert "--cpu-bind=mask_cpu:0x3,0xc" in f and "--mpi=pmix" in f
    assert "--mem=200" in f  # two ranks of 100 MB on each node
    assert not any(k.startswith("TANDEM_RANK_CORES_") for k in env)


def test_different_cores_per_node_bind_each_rank_in_the_wrapper() -> None:
    slots = [Slot(node="n1", cores=(1,), gpus=("0",)), Slot(node="n2", cores=(0,), gpus=("1",))]
    argv, env = step_argv(slots, ["x"], job_id="1", name="t")
    assert "--cpu-bind=none" in flags(argv)
    assert env == {"TANDEM_RANK_GPUS_0": "0", "TANDEM_RANK_GPUS_1": "1",
                   "TANDEM_RANK_CORES_0": "1", "TANDEM_RANK_CORES_1": "0"}


def test_a_task_on_no_cores_runs_on_the_shared_ones() -> None:
    argv, _ = step_argv([Slot(node="n1", cores=(), gpus=("0",))], ["x"], job_id="1", name="t",
                        shared_cores=(1,))
    assert "--cpu-bind=mask_cpu:0x2" in flags(argv)


def test_allocation_variables_stay_out_of_tasks() -> None:
    env = {b"SLURM_NNODES": b"2", b"SLURM_JOB_ID": b"7", b"SLURM_CONF": b"/c", b"HOME": b"/r",
           b"SRUN_CPUS_PER_TASK": b"2"}
    assert task_environ(env) == {b"SLURM_CONF": b"/c", b"HOME": b"/r"}


def test_srun_exit_codes_above_128_are_signals() -> None:
    launcher = Srun(job_id="1", nodes=["n1"])
    assert launcher.signal_of(137) == 9 and launcher.signal_of(3) is None
    assert cpu_mask([0, 3]) == "0x9"


def test_nodes_outside_the_job_are_unreachable() -> None:
    launcher = Srun(job_id="7", nodes=["n1", "n2"])
    inside = Platform(nodes=(Node(name="n2", cores=(0,)),))
    outside = Platform(nodes=(Node(name="n3", cores=(0,)),))
    assert launcher.unreachable(inside) is None
    why = launcher.unreachable(outside)
    assert why is not None and "n3" in why and "job 7" in why


def test_srun_messages_of_a_failed_node_name_it() -> None:
    launcher = Srun(job_id="1", nodes=["n1", "n2"])
    launch = ("srun: error: Task launch for StepId=31.0 failed on node n2: Communication "
              "connection failure\nsrun: error: Application launch failed: Communication "
              "connection failure\nsrun: Job step aborted")
    assert launcher.lost_node(233, launch) == "n2"
    assert launcher.lost_node(1, "srun: error: Node failure on gpu07") == "gpu07"
    assert launcher.lost_node(
        137, "slurmstepd: error: *** STEP 4.2 ON n1 CANCELLED AT 2026-12-02T03:00:45 DUE TO "
        "NODE FAILURE ***") == "n1"
    assert launcher.lost_node(3, "srun: error: n2: task 0: Exited with exit code 3") is None


def test_a_step_is_signalled_by_its_name_through_scancel() -> None:
    launcher = Srun(job_id="42", nodes=["n1"])
    argv = launcher.signal_argv(7, 10)
    assert argv is not None and argv[:2] == ("/bin/sh", "-c")
    assert "squeue -h -s -j" in argv[2] and "scancel --quiet --signal=" in argv[2]
    assert argv[3:] == ("tandem-signal", "42", launcher.step_name(7), "10")
    assert launcher.step_name(7) != Srun(job_id="42", nodes=["n1"]).step_name(7)
