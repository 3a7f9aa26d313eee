"""The memory cgroups tandem creates: where this process's memory cgroup is, a parent for
tandem's own under it, one limited child per task, what a child used, removing them.

Contract: the cgroup file system only (v1's ``memory`` hierarchy or v2's unified one); the
policy — when a cgroup is used, what a task's failure means — is :mod:`tandem.backends.memory`.
Imports: nothing from tandem.

Rules:

- This process's memory cgroup is read from ``/proc/self/cgroup`` and ``/proc/self/mountinfo``:
  v1 where a ``cgroup`` mount has the ``memory`` option, v2 where the ``cgroup2`` mount lists
  ``memory`` in the cgroup's ``cgroup.controllers``.
- A parent ``tandem-<pid>-<n>`` is created in it (v2: only where the memory controller is, or
  can be, enabled for its children; a cgroup that holds processes cannot enable it, so this
  needs a cgroup delegated for it). Parents of a driver whose pid is gone are removed first.
- A task's cgroup: v2 ``memory.max``, ``memory.swap.max`` 0, ``memory.oom.group`` 1 (the
  OOM killer ends the whole task); v1 ``memory.limit_in_bytes`` and, where swap is accounted,
  ``memory.memsw.limit_in_bytes`` (no swapping past the limit).
- Removing (``rmdir``) succeeds only once no process is in the cgroup; :func:`remove` says
  whether it did.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Literal

Version = Literal["cgroup1", "cgroup2"]
_LIMIT_FILE = {"cgroup2": "memory.max", "cgroup1": "memory.limit_in_bytes"}
_LARGEST = (1 << 63) - (1 << 20)   # bytes: within a signed 64-bit count, a whole MiB


class Unavailable(Exception):
    """No cgroup can be created here: ``args[0]`` says why."""


def read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def keyed(text: str | None, key: str) -> int | None:
    """The value of ``key`` in a ``key value`` file (``memory.events``, ``oom_control``);
    ``None`` when the file has no such line."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


def own_cgroup() -> tuple[Version, str] | None:
    """This process's memory cgroup: its version and directory, or ``None``."""
    lines = (read("/proc/self/cgroup") or "").splitlines()
    v1 = next((ln.split(":", 2)[2] for ln in lines
               if ln.count(":") >= 2 and "memory" in ln.split(":", 2)[1].split(",")), None)
    v2 = next((ln.split(":", 2)[2] for ln in lines if ln.startswith("0::")), None)
    for m in (read("/proc/self/mountinfo") or "").splitlines():
        left, _, right = m.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        root, point, fstype = fields[3], fields[4], rfields[0]
        if fstype == "cgroup" and "memory" in rfields[2].split(",") and v1 is not None:
            return "cgroup1", point + _relative(v1, root)
        if fstype == "cgroup2" and v2 is not None:
            d = point + _relative(v2, root)
            if "memory" in (read(d + "/cgroup.controllers") or "").split():
                return "cgroup2", d
    return None


def _relative(path: str, root: str) -> str:
    if root == "/":
        return "" if path == "/" else path
    return path[len(root):] if path.startswith(root) else path


def make_parent(version: Version, home: str, name: str) -> str:
    """Create the parent ``home/name`` for tandem's cgroups; :class:`Unavailable` if not."""
    if version == "cgroup2":
        control = home + "/cgroup.subtree_control"
        if "memory" not in (read(control) or "").split():
            try:
                write(control, "+memory")
            except OSError as exc:
                raise Unavailable(f"the memory controller is not enabled for the children of "
                                  f"{home} ({exc.strerror}); run tandem in a cgroup delegated "
                                  f"to it, with memory in cgroup.subtree_control") from None
    sweep(home)
    parent = f"{home}/{name}"
    try:
        os.mkdir(parent)
    except OSError as exc:
        raise Unavailable(f"cannot create {parent}: {exc.strerror}") from None
    try:
        if version == "cgroup2":
            write(parent + "/cgroup.subtree_control", "+memory")
        if not os.path.exists(f"{parent}/{_LIMIT_FILE[version]}"):
            raise Unavailable(f"{parent} has no {_LIMIT_FILE[version]}")
    except OSError as exc:
        remove(parent)
        raise Unavailable(f"cannot enable the memory controller in {parent}: "
                          f"{exc.strerror}") from None
    except Unavailable:
        remove(parent)
        raise
    return parent


def make_child(version: Version, path: str, limit: int) -> None:
    """Create the cgroup ``path`` limited to ``limit`` bytes (``OSError`` if it cannot be; a
    limit beyond what the kernel takes, larger than any machine, is the largest it takes)."""
    limit = min(limit, _LARGEST)
    os.mkdir(path)
    try:
        if version == "cgroup2":
            write(path + "/memory.max", str(limit))
            _optional(path + "/memory.swap.max", "0")
            _optional(path + "/memory.oom.group", "1")
        else:
            write(path + "/memory.limit_in_bytes", str(limit))
            _optional(path + "/memory.memsw.limit_in_bytes", str(limit))
    except OSError:
        remove(path)
        raise


def used(version: Version, path: str) -> tuple[int | None, int | None, bool]:
    """What the cgroup ``path`` used: its peak bytes, how many of its processes the OOM killer
    killed (each ``None`` where the kernel does not say), whether its usage reached the
    limit."""
    if version == "cgroup2":
        events = read(path + "/memory.events")
        peak = read(path + "/memory.peak")
        return (int(peak) if peak else None, keyed(events, "oom_kill"),
                (keyed(events, "max") or 0) > 0)
    peak = read(path + "/memory.max_usage_in_bytes")
    fails = read(path + "/memory.failcnt")
    return (int(peak) if peak else None, keyed(read(path + "/memory.oom_control"), "oom_kill"),
            bool(fails and int(fails) > 0))


def pids(path: str) -> list[int]:
    """The processes in the cgroup ``path``."""
    return [int(p) for p in (read(path + "/cgroup.procs") or "").split()]


def remove(path: str) -> bool:
    """Remove the cgroup ``path``; ``False`` while processes are still in it."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise
    return True


def sweep(home: str) -> None:
    """Remove the cgroups of drivers that died (``tandem-<pid>-<n>`` whose pid is gone)."""
    try:
        names = os.listdir(home)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "tandem" or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        parent = f"{home}/{name}"
        with contextlib.suppress(OSError):
            for child in os.listdir(parent):
                if os.path.isdir(f"{parent}/{child}"):
                    remove(f"{parent}/{child}")
            remove(parent)


def _optional(path: str, value: str) -> None:
    """Write a control file that a kernel may not have (no swap accounting, an old kernel)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        write(path, value)
