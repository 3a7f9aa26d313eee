"""A session's journal at work: keys for its submissions, what it restores, what it records.

Contract: :class:`Durable` is the driver's journal keeper. At each submission it gives the
task its key and digest (:mod:`tandem.journal.keys`, set on the future), decides whether the
journal of an earlier run lets it be restored (finished with a stored result, the same
digest, every dependency done now) and with which value, which directory it reuses and how
many attempts and preemptions it already had. As an instrument it records launches and ends
(reading the core's task views, like the trace) and writes them to the journal
(:mod:`tandem.journal.store`) at the driver's flush, so the hot path only appends to lists.
A result kept by reference is copied into the journal on a thread of its own, off the loop
(the segment stays alive until its copy is done); its row is written when the copy is, and
``sync``/``close`` wait for the copies. It keeps agents' saved states. On resume (or over an
earlier campaign's journal, which the journal moves aside) it moves the previous run's
``trace.jsonl`` aside too (``trace.<n>.jsonl``): each run has its own trace, none is
overwritten.
Imports: tandem.core.actions, tandem.core.states, tandem.core.view, tandem.data.refs,
tandem.journal.keys, tandem.journal.results, tandem.journal.store, tandem.runtime.future,
tandem.runtime.workdirs, tandem.spec.platform, tandem.spec.task, tandem.trace.instrument.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tandem.core.actions import Launch
from tandem.core.states import DONE, FINAL, TaskState
from tandem.core.view import TaskView
from tandem.data.refs import DataRef
from tandem.journal import results
from tandem.journal.keys import Keys
from tandem.journal.store import Entry, Journal, aside
from tandem.runtime.future import TaskFuture
from tandem.runtime.workdirs import WorkDirs
from tandem.spec.platform import Platform
from tandem.spec.task import Executable, FunctionCall, TaskSpec
from tandem.trace.instrument import Instrument

log = logging.getLogger("tandem")

TRACE_FILE = "trace.jsonl"
_CHANGED_SHOWN = 5      # changed tasks named one by one; the rest are counted


def _future_key(obj: object) -> str | None:
    return obj.key if type(obj) is TaskFuture else None


class Durable(Instrument):
    """The journal keeper of one driver (see the module docstring)."""

    def __init__(self, run_dir: Path, *, resume: bool) -> None:
        self.run_dir = run_dir
        self.journal = Journal(run_dir, resume=resume)
        self.run = self.journal.run
        # What earlier runs left: read while the session starts (see :meth:`_earlier`).
        self._previous: dict[str, Entry] | None = None if self.journal.resumed else {}
        if self.journal.set_aside is not None:
            log.warning("tandem: %s held the journal of an earlier campaign: it is kept as %s "
                        "and this run starts a new one (open the session with resume=True to "
                        "continue a campaign instead)", run_dir, self.journal.set_aside.name)
        if (run_dir / TRACE_FILE).exists() and (resume or self.journal.set_aside is not None):
            aside(run_dir / TRACE_FILE)
        self._keys = Keys(_future_key)
        self._tasks: Mapping[int, TaskView] = {}
        self._live: dict[int, str] = {}               # submitted, not ended: id -> key
        self._base: dict[int, tuple[int, int]] = {}   # attempts, preemptions of earlier runs
        self._launched: list[tuple[int, int]] = []    # (id, attempt) since the last flush
        self._ended: list[tuple[int, results.Stored | _Copy | None]] = []
        self._copier: concurrent.futures.ThreadPoolExecutor | None = None
        self._copying: dict[_Copy, tuple[Any, ...] | None] = {}   # copy -> its row, once made
        self._loop: asyncio.AbstractEventLoop | None = None
        self._texts: dict[int, tuple[object, str]] = {}
        self.restored = 0
        self.changed: list[str] = []        # keys that run again: their digest changed
        self.unreadable: list[str] = []     # keys that run again: their result is unreadable

    @property
    def resumed(self) -> bool:
        """Whether the run directory held a journal of an earlier run."""
        return self.journal.resumed

    # -- submissions -----------------------------------------------------------------------
    def admit(self, task_id: int, spec: TaskSpec, future: TaskFuture,
              deps: Sequence[TaskFuture], workdirs: WorkDirs, now: float) -> tuple[bool, Any]:
        """Key the submission ``future``; return whether it is restored, and its value. A
        task the journal knows keeps its directory (pinned in ``workdirs``)."""
        if deps:
            key, digest = self._keys.of(spec, [d.digest for d in deps if d.digest is not None])
        else:
            key, digest = self._keys.of(spec)
        future.key, future.digest = key, digest
        earlier = self._previous if self._previous is not None else self._earlier()
        # Each key is asked once in a run (keys are unique in it): what an earlier run left
        # of it is dropped as it is taken, so a resumed campaign does not hold it twice.
        prev = earlier.pop(key, None) if earlier else None
        if prev is not None:
            if prev.digest != digest:
                self._changed(spec, key)
            elif prev.state == "done" and (prev.blob is not None or prev.file is not None) \
                    and (not deps or all(d.done() and d.state is DONE for d in deps)):
                value = self._load(prev)
                if value is not _UNREADABLE:
                    self.restored += 1
                    return True, value
            if prev.attempts or prev.preempted:
                self._base[task_id] = (prev.attempts, prev.preempted)
        self._live[task_id] = key
        name = spec.name
        if prev is None or prev.workdir is None:
            path = workdirs.path(task_id, name)
        else:
            path = prev.workdir
            workdirs.pin(task_id, path)
        attempts, preempted = self._base.get(task_id, _NONE) if self._base else _NONE
        self.journal.submitted(key, name, spec.kind, digest, attempts, preempted, path, now)
        return False, None

    def _earlier(self) -> dict[str, Entry]:
        self._previous = self.journal.entries()
        return self._previous

    def _load(self, prev: Entry) -> Any:
        blob = prev.blob
        if blob == results.NONE_BLOB:
            return None
        try:
            if blob is not None:
                return pickle.loads(blob)
            return results.load(results.Stored(file=prev.file), self.run_dir, prev.key)
        except Exception as e:   # an unreadable result: the task runs again
            self.unreadable.append(prev.key)
            if len(self.unreadable) <= _CHANGED_SHOWN:
                log.warning("tandem: the stored result of task %r (key %s) cannot be read "
                            "(%s: %s); the task runs again", prev.name, prev.key,
                            type(e).__name__, e)
            return _UNREADABLE

    def _changed(self, spec: TaskSpec, key: str) -> None:
        self.changed.append(key)
        if len(self.changed) <= _CHANGED_SHOWN:
            log.warning("tandem: task %r (key %s) changed since the journal's run %s (its code, "
                        "arguments, environment or a dependency): it runs again", spec.name,
                        key, self.run_dir)

    def offsets(self, task_id: int) -> tuple[int, int]:
        """Attempts and preemptions task ``task_id`` had in earlier runs."""
        return self._base.get(task_id, _NONE) if self._base else _NONE

    def resolved(self, task_id: int, spec: TaskSpec, state: TaskState, value: Any) -> None:
        """Task ``task_id`` reached the final ``state`` with ``value`` (its result if done)."""
        key = self._live.get(task_id)
        if key is None:
            return
        stored: results.Stored | _Copy | None = None
        if state is DONE:
            work = spec.work
            if type(value) is DataRef:
                stored = self._copy(value, spec.name, key)
            elif type(work) is FunctionCall or type(work) is Executable:
                stored, why = results.store(value, self.run_dir, key, self.run)
                if stored is None:
                    _not_stored(spec.name, key, why)
            else:
                stored = results.NOTHING
        self._ended.append((task_id, stored))

    def _copy(self, ref: DataRef, name: str, key: str) -> _Copy:
        """Start copying a kept result into the journal, off the loop."""
        if self._copier is None:
            self._copier = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="tandem-journal-copy")
            self._loop = asyncio.get_running_loop()
        fut = self._copier.submit(results.store, ref, self.run_dir, key, self.run)
        copy = _Copy(fut, name, key)
        self._copying[copy] = None
        loop = self._loop
        assert loop is not None

        def done(_: object) -> None:
            with contextlib.suppress(RuntimeError):   # the loop closed: close() wrote it
                loop.call_soon_threadsafe(self._copied)
        fut.add_done_callback(done)
        return copy

    def _copied(self) -> None:
        """(On the loop.) Write the rows of the copies done so far."""
        wrote = False
        for copy, row in list(self._copying.items()):
            if row is not None and copy.future.done():
                del self._copying[copy]
                self._write(row, copy.result())
                wrote = True
        if wrote:
            self.journal.flush()

    def _write(self, row: tuple[Any, ...], stored: results.Stored | None) -> None:
        key, state, attempts, preempted, placement, failure, launched, ended = row
        self.journal.ended(key, state, attempts, preempted, placement, failure, stored,
                           launched, ended)

    # -- instrument hooks ------------------------------------------------------------------
    def bind(self, tasks: Mapping[int, TaskView],
             pools: Callable[[], Mapping[str, Any]]) -> None:
        self._tasks = tasks

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        self.journal.start()
        self.journal.clock(now, epoch)

    def task_launched(self, launch: Launch, now: float) -> None:
        if launch.task_id in self._live:
            self._launched.append((launch.task_id, launch.attempt))

    def flush(self) -> None:
        tasks, live, journal = self._tasks, self._live, self.journal
        launched, self._launched = self._launched, []
        for tid, attempt in launched:
            t = tasks.get(tid)
            if t is None or t.launched is None or t.state in FINAL:
                continue     # ended by now: its row says where it ran
            base = self._base.get(tid)
            journal.launched(live.get(tid) or "?", attempt + (base[0] if base else 0),
                             t.launched, self._placement(t))
        ended, self._ended = self._ended, []
        for tid, stored in ended:
            t = tasks[tid]
            key = live.pop(tid)
            a, p = self._base.pop(tid, _NONE) if self._base else _NONE
            f = t.failure
            failure = None if f is None else f"{f.kind.value}: {f.message}"
            row = (key, t.state.value, t.attempt + a, t.preempted + p, self._placement(t),
                   failure, t.launched, t.ended if t.ended is not None else t.submitted)
            if type(stored) is _Copy:
                if not stored.future.done():
                    self._copying[stored] = row     # written when the copy is (_copied)
                    continue
                del self._copying[stored]
                stored = stored.result()
            self._write(row, stored)  # type: ignore[arg-type]
        journal.flush()

    def sync(self) -> None:
        """Write everything recorded so far to the journal file, and wait until it is there
        (a task that ended before the call is then restored by a resumed run, whatever kills
        this one)."""
        self.flush()
        self._wait_copies()
        self.journal.sync()

    def run_ended(self, now: float) -> None:
        self.close()

    def close(self, summary: str | None = None) -> None:
        """Write the rest and close the journal."""
        self.flush()
        self._wait_copies()
        if self._copier is not None:
            self._copier.shutdown()
            self._copier = None
        self.journal.close(summary)

    def _wait_copies(self) -> None:
        """Wait for the copies under way and write their rows."""
        for copy, row in list(self._copying.items()):
            if row is not None:
                del self._copying[copy]
                self._write(row, copy.result())

    # -- agents ----------------------------------------------------------------------------
    def agent_states(self) -> dict[str, bytes]:
        """Each agent's state as saved by earlier runs (pickled)."""
        return self.journal.agent_states()

    def save_agent(self, name: str, state: bytes) -> None:
        self.journal.agent_state(name, state, time.time())


    def _placement(self, t: TaskView) -> str | None:
        """The placement's JSON text (made once per placement object: the pool shares them)."""
        p = t.placement
        if p is None:
            return None
        hit = self._texts.get(id(p))
        if hit is not None and hit[0] is p:
            return hit[1]
        if len(self._texts) > 4096:
            self._texts.clear()
        text = json.dumps([[s.node, list(s.cores), list(s.gpus)] for s in p.slots])
        self._texts[id(p)] = (p, text)
        return text


class _Copy:
    """A kept result being copied into the journal (see :meth:`Durable._copy`)."""

    __slots__ = ("future", "key", "name")

    def __init__(self, future: concurrent.futures.Future[tuple[results.Stored | None, str]],
                 name: str, key: str) -> None:
        self.future = future
        self.name = name
        self.key = key

    def result(self) -> results.Stored | None:
        """What the copy stored (``None``, said on the log, if it could not)."""
        try:
            stored, why = self.future.result()
        except Exception as e:          # the copy thread raised: say so, do not store
            stored, why = None, f"{type(e).__name__}: {e}"
        if stored is None:
            _not_stored(self.name, self.key, why)
        return stored


def _not_stored(name: str, key: str, why: str) -> None:
    log.warning("tandem: task %r (key %s) is not stored in the journal: %s; a resumed run runs "
                "it again", name, key, why)


_UNREADABLE = object()
_NONE = (0, 0)       # no attempts, no preemptions in earlier runs
