"""``tomopy_dlalign.compat`` against what TomoPy 1.15.2 itself returned.

The fixtures were recorded by ``make_fixtures.py`` (beside this file) with TomoPy built
from its public source; the tests at the end run against TomoPy directly when it is
importable and skip otherwise.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tomopy_dlalign import compat
from tomopy_dlalign.prep import residual_rmse

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_fixtures", HERE / "make_fixtures.py")
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)


def fixture(name):
    with np.load(HERE / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


def centroids(stack):
    rows, cols = np.mgrid[: stack.shape[1], : stack.shape[2]]
    mass = stack.sum(axis=(1, 2))
    return (stack * rows).sum(axis=(1, 2)) / mass, (stack * cols).sum(axis=(1, 2)) / mass


@pytest.fixture(scope="module")
def joint():
    prj, theta, _, _ = make_fixtures.alignment_case()
    rec = fixture("align_joint")
    out = compat.align_joint(prj, theta, pad=tuple(rec["pad"]), iters=int(rec["iters"]))
    return prj, theta, rec, out


def test_fixtures_stay_small():
    assert sum(p.stat().st_size for p in HERE.glob("*.npz")) < 200_000


def test_add_jitter_draws_tomopys_shifts_and_moves_content_the_same_way():
    rec = fixture("add_jitter")
    np.random.seed(int(rec["seed"]))
    given = rec["prj"].copy()
    out, dx, dy = compat.add_jitter(given, float(rec["low"]), float(rec["high"]))
    # the same single (nproj, 2) draw from NumPy's global state as TomoPy's
    np.testing.assert_array_equal(dx, rec["dx"])
    np.testing.assert_array_equal(dy, rec["dy"])
    # TomoPy rounds to whole pixels (nearest-neighbour warp): within half a pixel
    for ours, theirs in zip(centroids(out), centroids(rec["out"]), strict=True):
        assert np.abs(ours - theirs).max() < 0.6
    assert bool(rec["input_modified"])  # TomoPy's defect, not copied:
    np.testing.assert_array_equal(given, rec["prj"])


def test_shift_images_matches_tomopys_output():
    rec = fixture("shift_images")
    given = rec["prj"].copy()
    out = compat.shift_images(given, rec["sx"], rec["sy"])
    np.testing.assert_array_equal(given, rec["prj"])  # never in place
    inner = (slice(None), slice(3, -3), slice(3, -3))
    assert np.abs(out[inner] - rec["out"][inner]).max() < 0.02 * np.abs(rec["out"]).max()


def test_align_joint_returns_tomopys_padded_shapes(joint):
    _, _, rec, (out, sx, sy, conv) = joint
    assert out.shape == tuple(rec["out_shape"])
    assert sx.shape == rec["sx"].shape and sy.shape == rec["sy"].shape
    assert conv.shape == rec["conv"].shape


def test_align_joint_shifts_have_tomopys_senses_and_a_smaller_residual(joint):
    _, theta, rec, (_, sx, sy, _) = joint
    # sx along rows, sy along columns, in the same sign and scale as TomoPy's
    assert np.polyfit(rec["sx"], sx, 1)[0] == pytest.approx(1.0, abs=0.15)
    assert np.polyfit(rec["sy"], sy, 1)[0] == pytest.approx(1.0, abs=0.2)
    truth = (rec["jitter_rows"], rec["jitter_cols"])
    ours = residual_rmse(sy, sx, truth[1], truth[0], theta=theta)
    theirs = residual_rmse(rec["sy"], rec["sx"], truth[1], truth[0], theta=theta)
    assert ours < theirs


def test_align_joint_returns_the_aligned_stack_not_tomopys_unaligned_one(joint):
    prj, _, rec, (out, sx, sy, _) = joint
    px, py = rec["pad"]
    padded = np.pad(prj, ((0, 0), (py, py), (px, px)))
    assert bool(rec["returns_padded_input"])  # TomoPy 1.15.2's defect, documented
    assert not np.allclose(out, padded, atol=1e-3)
    # shift_images applies the returned shifts to another stack of the padded shape
    again = compat.shift_images(padded, sx, sy)
    assert np.abs(again - out).max() < 0.05 * np.abs(out).max()


def test_align_seq_returns_tomopys_shapes_and_the_aligned_stack():
    prj, theta, _, _ = make_fixtures.alignment_case()
    rec = fixture("align_seq")
    given = prj.copy()
    out, sx, sy, conv = compat.align_seq(given, theta, pad=tuple(rec["pad"]), iters=2)
    np.testing.assert_array_equal(given, prj)  # TomoPy divides it in place
    assert bool(rec["input_modified"])
    assert out.shape == tuple(rec["out_shape"]) and sx.shape == rec["sx"].shape
    assert conv.shape == (2,)
    assert not bool(rec["returns_padded_input"])  # TomoPy's align_seq aligns too
    rows, cols = centroids(out)
    truth = make_fixtures.blob_projections(theta, prj.shape[1], prj.shape[2])
    true_rows, true_cols = centroids(np.pad(truth, ((0, 0),) + ((2, 2), (4, 4))))
    # the aligned stack sits where the unjittered one does, up to a rigid motion
    assert np.std((rows - true_rows) - np.mean(rows - true_rows)) < 0.5


def test_find_center_is_as_close_to_the_axis_as_tomopys():
    rec = fixture("find_center")
    tomo = make_fixtures.blob_projections(rec["theta"], int(rec["nslice"]), int(rec["ncol"]),
                                          center=float(rec["true_center"]))
    found = compat.find_center(tomo, rec["theta"])
    assert abs(found - rec["true_center"]) <= abs(float(rec["center"][0]) - rec["true_center"])
    by_slice = compat.find_center(tomo.transpose(1, 0, 2), rec["theta"], ind=4,
                                  sinogram_order=True)
    assert by_slice == pytest.approx(found, abs=0.5)


@pytest.mark.parametrize("name", ["align_joint", "align_seq"])
def test_tomopy_algorithm_names_are_accepted_and_unknown_ones_refused(name):
    prj, theta, _, _ = make_fixtures.alignment_case()
    for algorithm in ("sirt", "gridrec", "mlem"):
        assert getattr(compat, name)(prj, theta, iters=1, algorithm=algorithm)[0].shape \
            == prj.shape
    with pytest.raises(ValueError, match="algorithm"):
        getattr(compat, name)(prj, theta, algorithm="nope")
    with pytest.raises(ValueError, match="pad"):
        getattr(compat, name)(prj, theta, pad=(-1, 0))
    with pytest.raises(ValueError, match="iters"):
        getattr(compat, name)(prj, theta, iters=0)


def test_save_writes_tomopys_iteration_files(tmp_path):
    prj, theta, _, _ = make_fixtures.alignment_case()
    compat.align_joint(prj, theta, fdir=str(tmp_path), iters=1, save=True)
    for name in ("sx", "sy", "prj"):
        assert list((tmp_path / "tmp" / "iters" / name).glob("*.tiff"))


def test_senses_match_tomopy_itself_when_importable():
    tomopy = pytest.importorskip("tomopy")
    prj, theta, jc, jr = make_fixtures.alignment_case()
    sx, sy = np.linspace(-2, 2, len(theta)), np.linspace(3, -1, len(theta))
    theirs = tomopy.shift_images(prj.copy(), sx, sy)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    ours = compat.shift_images(prj, sx, sy)
    assert np.abs(ours[inner] - theirs[inner]).max() < 0.02 * np.abs(theirs).max()
    out, tsx, tsy, conv = tomopy.align_joint(prj.copy(), theta, pad=(4, 2), iters=2)
    mine = compat.align_joint(prj, theta, pad=(4, 2), iters=2)
    assert mine[0].shape == out.shape and mine[3].shape == conv.shape
    assert np.corrcoef(mine[2], tsy)[0, 1] > 0.8  # both sy follow the column jitter
