"""One launched executable on this machine as the process backend holds it: its leader, the
descendants it remembers once the task is being ended, and the signals that end, stop and
continue the tree.

Contract: the state of one task's processes between its spawn and its last process's end, and
every signal sent to them here; :class:`~tandem.backends.process.ProcessBackend` owns the table
of these, the loop's readers' callbacks and what is reported. No scheduler state.
Imports: tandem.guardian, tandem.backends.memory, tandem.backends.proctree, tandem.core.values.

Rules:

- A task is its whole process tree (:mod:`tandem.backends.proctree`): its leader runs in its
  own session and process group. When the leader exits, whatever is left in its group is
  SIGKILLed (:meth:`ProcessTask.reap`). Ending it (:meth:`ProcessTask.terminate`) first
  collects the leader's descendants (psutil, so those that left the group with ``setsid`` die
  too), sends the signal (SIGTERM for a kill) to the group and to them, and SIGKILL after the
  grace period (continuing a stopped tree, so it can act on the signal); the task is
  :attr:`~ProcessTask.gone` once the leader is reaped and every remembered descendant is gone.
- Descendants are held by pidfd (opened once they are known to be the listed processes) and
  the group is signalled only while its leader is unreaped (or a zombie), so a reused pid is
  never signalled. A descendant that left the group is only found when the task is ended;
  after a natural exit it is not ours.
- No orphan: the leader is watched by the guardian (:mod:`tandem.guardian`) from its spawn
  (the backend's) to its reaping (here).
- Local steering: :meth:`~ProcessTask.stop` sends SIGSTOP to the group and to descendants that
  left it; :meth:`~ProcessTask.cont` re-pins every thread of the tree when given a placement
  with cores, then sends SIGCONT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from tandem import guardian
from tandem.backends import proctree
from tandem.backends.memory import TaskMemory
from tandem.core.values import Placement


@dataclass(slots=True, eq=False)
class ProcessTask:
    """One running task: its leader and, once it is being ended, its remembered descendants."""

    task_id: int
    argv0: str
    pid: int
    pidfd: int
    stderr_path: str
    reaped: bool = False
    code: int | None = None  # waitstatus_to_exitcode of the leader (negative: signal)
    killing: bool = False
    stopped: bool = False  # paused (SIGSTOP) and not continued since
    kids: dict[int, int] = field(default_factory=dict)  # pidfd -> pid
    timer: asyncio.TimerHandle | None = None
    memory: TaskMemory | None = None
    base_rss: int = 0       # the driver's ru_maxrss (KiB) at the spawn
    rss: int = 0            # the leader's ru_maxrss (KiB) from wait4

    @property
    def gone(self) -> bool:
        """The leader is reaped and no remembered descendant is left."""
        return self.reaped and not self.kids

    def reap(self, loop: asyncio.AbstractEventLoop) -> bool:
        """The leader's pidfd is readable: end what is left in its group, reap it (its exit
        code and ``ru_maxrss``), stop watching it. ``False`` when it was not reaped yet."""
        pid = self.pid
        # The leader has exited (its pidfd is readable) but is not reaped: its group id is ours.
        signal_group(pid, signal.SIGKILL)
        try:
            wpid, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the status is lost
            wpid, status, usage = pid, -1, None
        if wpid == 0:
            return False
        self.rss = usage.ru_maxrss if usage is not None else 0
        loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        self.reaped = True
        guardian.unwatch(pid)
        if status != -1:
            self.code = os.waitstatus_to_exitcode(status)
        return True

    def forget(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """The descendant held by ``fd`` is gone."""
        loop.remove_reader(fd)
        os.close(fd)
        del self.kids[fd]

    def terminate(self, loop: asyncio.AbstractEventLoop, sig: int, grace: float,
                  on_kid_exit: Callable[[ProcessTask, int], None]) -> None:
        """Send ``sig`` to the whole tree (held descendants watched with ``on_kid_exit``), and
        SIGKILL after ``grace`` seconds."""
        self.killing = True
        pid = self.pid
        kids = proctree.hold(proctree.descendants(pid))
        self.kids.update(kids)
        for fd in kids:
            loop.add_reader(fd, on_kid_exit, self, fd)
        outside = []
        for fd, kid in self.kids.items():
            try:
                in_group = os.getpgid(kid) == pid
            except OSError:
                in_group = False
            if not in_group:
                outside.append(fd)
        for s in (sig, signal.SIGCONT) if self.stopped else (sig,):
            signal_group(pid, s)
            for fd in outside:
                proctree.signal_pidfd(fd, s)
        self.stopped = False
        self.escalate_after(loop, grace)

    def escalate_after(self, loop: asyncio.AbstractEventLoop, grace: float) -> None:
        """SIGKILL to the tree in ``grace`` seconds."""
        self.timer = loop.call_later(grace, self.escalate)

    def escalate(self) -> None:
        """SIGKILL to the group (while the leader is unreaped) and to every held descendant."""
        self.timer = None
        if not self.reaped:
            signal_group(self.pid, signal.SIGKILL)
        for fd in self.kids:
            proctree.signal_pidfd(fd, signal.SIGKILL)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def stop(self) -> None:
        """SIGSTOP to the group and to the descendants that left it."""
        pid = self.pid
        signal_group(pid, signal.SIGSTOP)
        kids = proctree.descendants(pid)
        proctree.signal_all(proctree.outside_group(kids, pid), signal.SIGSTOP)
        self.stopped = True

    def cont(self, placement: Placement | None) -> None:
        """Re-pin every thread of the tree to ``placement``'s cores when it has any, then
        SIGCONT to the group and to the descendants that left it."""
        pid = self.pid
        if placement is not None and placement.cores:
            procs = proctree.tree(pid)    # the whole group too: each thread is re-pinned
            proctree.pin(procs, placement.cores)
        else:
            procs = proctree.descendants(pid)
        signal_group(pid, signal.SIGCONT)
        proctree.signal_all(proctree.outside_group(procs, pid), signal.SIGCONT)
        self.stopped = False


def signal_group(pgid: int, sig: int) -> None:
    """``killpg``, where a group already gone (or not ours any more) is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
