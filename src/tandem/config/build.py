"""Turn a validated :class:`~tandem.config.schema.WorkflowModel` into spec values.

Contract: checks the rules that span keys (``command`` or ``function``, ``jitter`` with a plain
duration, unique names, known dependencies, no cycles, requests that fit the platform) and
builds :class:`~tandem.spec.workflow.Workflow`; every :class:`~tandem.errors.SpecError` a spec
constructor raises is re-raised with the file, line and key path of what caused it. Importing a
``function:`` reference is the only side effect.
Imports: tandem.config.marks, tandem.config.schema, tandem.errors, tandem.spec.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any, cast

from tandem.config.marks import Marks, show
from tandem.config.schema import DurationModel, PlatformModel, TaskSetModel, WorkflowModel
from tandem.errors import InfeasibleRequest, SpecError
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota, partition
from tandem.spec.resources import Resources
from tandem.spec.task import Executable, FunctionCall, Work
from tandem.spec.workflow import MAX_TASKS, Duration, SurrogatePlan, TaskSet, Workflow

Loc = tuple[str | int, ...]


def build_workflow(model: WorkflowModel, marks: Marks, *, default_name: str) -> Workflow:
    """The :class:`Workflow` that ``model`` (read from the file ``marks`` describes) stands for."""
    platform = _platform(model.platform, marks)
    first: dict[str, int] = {}
    for i, ts in enumerate(model.task_sets):
        if ts.name in first:
            j = first[ts.name]
            raise marks.error(("task_sets", i, "name"), f"task set {show(ts.name)} is defined "
                              f"twice (first as task_sets[{j}], line "
                              f"{marks.line(('task_sets', j))})")
        first[ts.name] = i
    _check_dependencies(model.task_sets, marks)
    pools = _pools(model, platform, marks)
    sets = [_task_set(ts, ("task_sets", i), platform, marks)
            for i, ts in enumerate(model.task_sets)]
    try:
        return Workflow(name=model.name or default_name, platform=platform,
                        task_sets=tuple(sets), mode=model.mode, time_scale=model.time_scale,
                        pools=pools)
    except SpecError as e:   # every rule is checked above; this is a safety net
        raise marks.error((), str(e)) from None


def _pools(model: WorkflowModel, platform: Platform, marks: Marks) -> dict[str, Quota]:
    pools = {name: Quota(cores=p.cores, gpus=p.gpus) for name, p in (model.pools or {}).items()}
    try:
        known = partition(platform, pools)
    except SpecError as e:
        raise marks.error(("pools",), str(e)) from None
    for i, ts in enumerate(model.task_sets):
        if ts.pool is not None and ts.pool not in known:
            close = difflib.get_close_matches(ts.pool, list(known), n=1)
            hint = f"; did you mean {show(close[0])}?" if close else ""
            raise marks.error(("task_sets", i, "pool"), f"no pool named {show(ts.pool)}{hint} "
                              f"(pools: {', '.join(known)})")
    return pools


def _platform(pm: PlatformModel | None, marks: Marks) -> Platform:
    loc: Loc = ("platform",)
    if pm is None:
        return Platform.default()
    uniform = {k: getattr(pm, k) for k in ("nodes", "cores_per_node", "gpus_per_node",
                                           "memory_mb_per_node") if getattr(pm, k) is not None}
    if pm.local:
        if uniform:
            raise marks.error((*loc, next(iter(uniform))),
                              "give either local: true or uniform nodes, not both")
        try:
            return Platform.local(virtual_gpus=pm.virtual_gpus or 0)
        except SpecError as e:
            raise marks.error((*loc, "virtual_gpus"), str(e)) from None
    if pm.virtual_gpus is not None:
        raise marks.error((*loc, "virtual_gpus"), "virtual_gpus goes with local: true "
                          "(uniform nodes declare gpus_per_node)")
    if pm.nodes is None or pm.cores_per_node is None:
        missing = "nodes" if pm.nodes is None else "cores_per_node"
        raise marks.error(loc, f"missing required key {show(missing)} (uniform nodes need "
                          "nodes and cores_per_node; or write local: true for this machine)")
    try:
        return Platform.uniform(pm.nodes, cores=pm.cores_per_node, gpus=pm.gpus_per_node or 0,
                                memory_mb=pm.memory_mb_per_node)
    except SpecError as e:
        raise marks.error(loc, str(e)) from None


def _task_set(ts: TaskSetModel, loc: Loc, platform: Platform, marks: Marks) -> TaskSet:
    if ts.count > MAX_TASKS:
        raise marks.error((*loc, "count"), f"{ts.count:,} tasks is more than one run can hold: "
                          f"at most {MAX_TASKS:,} (split the campaign, or lower count)")
    work = _work(ts, loc, marks)
    duration = _duration(ts, loc, marks)
    if work is None and duration is None:
        raise marks.error(loc, "a mock task set (no command or function) needs a duration")
    try:
        resources = Resources(cores=ts.cores, gpus=ts.gpus, ranks=ts.ranks,
                              memory_mb=ts.memory_mb)
    except SpecError as e:
        raise marks.error((*loc, "cores"), str(e).removeprefix("Resources: ")) from None
    try:
        platform.check_feasible(resources, task=ts.name)
    except InfeasibleRequest as e:
        key = "cores"
        if ts.gpus > max(len(n.gpus) for n in platform.nodes):
            key = "gpus"
        elif ts.cores <= max(len(n.cores) for n in platform.nodes) and ts.ranks == 1 \
                and ts.memory_mb is not None:
            key = "memory_mb"
        elif ts.ranks > 1:
            key = "ranks"
        raise marks.error((*loc, key), str(e), cls=InfeasibleRequest) from None
    try:
        return TaskSet(name=ts.name, count=ts.count, kind=ts.kind, resources=resources,
                       duration=duration, work=work, depends_on=tuple(ts.depends_on),
                       async_depends_on=None if ts.async_depends_on is None
                       else tuple(ts.async_depends_on),
                       priority=ts.priority, pool=ts.pool, features=ts.features,
                       surrogate=None if ts.surrogate is None
                       else SurrogatePlan(**ts.surrogate.model_dump()))
    except SpecError as e:
        raise marks.error(loc, str(e)) from None


def _work(ts: TaskSetModel, loc: Loc, marks: Marks) -> Work | None:
    if ts.command is not None and ts.function is not None:
        raise marks.error((*loc, "function"), "give either command or function, not both")
    if ts.function is None:
        for key in ("args", "kwargs"):
            if getattr(ts, key) is not None:
                raise marks.error((*loc, key), f"{key} goes with function: (a Python call)")
    if ts.command is not None:
        try:
            return Executable(argv=tuple(ts.command))
        except SpecError as e:
            raise marks.error((*loc, "command"), str(e)) from None
    if ts.function is not None:
        fn = _import(ts.function, (*loc, "function"), marks)
        return FunctionCall(fn=fn, args=tuple(ts.args or ()), kwargs=dict(ts.kwargs or {}))
    return None


def _import(ref: str, loc: Loc, marks: Marks) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise marks.error(loc, f"cannot import {show(module_name)}: {e} (the module must be "
                          "importable here and in worker processes: install it or put its "
                          "folder on PYTHONPATH)") from None
    except Exception as e:   # the module itself raised while importing
        raise marks.error(loc, f"importing {show(module_name)} raised "
                          f"{type(e).__name__}: {e}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise marks.error(loc, f"{show(module_name)} has no attribute {show(attr)}") \
                from None
    if not callable(obj):
        raise marks.error(loc, f"{show(ref)} is not callable")
    return cast("Callable[..., Any]", obj)


def _duration(ts: TaskSetModel, loc: Loc, marks: Marks) -> Duration | None:
    dm: DurationModel | None = ts.duration
    where: Loc = (*loc, "duration")
    if dm is None:
        if ts.jitter is not None:
            raise marks.error((*loc, "jitter"), "jitter needs a duration")
        return None
    dist = dm.distribution or ("empirical" if dm.samples is not None
                               else "normal" if dm.sd else "fixed")
    sd = dm.sd or 0.0
    if ts.jitter is not None:
        if dm.sd is not None or dist in ("empirical", "lognormal"):
            raise marks.error((*loc, "jitter"), "jitter is a shorthand for a normal sd: give "
                              "either jitter or duration.sd, with a plain duration")
        sd = ts.jitter
        dist = "normal" if sd else dist
    if dist == "empirical":
        if dm.samples is None:
            raise marks.error(where, "an empirical distribution needs samples: [...]")
        if dm.sd is not None:
            raise marks.error((*where, "sd"), "an empirical distribution takes samples, not sd")
        mean = dm.mean if dm.mean is not None else sum(dm.samples) / len(dm.samples)
        samples: tuple[float, ...] = tuple(dm.samples)
    else:
        if dm.samples is not None:
            raise marks.error((*where, "samples"), f"samples go with distribution: empirical, "
                              f"not {dist}")
        if dm.mean is None:
            raise marks.error(where, 'missing required key "mean"')
        if dist in ("normal", "lognormal") and not sd:
            raise marks.error(where, f"a {dist} distribution needs sd > 0 (its standard "
                              "deviation, in seconds); a duration without spread is "
                              "distribution: fixed")
        mean, samples = dm.mean, ()
    try:
        return Duration(mean=mean, sd=sd, distribution=dist, samples=samples)
    except SpecError as e:
        raise marks.error(where, str(e).removeprefix("Duration: ")) from None


def _deps(ts: TaskSetModel, mode: str) -> tuple[str, list[str]]:
    if mode == "async" and ts.async_depends_on is not None:
        return "async_depends_on", ts.async_depends_on
    return "depends_on", ts.depends_on


def _check_dependencies(sets: list[TaskSetModel], marks: Marks) -> None:
    """Unknown names, self-dependencies and cycles, each at the list item that causes it."""
    index = {ts.name: i for i, ts in enumerate(sets)}
    names = list(index)
    for i, ts in enumerate(sets):
        for key in ("depends_on", "async_depends_on"):
            for j, dep in enumerate(getattr(ts, key) or ()):
                loc: Loc = ("task_sets", i, key, j)
                if dep == ts.name:
                    raise marks.error(loc, f"task set {show(ts.name)} depends on itself")
                if dep not in index:
                    close = difflib.get_close_matches(dep, names, n=1, cutoff=0.6)
                    hint = f" (did you mean {show(close[0])}?)" if close else ""
                    raise marks.error(loc, f"unknown task set {show(dep)}{hint}; task sets: "
                                      f"{', '.join(names)}")
    for mode in ("barrier", "async"):
        state: dict[int, int] = {}   # 1: on the current path, 2: done
        for i in range(len(sets)):
            if i not in state:
                _visit(i, [], sets, index, mode, state, marks)


def _visit(i: int, path: list[int], sets: list[TaskSetModel], index: dict[str, int],
           mode: str, state: dict[int, int], marks: Marks) -> None:
    """Depth-first search from task set ``i``; raise at the dependency that closes a cycle."""
    state[i] = 1
    key, deps = _deps(sets[i], mode)
    for j, dep in enumerate(deps):
        k = index[dep]
        if state.get(k) == 1:
            cycle = [sets[x].name for x in path[path.index(k):]] + [sets[i].name, dep]
            suffix = " in async mode" if mode == "async" else ""
            raise marks.error(("task_sets", i, key, j),
                              f"dependency cycle{suffix}: {' -> '.join(cycle)} "
                              "(each waits for the next)")
        if state.get(k) is None:
            _visit(k, [*path, i], sets, index, mode, state, marks)
    state[i] = 2
