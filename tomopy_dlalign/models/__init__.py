"""The networks of the tomography package: :class:`~.jitternet.JitterNet`."""

from .jitternet import JitterNet, JitterNetConfig, load_model, predict, save_model

__all__ = ["JitterNet", "JitterNetConfig", "load_model", "predict", "save_model"]
