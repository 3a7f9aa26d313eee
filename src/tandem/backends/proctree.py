"""A task's process tree on this machine: find its processes, hold them, signal them, re-pin them.

Contract: functions over psutil (which reads ``/proc``) and pidfds, for the local backends. A
task's tree is its leader, every descendant of the leader (children of all its threads,
recursively, including those that left its process group with ``setsid``) and every member of
its process group (orphans reparented away from the leader stay in it).
Imports: nothing from tandem.

Rules:

- a reused pid is never signalled. The group is signalled with ``killpg`` by the caller, who
  knows the leader is unreaped (so its group id cannot belong to a stranger); any other process
  is signalled only through a pidfd (:func:`hold`) opened after it was listed and checked to be
  the listed process still (psutil compares its creation time), so the pidfd names it and no
  later owner of its pid;
- listing is a snapshot (one scan of ``/proc`` per call): a process forked after it is not
  seen. Stopped processes do not fork, so a snapshot taken after a SIGSTOP of the group is
  complete for the group;
- a process that ends while it is being listed, held, signalled or re-pinned is skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable

import psutil

Proc = psutil.Process

_GONE = (psutil.NoSuchProcess, psutil.AccessDenied)


def descendants(leader: int) -> list[Proc]:
    """Every descendant of ``leader`` now (children of all its threads, recursively); none if
    the leader is gone."""
    try:
        return psutil.Process(leader).children(recursive=True)
    except _GONE:
        return []


def group_members(pgid: int) -> list[Proc]:
    """The processes whose process group is ``pgid``."""
    out: list[Proc] = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError, *_GONE):
            if os.getpgid(pid) == pgid:
                out.append(psutil.Process(pid))
    return out


def tree(leader: int) -> list[Proc]:
    """The leader, its descendants and its process group's members (each once)."""
    procs: dict[int, Proc] = {}
    with contextlib.suppress(*_GONE):
        procs[leader] = psutil.Process(leader)
    for p in (*descendants(leader), *group_members(leader)):
        procs.setdefault(p.pid, p)
    return list(procs.values())


def outside_group(procs: Iterable[Proc], pgid: int) -> list[Proc]:
    """Those of ``procs`` that are not in process group ``pgid`` (the group is signalled
    whole by the caller)."""
    out = []
    for p in procs:
        with contextlib.suppress(OSError):
            if os.getpgid(p.pid) != pgid:
                out.append(p)
    return out


def hold(procs: Iterable[Proc]) -> dict[int, int]:
    """A pidfd for each of ``procs`` that is still the process that was listed: pidfd -> pid.
    The caller owns the pidfds (signal them with :func:`signal_pidfd`, close them)."""
    fds: dict[int, int] = {}
    for p in procs:
        try:
            fd = os.pidfd_open(p.pid)
        except OSError:
            continue
        if p.is_running():    # same creation time: the pidfd names the listed process
            fds[fd] = p.pid
        else:
            os.close(fd)
    return fds


def signal_pidfd(fd: int, sig: int) -> None:
    """Send ``sig`` through a pidfd (a process already gone is skipped)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        signal.pidfd_send_signal(fd, sig)


def signal_all(procs: Iterable[Proc], sig: int) -> None:
    """Send ``sig`` to each of ``procs`` that is still the listed process (see :func:`hold`)."""
    for fd in hold(procs):
        try:
            signal_pidfd(fd, sig)
        finally:
            os.close(fd)


def pin(procs: Iterable[Proc], cores: Iterable[int]) -> None:
    """Pin every thread of every one of ``procs`` to ``cores`` (native thread pools too: a
    process's affinity is per thread)."""
    mask = set(cores)
    for p in procs:
        try:
            if not p.is_running():
                continue
            threads = p.threads()
        except _GONE:
            continue
        for t in threads:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(t.id, mask)


def status(pid: int) -> str:
    """psutil's status of ``pid`` (``psutil.STATUS_STOPPED``, ``STATUS_ZOMBIE``, ...), or
    ``""`` when there is no such process."""
    try:
        return str(psutil.Process(pid).status())
    except _GONE:
        return ""
