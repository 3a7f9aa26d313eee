"""Training: the loss falls, warm starts resume, runs are reproducible, bad inputs are named."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("h5py")

import numpy as np  # noqa: E402

from tandem_apps.ddmd.aggregate import DataFileError, aggregate  # noqa: E402
from tandem_apps.ddmd.cvae import CheckpointError, CVAEConfig, load_checkpoint  # noqa: E402
from tandem_apps.ddmd.train import train  # noqa: E402
from tests.apps.ddmd.synthetic import band, hairpin, noisy, one_core, write_segment  # noqa: E402

TINY = CVAEConfig(latent_dim=3, filters=(8, 8, 8, 8), dense=16, dropout=0.0, batch_size=32,
                  lr=2e-3, seed=11)


@pytest.fixture(scope="module", autouse=True)
def _placed_on_one_core() -> Iterator[None]:
    with one_core():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    """160 frames of two noisy shapes in two segments, aggregated."""
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(5)
    files = [
        write_segment(str(root / "a"), noisy(band(), 100, rng), lineage=0),
        write_segment(str(root / "b"), noisy(hairpin(), 60, rng), lineage=1),
    ]
    return aggregate(files, str(root / "data.h5"))


def weights(path: str) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model_state


def test_loss_decreases_and_checkpoint_is_written(data, tmp_path):
    out = str(tmp_path / "round0" / "model.pt")
    result = train(data, out, epochs=5, config=TINY)
    assert result.checkpoint == out and os.listdir(tmp_path / "round0") == ["model.pt"]
    assert result.epochs == 5 and len(result.losses) == 5 and result.frames == 160
    assert result.device.startswith("cpu (")
    assert all(np.isfinite(result.losses))
    assert result.losses[-1] < 0.8 * result.losses[0]
    ckpt = load_checkpoint(out)
    assert (ckpt.epochs_seen, ckpt.residues, ckpt.config) == (5, 15, TINY)


def test_training_uses_the_placed_cores_and_leaves_global_rng_alone(data, tmp_path):
    state = torch.get_rng_state()
    train(data, str(tmp_path / "m.pt"), epochs=1, config=TINY)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == len(os.sched_getaffinity(0))


def test_same_seed_same_result_other_seed_other_result(data, tmp_path):
    a = train(data, str(tmp_path / "a.pt"), epochs=2, config=TINY)
    b = train(data, str(tmp_path / "b.pt"), epochs=2, config=TINY)
    assert a.losses == b.losses
    wa, wb = weights(a.checkpoint), weights(b.checkpoint)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(data, str(tmp_path / "c.pt"), epochs=2,
              config=CVAEConfig(**{**TINY.to_dict(), "seed": 12}))
    assert c.losses != a.losses


def test_warm_start_resumes_model_and_optimiser(data, tmp_path):
    first = train(data, str(tmp_path / "r0.pt"), epochs=2, config=TINY)
    steps = load_checkpoint(first.checkpoint).optimizer_state["state"][0]["step"]
    assert steps == 2 * 5  # 160 frames in batches of 32
    # A vanishing learning rate leaves the weights where the warm start put them.
    still = CVAEConfig(**{**TINY.to_dict(), "lr": 1e-30})
    second = train(data, str(tmp_path / "r1.pt"), epochs=1, config=still,
                   warm_start=first.checkpoint)
    ckpt = load_checkpoint(second.checkpoint)
    assert ckpt.epochs_seen == 3
    assert ckpt.optimizer_state["state"][0]["step"] == steps + 5
    assert ckpt.optimizer_state["param_groups"][0]["lr"] == 1e-30
    saved, resumed = weights(first.checkpoint), ckpt.model_state
    assert all(torch.allclose(saved[k], resumed[k], rtol=0, atol=1e-12) for k in saved)
    # It starts where the first round stopped, far below a fresh model's first epoch.
    third = train(data, str(tmp_path / "r2.pt"), epochs=2, config=TINY,
                  warm_start=second.checkpoint)
    assert third.losses[0] < first.losses[0]
    assert load_checkpoint(third.checkpoint).epochs_seen == 5


def test_warm_start_into_the_same_path(data, tmp_path):
    path = str(tmp_path / "model.pt")
    train(data, path, epochs=1, config=TINY)
    train(data, path, epochs=1, config=TINY, warm_start=path)
    assert load_checkpoint(path).epochs_seen == 2
    assert os.listdir(tmp_path) == ["model.pt"]


def test_max_frames_keeps_the_newest(data, tmp_path):
    result = train(data, str(tmp_path / "m.pt"), epochs=1, config=TINY, max_frames=40)
    assert result.frames == 40


def test_warm_start_must_fit(data, tmp_path):
    first = train(data, str(tmp_path / "r0.pt"), epochs=1, config=TINY)
    wider = CVAEConfig(**{**TINY.to_dict(), "latent_dim": 4})
    with pytest.raises(CheckpointError, match="does not match") as info:
        train(data, str(tmp_path / "r1.pt"), epochs=1, config=wider, warm_start=first.checkpoint)
    assert info.value.path == first.checkpoint
    small = write_segment(str(tmp_path / "small"), noisy(band(12), 20, np.random.default_rng(0)))
    with pytest.raises(CheckpointError, match="15x15 contact maps, but the data are 12x12"):
        train(small, str(tmp_path / "r1.pt"), epochs=1, config=TINY, warm_start=first.checkpoint)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(data, str(tmp_path / "r1.pt"), epochs=1, config=TINY,
              warm_start=str(tmp_path / "missing.pt"))
    assert not (tmp_path / "r1.pt").exists()


def test_bad_data_and_arguments_are_named(tmp_path):
    missing = str(tmp_path / "data.h5")
    with pytest.raises(DataFileError, match="does not exist") as info:
        train(missing, str(tmp_path / "m.pt"), epochs=1, config=TINY)
    assert info.value.path == missing
    empty = write_segment(str(tmp_path / "empty"), np.zeros((0, 15, 15), np.uint8))
    with pytest.raises(DataFileError, match="no frames to train on"):
        train(empty, str(tmp_path / "m.pt"), epochs=1, config=TINY)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train(empty, str(tmp_path / "m.pt"), epochs=0, config=TINY)
