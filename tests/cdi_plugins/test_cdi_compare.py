"""benchmarks/cdi_compare.py names a peer that is not installed and how to install it,
instead of a bare ModuleNotFoundError."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cdi_compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("cdi_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missing_peer_is_named_with_its_install_command(compare, monkeypatch):
    monkeypatch.setitem(compare.PEERS, "fake peer", ("no_such_module_19", "pip install fake"))
    assert compare.missing_peer("fake peer") == (
        "not run: no_such_module_19 is not installed; pip install fake")
    assert compare.missing_peer("cdi_plugins (torch, batched)") is None


def test_every_peer_names_a_pypi_install_command(compare):
    for module, install in compare.PEERS.values():
        assert install.startswith("pip install ") and "PyPI" in install
        why = compare.missing_peer(next(k for k, v in compare.PEERS.items()
                                        if v[0] == module))
        if importlib.util.find_spec(module) is None:
            assert module in why and install in why
        else:
            assert why is None
