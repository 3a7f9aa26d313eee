"""The convolutional variational autoencoder (CVAE) that embeds contact maps, and its checkpoints.

Contract: this module owns the model (architecture, loss, device choice) and the checkpoint file
format; it imports torch and numpy only, never tandem. The architecture follows DeepDriveMD's
``keras_cvae``: convolution layers (default four, 64 filters, 3x3, strides 1-2-1-1) with ReLU,
one dense layer with dropout, then dense layers to the latent mean and log-variance; the decoder
mirrors the encoder with transposed convolutions. The loss is the binary cross-entropy of the
reconstruction summed over the R x R map plus the KL divergence to the unit Gaussian, both
averaged over frames.

Contact maps of R residues are zero-padded to P x P, P the next multiple of
:func:`pad_multiple` (4 for the default strides: 15 -> 16). Only the R x R block enters the loss,
and the decoder output is symmetrised, as contact maps are.

A checkpoint is a ``torch.save`` dict: ``format``, ``model`` (state dict), ``optimizer`` (state
dict), ``config`` (:meth:`CVAEConfig.to_dict`), ``epochs_seen`` and ``residues`` (R). Checkpoints
are written to a temporary file and renamed into place.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

CHECKPOINT_FORMAT = "tandem_apps.ddmd.cvae/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class CVAEConfig:
    """Architecture and training hyper-parameters of the CVAE (defaults: DeepDriveMD keras_cvae)."""

    latent_dim: int = 10
    filters: tuple[int, ...] = (64, 64, 64, 64)
    kernel: int = 3
    strides: tuple[int, ...] = (1, 2, 1, 1)
    dense: int = 128
    dropout: float = 0.25
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(self.filters))
        object.__setattr__(self, "strides", tuple(self.strides))
        if self.latent_dim < 1:
            raise ValueError(f"CVAEConfig.latent_dim must be at least 1, got {self.latent_dim}")
        if not self.filters or any(f < 1 for f in self.filters):
            raise ValueError(f"CVAEConfig.filters must be positive counts, got {self.filters}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"CVAEConfig.kernel must be a positive odd size, got {self.kernel}")
        if len(self.strides) != len(self.filters) or any(s < 1 for s in self.strides):
            raise ValueError(
                f"CVAEConfig.strides must hold one positive stride per filter entry "
                f"({len(self.filters)}), got {self.strides}"
            )
        if self.dense < 1:
            raise ValueError(f"CVAEConfig.dense must be at least 1, got {self.dense}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CVAEConfig.dropout must lie in [0, 1), got {self.dropout}")
        if not self.lr > 0.0:
            raise ValueError(f"CVAEConfig.lr must be positive, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"CVAEConfig.batch_size must be at least 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CVAEConfig:
        known = {f.name for f in fields(CVAEConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"CVAEConfig has no field(s) {unknown}; known: {sorted(known)}")
        values = dict(d)
        for key in ("filters", "strides"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return CVAEConfig(**values)

    def same_architecture(self, other: CVAEConfig) -> bool:
        """Whether weights of a model built from ``other`` fit a model built from this config."""
        keys = ("latent_dim", "filters", "kernel", "strides", "dense")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def pad_multiple(config: CVAEConfig) -> int:
    """Padded map sizes are multiples of this: lcm(4, product of the strides)."""
    return math.lcm(4, math.prod(config.strides))


def padded_size(residues: int, config: CVAEConfig) -> int:
    m = pad_multiple(config)
    return -(-residues // m) * m


def to_input(maps: npt.NDArray[np.uint8] | torch.Tensor, padded: int) -> torch.Tensor:
    """Contact maps (frames x R x R, 0/1) as a float tensor frames x 1 x P x P, zero-padded."""
    x = torch.as_tensor(maps).to(torch.float32)
    if x.ndim != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"contact maps must be frames x R x R, got shape {tuple(x.shape)}")
    r = x.shape[1]
    if r > padded:
        raise ValueError(f"contact maps are {r}x{r}, larger than the model's {padded}x{padded}")
    return F.pad(x, (0, padded - r, 0, padded - r)).unsqueeze(1)


class CVAE(nn.Module):
    """Convolutional VAE for R x R contact maps; ``forward`` returns (logits, mu, logvar)."""

    def __init__(self, config: CVAEConfig, residues: int) -> None:
        super().__init__()
        if residues < 1:
            raise ValueError(f"residues must be at least 1, got {residues}")
        self.config = config
        self.residues = residues
        self.padded = padded_size(residues, config)
        k, pad = config.kernel, config.kernel // 2
        channels = (1, *config.filters)
        encoder: list[nn.Module] = []
        for c_in, c_out, s in zip(channels[:-1], channels[1:], config.strides, strict=True):
            encoder += [nn.Conv2d(c_in, c_out, k, stride=s, padding=pad), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.inner = self.padded // math.prod(config.strides)
        flat = config.filters[-1] * self.inner * self.inner
        self.enc_dense = nn.Sequential(
            nn.Linear(flat, config.dense), nn.ReLU(), nn.Dropout(config.dropout)
        )
        self.mu = nn.Linear(config.dense, config.latent_dim)
        self.logvar = nn.Linear(config.dense, config.latent_dim)
        self.dec_dense = nn.Sequential(
            nn.Linear(config.latent_dim, config.dense), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.dense, flat), nn.ReLU(),
        )
        decoder: list[nn.Module] = []
        layers = list(zip(channels[:-1], channels[1:], config.strides, strict=True))
        for i, (c_out, c_in, s) in enumerate(reversed(layers)):
            decoder.append(
                nn.ConvTranspose2d(c_in, c_out, k, stride=s, padding=pad, output_padding=s - 1)
            )
            if i < len(layers) - 1:
                decoder.append(nn.ReLU())
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance of padded maps ``x`` (frames x 1 x P x P)."""
        h = self.enc_dense(self.encoder(x))
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Symmetric reconstruction logits (frames x 1 x P x P) of latent points ``z``."""
        h = self.dec_dense(z).view(-1, self.config.filters[-1], self.inner, self.inner)
        logits: torch.Tensor = self.decoder(h)
        return 0.5 * (logits + logits.transpose(-1, -2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar


def cvae_loss(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, residues: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction, KL) per frame, averaged over the batch; padding is ignored."""
    r = residues
    bce = F.binary_cross_entropy_with_logits(
        logits[..., :r, :r], x[..., :r, :r], reduction="none"
    ).flatten(1).sum(1)
    kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    recon, kld = bce.mean(), kl.mean()
    return recon + kld, recon, kld


def compute_device() -> torch.device:
    """CUDA when visible (tandem sets CUDA_VISIBLE_DEVICES); otherwise the CPU, with one torch
    thread per core this process may run on (its placed, pinned cores)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, cores or 1))
    return torch.device("cpu")


def make_optimizer(model: CVAE) -> torch.optim.Optimizer:
    """RMSprop as in keras_cvae (rho 0.9, epsilon 1e-8)."""
    return torch.optim.RMSprop(model.parameters(), lr=model.config.lr, alpha=0.9, eps=1e-8)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not fit what it is used for."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True, eq=False)
class Checkpoint:
    """A loaded checkpoint: enough to rebuild the model and resume its optimiser."""

    path: str
    config: CVAEConfig
    residues: int
    epochs_seen: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]

    def build_model(self, device: torch.device, config: CVAEConfig | None = None) -> CVAE:
        """The model with the saved weights; ``config`` (same architecture) may change dropout,
        learning rate, batch size or seed for further training."""
        config = config or self.config
        if not config.same_architecture(self.config):
            raise CheckpointError(
                self.path, f"saved architecture {self.config} does not match {config}"
            )
        model = CVAE(config, self.residues)
        try:
            model.load_state_dict(self.model_state)
        except RuntimeError as exc:
            raise CheckpointError(
                self.path, f"model weights do not fit its config ({exc})"
            ) from exc
        return model.to(device)


def checkpoint_payload(model: CVAE, optimizer: torch.optim.Optimizer,
                       epochs_seen: int) -> dict[str, Any]:
    """What a checkpoint holds (the dict :func:`save_checkpoint` writes): model, optimiser,
    config, epochs seen and R."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "config": model.config.to_dict(),
        "epochs_seen": int(epochs_seen),
        "residues": int(model.residues),
    }


def to_arrays(value: Any) -> Any:
    """``value`` (a checkpoint's payload) with every tensor replaced by a NumPy array of the
    same dtype and values: it then pickles with its buffers out of band (tandem maps them in
    the next task without a copy) and unpickles without torch."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: to_arrays(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_arrays(v) for v in value)
    return value


def from_arrays(value: Any, *, copy: bool = False) -> Any:
    """The inverse of :func:`to_arrays`: NumPy arrays back to tensors, sharing their memory
    (``copy``: in new memory)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy() if copy else value)
    if isinstance(value, dict):
        return {k: from_arrays(v, copy=copy) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(from_arrays(v, copy=copy) for v in value)
    return value


def save_checkpoint(
    path: str, model: CVAE, optimizer: torch.optim.Optimizer, epochs_seen: int
) -> str:
    """Write model, optimiser, config, epochs seen and R to ``path`` atomically; return it."""
    return save_payload(path, checkpoint_payload(model, optimizer, epochs_seen))


def save_payload(path: str, payload: dict[str, Any]) -> str:
    """Write a checkpoint's ``payload`` to ``path`` atomically; return it."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str, device: torch.device | None = None) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; errors name the file and key."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise CheckpointError(path, "checkpoint does not exist")
    try:
        payload = torch.load(path, map_location=device or "cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(path, f"cannot be read as a torch checkpoint ({exc})") from exc
    return from_payload(payload, path)


def from_payload(payload: Any, path: str, device: torch.device | None = None) -> Checkpoint:
    """A :class:`Checkpoint` from a checkpoint's payload (read from ``path``, or handed over
    in memory: ``path`` then names where it came from); errors name ``path`` and the key."""
    if not isinstance(payload, dict):
        raise CheckpointError(path, f"holds a {type(payload).__name__}, expected a dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            path, f"format is {payload.get('format')!r}, expected {CHECKPOINT_FORMAT!r}"
        )
    for key in ("model", "optimizer", "config", "epochs_seen", "residues"):
        if key not in payload:
            raise CheckpointError(path, f"no key '{key}'")
    try:
        config = CVAEConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"key 'config' is invalid ({exc})") from exc
    model_state = payload["model"]
    if device is not None and device.type != "cpu":
        model_state = {k: v.to(device) for k, v in model_state.items()}
    return Checkpoint(
        path=path, config=config, residues=int(payload["residues"]),
        epochs_seen=int(payload["epochs_seen"]), model_state=model_state,
        optimizer_state=payload["optimizer"],
    )
