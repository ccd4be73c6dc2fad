import sys
import textwrap

import numpy as np
import pytest

from tomopy_dlalign import plugins
from tomopy_dlalign.plugins import hookimpl


class _InTestPlugin:
    calls = 0

    @hookimpl
    def register_recon(self):
        _InTestPlugin.calls += 1

        def backproject_only(tomo, theta, center=None, **kwargs):
            return np.zeros((tomo.shape[1], tomo.shape[2], tomo.shape[2]), np.float32)

        return {"zeros": backproject_only}


class _BrokenPlugin:
    @hookimpl
    def register_recon(self):
        raise RuntimeError("this plugin is broken on purpose")


def test_builtin_kinds_are_registered():
    assert {"cpu", "torch", "astra-cuda"} <= set(plugins.available("projector"))
    assert {"mlem", "fbp"} <= set(plugins.available("recon"))
    assert "phasing" in plugins.KINDS and "align" in plugins.KINDS


def test_in_test_plugin_is_found_and_called():
    plugins.register(_InTestPlugin(), "in-test")
    try:
        assert "zeros" in plugins.available("recon")
        func = plugins.get("recon", "zeros")
        out = func(np.ones((3, 2, 8), np.float32), np.zeros(3))
        assert out.shape == (2, 8, 8) and _InTestPlugin.calls >= 1
        assert plugins.provider("recon", "zeros") == "in-test"
    finally:
        plugins.unregister("in-test")
    assert "zeros" not in plugins.available("recon")


def test_broken_plugin_is_reported_by_name_and_others_keep_working():
    plugins.register(_BrokenPlugin(), "broken-one")
    try:
        assert "broken-one" in plugins.broken()
        assert "on purpose" in plugins.broken()["broken-one"]
        assert "mlem" in plugins.available("recon")
    finally:
        plugins.unregister("broken-one")
    assert "broken-one" not in plugins.broken()


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    # A third-party package is a module plus an entry point in group tomopy.plugins.
    (tmp_path / "third_party_proj.py").write_text(textwrap.dedent("""
        from tomopy_dlalign.plugins import hookimpl
        from tomopy_dlalign.recon.projectors import TorchProjector

        class Doubled(TorchProjector):
            name = "doubled"
            def _forward(self, vol):
                return 2 * super()._forward(vol)

        @hookimpl
        def register_projectors():
            return {"doubled": Doubled}
    """))
    dist = tmp_path / "third_party_proj-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: third-party-proj\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tomopy.plugins]\nthird_party = third_party_proj\n")
    (tmp_path / "bad_plugin-1.0.dist-info").mkdir()
    (tmp_path / "bad_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bad-plugin\nVersion: 1.0\n")
    (tmp_path / "bad_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[tomopy.plugins]\nbad_plugin = module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        plugins.reload()
        assert "doubled" in plugins.available("projector")
        assert plugins.provider("projector", "doubled") == "third_party"
        assert "bad_plugin" in plugins.broken()
        assert "import failed" in plugins.broken()["bad_plugin"]
        from tomopy_dlalign import make_projector

        theta = np.linspace(0, np.pi, 10, endpoint=False)
        vol = np.ones((1, 16, 16), np.float32)
        a = make_projector(theta, 16, backend="doubled").forward(vol)
        b = make_projector(theta, 16, backend="torch").forward(vol)
        assert np.allclose(a, 2 * b)
    finally:
        monkeypatch.undo()
        sys.modules.pop("third_party_proj", None)
        plugins.reload()
    assert "doubled" not in plugins.available("projector")


def test_unknown_kind_and_name_give_clear_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        plugins.available("nope")
    with pytest.raises(KeyError, match="no recon named 'nope'; available: .*mlem"):
        plugins.get("recon", "nope")
