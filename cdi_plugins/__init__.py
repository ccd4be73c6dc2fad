"""Coherent diffraction imaging: phase retrieval, ConvRe clustering, PRTF, complex CNN."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tomopy-dlalign")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
