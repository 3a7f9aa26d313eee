"""Start one local process from an environment encoded once (``Popen``'s own start path).

Contract: :func:`spawn` starts ``argv`` in its own session (so in its own process group too), in
``cwd``, with the descriptors ``stdin``/``stdout``/``stderr`` as 0/1/2, every other descriptor
closed, the signals Python ignores restored to their defaults, and exactly the environment ``env``
(``KEY=VALUE`` bytes), and returns its pid; it raises what ``Popen`` raises when the child cannot be
started (``FileNotFoundError`` naming the executable, or ``cwd`` when the directory change failed,
``PermissionError``, ``ValueError`` for an embedded null byte). It neither waits for nor reaps the
child. :class:`Environments` encodes an inherited environment once, and a placement's environment
once per placement, so that a task's costs only its own values. :func:`find_program` says, before
a start through a wrapper, whether ``argv[0]`` would be found.
Imports: tandem.backends.base, tandem.backends.placement, tandem.core.values, tandem.spec.

Why: ``Popen(env=mapping)`` encodes every key and value of the mapping with ``os.fsencode`` at
every start (two calls per variable) and builds a ``Popen`` object; the executable backend
starts thousands of short processes with the same inherited environment. On CPython 3.11
(the version whose ``_posixsubprocess.fork_exec`` signature this module was written against
and tested with) the child is started the way ``Popen`` starts it (``vfork`` where ``Popen``
would use it); on any other version :func:`spawn` is ``Popen`` itself.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from tandem.backends.base import LaunchRequest
from tandem.backends.placement import placement_env
from tandem.core.values import Placement, Slot
from tandem.spec.task import Executable

try:
    import _posixsubprocess
except ImportError:  # pragma: no cover - not POSIX
    _posixsubprocess = None  # type: ignore[assignment]

_TASK_KEYS = (b"TANDEM_TASK_ID", b"TANDEM_TASK_NAME", b"TANDEM_TASK_DIR", b"TANDEM_ATTEMPT",
              b"TANDEM_PREEMPTED")
_PLACEMENT_KEYS = frozenset(os.fsencode(k) for k in placement_env(
    Placement(slots=(Slot(node="n", cores=(0,), gpus=()),))))
_PLACED_KEPT = 1024   # placements whose environment is kept encoded
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
FAST = _posixsubprocess is not None and sys.version_info[:2] == (3, 11)
_EXEC_CACHE_MAX = 256
_exec_cache: dict[tuple[str, bytes | None], tuple[bytes, ...]] = {}


def _encode(env: dict[str, str]) -> list[bytes]:
    fsencode = os.fsencode
    return [fsencode(k) + b"=" + fsencode(v) for k, v in env.items()]


def env_path(env: Sequence[bytes]) -> bytes | None:
    """The value of ``PATH`` in an environment list (``None`` when it has none)."""
    for entry in env:
        if entry.startswith(b"PATH="):
            return entry[5:]
    return None


def _executables(argv0: str, path: bytes | None) -> tuple[bytes, ...]:
    """Where the child tries ``argv0``: itself when it names a directory, else each entry of
    ``path`` (``os.defpath`` when unset), as ``Popen`` does."""
    key = (argv0, path)
    found = _exec_cache.get(key)
    if found is None:
        exe = os.fsencode(argv0)
        if os.path.dirname(exe):
            found = (exe,)
        else:
            dirs = (path if path is not None else os.fsencode(os.defpath)).split(b":")
            found = tuple(os.path.join(d, exe) for d in dirs)
        if len(_exec_cache) >= _EXEC_CACHE_MAX:
            _exec_cache.clear()
        _exec_cache[key] = found
    return found


def find_program(argv0: str, path: bytes | None, cwd: str) -> None:
    """Raise what starting ``argv0`` in ``cwd`` would (``FileNotFoundError``,
    ``PermissionError``, naming it) when no executable file is found where the child would try
    it; a backend that starts ``argv0`` through a wrapper (:mod:`tandem.backends.memory`) checks
    first, so that a missing program is still a launch failure."""
    denied = False
    base = os.fsencode(cwd)
    for candidate in _executables(argv0, path):
        candidate = os.path.join(base, candidate)   # a relative one is tried from cwd
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return
            denied = True
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), argv0)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv0)


def spawn(argv: Sequence[str], env: list[bytes], cwd: str, stdin: int, stdout: int,
          stderr: int, path: bytes | None) -> int:
    """Start ``argv`` (see the module docstring); ``path`` is ``env``'s ``PATH`` value
    (:func:`env_path`), where an ``argv[0]`` without a directory is looked for."""
    if not FAST:
        return _popen(argv, env, cwd, stdin, stdout, stderr)
    args = list(argv)
    argv0 = args[0]
    sys.audit("subprocess.Popen", argv0, args, cwd, env)
    errpipe_read, errpipe_write = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            pid = _posixsubprocess.fork_exec(
                args, _executables(argv0, path), True, (errpipe_write,), cwd, env,
                stdin, -1, -1, stdout, -1, stderr, errpipe_read, errpipe_write,
                True, True, -1, None, None, None, -1, None, True)  # type: ignore[arg-type]
        finally:
            os.close(errpipe_write)
        data = os.read(errpipe_read, 50000)  # end of file once the child has exec'd
        if data:
            while part := os.read(errpipe_read, 50000):
                data += part
    finally:
        os.close(errpipe_read)
    if data:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise _child_error(data, argv0, cwd)
    return pid


class Environments:
    """Task environments from an inherited one encoded once (see :meth:`of`)."""

    __slots__ = ("_base", "_base_list", "_by_placement", "_path")

    def __init__(self, environ: Mapping[bytes, bytes]) -> None:
        # what every launch sets itself is left out (the later value won)
        self._base = {k: v for k, v in environ.items()
                      if k not in _TASK_KEYS and k not in _PLACEMENT_KEYS}
        self._base_list = [k + b"=" + v for k, v in self._base.items()]
        self._path = environ.get(b"PATH")
        self._by_placement: dict[tuple[object, ...], list[bytes]] = {}

    def of(self, request: LaunchRequest, work: Executable) -> tuple[list[bytes], bytes | None]:
        """The task's environment as ``KEY=VALUE`` bytes, and its ``PATH``: the inherited one
        (encoded once), its placement's (once per placement), the task's own ``env`` and the
        ``TANDEM_*`` variables of this attempt, each overriding the ones before it."""
        placement, shared = request.placement, request.shared_cores
        slot = placement.slots[0]
        key = (slot.cores, slot.gpus, slot.node, shared)
        placed = self._by_placement.get(key)
        if placed is None:
            if len(self._by_placement) >= _PLACED_KEPT:
                self._by_placement.clear()
            placed = self._by_placement[key] = _encode(placement_env(placement, shared))
        ours = [b"TANDEM_TASK_ID=%d" % request.task_id,
                b"TANDEM_TASK_NAME=" + request.name.encode(_FS_ENCODING, _FS_ERRORS),
                b"TANDEM_TASK_DIR=" + request.workdir.encode(_FS_ENCODING, _FS_ERRORS),
                b"TANDEM_ATTEMPT=%d" % request.attempt,
                b"TANDEM_PREEMPTED=%d" % request.preempted]
        if not work.env:
            return self._base_list + placed + ours, self._path
        fsencode = os.fsencode
        env = dict(self._base)
        for entry in placed:
            name, _, value = entry.partition(b"=")
            env[name] = value
        for k, v in work.env.items():
            kb = fsencode(k)
            if b"=" in kb:
                raise ValueError("illegal environment variable name")
            env[kb] = fsencode(v)
        for kb in _TASK_KEYS:
            env.pop(kb, None)
        env_list = [k + b"=" + v for k, v in env.items()] + ours
        return env_list, env_path(env_list)


def _child_error(data: bytes, argv0: str, cwd: str) -> BaseException:
    """The exception ``Popen`` raises for what the child wrote on its error pipe."""
    try:
        name, hex_errno, raw = data.split(b":", 2)
        msg = raw.decode()
    except ValueError:
        return OSError(f"bad exception data from child: {data!r}")
    etype = getattr(builtins, name.decode("ascii", "replace"), None)
    if isinstance(etype, type) and issubclass(etype, OSError) and hex_errno:
        errno = int(hex_errno, 16)
        filename = cwd if msg == "noexec" else argv0  # "noexec": chdir(cwd) failed
        return etype(errno, os.strerror(errno) if errno else "", filename)
    if isinstance(etype, type) and issubclass(etype, Exception):
        return etype(msg)
    return OSError(msg)


def _popen(argv: Sequence[str], env: list[bytes], cwd: str, stdin: int, stdout: int,
           stderr: int) -> int:
    mapping = dict(entry.split(b"=", 1) for entry in env)
    proc = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
                            env=mapping, close_fds=True, start_new_session=True)
    proc.returncode = 0  # the caller reaps it (no ResourceWarning when the object goes)
    return proc.pid
