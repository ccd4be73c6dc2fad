import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tomopy_dlalign.recon.projectors import astra_cuda_usable


def pytest_configure(config):
    # each pytest-xdist worker takes its share of the cores: torch would take them all
    # in every worker, and workers that oversubscribe the cores run slower together
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(config, items):
    # GPU tests skip cleanly on machines without CUDA (CI never has one).
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def cuda_astra():
    if not astra_cuda_usable():
        pytest.skip("ASTRA sees no CUDA GPU")
    return True


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of 2 worker processes with 1 thread each, shared by every test that
    runs tasks on Dask (starting one costs seconds); skipped where Dask is missing."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture
def interrupt_cli():
    """``run(name, argv, cwd)``: start console script ``name`` as pip's wrapper does (the
    entry point from pyproject.toml, with a line on stdout once it is imported), send
    SIGINT 0.2 s later, while the command line's heavy imports run, and return
    ``(exit code, stderr)``."""
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]

    def run(name: str, argv: list, cwd) -> tuple:
        module, func = scripts[name].split(":")
        code = (f"import sys; from {module} import {func} as main; "
                f"print('started', flush=True); sys.argv[0] = {name!r}; sys.exit(main())")
        p = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "started"
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=15)
        finally:
            p.kill()
        return p.returncode, err

    return run


@pytest.fixture(scope="session")
def h5_reference():
    """``make(group, name, kind, target, source, shape, dtype)``: a dataset ``name`` in the
    open HDF5 ``group`` that points at ``target`` (a file name as stored): an external
    link (``kind="link"``) or a virtual dataset (``"vds"``) onto dataset ``source`` of
    ``target``, or external storage of raw bytes (``"storage"``)."""
    import h5py

    def make(group, name, kind, target, source, shape, dtype):
        if kind == "link":
            group[name] = h5py.ExternalLink(str(target), source)
        elif kind == "vds":
            layout = h5py.VirtualLayout(shape, dtype)
            layout[...] = h5py.VirtualSource(str(target), source, shape=shape)
            group.create_virtual_dataset(name, layout)
        else:
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            group.create_dataset(name, shape=shape, dtype=dtype,
                                 external=[(str(target), 0, nbytes)])

    return make


@pytest.fixture(scope="session")
def one_line():
    """``check(stderr)``: the error's line of a command line's stderr, checking that it is
    the only one and that there is no traceback."""
    def check(err: str) -> str:
        assert "Traceback" not in err, err
        lines = [ln for ln in err.splitlines() if ": error: " in ln]
        assert len(lines) == 1, err
        return lines[0]
    return check


class FigureChecks:
    """The report figures written while a test runs (``saved``, in the order written) and
    what a scientist needs to read one at a glance: every image panel on a colour bar
    whose label gives a unit in parentheses, axis labels with units (on the panel or on
    one whose axis it shares), legends off the data, and no two panels' labels, titles or
    legends overlapping."""

    def __init__(self):
        self.saved = []

    @staticmethod
    def _images(ax):
        return [im for im in ax.get_images() if im.get_array().ndim == 2]

    def bare_images(self, fig) -> list[str]:
        """What is missing, panel by panel (empty when nothing is)."""
        bars = [im.colorbar for ax in fig.axes for im in [*ax.get_images(), *ax.collections]
                if getattr(im, "colorbar", None) is not None]
        missing = []
        for ax in fig.axes:
            for im in self._images(ax):
                same = [b for b in bars if b.mappable.get_cmap().name == im.get_cmap().name
                        and np.allclose(b.mappable.get_clim(), im.get_clim(), equal_nan=True)]
                if not any("(" in b.ax.get_ylabel() + b.ax.get_xlabel() for b in same):
                    missing.append(f"{ax.get_title()!r}: no colour bar with a unit")
                for axis, shared in (("x", ax.get_shared_x_axes()), ("y", ax.get_shared_y_axes())):
                    labels = [getattr(a, f"get_{axis}label")() for a in shared.get_siblings(ax)]
                    if not any("(" in label for label in labels):
                        missing.append(f"{ax.get_title()!r}: no {axis} label with a unit")
        return missing

    @staticmethod
    def renderer(fig):
        """A renderer of ``fig`` as saved (pyplot's close leaves it no drawing canvas)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return FigureCanvasAgg(fig).get_renderer()

    def legends_on_data(self, fig) -> list[str]:
        """Titles of the axes whose legend lies on the data area of any axes."""
        renderer = self.renderer(fig)
        areas = [ax.get_window_extent(renderer) for ax in fig.axes if ax.axison]
        return [ax.get_title() for ax in fig.axes if ax.get_legend() is not None
                and any(ax.get_legend().get_window_extent(renderer).overlaps(area)
                        for area in areas)]

    def overlapping(self, fig) -> list[tuple[int, int]]:
        """Pairs of axes (colour bars included) whose decorations overlap."""
        renderer = self.renderer(fig)
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes
                 if ax.get_visible() and ax.axison]
        return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                if boxes[i].overlaps(boxes[j])]


@pytest.fixture
def figures(monkeypatch):
    """A :class:`FigureChecks` that sees every figure saved during the test."""
    from matplotlib.figure import Figure

    checks, original = FigureChecks(), Figure.savefig

    def keep(fig, *args, **kwargs):
        checks.saved.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return checks
