"""What a surrogate records: one frozen value per decision, audit, retraining and swap, and
the JSONL file they are written to (``<run_dir>/<name>.jsonl``, one object per line).

Contract: the record types, :class:`SurrogateLog` (appends records to the file and keeps them
in memory, in order; flushed by the session's instrument hooks and at close) and
:func:`read_log` (the records of a file, as the same types). Every line has ``"event"``
(``start``, ``call``, ``audit``, ``audit_failed``, ``retrain``, ``swap``, ``retrain_failed``)
and ``"t"``, the session's clock (virtual seconds on virtual time).
Imports: tandem.errors, tandem.trace.instrument.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from tandem.errors import SpecError
from tandem.trace.instrument import Instrument


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    """A surrogate began: its bound and its kind (absolute or relative)."""

    event: ClassVar[str] = "start"
    t: float
    name: str
    bound: float
    relative: bool
    setpoint: float
    threshold: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One call's decision: ``surrogate`` (the model's answer, ``audited`` or not) or ``real``
    (the function ran as task ``task``); the uncertainty and threshold it was decided on
    (``None`` before any model) and the model version that decided."""

    event: ClassVar[str] = "call"
    t: float
    call: int
    decision: str
    uncertainty: float | None
    threshold: float | None
    version: int
    audited: bool = False
    task: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit:
    """An audited answer's measured error, and the threshold and windowed error after it."""

    event: ClassVar[str] = "audit"
    t: float
    call: int
    error: float
    threshold: float
    task: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFailed:
    """An audit's real function failed (the answer was returned already; nothing measured)."""

    event: ClassVar[str] = "audit_failed"
    t: float
    call: int
    task: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Retrain:
    """A retraining task was submitted: the version it makes, on how many pairs, and why
    (``data``: new pairs; ``error``: audited error above the bound; ``first``)."""

    event: ClassVar[str] = "retrain"
    t: float
    version: int
    pairs: int
    trigger: str
    task: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Swap:
    """A new model version serves the calls from now on."""

    event: ClassVar[str] = "swap"
    t: float
    version: int
    pairs: int
    fit_seconds: float
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrainFailed:
    """A retraining task failed; the version before it keeps serving."""

    event: ClassVar[str] = "retrain_failed"
    t: float
    version: int
    task: int
    reason: str


Record = Started | Call | Audit | AuditFailed | Retrain | Swap | RetrainFailed
TYPES: dict[str, type[Record]] = {c.event: c for c in (Started, Call, Audit, AuditFailed,
                                                         Retrain, Swap, RetrainFailed)}


_FIELDS: dict[type, tuple[str, ...]] = {}


def to_fields(r: Record) -> dict[str, Any]:
    """``r`` as a JSON-ready mapping (its ``event`` first)."""
    names = _FIELDS.get(type(r))
    if names is None:
        names = _FIELDS[type(r)] = tuple(f.name for f in dataclasses.fields(r))
    out: dict[str, Any] = {"event": r.event}
    for n in names:          # the values are numbers, strings and booleans: no deep copy
        out[n] = getattr(r, n)
    return out


def to_json(r: Record) -> str:
    return json.dumps(to_fields(r), separators=(",", ":"))


_OPEN: set[Path] = set()     # the logs open in this process


class SurrogateLog(Instrument):
    """The records of one surrogate, in memory and in ``path`` (appended). As an instrument of
    the session it flushes with the trace and closes when the run ends. One log per file at a
    time: a second surrogate of the same name in a run is refused. ``note``: also hand every
    record to the run's trace (``Session.note("surrogate", {...})``, the surrogate's name in
    its ``surrogate`` field)."""

    def __init__(self, path: Path, name: str,
                 on_close: Callable[[list[Record]], None] | None = None,
                 note: Callable[[str, Mapping[str, Any]], None] | None = None) -> None:
        self.path = path.resolve()
        self.name = name
        self._on_close = on_close
        self._note = note
        if self.path in _OPEN:
            raise SpecError(f"surrogate {name!r}: this run has a surrogate of that name "
                            "already (give each its own name=)")
        self.records: list[Record] = []
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115
        _OPEN.add(self.path)

    def write(self, record: Record) -> None:
        self.records.append(record)
        fields = to_fields(record)
        if self._file is not None:
            self._file.write(json.dumps(fields, separators=(",", ":")) + "\n")
        if self._note is not None:
            fields["surrogate"] = self.name
            self._note("surrogate", fields)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def run_ended(self, now: float) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            _OPEN.discard(self.path)
            if self._on_close is not None:
                self._on_close(self.records)


def read_log(path: str | Path) -> list[Record]:
    """The records in a surrogate's JSONL file (every run appended to it, in order)."""
    out: list[Record] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d: dict[str, Any] = json.loads(line)
                cls = TYPES[d.pop("event")]
                out.append(cls(**d))
            except (ValueError, KeyError, TypeError) as e:
                raise SpecError(f"{path}:{n}: not a surrogate record ({e})") from None
    return out
