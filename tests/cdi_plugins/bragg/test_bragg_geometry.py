"""The detector-to-laboratory transform of a Bragg scan against hand-computed geometry."""

import math

import numpy as np
import pytest

from cdi_plugins.bragg import BraggGeometry, orthogonalise

LAM, D, P = 1.0e-10, 1.0, 55e-6
# 2theta = 90 deg: Q = k (-1, 1, 0); a rocking step of p / (D sqrt 2) rad makes the
# rocking and column steps equally long, 135 deg apart: real-space voxels sheared by 45 deg
STEP = math.degrees(P / (D * math.sqrt(2)))
G90 = BraggGeometry(wavelength=LAM, two_theta=90.0, distance=D, pixel_size=P,
                    rocking_step=STEP)


def test_reciprocal_steps_match_the_hand_computed_vectors():
    k = 2 * math.pi / LAM
    np.testing.assert_allclose(G90.q_vector, k * np.array([-1, 1, 0]), rtol=1e-12)
    assert math.isclose(G90.d_spacing, LAM / math.sqrt(2), rel_tol=1e-12)
    dq = k * P / D
    expected = np.array([[dq / math.sqrt(2), 0, -dq],        # columns: frame, row, column
                         [dq / math.sqrt(2), 0, 0],
                         [0, -dq, 0]])
    np.testing.assert_allclose(G90.reciprocal_basis(), expected, atol=1e-9 * dq)


def test_real_space_basis_is_the_dual_grid():
    shape = (16, 20, 24)
    a = G90.real_space_basis(shape)
    np.testing.assert_allclose(G90.reciprocal_basis().T @ a,
                               np.diag(2 * math.pi / np.array(shape)), atol=1e-12)
    # along a detector row the voxel is lambda D / (N p), as in forward CDI
    assert math.isclose(np.linalg.norm(a[:, 1]), LAM * D / (20 * P), rel_tol=1e-12)
    # by hand: a_1 = (0, 0, -lambda D / (N_1 p)); a_0, a_2 in the horizontal plane, 45 deg apart
    np.testing.assert_allclose(a[:, 1], [0, 0, -LAM * D / (20 * P)], atol=1e-15)
    cos = a[:, 0] @ a[:, 2] / np.linalg.norm(a[:, 0]) / np.linalg.norm(a[:, 2])
    assert math.isclose(abs(cos), math.cos(math.radians(45)), rel_tol=1e-9)


def test_known_point_lands_at_its_hand_computed_laboratory_position():
    shape = (24, 24, 24)
    vol = np.zeros(shape)
    vol[12 + 3, 12, 12 - 2] = 1.0            # 3 frames and -2 columns off the centre
    lab, v = orthogonalise(vol, G90)
    expected = G90.real_space_basis(shape) @ np.array([3, 0, -2]) / v \
        + np.array(lab.shape) // 2
    grids = np.meshgrid(*[np.arange(s) for s in lab.shape], indexing="ij")
    com = [(lab * g).sum() / lab.sum() for g in grids]
    np.testing.assert_allclose(com, expected, atol=1e-6)


def test_sheared_cube_comes_back_axis_aligned():
    shape = (32, 32, 32)
    a = G90.real_space_basis(shape)
    v = np.linalg.norm(a, axis=0).min()
    half = 5.3 * v                           # the cube's half side in the lab frame
    n = np.stack(np.meshgrid(*[np.arange(s) - s // 2 for s in shape], indexing="ij"), -1)
    sheared = (np.abs(n @ a.T) < half).all(-1)
    # on the detector grid the cube is not a box: its bounding box is far from full
    box = [np.ptp(np.nonzero(sheared.any(axis=tuple(j for j in range(3) if j != k)))[0]) + 1
           for k in range(3)]
    assert sheared.sum() < 0.7 * np.prod(box)
    lab, v_out = orthogonalise(sheared, G90)
    assert v_out == v and lab.dtype == bool
    r = np.stack(np.meshgrid(*[(np.arange(s) - s // 2) * v for s in lab.shape],
                             indexing="ij"), -1)
    dist = np.abs(r).max(-1)                 # max-norm distance from the centre
    assert lab[dist < half - 1.5 * v].all()  # full inside, up to the voxel at each face
    assert not lab[dist > half + 1.5 * v].any()
    # each face is a plane of the grid: the extent along x, y, z is the side
    for k in range(3):
        used = np.nonzero(lab.any(axis=tuple(j for j in range(3) if j != k)))[0]
        assert abs((np.ptp(used) + 1) * v - 2 * half) <= 1.5 * v


def test_complex_volume_resampled_by_parts():
    vol = np.full((16, 16, 16), 2 - 1j, np.complex64)
    lab, _ = orthogonalise(vol, G90, voxel_size=1e-7, shape=(8, 8, 8))
    assert lab.dtype == np.complex64 and lab.shape == (8, 8, 8)
    np.testing.assert_allclose(lab[4, 4, 4], 2 - 1j, rtol=1e-6)


def test_energy_and_d_spacing_give_the_bragg_angle():
    g = BraggGeometry(energy=9000, d_spacing=2.338e-10, distance=1, pixel_size=(55e-6, 75e-6),
                      rocking_step=-0.01)
    assert math.isclose(g.wavelength, 1.239841984e-6 / 9000)
    assert math.isclose(math.sin(math.radians(g.two_theta / 2)),
                        g.wavelength / (2 * g.d_spacing))
    assert g.pixel_size == (55e-6, 75e-6) and g.rocking_step == -0.01
    assert BraggGeometry(**g.as_dict()) == g
    assert BraggGeometry(energy=9000, q_norm=2 * math.pi / 2.338e-10, distance=1,
                         pixel_size=55e-6, rocking_step=0.01).d_spacing == pytest.approx(2.338e-10)


@pytest.mark.parametrize("drop, match", [
    ("energy", "BraggGeometry.energy is missing"),
    ("d_spacing", "BraggGeometry.d_spacing is missing"),
    ("distance", "BraggGeometry.distance is missing"),
    ("pixel_size", "BraggGeometry.pixel_size is missing"),
    ("rocking_step", "BraggGeometry.rocking_step is missing"),
])
def test_missing_field_is_named(drop, match):
    fields = dict(energy=9000, d_spacing=2.338e-10, distance=1.0, pixel_size=55e-6,
                  rocking_step=0.005)
    del fields[drop]
    with pytest.raises(ValueError, match=match):
        BraggGeometry(**fields)


@pytest.mark.parametrize("change, match", [
    ({"distance": -1}, "BraggGeometry.distance must be a positive number"),
    ({"rocking_step": 0}, "BraggGeometry.rocking_step must be a non-zero"),
    ({"pixel_size": (1e-5, 1e-5, 1e-5)}, "BraggGeometry.pixel_size must be one number"),
    ({"wavelength": 1e-10}, "energy and wavelength disagree"),
    ({"two_theta": 40.0}, "two_theta and the reflection's Bragg angle disagree"),
    ({"d_spacing": 1e-11}, "no Bragg reflection"),
])
def test_bad_field_is_named(change, match):
    fields = dict(energy=9000, d_spacing=2.338e-10, distance=1.0, pixel_size=55e-6,
                  rocking_step=0.005)
    with pytest.raises(ValueError, match=match):
        BraggGeometry(**{**fields, **change})


def test_orthogonalise_refuses_bad_inputs():
    with pytest.raises(ValueError, match="volume must be a 3D array"):
        orthogonalise(np.ones((4, 4)), G90)
    with pytest.raises(TypeError, match="geometry must be a BraggGeometry"):
        orthogonalise(np.ones((4, 4, 4)), None)
    with pytest.raises(ValueError, match="voxel_size must be a positive"):
        orthogonalise(np.ones((4, 4, 4)), G90, voxel_size=-1)
