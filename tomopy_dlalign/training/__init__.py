"""Training data and training of JitterNet.

:mod:`.dataset` simulates (measured, reprojected) pairs with known jitter, exactly as
:func:`~tomopy_dlalign.prep.alignment.align` sees them at run time; :mod:`.train` trains
the network through the shared loop (:mod:`tomopy_dlalign.common.trainer`);
:mod:`.adapt` fine-tunes it on the user's own sample.
"""

from .adapt import adapt
from .dataset import DatasetConfig, make_dataset, simulate_pairs, write_pairs
from .train import train

__all__ = ["DatasetConfig", "adapt", "make_dataset", "simulate_pairs", "train", "write_pairs"]
