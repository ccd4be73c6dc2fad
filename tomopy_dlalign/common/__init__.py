"""Plumbing shared by both packages, imported by its public names.

- :mod:`~tomopy_dlalign.common.validation`: argument checks with messages that name the argument.
- :mod:`~tomopy_dlalign.common.device`: the torch device behind ``device="auto"``.
- :mod:`~tomopy_dlalign.common.progress`: progress bars that can be turned off.
- :mod:`~tomopy_dlalign.common.outputs`: every output file: atomic, umask permissions,
  read-only refused unless ``overwrite``, links written through, one writer at a time.
- :mod:`~tomopy_dlalign.common.h5files`: atomic HDF5 writing, resumable generator files
  and the provenance group.
- :mod:`~tomopy_dlalign.common.process`: the ``/process`` record of what a file's data
  are (``/process/state``) and the steps that made them, written and read by both packages.
- :mod:`~tomopy_dlalign.common.cli`: both command lines' grammar (shared options, help
  formatter), one-line errors and exit codes.
- :mod:`~tomopy_dlalign.common.modelfiles`: safetensors weights and their model cards.
- :mod:`~tomopy_dlalign.common.trainer`: the one training loop (checkpoint, resume,
  progress, seeds, time limit) that every network of both packages trains with.
- :mod:`~tomopy_dlalign.common.impulsive`: salt-and-pepper noise recognised and
  median-filtered, the same for the rotation-axis search and registration.
- :mod:`~tomopy_dlalign.common.cluster`: the ``cluster`` argument of every batch entry
  point (in-process, a Dask ``LocalCluster``, a scheduler, dask-jobqueue), the workers'
  thread share and the tasks run with progress.
- :mod:`~tomopy_dlalign.common.launch`: the console scripts' first code, which handles
  Ctrl-C before the heavy imports.
- :mod:`~tomopy_dlalign.common.figures`: the parts every PNG report draws alike: image
  panels with pixel axes and a labelled colour bar, legends outside the data.

This module itself only holds the distribution's version, so that writers of either
package can record it without importing a package's ``__init__``. It is read from the
installed metadata at first use, so that the console scripts' launcher, which lives
here, starts before ``importlib.metadata`` loads.
"""

__all__ = ["__version__"]


def __getattr__(name: str):
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("tomopy-dlalign")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
