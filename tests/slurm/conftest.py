"""Fixtures for tests on the real Slurm test cluster (see tests/slurm/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slurm.cluster import allocation, inside


@pytest.fixture(scope="module")
def job() -> Iterator[str]:
    """One allocation of both nodes (all their CPUs and GPUs), shared by a module's tests (and
    released after them: a test elsewhere that asks for GPUs must not wait on it)."""
    with allocation("-N2", "--ntasks-per-node=2", "--gres=gpu:2", "--mem=500",
                    "-J", "tandem-tests") as job_id:
        yield job_id


@pytest.fixture
def in_job(job: str) -> Iterator[str]:
    """The test runs as if inside the allocation (``SLURM_JOB_ID`` set)."""
    with inside(job):
        yield job
