import numpy as np
import pytest

from tomopy_dlalign import simulate
from tomopy_dlalign.recon.projectors import make_projector

BACKENDS = ["cpu", "torch", pytest.param("astra-cuda", marks=pytest.mark.gpu)]
N = 64
THETA = np.linspace(0, np.pi, 90, endpoint=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("center", [None, 29.3, 36.5])
def test_adjoint_identity_holds_to_1e4(backend, center, rng):
    A = make_projector(THETA, N, center, backend=backend)
    x = rng.random((3, N, N)).astype(np.float32)
    y = rng.random((THETA.size, 3, N)).astype(np.float32)
    lhs = np.vdot(A.forward(x).astype(np.float64), y)
    rhs = np.vdot(x.astype(np.float64), A.adjoint(y).astype(np.float64))
    assert abs(lhs - rhs) / abs(lhs) < 1e-4


def _disk_image(x0, y0, r):
    return simulate.pixelated(lambda x, y: (x - x0) ** 2 + (y - y0) ** 2 < r**2, N)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("center", [None, 28.75])
def test_disk_projection_matches_analytic_radon_within_2_percent(backend, center):
    A = make_projector(THETA, N, center, backend=backend)
    img = _disk_image(5.0, -8.0, 18.0)
    proj = A.forward(img[None])[:, 0]
    truth = simulate.disk_sinogram(THETA, N, 18.0, 5.0, -8.0, center=center)
    assert np.linalg.norm(proj - truth) / np.linalg.norm(truth) < 0.02


@pytest.mark.parametrize("backend", BACKENDS)
def test_ellipse_projection_matches_analytic_radon_within_2_percent(backend):
    a, b, phi, x0, y0 = 22.0, 11.0, 0.6, -4.0, 3.0
    c, s = np.cos(phi), np.sin(phi)

    def inside(x, y):
        xr = (x - x0) * c + (y - y0) * s
        yr = -(x - x0) * s + (y - y0) * c
        return (xr / a) ** 2 + (yr / b) ** 2 < 1

    img = simulate.pixelated(inside, N)
    proj = make_projector(THETA, N, backend=backend).forward(img[None])[:, 0]
    truth = simulate.ellipse_sinogram(THETA, N, a, b, phi, x0, y0)
    assert np.linalg.norm(proj - truth) / np.linalg.norm(truth) < 0.02


def test_cpu_and_torch_backends_agree_off_centre():
    img = simulate.shepp_logan(N, 2)
    a = make_projector(THETA, N, 30.2, backend="cpu").forward(img)
    b = make_projector(THETA, N, 30.2, backend="torch").forward(img)
    # two discretisations (Joseph-style line model vs bilinear ray sampling)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.02


def test_point_projects_to_the_rotation_centre():
    # A centred blob projects onto detector position `center` at every angle.
    img = _disk_image(0.0, 0.0, 2.0)
    for center in (32.0, 27.5):
        p = make_projector(THETA, N, center, backend="cpu").forward(img[None])[:, 0]
        centroid = (p * (np.arange(N) + 0.5)).sum(1) / p.sum(1)
        assert np.allclose(centroid, center, atol=0.05)


def test_projector_accepts_and_returns_torch_tensors():
    import torch

    A = make_projector(THETA, N, backend="cpu")
    out = A(torch.ones((1, N, N)))
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (THETA.size, 1, N)
    back = A.T(out)
    assert tuple(back.shape) == (1, N, N)


def test_system_matrix_is_cached_per_geometry():
    from tomopy_dlalign.recon.projectors import cached_matrices

    theta = THETA + 0.002  # a geometry no other test builds
    make_projector(theta, N, 31.0, backend="cpu").forward(np.ones((1, N, N), np.float32))
    # an equal geometry (a copy of theta) finds both matrices already built
    assert cached_matrices(theta.copy(), N, 31.0).built == ("a", "at")


@pytest.mark.parametrize("change", ["theta", "ncol", "center"])
def test_any_change_of_geometry_gets_its_own_matrices(change):
    from tomopy_dlalign.recon.projectors import cached_matrices

    geometry = {"theta": THETA, "ncol": N, "center": 31.0}
    other = dict(geometry)
    other[change] = {"theta": THETA + 1e-9, "ncol": N + 1, "center": 31.0 + 1e-9}[change]
    assert cached_matrices(**geometry) is not cached_matrices(**other)
    assert cached_matrices(**geometry) is cached_matrices(**geometry)


def test_least_recently_used_geometries_leave_the_memory_cache(monkeypatch):
    from tomopy_dlalign.recon import projectors

    monkeypatch.setattr(projectors, "_MATRIX_CACHE_SIZE", 2)
    first = projectors.cached_matrices(THETA, 16, 8.0)
    projectors.cached_matrices(THETA, 16, 9.0)
    assert projectors.cached_matrices(THETA, 16, 8.0) is first   # used again: kept
    projectors.cached_matrices(THETA, 16, 10.0)                   # evicts 9.0, not 8.0
    assert projectors.cached_matrices(THETA, 16, 8.0) is first


def test_fbp_keeps_no_matrix_and_uses_one_in_memory_to_the_same_result():
    # fbp computes the back-projection's weights block by block as it goes; once MLEM
    # (here: prepare) has the matrix in memory, fbp takes its rows instead
    import tomopy_dlalign as tda
    from tomopy_dlalign.recon.projectors import cached_matrices

    theta = THETA + 0.001  # a geometry no other test builds
    sino = make_projector(theta, N, 30.6, backend="torch").forward(simulate.shepp_logan(N, 3))
    on_the_fly = tda.fbp(sino, theta, center=30.6)
    assert cached_matrices(theta, N, 30.6).built == ()
    make_projector(theta, N, 30.6, backend="cpu").prepare()
    from_matrix = tda.fbp(sino, theta, center=30.6)
    np.testing.assert_allclose(from_matrix, on_the_fly, rtol=0, atol=1e-6 * np.abs(
        on_the_fly).max())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"theta": np.full(5, 90.0)}, "radians"),
        ({"theta": np.zeros((2, 3))}, "theta must be 1D"),
        ({"ncol": 1}, "ncol must be an integer >= 2"),
        ({"center": np.nan}, "center must be finite"),
        ({"backend": "nope"}, "no projector named 'nope'"),
    ],
)
def test_bad_geometry_gives_clear_error(kwargs, message):
    args = {"theta": THETA, "ncol": N, "center": None, "backend": "cpu"} | kwargs
    with pytest.raises((ValueError, KeyError), match=message):
        make_projector(**args)


def test_wrong_volume_shape_is_rejected():
    A = make_projector(THETA, N, backend="cpu")
    with pytest.raises(ValueError, match="vol must have shape"):
        A.forward(np.zeros((1, N, N + 1), np.float32))


def test_auto_backend_avoids_a_matrix_larger_than_memory():
    import torch

    from tomopy_dlalign.recon.projectors import default_backend, system_matrix_bytes

    cpu = torch.device("cpu")
    assert default_backend(cpu, 181, 128) == "cpu"
    assert system_matrix_bytes(181, 2048) > 20e9
    assert default_backend(cpu, 181, 1 << 16) == "torch"


def test_system_matrix_size_estimate_is_close():
    from tomopy_dlalign.recon.projectors import system_matrix_bytes
    from tomopy_dlalign.recon.system_matrix import system_matrix

    mat = system_matrix(THETA, N)
    assert 0.8 < system_matrix_bytes(THETA.size, N) / (2 * 8 * mat.nnz) < 1.25
