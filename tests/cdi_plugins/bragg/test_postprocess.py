"""Bragg post-processing against a crystal whose displacement field is known."""

import numpy as np
import pytest

from cdi_plugins.bragg import (
    BraggGeometry,
    centre_object,
    postprocess,
    remove_phase_ramp,
    support_from_amplitude,
)

GEOMETRY = BraggGeometry(energy=9000, d_spacing=2.338e-10, distance=1.0, pixel_size=55e-6,
                         rocking_step=0.005)            # Au 111 at 9 keV
SHAPE = (32, 32, 32)
RADIUS, WIDTH = 600e-9, 400e-9                          # crystal radius, field width, m
U0 = 0.4 * GEOMETRY.d_spacing                           # 2.5 rad of phase at the centre
RAMP, OFFSET, ROLL = np.array([0.4, -0.3, 0.5]), 2.0, (3, -2, 4)


def _crystal():
    """A sphere in the laboratory frame seen on the detector grid (a sheared ellipsoid
    of voxels, symmetric about the array centre), with the displacement along Q
    ``u = U0 exp(-|r|^2 / 2 WIDTH^2)`` and its strain along Q,
    ``-u (r . q_hat) / WIDTH^2``: both known at every voxel."""
    a = GEOMETRY.real_space_basis(SHAPE)
    n = np.stack(np.meshgrid(*[np.arange(s) - s // 2 for s in SHAPE], indexing="ij"), -1)
    r = n @ a.T
    inside = (r ** 2).sum(-1) < RADIUS ** 2
    u = U0 * np.exp(-(r ** 2).sum(-1) / (2 * WIDTH ** 2))
    strain = -u * (r @ GEOMETRY.q_hat) / WIDTH ** 2
    obj = (inside * np.exp(1j * GEOMETRY.q_norm * u)).astype(np.complex64)
    return obj, inside, u, strain


def _measured(obj):
    """What phasing leaves: a phase ramp, a global phase and a translation."""
    n = np.meshgrid(*[np.arange(s) for s in SHAPE], indexing="ij", sparse=True)
    moved = np.roll(obj, ROLL, axis=(0, 1, 2))
    return (moved * np.exp(1j * (OFFSET + sum(g * x for g, x in zip(RAMP, n, strict=True))))
            ).astype(np.complex64)


def _interior(support):
    """The support less its one-voxel border (the voxels whose 6 neighbours are in)."""
    inner = support.copy()
    for axis in range(3):
        for step in (1, -1):
            inner &= np.roll(support, step, axis=axis)
    return inner


def test_ramp_offset_and_shift_removed_to_the_truths_phase():
    # the field is even and the voxel set symmetric about the centre, so the truth has
    # no linear part to lose: what is left after removal is the truth less its mean,
    # to the float32 rounding of the object (1e-6 rad), here bounded at 1e-4 rad
    obj, inside, u, _ = _crystal()
    res = postprocess(_measured(obj), GEOMETRY)
    assert np.array_equal(res.support, inside)
    np.testing.assert_array_equal(res.shift, -np.array(ROLL))
    np.testing.assert_allclose(res.ramp.gradient, RAMP, atol=1e-5)
    truth = GEOMETRY.q_norm * u
    truth -= truth[inside].mean()
    assert np.abs(res.phase[inside] - truth[inside]).max() < 1e-4
    assert np.isnan(res.phase[~inside]).all()
    assert np.allclose(np.angle(res.object[inside]), res.phase[inside], atol=1e-5)


def test_displacement_within_five_hundredths_of_d_and_strain_within_bound():
    obj, inside, u, strain = _crystal()
    res = postprocess(_measured(obj), GEOMETRY)
    inner = _interior(inside)
    # u is known up to the constant the offset takes: compare about the mean
    err = (res.displacement - u) - (res.displacement - u)[inside].mean()
    assert np.abs(err[inner]).max() < 0.05 * GEOMETRY.d_spacing
    # central differences of a Gaussian of width WIDTH on voxels h ~ 85 nm: relative
    # error about (h / WIDTH)^2 / 6 < 1 % of the largest strain; 3 % bounds it
    top = np.abs(strain[inside]).max()
    assert np.abs(res.strain[inner] - strain[inner]).max() < 0.03 * top
    assert res.geometry == GEOMETRY and res.frame == "detector"
    # a voxel of the edge with no neighbour in the support along an axis has no strain
    assert np.isfinite(res.strain[inner]).all() and np.isnan(res.strain[~inside]).all()
    assert np.isfinite(res.strain[inside]).mean() > 0.95


def test_strain_in_the_laboratory_frame_matches_the_field():
    obj, inside, _, _ = _crystal()
    res = postprocess(_measured(obj), GEOMETRY, orthogonal=True)
    assert res.frame == "lab"
    v = res.voxel_size
    np.testing.assert_allclose(v, v[0])
    r = np.stack(np.meshgrid(*[(np.arange(s) - s // 2) * v[0] for s in res.object.shape],
                             indexing="ij"), -1)
    u = U0 * np.exp(-(r ** 2).sum(-1) / (2 * WIDTH ** 2))
    truth = -u * (r @ GEOMETRY.q_hat) / WIDTH ** 2
    inner = _interior(_interior(res.support))     # the resampled edge is blurred
    top = np.abs(truth[inner]).max()
    assert np.abs(res.strain[inner] - truth[inner]).max() < 0.1 * top


def test_offset_at_the_centre_of_mass_sets_that_voxel_to_zero():
    obj, inside, _, _ = _crystal()
    res = postprocess(_measured(obj), offset="com")
    centre = tuple(s // 2 for s in SHAPE)
    assert abs(res.phase[centre]) < 1e-6
    assert res.displacement is None and res.strain is None


def test_subpixel_centring_puts_the_centre_of_mass_on_the_array_centre():
    z, y, x = np.meshgrid(*[np.arange(24) - 12.0] * 3, indexing="ij")
    blob = np.exp(-((z - 2.4) ** 2 + (y + 1.3) ** 2 + (x - 0.6) ** 2) / 8).astype(np.complex64)
    support = np.abs(blob) > 0.3
    moved, s, shift = centre_object(blob, support, subpixel=True)
    np.testing.assert_allclose(shift, [-2.4, 1.3, -0.6], atol=0.05)
    com = [(np.abs(moved) * g).sum() / np.abs(moved).sum() for g in (z, y, x)]
    np.testing.assert_allclose(com, 0, atol=0.05)
    # the support moves with it (linear interpolation: its few surface voxels change)
    np.testing.assert_allclose([g[s].mean() for g in (z, y, x)], 0, atol=0.5)
    assert abs(int(s.sum()) - int(support.sum())) <= 0.2 * support.sum()


def test_large_ramp_is_removed_without_unwrapping_errors():
    # 2.5 rad per voxel would defeat a path-following unwrapper on its own; the phasor
    # estimate takes it away first
    obj, inside, _, _ = _crystal()
    n = np.meshgrid(*[np.arange(s) for s in SHAPE], indexing="ij", sparse=True)
    ramped = obj * np.exp(1j * 2.5 * n[2])
    _, phase, ramp = remove_phase_ramp(ramped, inside)
    assert abs(ramp.gradient[2] - 2.5) < 1e-4
    _, reference, _ = remove_phase_ramp(obj, inside)
    assert np.abs(phase[inside] - reference[inside]).max() < 1e-3


@pytest.mark.parametrize("bad, match", [
    (np.ones((8, 8), np.complex64), "obj must be a 3D array"),
    (np.ones((2, 8, 8, 8), np.complex64), "obj must be a 3D array"),
    (np.zeros((8, 8, 8), np.complex64), "support is empty"),
])
def test_bad_objects_are_refused_naming_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        postprocess(bad)


def test_bad_support_and_options_are_refused_naming_them():
    obj = np.ones((8, 8, 8), np.complex64)
    with pytest.raises(ValueError, match="support must have the object's shape"):
        postprocess(obj, support=np.ones((8, 8, 4), bool))
    with pytest.raises(ValueError, match="support is empty"):
        postprocess(obj, support=np.zeros((8, 8, 8), bool))
    with pytest.raises(ValueError, match="geometry is missing"):
        postprocess(obj, orthogonal=True)
    with pytest.raises(ValueError, match="offset must be"):
        postprocess(obj, offset="median")
    with pytest.raises(TypeError, match="geometry must be a BraggGeometry"):
        postprocess(obj, {"energy": 9000})
    with pytest.raises(ValueError, match="threshold"):
        support_from_amplitude(obj, threshold=1.5)
