"""A Slurm allocation as a :class:`~tandem.spec.platform.Platform`: its nodes, the CPU ids, GPU
ids and memory the job holds on each, and when it ends.

Contract: :func:`parse_job` is pure (the text of ``scontrol show job -d`` in, an
:class:`Allocation` out) and :func:`expand_hostlist` expands Slurm's compressed host lists
(``n[1-3,7]``, ``rack[1-2]-gpu[01-04]``); :func:`read_allocation` is the only function that talks
to Slurm (it runs ``scontrol``). Errors are :class:`~tandem.errors.SpecError` saying what Slurm
returned.
Imports: tandem.errors. (:meth:`Platform.from_slurm
<tandem.spec.platform.Platform.from_slurm>` turns an allocation into a platform.)

What is read, per node, from the job's detail lines (``Nodes=n[1-2] CPU_IDs=0-3 Mem=4000
GRES=gpu:2(IDX:0-1)``): ``CPU_IDs`` become the node's core ids, the ``IDX`` of its ``gpu`` GRES
its GPU ids (what a step's ``CUDA_VISIBLE_DEVICES`` names when the cluster does not constrain
devices), ``Mem`` its memory in MB; ``EndTime`` becomes :attr:`Allocation.ends_at` (``None`` for
an allocation without a time limit). ``CPU_IDs`` are Slurm's CPU ids of the node; they are the
OS ids that ``sched_setaffinity`` and ``--cpu-bind=map_cpu`` take on nodes whose CPUs Slurm
numbers like the kernel (one thread per core, or ``CpuSpecList``-free nodes numbered in order;
docs/slurm.md says how to check a site).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from tandem.errors import SpecError

_DETAIL = re.compile(r"^\s*Nodes=(\S+)\s+CPU_IDs=(\S*)\s+Mem=(\d+)(?:\s+GRES=(\S*))?", re.M)
_GPU_IDX = re.compile(r"(?:^|,)gpu(?::[^:(,]+)?:\d+\(IDX:([^)]*)\)")
_SCONTROL_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeShare:
    """What the job holds on one node: CPU ids, GPU ids, memory in MB (``None``: unknown)."""

    name: str
    cores: tuple[int, ...]
    gpus: tuple[str, ...] = ()
    memory_mb: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """What a Slurm job holds: ``nodes`` (each with the CPU ids, GPU ids and memory the job was
    given there), and ``ends_at``, the end of its time limit as a Unix time (``None``: no
    limit)."""

    job_id: str
    nodes: tuple[NodeShare, ...]
    ends_at: float | None = None

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)


def expand_hostlist(text: str) -> tuple[str, ...]:
    """Slurm's compressed host list as names, in order: ``n[1-2],gpu07`` is
    ``("n1", "n2", "gpu07")``; zero padding is kept (``n[08-10]``)."""
    names: list[str] = []
    for item in _split_top(text.strip()):
        if item:
            names.extend(_expand_one(item))
    return tuple(names)


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise SpecError(f"Slurm host list {text!r}: unbalanced ']'")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise SpecError(f"Slurm host list {text!r}: unbalanced '['")
    parts.append(text[start:])
    return parts


def _expand_one(item: str) -> list[str]:
    open_at = item.find("[")
    if open_at < 0:
        return [item]
    close_at = item.index("]", open_at)
    prefix, ranges, rest = item[:open_at], item[open_at + 1:close_at], item[close_at + 1:]
    tails = _expand_one(rest) if rest else [""]
    out: list[str] = []
    for part in ranges.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise SpecError(f"Slurm host list {item!r}: cannot read range {part!r}")
        width = len(lo)
        for n in range(int(lo), int(hi if sep else lo) + 1):
            out.extend(f"{prefix}{n:0{width}d}{tail}" for tail in tails)
    return out


def _expand_ids(text: str, where: str) -> tuple[int, ...]:
    ids: list[int] = []
    for part in filter(None, text.split(",")):
        lo, sep, hi = part.partition("-")
        try:
            ids.extend(range(int(lo), int(hi if sep else lo) + 1))
        except ValueError:
            raise SpecError(f"{where}: cannot read id range {part!r}") from None
    return tuple(ids)


def _field(text: str, name: str) -> str | None:
    m = re.search(rf"(?:^|\s){re.escape(name)}=(\S*)", text)
    return m.group(1) if m else None


def parse_job(text: str, job_id: str = "") -> Allocation:
    """The allocation described by ``scontrol show job -d <id>``'s output."""
    jid = _field(text, "JobId") or job_id
    where = f"Slurm job {jid}"
    state = _field(text, "JobState")
    if state is not None and state != "RUNNING":
        raise SpecError(f"{where} is {state}, not RUNNING: tandem runs inside a running "
                        "allocation (salloc, sbatch)")
    nodes: list[NodeShare] = []
    for m in _DETAIL.finditer(text):
        hosts, cpus, mem, gres = m.group(1), m.group(2), int(m.group(3)), m.group(4) or ""
        cores = _expand_ids(cpus, f"{where}, nodes {hosts}")
        gpu = _GPU_IDX.search(gres)
        gpus = tuple(map(str, _expand_ids(gpu.group(1), f"{where}, GRES {gres}"))) if gpu else ()
        for host in expand_hostlist(hosts):
            nodes.append(NodeShare(name=host, cores=cores, gpus=gpus, memory_mb=mem or None))
    if not nodes:
        raise SpecError(f"{where}: scontrol gave no per-node allocation (no 'Nodes=... "
                        f"CPU_IDs=...' line; was it run with -d?): {text.strip()[:300]!r}")
    return Allocation(job_id=jid, nodes=tuple(nodes), ends_at=_end_time(_field(text, "EndTime")))


def _end_time(value: str | None) -> float | None:
    if not value or value in ("Unknown", "None", "N/A"):
        return None
    try:
        # scontrol prints local time without a zone
        return _dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise SpecError(f"Slurm EndTime {value!r} is not a time tandem can read") from None


def in_allocation(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` is that of a process inside a Slurm allocation that tandem should
    use by default: ``SLURM_JOB_ID`` is set and ``TANDEM_SLURM`` is not ``0``."""
    return bool(environ.get("SLURM_JOB_ID")) and environ.get("TANDEM_SLURM", "1") != "0"


def read_allocation(job_id: str | None = None, *, scontrol: str = "scontrol") -> Allocation:
    """The allocation of ``job_id`` (default: ``$SLURM_JOB_ID``, the job this process runs
    in), read with ``scontrol show job -d``."""
    jid = job_id or os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID")
    if not jid:
        raise SpecError("Platform.from_slurm: SLURM_JOB_ID is not set: run inside an "
                        "allocation (salloc, sbatch), or name the job")
    try:
        out = subprocess.run([scontrol, "show", "job", "-d", jid], capture_output=True,
                             text=True, timeout=_SCONTROL_TIMEOUT, check=False)
    except FileNotFoundError:
        raise SpecError(f"Platform.from_slurm: {scontrol!r} not found: Slurm's client "
                        "commands must be on PATH") from None
    except subprocess.TimeoutExpired:
        raise SpecError(f"Platform.from_slurm: 'scontrol show job -d {jid}' did not answer "
                        f"within {_SCONTROL_TIMEOUT:.0f} s (is slurmctld up?)") from None
    if out.returncode != 0:
        raise SpecError(f"Platform.from_slurm: 'scontrol show job -d {jid}' failed "
                        f"(exit {out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    return parse_job(out.stdout, jid)
