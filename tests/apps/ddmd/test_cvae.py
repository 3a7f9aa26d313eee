"""The CVAE: shapes, padding, symmetry, loss, config validation and checkpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

from tandem_apps.ddmd.cvae import (  # noqa: E402
    CVAE,
    CheckpointError,
    CVAEConfig,
    cvae_loss,
    load_checkpoint,
    make_optimizer,
    padded_size,
    save_checkpoint,
    to_input,
)
from tests.apps.ddmd.synthetic import one_core  # noqa: E402

TINY = CVAEConfig(latent_dim=3, filters=(4, 4, 4, 4), dense=8, dropout=0.0, batch_size=16)


@pytest.fixture(scope="module", autouse=True)
def _placed_on_one_core() -> Iterator[None]:
    with one_core():
        yield


def maps(n: int, r: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    m = rng.random((n, r, r)) < 0.3
    return torch.from_numpy((m | m.transpose(0, 2, 1)).astype(np.uint8))


@pytest.mark.parametrize(("residues", "padded"), [(15, 16), (16, 16), (28, 28), (5, 8)])
def test_output_shapes(residues, padded):
    torch.manual_seed(0)
    model = CVAE(TINY, residues)
    assert model.padded == padded == padded_size(residues, TINY)
    x = to_input(maps(6, residues), model.padded)
    assert x.shape == (6, 1, padded, padded) and x.dtype == torch.float32
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape
    assert mu.shape == logvar.shape == (6, TINY.latent_dim)


def test_default_config_is_deepdrivemd_keras_cvae():
    config = CVAEConfig()
    assert (config.latent_dim, config.filters, config.kernel, config.strides, config.dense) == (
        10, (64, 64, 64, 64), 3, (1, 2, 1, 1), 128)
    model = CVAE(config, 15)
    logits, mu, _ = model(to_input(maps(2, 15), model.padded))
    assert logits.shape == (2, 1, 16, 16) and mu.shape == (2, 10)


def test_padding_follows_the_strides():
    config = CVAEConfig(filters=(4, 4, 4), strides=(2, 2, 2), dense=8)
    assert padded_size(15, config) == 16 and padded_size(17, config) == 24
    model = CVAE(config, 17)
    logits, _, _ = model(to_input(maps(2, 17), model.padded))
    assert logits.shape == (2, 1, 24, 24)


def test_padding_is_zero_and_reconstruction_symmetric():
    x = to_input(maps(3, 15), 16)
    assert torch.all(x[..., 15, :] == 0) and torch.all(x[..., :, 15] == 0)
    torch.manual_seed(1)
    logits, _, _ = CVAE(TINY, 15).eval()(x)
    assert torch.allclose(logits, logits.transpose(-1, -2))


def test_loss_ignores_padding_and_is_bce_plus_kl():
    torch.manual_seed(2)
    model = CVAE(TINY, 15)
    x = to_input(maps(4, 15), model.padded)
    logits, mu, logvar = model(x)
    total, recon, kl = cvae_loss(logits, x, mu, logvar, 15)
    assert torch.isclose(total, recon + kl)
    shifted = logits.clone()
    shifted[..., 15, :] += 100.0
    assert torch.isclose(cvae_loss(shifted, x, mu, logvar, 15)[0], total)
    by_hand = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[..., :15, :15], x[..., :15, :15], reduction="sum") / 4
    assert torch.isclose(recon, by_hand)
    zero = torch.zeros_like(mu)
    assert cvae_loss(logits, x, zero, zero, 15)[2].item() == 0.0


def test_eval_mode_is_deterministic_and_uses_the_mean():
    torch.manual_seed(3)
    model = CVAE(TINY, 15).eval()
    x = to_input(maps(4, 15), model.padded)
    a, mu, _ = model(x)
    b, _, _ = model(x)
    assert torch.equal(a, b) and torch.equal(model.decode(mu), a)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"kernel": 4}, "kernel must be a positive odd"),
        ({"filters": ()}, "filters"),
        ({"strides": (1, 2)}, "one positive stride per filter"),
        ({"dropout": 1.0}, "dropout"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"dense": 0}, "dense"),
    ],
)
def test_config_validation_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CVAEConfig(**kwargs)


def test_config_dict_round_trip():
    config = CVAEConfig(latent_dim=4, filters=(8, 16), strides=(2, 1), seed=7)
    d = config.to_dict()
    d["filters"] = list(d["filters"])  # as JSON or YAML would give it back
    assert CVAEConfig.from_dict(d) == config
    with pytest.raises(ValueError, match=r"no field\(s\) \['width'\]"):
        CVAEConfig.from_dict({"width": 3})


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    model = CVAE(TINY, 15)
    optimizer = make_optimizer(model)
    x = to_input(maps(8, 15), model.padded)
    cvae_loss(*model(x)[:1], x, *model(x)[1:], 15)[0].backward()
    optimizer.step()
    path = save_checkpoint(str(tmp_path / "ck" / "model.pt"), model, optimizer, epochs_seen=7)
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["model.pt"]
    ckpt = load_checkpoint(path)
    assert (ckpt.config, ckpt.residues, ckpt.epochs_seen) == (TINY, 15, 7)
    again = ckpt.build_model(torch.device("cpu"))
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    assert ckpt.optimizer_state["state"][0]["step"] == 1


def test_checkpoint_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "none.pt")
    with pytest.raises(CheckpointError, match="does not exist") as info:
        load_checkpoint(missing)
    assert info.value.path == missing
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read") as info:
        load_checkpoint(str(junk))
    assert str(junk) in str(info.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(CheckpointError, match="format is None"):
        load_checkpoint(str(other))


def test_build_model_refuses_another_architecture(tmp_path):
    model = CVAE(TINY, 15)
    path = save_checkpoint(str(tmp_path / "m.pt"), model, make_optimizer(model), 1)
    bigger = CVAEConfig(latent_dim=5, filters=(4, 4, 4, 4), dense=8)
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path).build_model(torch.device("cpu"), bigger)
    slower = CVAEConfig(latent_dim=3, filters=(4, 4, 4, 4), dense=8, lr=1e-5, dropout=0.5)
    assert load_checkpoint(path).build_model(torch.device("cpu"), slower).config == slower
