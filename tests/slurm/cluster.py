"""The test cluster started by scripts/slurm.sh, and allocations in it.

The cluster (slurmctld and slurmd "nodes" n1, n2 on this host, 2 CPUs and 2 fake GPUs each)
is started by the test command (scripts/test.sh runs ``scripts/slurm.sh start`` before pytest
and ``stop`` after). Outside CI, tests that need it are skipped when it is not running; with
``CI=true`` they fail instead, so a broken cluster can never pass silently. :func:`allocate`,
:func:`inside` and :func:`slurm_env` need no pytest: bench/slurm.py uses them too.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

DIR = Path(os.environ.get("TANDEM_SLURM_DIR", "/tmp/tandem-slurm"))
CONF = DIR / "slurm.conf"
NODES = ("n1", "n2")
_GRANTED = re.compile(r"Granted job allocation (\d+)")
_JOB_VARIABLES = ("SLURM_", "SRUN_", "SALLOC_", "SBATCH_")


def slurm_env() -> dict[str, str]:
    """This process's environment pointed at the test cluster, without any allocation's
    variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_JOB_VARIABLES)}
    env["SLURM_CONF"] = str(CONF)
    return env


def require_cluster() -> None:
    """Skip (fail under CI) unless the test cluster answers with every node idle or in use."""
    import pytest

    why = None
    if not CONF.exists():
        why = f"the test cluster is not set up ({CONF} missing): run scripts/slurm.sh start"
    else:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True,
                             text=True, env=slurm_env(), timeout=30, check=False)
        if out.returncode != 0:
            why = f"sinfo failed: {out.stderr.strip()} (run scripts/slurm.sh start)"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


@contextlib.contextmanager
def allocate(*args: str) -> Iterator[str]:
    """A real allocation (``salloc --no-shell``) of the test cluster; yields its job id and
    cancels it afterwards. Raises :class:`RuntimeError` with salloc's message when it fails."""
    env = slurm_env()
    try:
        out = subprocess.run(["salloc", "--no-shell", *args], capture_output=True, text=True,
                             env=env, timeout=300, check=False)
    except FileNotFoundError:
        raise RuntimeError("salloc not found: install Slurm's client (slurm-wlm)") from None
    m = _GRANTED.search(out.stderr + out.stdout)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"salloc {' '.join(args)} failed (SLURM_CONF={env['SLURM_CONF']}): "
                           f"{out.stderr.strip()}")
    job = m.group(1)
    try:
        yield job
    finally:
        subprocess.run(["scancel", job], env=env, timeout=60, check=False)


@contextlib.contextmanager
def allocation(*args: str) -> Iterator[str]:
    """:func:`allocate`, in a test that needs the cluster (see :func:`require_cluster`)."""
    require_cluster()
    with allocate(*args) as job:
        yield job


@contextlib.contextmanager
def inside(job: str) -> Iterator[None]:
    """This process's environment as a batch script in allocation ``job`` has it:
    ``SLURM_JOB_ID`` and ``SLURM_CONF`` set, no other job's variables; restored afterwards."""
    saved = dict(os.environ)
    env = slurm_env()
    os.environ.clear()
    os.environ.update(env)
    os.environ["SLURM_JOB_ID"] = job
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
