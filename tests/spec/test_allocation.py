"""Reading a Slurm allocation: host lists and ``scontrol show job -d`` output (captured from
the test cluster's Slurm 22.05), without a cluster."""

from __future__ import annotations

import datetime as dt

import pytest

from tandem.errors import SpecError
from tandem.spec.allocation import expand_hostlist, parse_job
from tandem.spec.platform import Platform

# `scontrol show job -d` of `salloc -N2 -n3 --gres=gpu:1 --mem-per-cpu=300 -t 30` (abridged to
# the lines tandem reads and their neighbours)
JOB = """\
JobId=5 JobName=interactive
   JobState=RUNNING Reason=None Dependency=(null)
   RunTime=00:00:00 TimeLimit=00:30:00 TimeMin=N/A
   StartTime=2026-12-02T03:04:03 EndTime=2026-12-02T03:34:03 Deadline=N/A
   NodeList=n[1-2]
   NumNodes=2 NumCPUs=3 NumTasks=3 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
   JOB_GRES=gpu:2
     Nodes=n1 CPU_IDs=0-1 Mem=600 GRES=gpu:1(IDX:0)
     Nodes=n2 CPU_IDs=0 Mem=300 GRES=gpu:1(IDX:0)
   MinCPUsNode=1 MinMemoryPerCPU=300M MinTmpDiskNode=0
"""

# the same shape from a site: typed GPUs, several GRES, nodes sharing one detail line
SITE = """\
JobId=912 JobName=campaign
   JobState=RUNNING Reason=None
   EndTime=Unknown
   NodeList=gpu[07-08],cpu3
     Nodes=gpu[07-08] CPU_IDs=0-3,8-11 Mem=64000 GRES=gpu:a100:2(IDX:1,3),gpu_mem:0
     Nodes=cpu3 CPU_IDs=0-15 Mem=32000 GRES=
"""


def test_host_lists_expand_in_order_with_padding() -> None:
    assert expand_hostlist("n[1-2]") == ("n1", "n2")
    assert expand_hostlist("gpu[08-10],login1") == ("gpu08", "gpu09", "gpu10", "login1")
    assert expand_hostlist("r[1-2]-c[1,3]") == ("r1-c1", "r1-c3", "r2-c1", "r2-c3")
    assert expand_hostlist("a,b[2-3,7]") == ("a", "b2", "b3", "b7")


@pytest.mark.parametrize("bad", ["n[1-2", "n1-2]", "n[a-b]"])
def test_bad_host_lists_say_what_is_wrong(bad: str) -> None:
    with pytest.raises(SpecError, match="host list"):
        expand_hostlist(bad)


def test_job_detail_lines_give_each_node_its_cpus_gpus_memory_and_the_end() -> None:
    alloc = parse_job(JOB)
    assert alloc.job_id == "5"
    assert [(n.name, n.cores, n.gpus, n.memory_mb) for n in alloc.nodes] == [
        ("n1", (0, 1), ("0",), 600), ("n2", (0,), ("0",), 300)]
    assert alloc.ends_at == dt.datetime(2026, 12, 2, 3, 34, 3).timestamp()
    platform = Platform.from_slurm(allocation=alloc)
    assert platform.name == "slurm-5" and platform.slurm_job == "5"
    assert platform.ends_at == alloc.ends_at
    assert platform.node("n2").cores == (0,)


def test_typed_gpus_shared_detail_lines_and_no_time_limit() -> None:
    alloc = parse_job(SITE)
    assert alloc.node_names == ("gpu07", "gpu08", "cpu3")
    gpu07 = alloc.nodes[0]
    assert gpu07.cores == (0, 1, 2, 3, 8, 9, 10, 11) and gpu07.gpus == ("1", "3")
    assert alloc.nodes[2].gpus == () and alloc.nodes[2].memory_mb == 32000
    assert alloc.ends_at is None


def test_a_job_that_is_not_running_or_has_no_detail_is_refused_with_what_slurm_said() -> None:
    with pytest.raises(SpecError, match="PENDING, not RUNNING"):
        parse_job(JOB.replace("JobState=RUNNING", "JobState=PENDING"))
    with pytest.raises(SpecError, match="was it run with -d"):
        parse_job("JobId=5 JobName=x\n   JobState=RUNNING\n   NodeList=n1\n")


def test_outside_an_allocation_from_slurm_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_JOBID", raising=False)
    with pytest.raises(SpecError, match="SLURM_JOB_ID is not set"):
        Platform.from_slurm()
