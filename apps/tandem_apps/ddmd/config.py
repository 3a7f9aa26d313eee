"""DeepDriveMD campaign configuration: one YAML file (or none) plus command-line overrides.

Contract: :func:`load_config` returns a frozen, validated :class:`CampaignConfig`; every problem
is a :class:`ConfigError` whose message names the file and the key (``md.segment_ps: must be
> 0, got -1``) — never a traceback from inside pydantic. Defaults give the few-minute campaign
on a 2-core laptop; the knobs scale it up for a real machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

GpuRequest = int | Literal["auto"]


class ConfigError(ValueError):
    """A bad campaign configuration; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Model):
    """Resources one task of a stage asks for. ``gpus: auto`` means one GPU when the machine
    has one, none otherwise."""

    cores: int = Field(1, ge=0)
    gpus: GpuRequest = 0

    def gpu_count(self, machine_gpus: int) -> int:
        if self.gpus == "auto":
            return 1 if machine_gpus > 0 else 0
        return self.gpus


class MD(Stage):
    """One simulation segment (OpenMM, amber14 + OBC2, HBonds, 3 amu hydrogens)."""

    segment_ps: float = Field(25.0, gt=0)
    report_interval_ps: float = Field(1.0, gt=0)
    dt_fs: float = Field(4.0, gt=0, le=5)
    temperature_k: float = Field(300.0, gt=0)
    friction_per_ps: float = Field(1.0, gt=0)
    threshold_angstrom: float = Field(8.0, gt=0)

    @model_validator(mode="after")
    def _frames(self) -> MD:
        if self.report_interval_ps > self.segment_ps:
            raise ValueError("report_interval_ps must not exceed segment_ps")
        if self.cores < 1:
            raise ValueError("cores must be >= 1 (OpenMM needs a thread)")
        return self


class Aggregation(Stage):
    """Gathers the newest segment files into one training set."""

    last_n: int = Field(0, ge=0, description="newest segment files per round; 0 = all so far")


class Training(Stage):
    """The convolutional variational autoencoder on contact maps, warm-started each round."""

    gpus: GpuRequest = "auto"
    epochs: int = Field(10, ge=1)
    initial_epochs: int = Field(20, ge=1)
    latent_dim: int = Field(10, ge=2)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-3, gt=0)


class Agent(Stage):
    """Inference (latent embedding), LocalOutlierFactor, optional re-rank by RMSD."""

    gpus: GpuRequest = "auto"
    outliers: int | None = Field(None, ge=1, description="restart points per round "
                                 "(default: one per simulation)")
    candidates: int | None = Field(None, ge=1, description="LOF outliers kept before the "
                                   "RMSD re-rank (default: 2 x outliers)")
    rerank_by_rmsd: bool = True
    n_neighbors: int = Field(20, ge=2)


class Stuck(_Model):
    """Kill a lineage whose segments make no progress (IMPECCABLE's stuck simulations)."""

    enabled: bool = False
    segments: int = Field(2, ge=1, description="segments without progress before a restart")
    min_rmsd_gain: float = Field(0.1, ge=0, description="Å of best-RMSD improvement that counts")
    min_fnc_gain: float = Field(0.02, ge=0, description="gain in the best fraction of native "
                                "contacts that counts")


class Mock(_Model):
    """Stage durations (seconds) for the sleep-based variant and for prediction defaults."""

    simulation: float = Field(3.6, gt=0)
    aggregation: float = Field(0.1, gt=0)
    training: float = Field(4.0, gt=0)
    agent: float = Field(0.5, gt=0)


class CampaignConfig(_Model):
    """A whole campaign. ``modes`` run one after the other on the same machine."""

    sequence: str = Field("AAAAAAAAAAAAAAA", min_length=3)
    simulations: int = Field(4, ge=1, description="concurrent simulation lineages")
    iterations: int = Field(6, ge=1, description="segments per lineage (and ML rounds)")
    modes: tuple[Literal["sync", "async"], ...] = ("sync", "async")
    max_staleness: int = Field(1, ge=0, description="async: how many ML rounds a segment may "
                               "run ahead of the restart points it starts from")
    ml_priority: int = Field(1, description="priority of aggregation, training and agent "
                             "tasks over segments: the ML chain gates later segments, which "
                             "are not submitted yet, so the scheduler cannot see that itself")
    baseline: bool = True
    data: Literal["files", "memory", "stream"] = Field(
        "files", description="how the stages hand each other data: 'files' (HDF5, checkpoints, "
        "restarts.json and DCD reads), 'memory' (by reference through tandem's shared memory; "
        "trajectories still written) or 'stream' (as memory, and each segment streams its "
        "frames to its round's aggregation while it runs)")
    target_rmsd: float = Field(4.0, gt=0, description="Å, for time-to-target")
    cores: int | None = Field(None, ge=1, description="cores to use (default: all)")
    seed: int = 1
    md: MD = MD()
    aggregation: Aggregation = Aggregation()
    training: Training = Training()
    agent: Agent = Agent()
    stuck: Stuck = Stuck()
    mock: Mock = Mock()

    @model_validator(mode="after")
    def _check(self) -> CampaignConfig:
        bad = sorted({c for c in self.sequence.upper() if c not in "ACDEFGHIKLMNPQRSTVWY"})
        if bad:
            raise ValueError(f"sequence: {''.join(bad)!r} are not amino-acid letters")
        if not self.modes:
            raise ValueError("modes: give at least one of sync, async")
        if self.data == "stream" and self.stuck.enabled:
            raise ValueError("stuck.enabled: cannot be used with data: stream (a stuck segment "
                             "is ended, and an ended writer fails its round's stream); use "
                             "data: memory to end stuck lineages")
        return self

    @property
    def outliers(self) -> int:
        return self.agent.outliers or self.simulations

    @property
    def candidates(self) -> int:
        return self.agent.candidates or 2 * self.outliers


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("function-after", "constrained-int"))


def _explain(err: ValidationError, source: str) -> ConfigError:
    lines = []
    for e in err.errors():
        key = _where(tuple(e.get("loc", ())))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in e and e["type"] != "missing":
            msg = f"{msg}, got {e['input']!r}"
        lines.append(f"{source}: {key or '(top level)'}: {msg}")
    return ConfigError("\n".join(lines))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None
                ) -> CampaignConfig:
    """The configuration in ``path`` (YAML; None: defaults) with ``overrides`` (nested dict)
    applied on top. Raises :class:`ConfigError` naming the file and key of every problem."""
    data: dict[str, Any] = {}
    source = "ddmd config"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.is_file():
            raise ConfigError(f"{p}: no such configuration file")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of keys, "
                              f"got {type(loaded).__name__}")
        data = loaded or {}
    if overrides:
        data = _merge(data, overrides)
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as e:
        raise _explain(e, source) from None
