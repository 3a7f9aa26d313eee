"""The YAML workflow schema, as pydantic models (shape and types only).

Contract: declares what each key may hold; every field's ``description`` is the "expected ..."
text an error shows. Cross-key rules (either ``command`` or ``function``, known dependencies,
cycles, feasibility) are checked by :mod:`tandem.config.loader`, which knows the lines. Strict
types: ``"16"`` is not an integer, ``16.0`` is not a count. Unknown keys are errors.
:func:`expected` and :func:`allowed_keys` walk the models along an error's key path. Imports
pydantic only.
Imports: nothing from tandem.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo

SECONDS = "a number of seconds >= 0"


def _number_to_mean(value: Any) -> Any:
    """``duration: 384.6`` is shorthand for ``duration: {mean: 384.6}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"mean": value}
    return value


def _one_to_list(value: Any) -> Any:
    """``depends_on: T0`` is shorthand for ``depends_on: [T0]``."""
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DurationModel(_Model):
    """How long each task of a set runs (before ``time_scale``)."""

    mean: float | None = Field(None, ge=0, allow_inf_nan=False, description=SECONDS)
    sd: float | None = Field(None, ge=0, allow_inf_nan=False, description=SECONDS)
    distribution: Literal["fixed", "normal", "lognormal", "empirical"] | None = Field(
        None, description="one of fixed, normal, lognormal, empirical")
    samples: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = Field(
        None, min_length=1, description="a non-empty list of numbers of seconds >= 0",
        json_schema_extra={"item": SECONDS})


class PlatformModel(_Model):
    """Uniform nodes (``nodes`` x ``cores_per_node`` x ``gpus_per_node``) or ``local: true``."""

    nodes: int | None = Field(None, ge=1, description="an integer >= 1")
    cores_per_node: int | None = Field(None, ge=1, description="an integer >= 1")
    gpus_per_node: int | None = Field(None, ge=0, description="an integer >= 0")
    memory_mb_per_node: int | None = Field(None, ge=0, description="an integer >= 0 (MB)")
    local: bool = Field(False, description="true or false")
    virtual_gpus: int | None = Field(None, ge=0, description="an integer >= 0")


class SurrogateModel(_Model):
    """How a surrogate answers the set's calls (a model for predictions)."""

    hit_rate: float = Field(0.9, ge=0, le=1, allow_inf_nan=False,
                            description="a number between 0 and 1")
    inference: float = Field(0.0, ge=0, allow_inf_nan=False, description=SECONDS)
    retrain: float = Field(1.0, ge=0, allow_inf_nan=False, description=SECONDS)
    min_pairs: int = Field(5, ge=1, description="an integer >= 1")
    every: int = Field(10, ge=1, description="an integer >= 1")
    audit_fraction: float = Field(0.1, ge=0, le=1, allow_inf_nan=False,
                                  description="a number between 0 and 1")
    chains: int = Field(1, ge=1, description="an integer >= 1")
    retrain_cores: int = Field(1, ge=0, description="an integer >= 0")


class PoolModel(_Model):
    """One resource pool's quota."""

    cores: int = Field(0, ge=0, description="an integer >= 0")
    gpus: int = Field(0, ge=0, description="an integer >= 0")


class TaskSetModel(_Model):
    """``count`` identical tasks."""

    name: str = Field(min_length=1, description="a non-empty string")
    count: int = Field(1, ge=1, description="an integer >= 1")
    kind: str = Field("task", min_length=1, description="a non-empty string")
    cores: int = Field(1, ge=0, description="an integer >= 0")
    gpus: int = Field(0, ge=0, description="an integer >= 0")
    ranks: int = Field(1, ge=1, description="an integer >= 1")
    memory_mb: int | None = Field(None, ge=0, description="an integer >= 0 (MB)")
    duration: Annotated[DurationModel | None, BeforeValidator(_number_to_mean)] = Field(
        None, description="a number of seconds, or a mapping such as {mean: 10, sd: 0.5}")
    jitter: float | None = Field(None, ge=0, allow_inf_nan=False, description=SECONDS)
    depends_on: Annotated[list[str], BeforeValidator(_one_to_list)] = Field(
        default_factory=list, description="a list of task set names",
        json_schema_extra={"item": "a task set name (a string)"})
    async_depends_on: Annotated[list[str] | None, BeforeValidator(_one_to_list)] = Field(
        None, description="a list of task set names",
        json_schema_extra={"item": "a task set name (a string)"})
    command: list[str] | None = Field(
        None, min_length=1, description='a non-empty list of strings (argv), e.g. ["sleep", "1"]',
        json_schema_extra={"item": "a string"})
    function: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description='"package.module:function"')
    args: list[Any] | None = Field(None, description="a list of arguments")
    kwargs: dict[str, Any] | None = Field(None, description="a mapping of keyword arguments")
    priority: int = Field(0, description="an integer")
    pool: str | None = Field(None, min_length=1, description="a pool name (a key of pools)")
    features: dict[str, Annotated[float, Field(allow_inf_nan=False)] | str] | None = Field(
        None, description="a mapping of names to numbers or strings, e.g. {atoms: 20000}")
    surrogate: SurrogateModel | None = Field(
        None, description="a mapping such as {hit_rate: 0.8, inference: 0.01, retrain: 5, "
        "chains: 4}")


class WorkflowModel(_Model):
    """The whole file."""

    name: str | None = Field(None, min_length=1, description="a non-empty string")
    description: str | None = Field(None, description="a string")
    mode: Literal["async", "barrier"] = Field("async", description="async or barrier")
    time_scale: float = Field(1.0, gt=0, allow_inf_nan=False, description="a number > 0")
    platform: PlatformModel | None = Field(
        None, description="a mapping (nodes, cores_per_node, gpus_per_node) or {local: true}")
    pools: dict[str, PoolModel] | None = Field(
        None, description="a mapping of pool names to quotas, e.g. {md: {cores: 6}}")
    task_sets: list[TaskSetModel] = Field(
        min_length=1, description="a non-empty list of task sets",
        json_schema_extra={"item": "a task set: a mapping such as {name: sim, count: 4, "
                                   "duration: 10}"})


def _model_of(tp: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``tp`` (``X``, ``X | None``, ``list[X]``, ``Annotated``)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    origin = typing.get_origin(tp)
    if origin is Annotated or origin is list or origin is Union or origin is types.UnionType:
        for arg in typing.get_args(tp):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _field_at(loc: Sequence[str | int]) -> tuple[FieldInfo | None, bool]:
    """The field a key path ends in, and whether the path ends inside it (a list item)."""
    model: type[BaseModel] | None = WorkflowModel
    info: FieldInfo | None = None
    item = False
    for part in loc:
        if isinstance(part, int):
            item = True
            continue
        if model is None or part not in model.model_fields:
            return None, False
        info = model.model_fields[part]
        item = False
        model = _model_of(info.annotation)
    return info, item


def expected(loc: Sequence[str | int]) -> str | None:
    """What the key (or list item) at ``loc`` must hold, in words; ``None`` if unknown."""
    info, item = _field_at(loc)
    if info is None:
        return None
    extra = info.json_schema_extra
    if item and isinstance(extra, dict) and isinstance(extra.get("item"), str):
        return str(extra["item"])
    return info.description


def choices(loc: Sequence[str | int]) -> list[str]:
    """The literal values allowed at ``loc`` (empty if it is not a choice)."""
    info, _ = _field_at(loc)
    if info is None:
        return []
    out: list[str] = []
    todo = [info.annotation]
    while todo:
        tp = todo.pop()
        if typing.get_origin(tp) is Literal:
            out.extend(str(a) for a in typing.get_args(tp))
        else:
            todo.extend(typing.get_args(tp))
    return out


def allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys the mapping at ``loc`` may have."""
    model: type[BaseModel] | None = WorkflowModel
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return []
        model = _model_of(model.model_fields[part].annotation)
    return list(model.model_fields) if model is not None else []
