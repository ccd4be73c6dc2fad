"""The figures docs/cdi.md quotes for ``cdi-plugins demo`` are what the demo gives: the
range is read from the document, so that neither can drift from the other."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cdi_plugins import cli

DOC = Path(__file__).resolve().parents[3] / "docs" / "cdi.md"

pytestmark = pytest.mark.usefixtures("one_thread")


def _quoted_range() -> tuple[float, float]:
    figures = DOC.read_text().split("<!-- figures checked by", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"real-space error between ([\d.]+) and\s+([\d.]+)", figures)
    assert m, "docs/cdi.md no longer quotes the demo's real-space error range"
    return float(m.group(1)), float(m.group(2))


@pytest.mark.long
def test_the_demo_gives_the_figures_the_guide_quotes(tmp_path, capsys):
    low, high = _quoted_range()
    assert cli.main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    err = float(re.search(r"real-space error vs truth = ([\d.]+)", printed).group(1))
    assert low <= err <= high, f"demo error {err} outside the quoted {low}-{high}"
    assert "quality OK" in printed
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    res = summary["resolution_wprtf_1_over_e"]
    # "the wPRTF stays above 1/e up to the edge ... limited at 2 px (161 nm)"
    assert res["crossed"] is False and res["pixels"] == pytest.approx(2.0)
    assert res["nm"] == pytest.approx(161, abs=1)
