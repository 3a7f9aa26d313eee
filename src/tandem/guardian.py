"""The guardian: when the driver dies, however it dies (SIGKILL included), every process tandem
started ends within a second or two.

Contract: one small process per driver process, started by the first session
(:func:`start`) and told to leave by the last one to close (:func:`stop`). Whoever starts a
process that leads its own process group or session (an executable, a function worker, an
``srun``, a Dask worker, the trace writer) tells the guardian its pid with :func:`watch` right
after the spawn, while the process is the driver's unreaped child (so the pid is exactly it),
and :func:`unwatch` once it has been reaped; a directory that must not outlive the driver (the
session's shared-memory segments) is told with :func:`remove_on_death`. Each is one ``write``
of a few bytes to a pipe; no reply is awaited. The guardian holds a pidfd of each watched
process; it reads what piles up in the pipe at most every ``COALESCE`` seconds (a burst of
thousands of launches a second wakes it 20 times, not thousands, on a machine whose cores the
tasks need).
Imports: nothing from tandem.

When the driver dies, the kernel closes the pipe's write end and makes the driver's pidfd
readable: the guardian wakes (no polling), finds every live process whose session or process
group is one of the watched leaders (one scan of ``/proc``), sends them SIGTERM, gives them
``GRACE`` seconds (woken by their pidfds), then SIGKILLs what is left, removes the
directories it was told of, and exits. A descendant
that moved to a session of its own is not found (as for ``kill``). The guardian runs in its own
session, ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C or a signal to the driver's group must
not end it before the driver's own clean-up), and needs only the standard library (it runs
``python -I -S``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass

GRACE = 1.0
COALESCE = 0.05

_PROGRAM = r"""
import os, select, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
rfd, cfd, driver = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
grace, coalesce = float(sys.argv[4]), float(sys.argv[5])
held = {}
dirs = set()
try:
    dfd = os.pidfd_open(driver)
except OSError:
    dfd = -1
poll = select.poll()
poll.register(rfd, select.POLLIN)
poll.register(cfd, select.POLLIN)
if dfd >= 0:
    poll.register(dfd, select.POLLIN)
buf = b""

def take(data):
    global buf
    buf += data
    *lines, buf = buf.split(b"\n")
    for line in lines:
        if len(line) < 2:
            continue
        if line[:1] == b"d":
            dirs.add(os.fsdecode(line[1:]))
            continue
        if line[:1] == b"D":
            dirs.discard(os.fsdecode(line[1:]))
            continue
        pid = int(line[1:])
        if line[:1] == b"+":
            try:
                held[pid] = os.pidfd_open(pid)
            except OSError:
                pass
        else:
            fd = held.pop(pid, None)
            if fd is not None:
                os.close(fd)

def drain():
    while True:
        try:
            data = os.read(rfd, 65536)
        except BlockingIOError:
            return
        if not data:
            return
        take(data)

os.set_blocking(rfd, False)
while True:
    events = poll.poll()
    if any(fd == cfd for fd, _ in events):
        if os.read(cfd, 1) == b"q":
            sys.exit(0)      # the last session closed: it ended its processes itself
    if any(fd == dfd or fd == cfd for fd, _ in events):
        drain()
        break
    try:
        data = os.read(rfd, 65536)
    except BlockingIOError:
        continue
    if not data:
        break
    take(data)
    # let a burst of launches pile up (one wake-up reads them all), unless the session ends
    # or the driver dies meanwhile
    select.select([cfd] + ([dfd] if dfd >= 0 else []), [], [], coalesce)

if not held:
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(0)
leaders = set(held)
members = {}
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        with open(f"/proc/{name}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        continue
    pgid, sid = int(fields[2]), int(fields[3])
    pid = int(name)
    if (pgid in leaders or sid in leaders) and pid not in held:
        try:
            members[pid] = os.pidfd_open(pid)
        except OSError:
            pass
fds = list(held.values()) + list(members.values())
for sig in (signal.SIGCONT, signal.SIGTERM):
    for fd in fds:
        try:
            signal.pidfd_send_signal(fd, sig)
        except OSError:
            pass
end = time.monotonic() + grace
left = list(fds)
while left:
    wait = end - time.monotonic()
    if wait <= 0:
        break
    ready, _, _ = select.select(left, [], [], wait)
    left = [fd for fd in left if fd not in ready]
for fd in left:
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    except OSError:
        pass
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""

@dataclass(slots=True)
class _Link:
    """This process's guardian: its process, the pipe of watched pids, the control pipe."""

    proc: subprocess.Popen[bytes]
    data: int
    ctl: int


_link: _Link | None = None
_sessions = 0


def start() -> None:
    """Make sure this driver process has a guardian (one per process, shared by sessions)."""
    global _link, _sessions
    _sessions += 1
    if _link is not None:
        return
    rfd, wfd = os.pipe()
    crfd, cwfd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _PROGRAM, str(rfd), str(crfd), str(os.getpid()),
             str(GRACE), str(COALESCE)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(rfd, crfd),
            start_new_session=True)
    except OSError:
        os.close(wfd)
        os.close(cwfd)
        return    # without a guardian, sessions still end their processes when they close
    finally:
        os.close(rfd)
        os.close(crfd)
    with contextlib.suppress(OSError):    # room for bursts of launches (Linux only)
        import fcntl

        fcntl.fcntl(wfd, _F_SETPIPE_SZ, 1 << 20)
    _link = _Link(proc, wfd, cwfd)


def pid() -> int | None:
    """The guardian's pid, while this process has one."""
    return _link.proc.pid if _link is not None else None


def watch(pid: int) -> None:
    """The guardian ends ``pid``'s session and process group if the driver dies."""
    if _link is not None:
        with contextlib.suppress(OSError):
            os.write(_link.data, b"+%d\n" % pid)


def unwatch(pid: int) -> None:
    """``pid`` was reaped: forget it."""
    if _link is not None:
        with contextlib.suppress(OSError):
            os.write(_link.data, b"-%d\n" % pid)


def remove_on_death(path: str) -> None:
    """The guardian removes directory ``path`` (and what is in it) if the driver dies."""
    if _link is not None:
        with contextlib.suppress(OSError):
            os.write(_link.data, b"d" + os.fsencode(path) + b"\n")


def forget_removal(path: str) -> None:
    """``path`` was removed by its owner: forget it."""
    if _link is not None:
        with contextlib.suppress(OSError):
            os.write(_link.data, b"D" + os.fsencode(path) + b"\n")


def stop() -> None:
    """A session closed; the last one to close lets the guardian go (it ends nothing)."""
    global _link, _sessions
    _sessions = max(0, _sessions - 1)
    link = _link
    if _sessions or link is None:
        return
    _link = None
    with contextlib.suppress(OSError):
        os.write(link.ctl, b"q")
    os.close(link.data)
    os.close(link.ctl)
    with contextlib.suppress(subprocess.TimeoutExpired):
        link.proc.wait(timeout=5)


_F_SETPIPE_SZ = 1031
