"""Property-based tests (hypothesis) over the public functions, the readers and the
command-line parsers.

For every input the target either gives its documented result, or raises a clear
``ValueError``/``TypeError``/``OSError`` (``KeyError`` for a missing dataset) whose
message names the argument or the file: never a raw error from NumPy, torch or h5py,
never a NaN that was not in the input. Each target runs ``EXAMPLES[target]`` examples by
default and ten times as many under ``-m slow`` (see docs/robustness.md for the counts
and what the suite found).
"""

from __future__ import annotations

import collections
import contextlib
import io as stdio
import json
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdi_plugins import cli as cdi_cli
from cdi_plugins import io as cdi_io
from cdi_plugins import phase_retrieval
from cdi_plugins.metrics import prtf
from tomopy_dlalign import cli as tomo_cli
from tomopy_dlalign import fbp, io
from tomopy_dlalign.common.validation import as_array, as_center, as_theta
from tomopy_dlalign.models.jitternet import JitterNetConfig

CLEAR = (ValueError, TypeError, OSError, KeyError)

#: examples per target in the default (CI) run; ``-m slow`` multiplies them by 10
EXAMPLES = {"as_array": 150, "as_theta": 100, "as_center": 100, "fbp": 25,
            "phase_retrieval": 12, "prtf": 30, "model_config": 150, "random_bytes": 60,
            "truncated": 40, "layouts": 60, "external_refs": 42, "edf_headers": 40,
            "tomo_parser": 120, "cdi_parser": 120}
SCALES = [pytest.param(1, id="fast"), pytest.param(10, id="slow", marks=pytest.mark.slow)]


TALLY: collections.Counter = collections.Counter()


def run(target: str, scale: int, strategy, prop) -> None:
    """Check ``prop`` on ``EXAMPLES[target] * scale`` examples drawn from ``strategy``;
    log how many were tried and refused (``-s`` shows it)."""
    TALLY.clear()

    def counted(value):
        TALLY["tried"] += 1
        prop(value)

    settings(max_examples=EXAMPLES[target] * scale)(given(strategy)(counted))()
    print(f"\n{target}: {TALLY['tried']} examples, {TALLY['refused']} refused clearly")


def refused_clearly(exc: BaseException, *names: str) -> None:
    """The error is one of the clear kinds and names one of ``names``."""
    TALLY["refused"] += 1
    assert isinstance(exc, CLEAR), repr(exc)
    msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    assert any(n in msg for n in names), f"{type(exc).__name__} without a name: {msg}"


# --- validation ------------------------------------------------------------------

ARRAYS = st.one_of(
    hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8]),
               shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4)),
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.uint8,
                               np.complex128, np.bool_, np.dtype("U3"), np.dtype("S2")]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)))


@pytest.mark.parametrize("scale", SCALES)
def test_as_array_gives_finite_float32_or_names_the_argument(scale):
    def prop(value):
        try:
            out = as_array(value, "stack", ndim=(2, 3))
        except Exception as exc:  # noqa: BLE001 - the property is about which errors
            refused_clearly(exc, "stack")
            return
        assert out.dtype == np.float32 and out.ndim in (2, 3) and np.isfinite(out).all()
        assert not np.iscomplexobj(value)

    run("as_array", scale, ARRAYS, prop)


@pytest.mark.parametrize("scale", SCALES)
def test_as_theta_gives_radians_or_names_the_argument(scale):
    def prop(value):
        try:
            th = as_theta(value, nproj=4)
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, "theta")
            return
        assert th.shape == (4,) and np.isfinite(th).all() and np.abs(th).max() <= 8 * np.pi

    angles = st.one_of(hnp.arrays(np.float64, 4, elements=st.floats(-7, 7)),
                       hnp.arrays(np.float64, st.integers(0, 6)))
    run("as_theta", scale, angles, prop)


@pytest.mark.parametrize("scale", SCALES)
def test_as_center_gives_a_finite_centre_or_names_it(scale):
    values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                       st.lists(st.floats(-100, 100), max_size=3))

    def prop(value):
        try:
            c = as_center(value, 32)
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, "center")
            return
        assert np.isfinite(c) and -32 <= c <= 64

    run("as_center", scale, values, prop)


# --- public functions ------------------------------------------------------------

@pytest.mark.parametrize("scale", SCALES)
def test_fbp_gives_finite_slices_or_names_the_argument(scale):
    case = st.tuples(
        hnp.arrays(np.float64, (6, 1, 16), elements=st.floats(-1e6, 1e6)),
        st.one_of(st.none(), st.floats(-20, 40)))
    theta = np.linspace(0, np.pi, 6, endpoint=False)

    def prop(args):
        prj, center = args
        try:
            rec = fbp(prj, theta, center=center, device="cpu")
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, "center", "tomo", "prj")
            return
        assert rec.shape == (1, 16, 16) and np.isfinite(rec).all()

    run("fbp", scale, case, prop)


PATTERNS = st.one_of(
    hnp.arrays(np.float64, (8, 8), elements=st.floats(0, 1e3)),
    hnp.arrays(np.float64, (8, 8), elements=st.one_of(
        st.floats(0, 1e3), st.just(0.0), st.floats(1e30, 3e38), st.just(-1.0))))


@pytest.mark.parametrize("scale", SCALES)
def test_phase_retrieval_gives_finite_objects_or_names_the_argument(scale):
    case = st.tuples(PATTERNS, st.one_of(st.integers(1, 3), st.integers(-2, 0)))

    def prop(args):
        intensity, n_iter = args
        try:
            res = phase_retrieval(intensity, algorithm="er", n_iter=n_iter, n_runs=1, seed=0,
                                  device="cpu", shrinkwrap=False, free_fraction=0)
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, "intensity", "n_iter", "support")
            return
        assert np.isfinite(res.objects).all() and np.isfinite(res.chi2).all()

    run("phase_retrieval", scale, case, prop)


@pytest.mark.parametrize("scale", SCALES)
def test_prtf_gives_a_curve_or_names_the_argument(scale):
    obj = np.zeros((8, 8), np.complex64)
    obj[3:5, 2:6] = 1
    case = st.tuples(PATTERNS, hnp.arrays(np.bool_, (8, 8)))

    def prop(args):
        intensity, mask = args
        try:
            q, curve = prtf(np.stack([obj, obj]), intensity, mask=mask)
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, "intensity", "mask")
            return
        # a shell may be undefined (no measured intensity in it), never the whole curve
        assert np.isfinite(curve).any() and not np.isinf(curve).any()

    run("prtf", scale, case, prop)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c,
                                                                       max_size=4),
                    max_leaves=10)
CONFIGS = st.one_of(
    st.text(max_size=30),
    JSON.map(json.dumps),
    st.fixed_dictionaries({}, optional={"size": st.integers(-10, 5000) | JSON,
                                        "widths": st.lists(st.integers(-5, 10**6)) | JSON,
                                        "blocks_per_stage": st.integers(-2, 50) | JSON}
                          ).map(json.dumps),
    st.fixed_dictionaries({}, optional={"size": st.integers(16, 128),
                                        "widths": st.lists(st.integers(1, 64), min_size=1,
                                                           max_size=4),
                                        "blocks_per_stage": st.integers(1, 3)}
                          ).map(json.dumps))


@pytest.mark.parametrize("scale", SCALES)
def test_model_config_from_metadata_is_bounded_or_refused(scale):
    def prop(text):
        try:
            cfg = JitterNetConfig.from_json(text, "w.safetensors")
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, "w.safetensors", "JitterNet")
            return
        assert 16 <= cfg.size <= 1024 and max(cfg.widths) <= 512

    run("model_config", scale, CONFIGS, prop)


# --- readers ---------------------------------------------------------------------

def _tmpfile(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(name)


READERS = {
    "tomopy_dlalign.io.read": lambda p: io.read(p),
    "read_dx": lambda p: io.read_dx(p),
    "read_cxi": lambda p: cdi_io.read_cxi(p),
    "cdi read_dx": lambda p: cdi_io.read_dx(p),
}


def _read_all(path: Path) -> None:
    for name, reader in READERS.items():
        try:
            out = reader(path)
        except Exception as exc:  # noqa: BLE001
            refused_clearly(exc, path.name)
            continue
        arrays = [a for a in (out if isinstance(out, tuple) else (out.data,))
                  if isinstance(a, np.ndarray)]
        assert arrays and arrays[0].size, name  # the data: real numbers, not empty
        for a in arrays:
            assert a.dtype.kind in "iufb", (name, a.dtype)
            assert a.dtype.kind != "f" or np.isfinite(a).all(), name


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@pytest.mark.parametrize("scale", SCALES)
def test_readers_refuse_random_bytes_clearly(scale):
    data = st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(
        lambda b: HDF5_SIGNATURE + b))

    def prop(content):
        for suffix in (".h5", ".cxi"):
            path = _tmpfile(content, suffix)
            try:
                _read_all(path)
            finally:
                path.unlink()

    run("random_bytes", scale, data, prop)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    io.write_dx(d / "scan.h5", np.ones((4, 2, 8), np.float32),
                flat=np.ones((1, 2, 8), np.float32), theta=np.linspace(0, np.pi, 4))
    cdi_io.write_cxi(d / "p.cxi", np.ones((8, 8), np.float32), np.eye(8, dtype=bool))
    return [(d / "scan.h5").read_bytes(), (d / "p.cxi").read_bytes()]


@pytest.mark.parametrize("scale", SCALES)
def test_readers_refuse_truncated_files_clearly(scale, valid_files):
    def prop(args):
        which, fraction = args
        content = valid_files[which]
        path = _tmpfile(content[:int(len(content) * fraction)], ".h5")
        try:
            _read_all(path)
        finally:
            path.unlink()

    run("truncated", scale, st.tuples(st.integers(0, 1), st.floats(0, 0.999)), prop)


DATASETS = st.dictionaries(
    st.sampled_from(["exchange/data", "exchange/theta", "exchange/data_white",
                     "exchange/data_dark", "exchange/mask", "entry_1/data_1/data",
                     "entry_1/instrument_1/detector_1/data",
                     "entry_1/instrument_1/detector_1/mask", "entry_1/image_1/data",
                     "process/acquisition/rotation/rotation_start", "other/x"]),
    hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8,
                                      np.complex64, np.bool_, np.dtype("S3")]),
               shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)),
    max_size=4)


def _layout_prop(args):
    datasets, units = args
    fd, name = tempfile.mkstemp(suffix=".h5")
    os.close(fd)
    path = Path(name)
    try:
        with h5py.File(path, "w") as f:
            for key, value in datasets.items():
                with contextlib.suppress(ValueError, TypeError):  # a name under a dataset
                    f[key] = value
                    if units is not None and key.endswith("theta"):
                        f[key].attrs["units"] = units
        _read_all(path)
    finally:
        path.unlink()


@pytest.mark.parametrize("scale", SCALES)
def test_readers_refuse_wrong_layouts_clearly(scale):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # radians-looking angles warn, by design
        run("layouts", scale, st.tuples(DATASETS, st.sampled_from(
            [None, "rad", "degrees", "parsecs"])), _layout_prop)


# --- references to other files -------------------------------------------------

SENTINEL = 4242.0  # the value of every frame outside the scan's folder
#: where a reference of the scan file points: inside its folder (beside, below), out of
#: it (``..``, an absolute path, a system file, a device) or at nothing
PLACES = ("beside", "below", "dotdot", "elsewhere", "etc_passwd", "dev_zero", "missing")
OUTSIDE = ("dotdot", "elsewhere", "etc_passwd", "dev_zero")


def _target(kind: str, place: str, scan: Path, other: Path) -> str:
    """Make the data a reference of ``kind`` reaches at ``place`` (frames of 1 inside
    the scan folder, of SENTINEL outside) and return the name stored in the file;
    external storage, looked up from the current folder, is named absolutely inside."""
    fixed = {"etc_passwd": "/etc/passwd", "dev_zero": "/dev/zero", "missing": "nothing.h5"}
    if place in fixed:
        return fixed[place]
    folder = {"beside": scan, "below": scan / "sub", "dotdot": other, "elsewhere": other}[place]
    folder.mkdir(exist_ok=True)
    frames = np.full((4, 2, 8), 1.0 if folder in (scan, scan / "sub") else SENTINEL, "<f4")
    if kind == "storage":
        frames.tofile(folder / "t.raw")
        name = folder / "t.raw"
    else:
        with h5py.File(folder / "t.h5", "w") as f:
            f["data"] = frames
        name = folder / "t.h5"
    if place == "dotdot":
        return os.path.join("..", other.name, name.name)
    return str(name) if kind == "storage" or place == "elsewhere" else os.path.relpath(name, scan)


def _master(path: Path, kind: str, name: str, layout: str) -> None:
    data = "exchange/data" if layout == "dx" else "entry_1/data_1/data"
    with h5py.File(path, "w") as f:
        if kind == "link":
            f[data] = h5py.ExternalLink(name, "/data")
        elif kind == "vds":
            vds = h5py.VirtualLayout((4, 2, 8), "<f4")
            vds[...] = h5py.VirtualSource(name, "data", shape=(4, 2, 8))
            f.create_virtual_dataset(data, vds, fillvalue=0)
        else:
            f.create_dataset(data, shape=(4, 2, 8), dtype="<f4", external=[(name, 0, 256)])
        if layout == "dx":
            f["exchange/theta"] = np.linspace(0, 180, 4, endpoint=False)


def _references_prop(args):
    kind, place, layout = args
    top = Path(tempfile.mkdtemp())
    try:
        scan, other = top / "scan", top / "other"
        scan.mkdir()
        other.mkdir()
        path = scan / "master.h5"
        _master(path, kind, _target(kind, place, scan, other), layout)
        for name, reader in READERS.items():
            try:
                out = reader(path)
            except Exception as exc:  # noqa: BLE001 - the property is about which errors
                refused_clearly(exc, path.name)
                continue
            assert place not in OUTSIDE, (name, kind, place)  # read outside the folder
            arrays = [a for a in (out if isinstance(out, tuple) else (out.data,))
                      if isinstance(a, np.ndarray)]
            assert not any((a == SENTINEL).any() for a in arrays), (name, kind, place)
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("scale", SCALES)
def test_readers_never_read_outside_the_scan_folder(scale):
    run("external_refs", scale, st.tuples(st.sampled_from(["link", "vds", "storage"]),
                                          st.sampled_from(PLACES),
                                          st.sampled_from(["dx", "cxi"])), _references_prop)


EDF_ITEMS = {"UnsignedByte": 1, "UnsignedShort": 2, "SignedInteger": 4, "FloatValue": 4,
             "DoubleValue": 8}
EDF_CASES = st.tuples(st.integers(1, 5), st.integers(1, 5), st.sampled_from(list(EDF_ITEMS)),
                      st.one_of(st.none(), st.just("true"), st.integers(0, 300)),
                      st.integers(0, 300))


def _edf_prop(args):
    dim1, dim2, dtype, size, length = args
    pixels = dim1 * dim2
    declared = pixels * EDF_ITEMS[dtype]
    size = declared if size == "true" else size
    header = {"ByteOrder": "LowByteFirst", "DataType": dtype, "Dim_1": dim1, "Dim_2": dim2}
    if size is not None:
        header["Size"] = size
    text = "{\n" + "".join(f"{k} = {v} ;\n" for k, v in header.items())
    path = _tmpfile(text.ljust(510).encode() + b"}\n" + bytes(range(256))[:length] * 2,
                    ".edf")
    try:
        frames = cdi_io.read_frames(path)
    except Exception as exc:  # noqa: BLE001
        refused_clearly(exc, path.name)
        return
    finally:
        path.unlink()
    present = min(2 * length, size) if size is not None else 2 * length
    # read only when the file holds every declared byte (nothing zero-padded) and the
    # header agrees with itself and with the payload's bytes per pixel
    assert present >= declared, args
    assert size == declared if size is not None else (
        present % pixels or present // pixels == EDF_ITEMS[dtype]), args
    assert frames.data.shape == (1, dim2, dim1)  # random bytes: any values, NaN included


@pytest.mark.parametrize("scale", SCALES)
def test_edf_headers_that_lie_are_refused_clearly(scale):
    run("edf_headers", scale, EDF_CASES, _edf_prop)


# --- command-line parsers --------------------------------------------------------

WORDS = ["recon", "align", "train", "make-dataset", "simulate", "phase", "cnn", "predict",
         "evaluate", "cluster", "-o", "--iters", "--iter", "--center", "auto", "0", "-1",
         "1e400", "nan", "x.h5", "--sino", "--size", "--widths", "--debug", "--overwrite",
         "-v", "--runs", "--algorithm", "(HIO**2", "--help-me", "", "--seed", "--n"]


def _parse(build, argv):
    err = stdio.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdio.StringIO()):
        try:
            build().parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2), exc.code  # usage error: one message, exit 2
            if exc.code == 2:
                assert "error:" in err.getvalue()


def _parser(main_module):
    from tomopy_dlalign.common.cli import add_common_options

    def build():
        p = main_module.build_parser()
        add_common_options(p)
        return p
    return build


@pytest.mark.parametrize("scale", SCALES)
def test_tomopy_parser_accepts_or_gives_a_usage_error(scale):
    build = _parser(tomo_cli)
    run("tomo_parser", scale, st.lists(st.sampled_from(WORDS) | st.text(max_size=5),
                                       max_size=6), lambda argv: _parse(build, argv))


@pytest.mark.parametrize("scale", SCALES)
def test_cdi_parser_accepts_or_gives_a_usage_error(scale):
    build = _parser(cdi_cli)
    run("cdi_parser", scale, st.lists(st.sampled_from(WORDS) | st.text(max_size=5),
                                      max_size=6), lambda argv: _parse(build, argv))
