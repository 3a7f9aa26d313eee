"""Process checks shared by the tests."""

from __future__ import annotations


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def proc_state(pid: int) -> str:
    """The one-letter state of ``pid`` (``T``: stopped, ``Z``: zombie), ``""`` if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return ""


def cpus_allowed(pid: int, tid: int | None = None) -> str:
    """``Cpus_allowed_list`` of a process (or of one of its threads)."""
    path = f"/proc/{pid}/status" if tid is None else f"/proc/{pid}/task/{tid}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list"):
                return line.split()[1]
    return ""


def threads(pid: int) -> list[int]:
    """Thread ids of ``pid``."""
    import os

    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


async def wait_until(cond: object, timeout: float = 20.0, what: str = "condition") -> None:
    """Await until ``cond()`` is true (tests only: checks every 20 ms)."""
    import asyncio
    import time
    from collections.abc import Callable

    assert callable(cond)
    check: Callable[[], object] = cond
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
