"""Tests of starting a process from an environment encoded once (tandem.backends.spawn)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.backends import spawn
from tandem.backends.base import LaunchRequest
from tandem.core.values import Placement, Slot
from tandem.spec.task import Executable

CPU0 = Placement(slots=(Slot(node="n", cores=(0,), gpus=("1",)),))


def request(env: dict[str, str], *, attempt: int = 1) -> LaunchRequest:
    return LaunchRequest(task_id=7, name="job", kind="task",
                         work=Executable(argv=("x",), env=env), placement=CPU0,
                         workdir="/run/tasks/000007-job", attempt=attempt)


def as_dict(env: list[bytes]) -> dict[bytes, bytes]:
    pairs = [entry.split(b"=", 1) for entry in env]
    assert len({k for k, _ in pairs}) == len(pairs), "a variable is set twice"
    return dict(pairs)   # type: ignore[arg-type]


def test_environment_layers_override_in_order() -> None:
    inherited = {b"HOME": b"/h", b"PATH": b"/bin", b"OMP_NUM_THREADS": b"64",
                 b"TANDEM_ATTEMPT": b"5"}
    envs = spawn.Environments(inherited)
    env, path = envs.of(request({}, attempt=2), Executable(argv=("x",)))
    d = as_dict(env)
    assert path == b"/bin"
    assert d[b"HOME"] == b"/h" and d[b"OMP_NUM_THREADS"] == b"1"
    assert d[b"CUDA_VISIBLE_DEVICES"] == b"1" and d[b"TANDEM_CORES"] == b"0"
    assert d[b"TANDEM_ATTEMPT"] == b"2" and d[b"TANDEM_TASK_ID"] == b"7"
    assert d[b"TANDEM_TASK_DIR"] == b"/run/tasks/000007-job"
    # the task's env overrides the inherited and the placement's, never tandem's own
    work = Executable(argv=("x",), env={"PATH": "/opt", "OMP_NUM_THREADS": "4",
                                        "TANDEM_TASK_ID": "0", "NEW": "é"})
    env, path = envs.of(request(dict(work.env)), work)
    d = as_dict(env)
    assert path == b"/opt" and d[b"PATH"] == b"/opt"
    assert d[b"OMP_NUM_THREADS"] == b"4" and d[b"TANDEM_TASK_ID"] == b"7"
    assert d[b"NEW"] == "é".encode() and d[b"HOME"] == b"/h"


@pytest.mark.parametrize("fast", [True, False])
def test_spawn_runs_in_its_group_with_exactly_its_environment(
        tmp_path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if fast and not spawn.FAST:
        pytest.skip("the fork_exec path is not used on this Python")
    monkeypatch.setattr(spawn, "FAST", fast)
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_w, True)   # still closed in the child
    try:
        env = [b"ONLY=1", b"PATH=/usr/bin:/bin"]
        pid = spawn.spawn(["sh", "-c", 'echo "$ONLY $(env | wc -l) $(pwd)"; '
                           'ps -o pgid= -p $$; ls /proc/$$/fd | wc -l'],
                          env, str(tmp_path), null, out, out, spawn.env_path(env))
        _, status = os.waitpid(pid, 0)
    finally:
        for fd in (out, null, leak_r, leak_w):
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = (tmp_path / "out").read_text().split("\n")
    only, count, cwd = lines[0].split()
    assert only == "1" and cwd == str(tmp_path)
    assert int(count) <= 5     # ONLY, PATH and what sh sets itself (PWD, SHLVL, _)
    assert int(lines[1]) == pid                       # its own process group
    assert int(lines[2]) <= 4                          # 0, 1, 2 (and ls's own)


@pytest.mark.parametrize("fast", [True, False])
def test_spawn_raises_what_popen_raises(tmp_path: Path, fast: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if fast and not spawn.FAST:
        pytest.skip("the fork_exec path is not used on this Python")
    monkeypatch.setattr(spawn, "FAST", fast)
    env = [b"PATH=/usr/bin:/bin"]
    with pytest.raises(FileNotFoundError) as missing:
        spawn.spawn(["no-such-program-here"], env, str(tmp_path), 0, 1, 2, b"/usr/bin:/bin")
    assert missing.value.filename == "no-such-program-here"
    with pytest.raises(FileNotFoundError) as no_dir:
        spawn.spawn(["/bin/true"], env, str(tmp_path / "gone"), 0, 1, 2, None)
    assert no_dir.value.filename == str(tmp_path / "gone")
    with pytest.raises(PermissionError):
        spawn.spawn([str(tmp_path)], env, str(tmp_path), 0, 1, 2, None)
    with pytest.raises(ValueError):
        spawn.spawn(["/bin/true\0"], env, str(tmp_path), 0, 1, 2, None)
