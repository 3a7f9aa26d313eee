"""A task's process tree on this machine: find its processes, signal them, re-pin their threads.

Contract: functions over ``/proc`` and signals, for the local backends; imports only the
standard library. A task's tree is its leader, every descendant of the leader (children of all
its threads, recursively, including those that left its process group with ``setsid``) and
every member of its process group (orphans reparented away from the leader stay in it).

Rules:

- the group is signalled with ``killpg`` by the caller, who knows the leader is unreaped (so its
  group id cannot belong to a stranger); other processes are signalled through a pidfd opened
  right after they were listed;
- listing is a snapshot: a process forked after it is not seen. Stopped processes do not fork,
  so a snapshot taken after a SIGSTOP of the group is complete for the group.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import Callable, Iterable


@functools.cache
def _has_children_files() -> bool:
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def child_lister() -> Callable[[int], list[int]]:
    """A function giving the child pids of a pid: from ``/proc/<pid>/task/*/children`` where the
    kernel has it, else from one scan of ``/proc/*/stat``."""
    if _has_children_files():
        return _children_from_task_files
    table = _ppid_table()
    return lambda pid: table.get(pid, [])


def descendants(root: int, children: Callable[[int], list[int]]) -> list[int]:
    """Pids of every descendant of ``root`` now (children of all its threads, recursively)."""
    found: list[int] = []
    todo = [root]
    seen = {root}
    while todo:
        for kid in children(todo.pop()):
            if kid not in seen:
                seen.add(kid)
                found.append(kid)
                todo.append(kid)
    return found


def group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid`` (one scan of ``/proc/*/stat``)."""
    out: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            if int(stat.rsplit(b")", 1)[1].split()[2]) == pgid:
                out.append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def tree(leader: int) -> list[int]:
    """The leader, its descendants and its process group's members (each once)."""
    pids = dict.fromkeys([leader, *descendants(leader, child_lister()), *group_members(leader)])
    return list(pids)


def outside_group(pids: Iterable[int], pgid: int) -> list[int]:
    """Those of ``pids`` that are not in process group ``pgid`` (the group is signalled whole)."""
    out = []
    for pid in pids:
        try:
            if os.getpgid(pid) != pgid:
                out.append(pid)
        except OSError:
            continue
    return out


def signal_pids(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each pid through a pidfd (a process already gone is skipped)."""
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                signal.pidfd_send_signal(fd, sig)
        finally:
            os.close(fd)


def pin(pids: Iterable[int], cores: Iterable[int]) -> None:
    """Pin every thread of every process of ``pids`` to ``cores`` (native thread pools too: a
    process's affinity is per thread). Threads and processes that ended meanwhile are skipped."""
    mask = set(cores)
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), mask)


def state(pid: int) -> str:
    """The one-letter state of ``pid`` from ``/proc/<pid>/stat`` (``T``: stopped), or ``""``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return ""


def _children_from_task_files(pid: int) -> list[int]:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(k) for k in f.read().split())
        except OSError:
            continue
    return kids


def _ppid_table() -> dict[int, list[int]]:
    """Parent pid -> child pids, from a scan of ``/proc/*/stat``."""
    table: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        table.setdefault(ppid, []).append(int(name))
    return table
