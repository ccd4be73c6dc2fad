"""ConvRe: preparation, features, clustering, selection, comparisons, CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import cdi_plugins as cdi
from cdi_plugins import metrics
from cdi_plugins.convre import baselines as selection
from cdi_plugins.convre import cluster, features, prepare, select_cluster
from cdi_plugins.convre.features import features as run_features
from cdi_plugins.simulate import mitochondria


def _object(seed, size=64):
    return mitochondria.mitochondrion_object(size, seed=seed)


def _runs(obj, n, rng, noise=0.03, ambiguities=True):
    """Noisy copies of ``obj`` with random translations, twins and global phases."""
    out = []
    for i in range(n):
        o = obj.astype(np.complex128)
        if ambiguities:
            if i % 2:
                o = metrics.twin(o)
            o = np.roll(o, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
            o = o * np.exp(1j * rng.uniform(-np.pi, np.pi))
        out.append(o + noise * (rng.standard_normal(o.shape) + 1j * rng.standard_normal(o.shape))
                   * (np.abs(o) > 0))
    return np.stack(out).astype(np.complex64)


@pytest.fixture(scope="module")
def two_objects():
    """8 noisy runs of object A then 8 of object B, and A's noiseless pattern."""
    rng = np.random.default_rng(0)
    a, b = _object(1), _object(2)
    runs = np.concatenate([_runs(a, 8, rng), _runs(b, 8, rng)])
    return runs, a, b, cdi.simulate.diffraction(a)


@pytest.mark.parametrize("model", ["pixels", None])
def test_two_distinct_objects_are_separated(two_objects, model):
    runs, a, _, I = two_objects
    cl = cdi.convre(runs, intensity=I, model=model, seed=0)
    assert cl.n_clusters == 2
    assert len(set(cl.labels[:8])) == 1 and len(set(cl.labels[8:])) == 1
    assert cl.labels[0] != cl.labels[8]


def test_kept_cluster_is_the_one_with_lower_error(two_objects):
    runs, a, b, I = two_objects
    cl = cdi.convre(runs, intensity=I, seed=0)
    assert cl.selected.tolist() == list(range(8))
    assert cl.scores[cl.cluster].mean_chi2 < min(s.mean_chi2 for s in cl.scores
                                                 if s.label != cl.cluster)
    # the average of the kept runs is closer to A than any single noisy run
    err = metrics.real_space_error(cl.average, a)
    assert err < min(metrics.real_space_error(r, a) for r in runs[:8])


def test_same_seed_same_result(two_objects):
    runs, _, _, I = two_objects
    first = cdi.convre(runs, intensity=I, model="pixels", n_clusters=3, seed=7)
    again = cdi.convre(runs, intensity=I, model="pixels", n_clusters=3, seed=7)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.average, again.average)


def test_twins_and_translated_copies_prepare_to_the_same_crop():
    rng = np.random.default_rng(3)
    obj = _object(5)
    runs = _runs(obj, 6, rng, noise=0.0)
    prep = prepare(runs)
    for c in prep.crops[1:]:
        np.testing.assert_allclose(c, prep.crops[0], atol=1e-5)
    cl = cdi.convre(runs, chi2=np.zeros(6), model="pixels", seed=0)
    assert cl.n_clusters == 1 and cl.selected.size == 6


def test_twins_land_in_one_cluster_with_noise(two_objects):
    runs, _, _, I = two_objects
    # odd runs of each object are twins, all translated: still two clusters by object
    cl = cdi.convre(runs, intensity=I, n_clusters=2, seed=0)
    assert len(set(cl.labels[0:8:2]) | set(cl.labels[1:8:2])) == 1


def test_more_clusters_than_runs_is_an_error(two_objects):
    runs, _, _, I = two_objects
    with pytest.raises(ValueError, match="n_clusters=5 is more than the 4 runs"):
        cdi.convre(runs[:4], intensity=I, n_clusters=5)


def test_runs_of_different_shapes_are_an_error():
    with pytest.raises(ValueError, match="same shape"):
        cdi.convre([np.ones((8, 8)), np.ones((8, 10))], chi2=[1, 2])


def test_nan_in_runs_is_an_error(two_objects):
    runs = two_objects[0].copy()
    runs[3, 5, 5] = np.nan
    with pytest.raises(ValueError, match="objects contains 1 NaN"):
        cdi.convre(runs, chi2=np.zeros(len(runs)))


def test_missing_chi2_and_intensity_is_an_error(two_objects):
    with pytest.raises(ValueError, match="needs intensity"):
        cdi.convre(two_objects[0])


def test_single_run_is_an_error():
    with pytest.raises(ValueError, match="at least 2 runs, got 1"):
        cdi.convre(np.ones((1, 8, 8)), chi2=[0.1])


def test_chi2_of_wrong_length_is_an_error(two_objects):
    with pytest.raises(ValueError, match="one value per run"):
        cdi.convre(two_objects[0], chi2=[0.1, 0.2])


def test_silhouette_picks_three_well_separated_groups():
    rng = np.random.default_rng(1)
    f = np.concatenate([rng.normal(c, 0.3, (10, 6)) for c in (0, 5, 10)])
    c = cluster(f, seed=0)
    assert c.n_clusters == 3
    assert max(c.silhouette, key=c.silhouette.get) == 3


def test_mean_chi2_rule_ignores_small_clusters():
    labels = np.array([0] * 9 + [1])
    chi2 = np.r_[np.full(9, 0.2), 0.01]
    keep, scores = select_cluster(labels, chi2, min_fraction=0.2, rule="mean-chi2")
    assert keep == 0 and not scores[1].eligible


def test_best_run_rule_keeps_the_small_cluster_of_the_best_fitting_run():
    labels = np.array([0] * 9 + [1] * 2)
    chi2 = np.r_[np.full(9, 0.2), 0.01, 0.3]  # the best run sits in the small cluster
    assert select_cluster(labels, chi2, min_fraction=0.2, rule="mean-chi2")[0] == 0
    keep, scores = select_cluster(labels, chi2, min_fraction=0.2)  # the default rule
    assert keep == 1 and not scores[1].eligible
    assert select_cluster(labels, chi2, min_fraction=0.2, rule="best-run")[0] == 1
    with pytest.raises(ValueError, match="rule must be one of"):
        select_cluster(labels, chi2, rule="lowest")


def test_best_run_rule_through_convre_keeps_the_runs_like_the_best_one(two_objects):
    runs, _, _, I = two_objects
    chi2 = metrics.chi2(runs, I)
    cl = cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=2)
    assert int(np.argmin(chi2)) in cl.selected
    assert set(cl.labels[cl.selected]) == {cl.labels[np.argmin(chi2)]}
    assert cl.parameters["rule"] == "best-run"


def test_anchor_box_holds_the_whole_object_of_the_few_best_runs():
    # 18 failed runs agree on a compact blob; 2 runs found a larger object: the box of the
    # mean of all runs follows the blob and cuts the object, the anchored box holds it
    rng = np.random.default_rng(3)
    blob = np.zeros((64, 64), complex)
    blob[29:35, 29:35] = 3.0
    obj = np.zeros((64, 64), complex)
    obj[16:48, 22:42] = 1.0
    runs = np.concatenate([_runs(blob, 18, rng, ambiguities=False),
                           _runs(obj, 2, rng, ambiguities=False)])
    plain = prepare(runs, reference=18)
    anchored = prepare(runs, reference=18, anchor=[18, 19])
    rows = [b.stop - b.start for b in (plain.box[0], anchored.box[0])]
    assert rows[0] < 32 <= rows[1]
    # the common frame is the same: the anchor widens the box only
    np.testing.assert_allclose(plain.aligned, anchored.aligned)
    with pytest.raises(ValueError, match="anchor must hold run indices"):
        prepare(runs, anchor=[20])


def test_convre_and_van_der_schot_average_kept_runs_alike(two_objects):
    # every method averages its kept runs the same way, so equal runs give equal images
    runs, _, _, I = two_objects
    chi2 = metrics.chi2(runs, I)
    cl = cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=2)
    vds = selection.error_fraction(runs, chi2, fraction=cl.selected.size / len(runs))
    assert vds.selected.tolist() == cl.selected.tolist()
    np.testing.assert_array_equal(vds.average, cl.average)


def test_isolated_best_run_is_kept_alone(two_objects):
    # 8 runs of A, 1 of B that fits best: B found a structure no other run found, so the
    # best-run rule keeps it alone even when the clustering put every run in one cluster
    runs, _, _, _ = two_objects
    runs = runs[:9]
    chi2 = np.r_[np.full(8, 0.2), 0.1]
    cl = cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=1)
    assert cl.selected.tolist() == [8] and cl.n_clusters == 2
    assert cl.labels[:8].tolist() == [0] * 8
    # the mean-chi2 rule, and a best run with companions, keep the whole cluster
    assert cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=1,
                      rule="mean-chi2").selected.size == 9
    chi2[0] = 0.05
    assert cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=1).selected.size == 9


def test_the_most_remote_run_of_one_cloud_is_not_isolated():
    from cdi_plugins.convre import isolated_run

    # unit-norm features of one structure: a tight cloud around one direction
    f = np.eye(16)[0] + 0.05 * np.random.default_rng(2).normal(size=(96, 16))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    nn = np.sort(np.linalg.norm(f[:, None] - f[None], axis=-1), axis=1)[:, 1]
    assert not isolated_run(f, int(np.argmax(nn)))
    f[0] = np.eye(16)[1]  # a run that found another structure
    assert isolated_run(f, 0)


def test_a_split_through_one_cloud_of_runs_is_merged_back():
    # 16 noisy runs of one object forced into 2 clusters: k-means cuts the cloud, the
    # best-run rule merges the halves (their means agree within the members' spread);
    # two distinct objects are never merged (test_kept_cluster_is_the_one_with_lower_error)
    rng = np.random.default_rng(5)
    runs = _runs(_object(1), 16, rng, noise=0.1, ambiguities=False)
    chi2 = rng.uniform(0.1, 0.2, 16)
    cl = cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=2)
    assert cl.selected.size == 16 and cl.n_clusters == 1
    split = cdi.convre(runs, chi2=chi2, model="pixels", n_clusters=2, rule="mean-chi2")
    assert split.n_clusters == 2 and split.selected.size < 16


def test_comparison_methods_keep_the_documented_runs(two_objects):
    runs, _, _, I = two_objects
    chi2 = metrics.chi2(runs, I)
    assert selection.best_chi2(runs, chi2).selected.tolist() == [int(np.argmin(chi2))]
    assert selection.mean_of_all(runs, chi2).selected.size == len(runs)
    vds = selection.error_fraction(runs, chi2, fraction=0.25)
    assert sorted(vds.selected.tolist()) == sorted(np.argsort(chi2)[:4].tolist())
    allm = selection.compare(runs, chi2, n_clusters=2)
    assert allm["asura_like"].selected.tolist() == list(range(8))
    assert allm["convre"].selected.tolist() == list(range(8))


def test_user_weights_file_is_used_and_a_bad_one_reported(tmp_path, two_objects):
    runs, _, _, I = two_objects
    net = features.FeatureNet()
    path = tmp_path / "mine.safetensors"
    features.save_model(net, path)
    f_user = run_features(prepare(runs).crops, str(path))
    f_ship = run_features(prepare(runs).crops)
    assert f_user.shape == f_ship.shape and not np.allclose(f_user, f_ship)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        cdi.convre(runs, intensity=I, model=str(bad))


def test_shipped_weights_have_a_model_card():
    card = features.modelfiles.read_card(features.DEFAULT_WEIGHTS)
    assert card["command"].startswith("cdi-plugins train-features")
    for key in ("seed", "data", "epochs", "metrics", "training_time_s"):
        assert key in card
    assert features.DEFAULT_WEIGHTS.stat().st_size < 1_000_000


def test_train_features_defaults_are_the_shipped_recipe():
    # `cdi-plugins train-features -o w.safetensors` retrains the shipped weights' recipe
    import shlex

    from cdi_plugins import cli

    card = features.modelfiles.read_card(features.DEFAULT_WEIGHTS)
    shipped = cli.build_parser().parse_args(shlex.split(card["command"])[1:])
    default = cli.build_parser().parse_args(["train-features", "-o", "w.safetensors"])
    differ = {k for k in vars(shipped) if k not in ("output", "cache", "func")
              and getattr(shipped, k) != getattr(default, k)}
    assert not differ, f"defaults differ from the shipped recipe in {sorted(differ)}"
    assert card["data"]["anchor_fraction"] == 0.1  # the crops convre prepares today


def test_mitochondrion_is_weak_elongated_and_fits_the_array():
    o = mitochondria.mitochondrion_object(128, seed=4)
    assert abs(np.abs(o).max() - 1) < 1e-6
    assert np.abs(np.angle(o[np.abs(o) > 0])).max() <= 0.1 + 1e-6
    assert min(cdi.simulate.oversampling_ratio(o)) >= 2
    ys, xs = np.nonzero(np.abs(o) > 0.05)
    extent = np.linalg.eigvalsh(np.cov(np.stack([ys, xs])))
    assert extent[1] > 2 * extent[0]          # elongated


def test_background_is_subtracted_and_clipped():
    o = mitochondria.mitochondrion_object(64, seed=0)
    sim = mitochondria.mitochondrion_pattern(o, 1e5, background=2.0, seed=0)
    clean = mitochondria.mitochondrion_pattern(o, 1e5, background=0.0, seed=0)
    assert sim.intensity.min() >= 0
    assert abs(sim.intensity.sum() / clean.intensity.sum() - 1) < 0.2
    with pytest.raises(ValueError, match="background must be >= 0"):
        mitochondria.mitochondrion_pattern(o, 1e5, background=-1)


def _result_file(tmp_path, two_objects):
    from cdi_plugins import io
    from cdi_plugins.phasing import PhasingResult

    runs, _, _, I = two_objects
    chi2 = metrics.chi2(runs, I)
    res = PhasingResult(objects=runs, supports=np.abs(runs) > 0,
                        chi2=np.repeat(chi2[:, None], 2, axis=1).astype(np.float32),
                        schedule="OSS**2", seed=0)
    src = tmp_path / "result.h5"
    io.write_result(src, res, I, np.zeros(I.shape, bool))
    return src


def test_cluster_command_writes_labels_beside_the_result(tmp_path, two_objects):
    from cdi_plugins import cli

    src = _result_file(tmp_path, two_objects)
    out = tmp_path / "clustered.h5"
    assert cli.main(["cluster", str(src), "-o", str(out), "--clusters", "2"]) == 0
    with h5py.File(out) as f:
        assert f["exchange/convre/selected"][()].tolist() == list(range(8))
        assert f["exchange/convre/labels"].shape == (16,)
        assert f["exchange/object"].shape == two_objects[0].shape
        assert "kept_cluster" in f["process/cdi_plugins_convre"].attrs["parameters"]


@pytest.mark.slow
def test_cluster_command_reports_no_resolution_for_one_kept_run(tmp_path, two_objects,
                                                                 capsys):
    from cdi_plugins import cli, io
    from cdi_plugins.phasing import PhasingResult

    runs, _, _, I = two_objects
    runs = runs[:9]  # 8 runs of A and one of B, which fits best: it is kept alone
    chi2 = np.r_[np.full(8, 0.2), 0.1].astype(np.float32)
    res = PhasingResult(objects=runs, supports=np.abs(runs) > 0,
                        chi2=np.repeat(chi2[:, None], 2, axis=1), schedule="OSS**2", seed=0)
    src = tmp_path / "result.h5"
    io.write_result(src, res, I, np.zeros(I.shape, bool))
    assert cli.main(["cluster", str(src), "--clusters", "1", "--features", "pixels"]) == 0
    out = capsys.readouterr().out
    assert "(1 runs" in out and "n/a (one kept run has no PRTF of its own)" in out


def test_cluster_command_writes_the_report(tmp_path, two_objects):
    from cdi_plugins import cli

    src = _result_file(tmp_path, two_objects)
    assert cli.main(["cluster", str(src), "--report", str(tmp_path / "rep"),
                     "--clusters", "2"]) == 0
    for name in ("pca.png", "gallery.png", "prtf.png", "summary.json"):
        assert (tmp_path / "rep" / name).stat().st_size > 0


@pytest.mark.slow
def test_train_features_command_writes_weights_and_card(tmp_path):
    from cdi_plugins import cli

    out = tmp_path / "w.safetensors"
    assert cli.main(["train-features", "-o", str(out), "--objects", "2", "--runs", "3",
                     "--iter", "20", "--size", "64", "--epochs", "2",
                     "--no-progress"]) == 0
    card = features.modelfiles.read_card(out)
    assert card["epochs"] == 2 and card["seed"] == 0 and "--objects 2" in card["command"]
    assert features.load_model(out).config["size"] == 64


def test_compactness_loss_is_small_for_tight_classes_and_large_for_spread_ones():
    import torch

    good = torch.tensor([True, True, True, False, False, False])
    pattern = torch.zeros(6, dtype=torch.long)
    tight = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    tight = tight + 1e-3 * torch.arange(6.0)[:, None]
    spread = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 3.0], [0.0, -3.0], [1.0, 0.0]])
    assert features.compactness_loss(tight, good, pattern) < 1e-4
    # failed runs scattered around (almost) the consistent centre: within >> between
    assert features.compactness_loss(spread, good, pattern) > 1.0


def test_compactness_loss_ignores_patterns_with_one_class():
    import torch

    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    good = torch.tensor([True] * 4 + [True, True, False, False])
    pattern = torch.tensor([0] * 4 + [1] * 4)
    only_mixed = features.compactness_loss(z[4:], good[4:], pattern[4:])
    assert torch.isclose(features.compactness_loss(z, good, pattern), only_mixed)
    assert features.compactness_loss(z[:4], good[:4], pattern[:4]) == 0


def test_compactness_term_tightens_the_classes_of_held_out_patterns():
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    crops, good = [], []
    for p in range(4):
        blob = np.zeros((16, 16), np.complex64)
        blob[4 + p % 2:12, 5:11 + p % 3] = 1
        ok = blob + 0.05 * rng.standard_normal((4, 16, 16))
        bad = rng.random((4, 16, 16)) * (rng.random((4, 16, 16)) > 0.7)
        crops.append(np.concatenate([ok, bad]).astype(np.complex64))
        good.append(np.r_[np.ones(4, bool), np.zeros(4, bool)])
    data = {"crops": crops, "good": np.array(good)}
    sep = {}
    for compact in (0.0, 20.0):
        _, m = features.train(data, epochs=15, batch_patterns=2, size=16, val_fraction=0.25,
                              failed_together=True, compact=compact, show_progress=False)
        assert m["train_loss"] < m["train_loss_first_epoch"]
        sep[compact] = m["val_separation_features"]
    # the last pattern is held out: its failed runs sit far from its consistent ones
    # relative to the consistent runs' spread, more so with the compactness term
    assert sep[0.0] > m["val_separation_pixels"]
    assert sep[20.0] > 2 * sep[0.0]
