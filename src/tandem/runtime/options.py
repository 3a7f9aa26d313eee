"""Task options accepted by ``Session.submit`` and ``Session.execute``, and the spec they make.

Contract: one typed dictionary of options and one pure function that validates them into a
:class:`TaskSpec`; imports ``tandem.spec`` and ``tandem.errors``. An unknown option is a
:class:`SpecError` that names it (and the closest known one).
Imports: tandem.errors, tandem.runtime.future, tandem.spec.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from tandem.errors import SpecError
from tandem.spec.resources import ONE_CORE, Resources
from tandem.spec.task import TaskSpec, Work

if TYPE_CHECKING:
    from tandem.runtime.future import TaskFuture


class RunOptions(TypedDict, total=False):
    """Where and how a task runs, without what names it (the options a wrapper that names its
    own tasks passes on, as :class:`tandem.Surrogate` does). Resources: ``cores``/``gpus``/
    ``ranks``/``memory_mb`` (default one core) or a ready-made ``resources``. ``pool``: the
    resource pool it draws on (default: the session's default pool). ``by``: who submits it
    (default ``"user"``; an agent's session puts the agent's name). ``features``: numbers or
    strings that say the task's size, from which the history learns its estimate
    (:mod:`tandem.history`)."""

    cores: int
    gpus: int
    ranks: int
    memory_mb: int
    resources: Resources
    priority: int
    timeout: float
    estimate: float
    retries: int
    pool: str
    by: str
    features: Mapping[str, float | int | str]


class TaskOptions(RunOptions, total=False):
    """How to schedule a task: :class:`RunOptions`, and its ``name`` and ``kind``, ``after``
    (futures to wait for without data) and ``key`` (its identity in the journal; default:
    derived, see :mod:`tandem.journal.keys`)."""

    name: str
    kind: str
    key: str
    after: Iterable[TaskFuture]


_KNOWN = TaskOptions.__required_keys__ | TaskOptions.__optional_keys__
_RESOURCE_KEYS = ("cores", "gpus", "ranks", "memory_mb")


def build_spec(work: Work, options: Mapping[str, Any]) -> TaskSpec:
    """The :class:`TaskSpec` for ``work`` with ``options`` (``after`` is not part of it)."""
    if len(options) == 1 and "by" in options:     # every other option a default: the usual
        return TaskSpec(name=work.label, work=work, by=options["by"])
    if not _KNOWN.issuperset(options):
        for key in options:
            if key not in _KNOWN:
                close = difflib.get_close_matches(key, sorted(_KNOWN), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise SpecError(f"unknown task option {key!r}{hint} "
                                f"(options: {', '.join(sorted(_KNOWN))})")
    name = options.get("name") or work.label
    resources = options.get("resources")
    if resources is None:
        if not any(k in options for k in _RESOURCE_KEYS):
            resources = ONE_CORE
        else:
            resources = Resources(cores=options.get("cores", 1), gpus=options.get("gpus", 0),
                                  ranks=options.get("ranks", 1),
                                  memory_mb=options.get("memory_mb"))
    elif any(k in options for k in _RESOURCE_KEYS):
        raise SpecError(f"task {name!r}: give either resources= or cores=/gpus=/ranks=/memory_mb=")
    return TaskSpec(name=name, work=work, kind=options.get("kind", "task"), resources=resources,
                    priority=options.get("priority", 0), timeout=options.get("timeout"),
                    estimate=options.get("estimate"), retries=options.get("retries", 0),
                    pool=options.get("pool"), by=options.get("by", "user"),
                    key=options.get("key"), features=options.get("features"))
