"""The table generator in tools/ reproduces the table shipped in the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from esmpy_hs.physics.cross_sections import cross_section_table

REPO = Path(__file__).resolve().parents[2]
BOTE_CSV = REPO.parent / "shared" / "data" / "bote_salvat_2009" / "electrons.csv"


def _load_tool():
    path = REPO / "tools" / "make_cross_section_table.py"
    spec = importlib.util.spec_from_file_location("make_cross_section_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_shipped_table(tmp_path, bote_parameters):
    tool = _load_tool()
    out = tmp_path / "table.npz"
    assert tool.main(["--csv", str(BOTE_CSV), "--out", str(out)]) == 0
    shipped = cross_section_table()
    with np.load(out) as new:
        np.testing.assert_array_equal(new["energies_keV"], shipped.energies_keV)
        np.testing.assert_array_equal(new["overvoltages"], shipped.overvoltages)
        np.testing.assert_array_equal(new["E_i_eV"], shipped.E_i_eV)
        np.testing.assert_array_equal(new["log_low"], shipped.log_low)
        np.testing.assert_array_equal(new["log_high"], shipped.log_high)
        np.testing.assert_array_equal(new["high_start"], shipped.high_start)
