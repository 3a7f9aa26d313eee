"""Training: fit the CVAE to the contact maps of an aggregated (or segment) HDF5 file.

Contract: one function, :func:`train`, run by tandem as a task in a warm worker; it imports the
application's own modules, numpy and torch, never tandem. It runs on CUDA when a GPU is visible
(tandem sets ``CUDA_VISIBLE_DEVICES`` to the placed GPU) and otherwise on the CPU with one torch
thread per placed core. Given the same data, config, warm start and thread count it is
deterministic on the CPU: the seed fixes the initial weights, the shuffling and the sampling
noise, and the worker's global torch random state is saved before and restored after, so tasks
sharing a warm worker do not disturb each other. The checkpoint is written atomically.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
import torch

from tandem_apps.ddmd.aggregate import DataFileError, read_contact_maps
from tandem_apps.ddmd.cvae import (
    CVAE,
    Checkpoint,
    CheckpointError,
    CVAEConfig,
    compute_device,
    cvae_loss,
    load_checkpoint,
    make_optimizer,
    save_checkpoint,
    to_input,
)
from tandem_apps.ddmd.types import TrainResult


def train(
    data_h5: str,
    checkpoint_out: str,
    *,
    epochs: int,
    config: CVAEConfig,
    warm_start: str | None = None,
    max_frames: int | None = None,
) -> TrainResult:
    """Train the CVAE on ``data_h5`` for ``epochs`` epochs and save it to ``checkpoint_out``.

    ``warm_start`` names a previous checkpoint: its weights and optimiser state are resumed (the
    learning rate is reset to ``config.lr``) and its epoch count carries on; its architecture and
    R must match. ``max_frames`` keeps only the newest frames (the last ones in the file).
    ``TrainResult.epochs`` is the number of epochs of this round and ``losses`` holds the mean
    per-frame loss (reconstruction + KL) of each of them.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    maps = read_contact_maps(data_h5, max_frames)
    if maps.shape[0] == 0:
        raise DataFileError(os.path.abspath(data_h5), "no frames to train on")
    device = compute_device()
    warm = load_checkpoint(warm_start, device) if warm_start is not None else None
    model, optimizer, seen, losses = fit(maps, epochs=epochs, config=config, warm=warm,
                                         device=device)
    path = save_checkpoint(checkpoint_out, model, optimizer, seen + epochs)
    return TrainResult(
        checkpoint=path, epochs=epochs, losses=tuple(losses), frames=int(maps.shape[0]),
        device=describe_device(device),
    )


def fit(maps: npt.NDArray[np.uint8], *, epochs: int, config: CVAEConfig,
        warm: Checkpoint | None, device: torch.device
        ) -> tuple[CVAE, torch.optim.Optimizer, int, list[float]]:
    """Train on ``maps`` (frames x R x R) for ``epochs``, warm-started from ``warm``: the
    model, its optimiser, the epochs seen before this round and this round's losses. What
    :func:`train` does between reading its inputs and writing its checkpoint (the in-memory
    mode calls it on arrays handed over by reference)."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if maps.shape[0] == 0:
        raise ValueError("no frames to train on")
    residues = int(maps.shape[1])
    devices = [torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        model, optimizer, seen = _start(config, residues, device, warm)
        # A resumed run draws new shuffles and noise: the stream depends on the epochs seen.
        torch.manual_seed(_mix(config.seed, seen))
        shuffle = torch.Generator().manual_seed(_mix(config.seed, seen, 1))
        losses = _fit(model, optimizer, maps, epochs, device, shuffle)
    return model, optimizer, seen, losses


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def _start(
    config: CVAEConfig, residues: int, device: torch.device, warm: Checkpoint | None
) -> tuple[CVAE, torch.optim.Optimizer, int]:
    """A fresh model, or the model and optimiser of ``warm``; and the epochs seen so far."""
    if warm is None:
        model = CVAE(config, residues).to(device)
        return model, make_optimizer(model), 0
    ckpt = warm
    if ckpt.residues != residues:
        raise CheckpointError(
            ckpt.path, f"was trained on {ckpt.residues}x{ckpt.residues} contact maps, "
            f"but the data are {residues}x{residues}"
        )
    model = ckpt.build_model(device, config)
    optimizer = make_optimizer(model)
    try:
        optimizer.load_state_dict(ckpt.optimizer_state)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(ckpt.path, f"optimizer state does not fit the model ({exc})") from exc
    for group in optimizer.param_groups:
        group["lr"] = config.lr
    return model, optimizer, ckpt.epochs_seen


def _fit(
    model: CVAE,
    optimizer: torch.optim.Optimizer,
    maps: npt.NDArray[np.uint8],
    epochs: int,
    device: torch.device,
    shuffle: torch.Generator,
) -> list[float]:
    data = torch.from_numpy(np.ascontiguousarray(maps)).to(device)
    n, batch = data.shape[0], model.config.batch_size
    model.train()
    losses: list[float] = []
    for epoch in range(epochs):
        order = torch.randperm(n, generator=shuffle).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch):
            x = to_input(data[order[start:start + batch]], model.padded)
            logits, mu, logvar = model(x)
            loss, _, _ = cvae_loss(logits, x, mu, logvar, model.residues)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            total += loss.detach() * x.shape[0]
        mean = float(total) / n
        if not np.isfinite(mean):
            raise FloatingPointError(
                f"training loss became {mean} in epoch {epoch + 1}; lower CVAEConfig.lr "
                f"(now {model.config.lr})"
            )
        losses.append(mean)
    model.eval()
    return losses


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (distinct tuples give unrelated streams)."""
    state = np.random.SeedSequence([v & 0xFFFFFFFF for v in values]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))

