"""Pin the xraylib data the model relies on (guards against database drift), notes §8.3."""

from __future__ import annotations

import pytest
import xraylib as xr

from esmpy_hs.physics import atomic_to_weight_fractions


@pytest.mark.parametrize(
    ("line", "energy"),
    [(xr.KL3_LINE, 6.4039), (xr.KL2_LINE, 6.3909), (xr.KM3_LINE, 7.058), (xr.L3M5_LINE, 0.7045)],
)
def test_fe_line_energies(line, energy):
    assert xr.LineEnergy(26, line) == pytest.approx(energy, abs=2e-4)


@pytest.mark.parametrize(
    ("line", "rate"), [(xr.KL3_LINE, 0.58357), (xr.KL2_LINE, 0.29799), (xr.KM3_LINE, 0.07856)]
)
def test_fe_radiative_rates(line, rate):
    assert xr.RadRate(26, line) == pytest.approx(rate, rel=1e-4)


def test_yields_edges_ck_mu():
    assert xr.FluorYield(26, xr.K_SHELL) == pytest.approx(0.3546, rel=1e-4)
    assert xr.FluorYield(26, xr.L3_SHELL) == pytest.approx(0.0063, rel=1e-3)
    assert xr.EdgeEnergy(26, xr.K_SHELL) == pytest.approx(7.112, abs=1e-3)
    assert xr.CosKronTransProb(26, xr.FL12_TRANS) == pytest.approx(0.30, abs=1e-3)
    assert xr.CosKronTransProb(26, xr.FL13_TRANS) == pytest.approx(0.57, abs=1e-3)
    assert xr.CS_Total(26, 6.4) == pytest.approx(71.045, rel=1e-4)
    assert xr.CS_Total_CP("Fe2O3", 1.0) == pytest.approx(7734.1, rel=1e-4)
    assert xr.LineEnergy(25, xr.KL3_LINE) == pytest.approx(5.8987, abs=2e-4)


def test_mass_fractions_fe2o3():
    cp = xr.CompoundParser("Fe2O3")
    fractions = dict(zip(cp["Elements"], cp["massFractions"], strict=True))
    assert fractions[26] == pytest.approx(0.6994, abs=1e-4)
    assert fractions[8] == pytest.approx(0.3006, abs=1e-4)
    # our own conversion agrees with xraylib's parser
    w = atomic_to_weight_fractions({"Fe": 2, "O": 3})
    assert w["Fe"] == pytest.approx(fractions[26], rel=1e-4)
    assert w["O"] == pytest.approx(fractions[8], rel=1e-4)
