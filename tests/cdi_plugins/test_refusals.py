"""Public CDI functions and readers refuse what they cannot honour, naming the argument,
instead of returning a silently wrong result."""

import h5py
import numpy as np
import pytest

from cdi_plugins import io, phase_retrieval
from cdi_plugins.cnn.model import CNNConfig
from cdi_plugins.metrics import prtf

OBJ = np.zeros((16, 16), np.complex64)
OBJ[6:10, 5:11] = 1
I = (np.abs(np.fft.fftshift(np.fft.fft2(OBJ, norm="ortho"))) ** 2).astype(np.float32)


@pytest.mark.parametrize("n_iter", [0, -1])
def test_phase_retrieval_refuses_n_iter_below_one(n_iter):
    with pytest.raises(ValueError, match="n_iter must be a positive integer"):
        phase_retrieval(I, algorithm="er", n_iter=n_iter, device="cpu")


def test_phase_retrieval_refuses_complex_intensity():
    with pytest.raises(TypeError, match="intensity must be real"):
        phase_retrieval(I.astype(np.complex64), algorithm="er", n_iter=2, device="cpu")


def test_intensity_that_would_overflow_float32_is_refused():
    with pytest.raises(ValueError, match="intensity totals .* overflow"):
        phase_retrieval(I / I.max() * 1e38, algorithm="er", n_iter=2, device="cpu")
    with pytest.raises(ValueError, match="beyond the float32 range"):
        phase_retrieval(I.astype(np.float64) * 1e40, algorithm="er", n_iter=2, device="cpu")


def test_prtf_refuses_all_masked_and_zero_patterns():
    objs = np.stack([OBJ, OBJ])
    with pytest.raises(ValueError, match="mask marks every pixel"):
        prtf(objs, I, mask=np.ones(I.shape, bool))
    with pytest.raises(ValueError, match="intensity is zero on every measured pixel"):
        prtf(objs, np.zeros_like(I))
    measured = np.zeros(I.shape, bool)
    measured[I > 0] = True
    with pytest.raises(ValueError, match="zero on every measured"):
        prtf(objs, I, mask=measured)  # only zeros left measured


def _cxi(path, data):
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = data
    return path


@pytest.mark.parametrize("data, error, match", [
    (np.ones(8), ValueError, "must be a 2D pattern"),
    (np.ones((1, 1, 8, 8)), ValueError, "must be a 2D pattern"),
    (np.zeros((0, 8)), ValueError, "must be a 2D pattern"),
    (np.array([b"ab", b"cd"]), TypeError, "string"),
    (np.ones((8, 8), np.complex64), TypeError, "complex"),
    (np.ones((8, 8), bool), TypeError, "boolean"),
])
def test_read_cxi_refuses_wrong_rank_or_type(tmp_path, data, error, match):
    with pytest.raises(error, match=match):
        io.read_cxi(_cxi(tmp_path / "p.cxi", data))


def test_cnn_config_from_crafted_metadata_is_a_clear_error():
    for text, match in [("{", "not valid JSON"), ("[]", "JSON object"),
                        ('{"encoder": "abc"}', "list of 1 to 8"),
                        ('{"encoder": [8, 16, 32, 100000]}', "outside"),
                        ('{"size": 1e9}', "int"), ('{"evil": 1}', "unknown keys")]:
        with pytest.raises(ValueError, match=match):
            CNNConfig.from_json(text, "w.safetensors")
