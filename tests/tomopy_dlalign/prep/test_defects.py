"""Defective detector pixels: found from the flats, darks and data, replaced by their
neighbours in normalize, recorded in the /process record of the CLI's outputs."""

import json
import logging

import numpy as np
import pytest

import tomopy_dlalign as tda
from tomopy_dlalign import cli
from tomopy_dlalign.common.process import read_process
from tomopy_dlalign.prep import DefectMap, find_defects, replace_defects

THETA = np.linspace(0, np.pi, 60, endpoint=False)
DEAD, HOT, SATURATED, ZERO, OUTLIER = (5, 20), (9, 40), (3, 50), (12, 10), (7, 33)


def raw_scan(seed=0, family="battery"):
    """A clean raw scan (uint16 counts, Poisson noise) of 60 x 16 x 64."""
    vol = tda.simulate.phantom(family, 64, 16, seed=seed)
    return tda.simulate.scan(vol, THETA, seed=seed)


@pytest.fixture(scope="module")
def clean():
    return raw_scan()


def with_dead_and_hot(prj, flat, dark):
    prj, flat, dark = prj.copy(), flat.copy(), dark.copy()
    # dead: no response to the beam, the pixel reads its dark level
    flat[:, DEAD[0], DEAD[1]] = dark[:, DEAD[0], DEAD[1]]
    prj[:, DEAD[0], DEAD[1]] = dark[0, DEAD[0], DEAD[1]]
    # hot: a dark current of 3000 counts more than its neighbours, in every frame
    for a in (prj, flat, dark):
        a[:, HOT[0], HOT[1]] += 3000
    return prj, flat, dark


def line_integrals(prj, flat, dark, **kwargs):
    return tda.minus_log(tda.normalize(prj, flat, dark, **kwargs))


def old_normalize(prj, flat, dark, cutoff=None):
    """The formula normalize applied before defects were handled."""
    f = np.asarray(flat, np.float32).mean(axis=0)
    d = np.asarray(dark, np.float32).mean(axis=0)
    denom = np.where(f - d <= 0, 1e-6, f - d).astype(np.float32)
    out = (np.asarray(prj, np.float32) - d) / denom
    return out if cutoff is None else np.minimum(out, np.float32(cutoff))


def test_dead_and_hot_pixels_are_found_at_their_positions_replaced_and_recorded(clean):
    prj, flat, dark = with_dead_and_hot(*clean)
    found = find_defects(flat, dark, prj)
    assert found.coordinates("dead").tolist() == [list(DEAD)]
    assert found.coordinates("hot").tolist() == [list(HOT)]
    assert found.mask.sum() == 2
    record = {}
    line = line_integrals(prj, flat, dark, record=record)
    truth = line_integrals(*clean, defects=False)
    before = line_integrals(prj, flat, dark, defects=False)
    assert np.abs(before[:, DEAD[0], DEAD[1]]).min() > 5  # what the defect did
    for r, c in (DEAD, HOT):
        assert np.isfinite(line[:, r, c]).all()
        err = np.abs(line[:, r, c] - truth[:, r, c])
        assert err.mean() < 0.05 and err.max() < 0.15
    rec = json.loads(json.dumps(record))  # what /process stores
    assert rec["defects"]["counts"]["dead"] == 1 and rec["defects"]["counts"]["hot"] == 1
    assert rec["defects"]["coordinates"] == {"hot": [list(HOT)], "dead": [list(DEAD)]}
    assert rec["defects"]["pixels"] == 2


def test_only_the_defective_pixels_change(clean):
    prj, flat, dark = with_dead_and_hot(*clean)
    keep = np.ones(prj.shape[1:], bool)
    keep[DEAD], keep[HOT] = False, False
    np.testing.assert_array_equal(tda.normalize(prj, flat, dark)[:, keep],
                                  old_normalize(prj, flat, dark)[:, keep])


def test_saturated_and_zero_count_pixels_are_found(clean):
    prj, flat, dark = (a.copy() for a in clean)
    flat[:, SATURATED[0], SATURATED[1]] = 65535
    prj[:, SATURATED[0], SATURATED[1]] = 65535
    prj[:, ZERO[0], ZERO[1]] = 0
    found = find_defects(flat, dark, prj)
    assert found.coordinates("saturated").tolist() == [list(SATURATED)]
    assert found.coordinates("zero").tolist() == [list(ZERO)]
    assert found.mask.sum() == 2
    line = line_integrals(prj, flat, dark)
    assert np.abs(line[:, ZERO[0], ZERO[1]] - line_integrals(*clean, defects=False)[
        :, ZERO[0], ZERO[1]]).max() < 0.15


def test_a_pixel_saturated_in_the_data_only_is_found(clean):
    prj = clean[0].copy()
    prj[:, SATURATED[0], SATURATED[1]] = 65535
    assert find_defects(clean[1], clean[2], prj).coordinates("saturated").tolist() == [
        list(SATURATED)]


def test_a_fixed_outlier_seen_only_in_the_data_is_found_from_the_data(clean):
    prj, flat, dark = clean
    bad = prj.copy()
    # a gain 20 % high after the flats were taken: invisible in the flats and darks
    bad[:, OUTLIER[0], OUTLIER[1]] = (bad[:, OUTLIER[0], OUTLIER[1]] * 1.2).astype(np.uint16)
    assert not find_defects(flat, dark).mask.any()
    assert find_defects(flat, dark, bad).coordinates("outlier").tolist() == [list(OUTLIER)]
    transmission = tda.normalize(bad, flat, dark, defects=False)
    found = find_defects(flat, dark, transmission, normalized=True)
    assert found.coordinates("outlier").tolist() == [list(OUTLIER)]


@pytest.mark.parametrize("family", ["battery", "nanoparticles", "cells"])
def test_a_clean_scan_gives_fewer_than_0_1_percent_false_positives(family):
    for seed in range(3):
        prj, flat, dark = raw_scan(seed, family)
        assert find_defects(flat, dark, prj).fraction < 0.001


def test_defects_false_reproduces_the_old_formula_bit_for_bit(clean):
    prj, flat, dark = with_dead_and_hot(*clean)
    for cutoff in (None, 0.9):
        np.testing.assert_array_equal(
            tda.normalize(prj, flat, dark, cutoff=cutoff, defects=False),
            old_normalize(prj, flat, dark, cutoff))
    record = {}
    tda.normalize(prj, flat, dark, defects=False, record=record)
    assert record == {"defects": None}


def test_a_mask_or_map_passed_in_is_used_as_given(clean):
    prj, flat, dark = clean
    mask = np.zeros(prj.shape[1:], bool)
    mask[OUTLIER] = True
    record = {}
    out = tda.normalize(prj, flat, dark, defects=mask, record=record)
    changed = np.any(out != old_normalize(prj, flat, dark), axis=0)
    assert np.array_equal(changed, mask)
    assert record["defects"]["counts"]["given"] == 1
    same = tda.normalize(prj, flat, dark, defects=DefectMap.from_mask(mask))
    np.testing.assert_array_equal(same, out)


def test_inputs_are_not_modified(clean):
    prj, flat, dark = with_dead_and_hot(*clean)
    copies = [a.copy() for a in (prj, flat, dark)]
    tda.normalize(prj, flat, dark)
    find_defects(flat, dark, prj)
    stack = tda.normalize(prj, flat, dark, defects=False)
    kept = stack.copy()
    replace_defects(stack, find_defects(flat, dark).mask)
    for a, b in zip((prj, flat, dark, stack), (*copies, kept), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_are_refused_naming_the_argument(clean):
    prj, flat, dark = clean
    with pytest.raises(ValueError, match="mask must have the projections' frame shape"):
        replace_defects(prj, np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="defects must be a mask"):
        tda.normalize(prj, flat, dark, defects=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="data frames must have shape"):
        find_defects(flat, dark, prj[:, :4])
    with pytest.raises(ValueError, match="hot_mads must be a number"):
        find_defects(flat, dark, hot_mads=-1)
    with pytest.raises(ValueError, match="defects marks every pixel"):
        tda.normalize(prj, flat, dark, defects=np.ones(prj.shape[1:], bool))
    with pytest.raises(TypeError, match="record must be a dict"):
        tda.normalize(prj, flat, dark, record=[])


def test_replacement_takes_the_median_of_good_neighbours_growing_the_window():
    stack = np.arange(2 * 11 * 11, dtype=np.float32).reshape(2, 11, 11) ** 1.5
    mask = np.zeros((11, 11), bool)
    mask[3:8, 3:8] = True  # 5 x 5: the centre has no good pixel within 2
    out = replace_defects(stack, mask)
    ring = ~mask[2:9, 2:9]
    np.testing.assert_array_equal(out[:, 5, 5], np.median(stack[:, 2:9, 2:9][:, ring], axis=1))
    edge = ~mask[2:5, 2:5]  # a corner of the block: 5 good pixels among its 8 neighbours
    np.testing.assert_array_equal(out[:, 3, 3], np.median(stack[:, 2:5, 2:5][:, edge], axis=1))
    np.testing.assert_array_equal(out[:, ~mask], stack[:, ~mask])


def test_normalize_logs_the_counts_and_warns_above_one_percent(clean, caplog):
    prj, flat, dark = with_dead_and_hot(*clean)
    with caplog.at_level(logging.INFO, logger="tomopy_dlalign.prep.normalize"):
        tda.normalize(prj, flat, dark)
    assert "2 defective detector pixels" in caplog.text and "hot 1, dead 1" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    flat = flat.copy()
    flat[:, :, :2] = dark[:, :, :2]  # two dead columns: 3 % of the detector
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tomopy_dlalign.prep.normalize"):
        tda.normalize(prj, flat, dark)
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "more than 1 %"
            in r.getMessage()]


@pytest.fixture(scope="module")
def dead_pixel_file(tmp_path_factory):
    # 32 rows, so that align runs the network (in a second) rather than its slower
    # horizontal-only path for short detectors
    theta = THETA[::3]
    vol = tda.simulate.phantom("battery", 64, 32, seed=0)
    prj, flat, dark = tda.simulate.scan(vol, theta, seed=0)
    flat[:, DEAD[0], DEAD[1]] = dark[:, DEAD[0], DEAD[1]]
    prj[:, DEAD[0], DEAD[1]] = dark[0, DEAD[0], DEAD[1]]
    path = tmp_path_factory.mktemp("defects") / "scan.h5"
    tda.io.write_dx(path, prj, flat=flat, dark=dark, theta=theta)
    return path


def test_cli_recon_records_the_defects_in_process_and_no_defects_turns_it_off(
        dead_pixel_file, tmp_path):
    out = tmp_path / "rec.h5"
    assert cli.main(["recon", str(dead_pixel_file), "-o", str(out), "--algorithm", "fbp"]) == 0
    found = read_process(out).step("recon").parameters["defects"]
    assert found["counts"]["dead"] == 1 and found["coordinates"] == {"dead": [list(DEAD)]}
    off = tmp_path / "off.h5"
    assert cli.main(["recon", str(dead_pixel_file), "-o", str(off), "--algorithm", "fbp",
                     "--no-defects"]) == 0
    assert read_process(off).step("recon").parameters["defects"] is None
    # the dead pixel's stripe reconstructs to a ring that the replaced pixel does not
    rec, ring = tda.io.read(out).data, tda.io.read(off).data
    assert np.abs(rec[DEAD[0]]).max() < 0.25 * np.abs(ring[DEAD[0]]).max()


def test_cli_align_records_the_defects_in_process(dead_pixel_file, tmp_path):
    out = tmp_path / "aligned.h5"
    assert cli.main(["align", str(dead_pixel_file), "-o", str(out), "--no-polish",
                     "--no-progress"]) == 0
    step = read_process(out).step("align")
    assert step.parameters["defects"]["counts"]["dead"] == 1
    assert np.abs(tda.io.read(out).data).max() < 3  # no line integral of 13.8


def test_windows_of_a_large_scan_replace_the_pixels_the_whole_scan_does(tmp_path):
    from tomopy_dlalign.scale.blocks import ScanSource

    # a block of 12 consecutive angles: too few for the data's outlier test to tell the
    # head's detail from defects, so every window takes the map of the whole detector
    theta = np.linspace(0, np.pi, 90, endpoint=False)
    prj, flat, dark = tda.simulate.scan(tda.simulate.shepp_logan(64, 16), theta, seed=0)
    flat[:, DEAD[0], DEAD[1]] = dark[:, DEAD[0], DEAD[1]]
    tda.io.write_dx(tmp_path / "scan.h5", prj, flat=flat, dark=dark, theta=theta)
    source = ScanSource(tmp_path / "scan.h5")
    assert np.argwhere(source.defects).tolist() == [list(DEAD)]
    whole = line_integrals(prj, flat, dark)
    np.testing.assert_allclose(source.window((10, 22), (0, 16)), whole[10:22], rtol=1e-6)
