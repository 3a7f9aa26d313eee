"""The agent: planted outliers are found, re-ranked by RMSD, written and traceable to their DCD."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("h5py")

import numpy as np  # noqa: E402

from tandem_apps.ddmd.agent import lof_scores, rank, select_restarts  # noqa: E402
from tandem_apps.ddmd.aggregate import DataFileError, aggregate  # noqa: E402
from tandem_apps.ddmd.cvae import CheckpointError, CVAEConfig  # noqa: E402
from tandem_apps.ddmd.train import train  # noqa: E402
from tandem_apps.ddmd.types import RestartPoint  # noqa: E402
from tests.apps.ddmd.synthetic import (  # noqa: E402
    R,
    band,
    hairpin,
    noisy,
    one_core,
    write_segment,
)

SMALL = CVAEConfig(latent_dim=10, filters=(16, 16, 16, 16), dense=32, dropout=0.0, seed=0)
# Frames 40..44 of lineage 1 are hairpins among 205 chain frames; their RMSDs, in that order.
PLANTED = (40, 41, 42, 43, 44)
PLANTED_RMSD = (5.0, 3.0, 4.0, 2.0, 7.0)


class Dataset:
    def __init__(self, root: str) -> None:
        rng = np.random.default_rng(7)
        chain = noisy(band(), 200, rng)
        second = np.concatenate([chain[120:160], noisy(hairpin(), 5, rng), chain[160:]])
        rmsd = np.full(len(second), 6.0)
        rmsd[list(PLANTED)] = PLANTED_RMSD
        self.files = [
            write_segment(os.path.join(root, "l0", "s0"), chain[:120], lineage=0, segment=0,
                          rmsd=np.full(120, 6.0)),
            write_segment(os.path.join(root, "l1", "s3"), second, lineage=1, segment=3,
                          rmsd=rmsd),
        ]
        self.dcd = os.path.join(root, "l1", "s3", "segment.dcd")
        self.aggregated = aggregate(self.files, os.path.join(root, "data.h5"))
        self.checkpoint = train(self.aggregated, os.path.join(root, "model.pt"), epochs=10,
                                config=SMALL).checkpoint


@pytest.fixture(scope="module", autouse=True)
def _placed_on_one_core() -> Iterator[None]:
    with one_core():
        yield


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Dataset:
    return Dataset(str(tmp_path_factory.mktemp("agent")))


def test_planted_outliers_are_the_most_outlying(ds, tmp_path):
    result = select_restarts(ds.checkpoint, ds.aggregated, str(tmp_path), n_outliers=5,
                             rerank_by_rmsd=False)
    assert result.frames == 205
    assert {(p.dcd, p.frame) for p in result.restarts} == {(ds.dcd, f) for f in PLANTED}
    lofs = [p.lof for p in result.restarts]
    assert lofs == sorted(lofs, reverse=True) and lofs[-1] > 1.5


def test_rerank_puts_the_lowest_rmsd_candidates_first(ds, tmp_path):
    result = select_restarts(ds.checkpoint, ds.aggregated, str(tmp_path), n_outliers=3,
                             candidates=5)
    assert [p.frame for p in result.restarts] == [43, 41, 42]
    assert [p.rmsd for p in result.restarts] == [2.0, 3.0, 4.0]


def test_restarts_json_round_trips_and_points_at_the_dcd_frame(ds, tmp_path):
    out = tmp_path / "agent"
    result = select_restarts(ds.checkpoint, ds.aggregated, str(out), n_outliers=5)
    assert result.restarts_json == str(out / "restarts.json")
    assert sorted(os.listdir(out)) == ["embeddings.npz", "restarts.json"]
    points = [RestartPoint.from_dict(d) for d in json.loads(open(result.restarts_json).read())]
    assert tuple(points) == result.restarts
    first = points[0]
    assert (first.dcd, first.frame, first.rmsd) == (ds.dcd, 43, 2.0)
    assert (first.topology, first.lineage, first.segment) == ("/data/topology.pdb", 1, 3)


def test_embeddings_file_describes_every_frame(ds, tmp_path):
    result = select_restarts(ds.checkpoint, ds.aggregated, str(tmp_path), n_outliers=2,
                             candidates=5)
    with np.load(result.embeddings) as npz:
        assert npz["z"].shape == (205, SMALL.latent_dim) and np.isfinite(npz["z"]).all()
        assert npz["rmsd"].shape == (205,) and npz["source"].shape == (205, 2)
        assert list(npz["lineage"][:120]) == [0] * 120 and list(npz["lineage"][120:]) == [1] * 85
        assert list(npz["files"]) == ds.files
        chosen = npz["selected"]
        assert [tuple(npz["source"][i]) for i in chosen] == [(1, 43), (1, 41)]
        assert np.allclose(npz["lof"][chosen], [p.lof for p in result.restarts])


def test_segment_list_and_aggregate_agree(ds, tmp_path):
    a = select_restarts(ds.checkpoint, ds.aggregated, str(tmp_path / "a"), n_outliers=4)
    b = select_restarts(ds.checkpoint, ds.files, str(tmp_path / "b"), n_outliers=4)
    assert a.restarts == b.restarts


def test_few_frames_return_all_best_first(ds, tmp_path):
    rng = np.random.default_rng(1)
    path = write_segment(str(tmp_path / "few"), noisy(band(), 6, rng, flips=6),
                         rmsd=[3.0, 1.0, 5.0, 2.0, 4.0, 6.0])
    result = select_restarts(ds.checkpoint, path, str(tmp_path / "out"), n_outliers=10,
                             n_neighbors=20)
    assert [p.frame for p in result.restarts] == [1, 3, 0, 4, 2, 5]
    ranked = select_restarts(ds.checkpoint, path, str(tmp_path / "out"), n_outliers=10,
                             rerank_by_rmsd=False)
    lofs = [p.lof for p in ranked.restarts]
    assert len(lofs) == 6 and lofs == sorted(lofs, reverse=True)


def test_identical_frames_count_once(ds, tmp_path):
    rng = np.random.default_rng(2)
    distinct = noisy(band(), 30, rng)
    maps = np.concatenate([distinct, distinct[:10]])  # frames 30..39 repeat frames 0..9
    rmsd = np.r_[np.full(30, 5.0), np.full(10, 4.0)]
    path = write_segment(str(tmp_path / "dup"), maps, rmsd=rmsd)
    result = select_restarts(ds.checkpoint, path, str(tmp_path / "out"), n_outliers=40)
    frames = [p.frame for p in result.restarts]
    assert len(frames) == 30 and len(set(frames)) == 30
    assert not set(frames) & set(range(10))  # the repeats with lower RMSD represent them
    # The same file twice gives the same points, once each.
    twice = select_restarts(ds.checkpoint, [path, path], str(tmp_path / "out2"), n_outliers=40)
    assert [(p.dcd, p.frame) for p in twice.restarts] == [(p.dcd, p.frame)
                                                         for p in result.restarts]


def test_a_single_distinct_frame(ds, tmp_path):
    path = write_segment(str(tmp_path / "one"), np.repeat(band()[None], 4, axis=0),
                         rmsd=[4.0, 3.0, 3.0, 5.0])
    result = select_restarts(ds.checkpoint, path, str(tmp_path / "out"), n_outliers=2)
    assert [(p.frame, p.lof) for p in result.restarts] == [(1, 1.0)]


def test_rank_and_lof_scores():
    lof = np.array([1.0, 3.0, 2.0, 3.0, 1.5])
    rmsd = np.array([1.0, 4.0, 2.0, 3.0, 0.5])
    assert list(rank(lof, rmsd, n_outliers=2, candidates=4, rerank_by_rmsd=False)) == [3, 1]
    assert list(rank(lof, rmsd, n_outliers=3, candidates=4, rerank_by_rmsd=True)) == [4, 2, 3]
    assert list(rank(lof, rmsd, n_outliers=9, candidates=9, rerank_by_rmsd=True)) == [
        4, 0, 2, 3, 1]
    points = np.r_[np.zeros((20, 2)) + np.linspace(0, 1, 20)[:, None], [[9.0, 9.0]]]
    scores = lof_scores(points, n_neighbors=5)
    assert scores.argmax() == 20 and scores[20] > 5
    assert list(lof_scores(np.zeros((1, 3)), 20)) == [1.0]


def test_errors_name_what_is_wrong(ds, tmp_path):
    with pytest.raises(ValueError, match="candidates"):
        select_restarts(ds.checkpoint, ds.aggregated, str(tmp_path), n_outliers=4, candidates=2)
    with pytest.raises(ValueError, match="n_outliers"):
        select_restarts(ds.checkpoint, ds.aggregated, str(tmp_path), n_outliers=0)
    missing = str(tmp_path / "none.h5")
    with pytest.raises(DataFileError, match="does not exist") as info:
        select_restarts(ds.checkpoint, [ds.files[0], missing], str(tmp_path), n_outliers=2)
    assert info.value.path == missing
    with pytest.raises(CheckpointError, match="does not exist"):
        select_restarts(str(tmp_path / "none.pt"), ds.aggregated, str(tmp_path), n_outliers=2)
    small = write_segment(str(tmp_path / "small"), noisy(band(12), 5, np.random.default_rng(0)))
    with pytest.raises(CheckpointError, match=f"{R}x{R} contact maps, but .* holds 12x12"):
        select_restarts(ds.checkpoint, small, str(tmp_path), n_outliers=2)
    empty = write_segment(str(tmp_path / "empty"), np.zeros((0, R, R), np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        select_restarts(ds.checkpoint, empty, str(tmp_path), n_outliers=2)
    assert not (tmp_path / "restarts.json").exists()
