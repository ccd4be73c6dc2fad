"""Synthetic phantoms and scans with known answers, for tests, demos and training.

:mod:`.phantoms` builds volumes (the Shepp-Logan head and the training families) and
analytic sinograms; :mod:`.acquisition` turns a volume into what a detector records.
Every function takes an explicit ``seed`` where it draws random numbers.
"""

from .acquisition import add_artefacts, add_noise, induce_motion, scan
from .phantoms import (
    FAMILIES,
    disk_sinogram,
    ellipse_sinogram,
    phantom,
    pixelated,
    shepp_logan,
)

__all__ = ["FAMILIES", "add_artefacts", "add_noise", "disk_sinogram", "ellipse_sinogram",
           "induce_motion", "phantom",
           "pixelated", "scan", "shepp_logan"]
