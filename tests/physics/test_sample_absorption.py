"""Thin-film absorption in the sample."""

from __future__ import annotations

import numpy as np
import pytest
import xraylib as xr

from esmpy_hs.physics import Sample, mass_attenuation, thin_film_absorption


def test_fe_la_in_fe_100nm_22deg():
    s = Sample(thickness=100.0, density=7.874, take_off_angle=22.0, composition={"Fe": 1})
    assert s.absorption(0.7045)[()] == pytest.approx(0.802, abs=0.005)
    assert s.absorption(0.7045)[()] == pytest.approx(0.8019, abs=2e-4)
    assert s.absorption(6.4039)[()] == pytest.approx(0.9926, abs=2e-4)


@pytest.mark.parametrize("t", [None, 0.0])
def test_no_absorption_without_thickness(t):
    s = Sample(thickness=t, composition={"Fe": 1})
    np.testing.assert_array_equal(s.absorption([0.3, 0.7, 6.4]), 1.0)


def test_absorption_tends_to_one_as_thickness_goes_to_zero():
    vals = [
        Sample(thickness=t, density=7.874, composition={"Fe": 1}).absorption(0.7045)[()]
        for t in (100.0, 10.0, 1.0, 0.1, 0.001)
    ]
    assert np.all(np.diff(vals) > 0)
    assert vals[-1] == pytest.approx(1.0, abs=1e-5)
    # small chi: A ~ 1 - chi/2
    chi = xr.CS_Total(26, 0.7045) * 7.874 * 0.1e-7 / np.sin(np.radians(22.0))  # 0.1 nm
    assert 1 - vals[-2] == pytest.approx(chi / 2, rel=1e-3)


@pytest.mark.parametrize(("z", "shell"), [(29, 3), (30, 3), (26, 0), (26, 3), (79, 8), (14, 0)])
def test_never_above_one_near_edges(z, shell):
    edge = xr.EdgeEnergy(z, shell)
    e = edge * (1 + np.linspace(-0.02, 0.02, 4001))
    sym = xr.AtomicNumberToSymbol(z)
    s = Sample(thickness=200.0, take_off_angle=15.0, composition={sym: 1, "O": 1})
    a = s.absorption(e)
    assert np.all(a <= 1.0) and np.all(a > 0)
    assert np.all(mass_attenuation(sym, e) > 0)


@pytest.mark.parametrize(("z", "ratio"), [(14, 9.0), (26, 7.0)])
def test_k_edge_jump_is_resolved(z, ratio):
    # edge-aware data: mu jumps by the K-edge ratio within 1 % of the edge (no smoothing)
    edge = xr.EdgeEnergy(z, 0)
    sym = xr.AtomicNumberToSymbol(z)
    below, above = mass_attenuation(sym, [edge * 0.99, edge * 1.01])
    assert above / below > ratio


def test_absorption_everywhere_bounded():
    s = Sample(thickness=300.0, composition={"Cu": 1, "Zn": 1, "O": 2})
    a = s.absorption(np.linspace(0.0, 20.0, 4001))
    assert np.all((a > 0) & (a <= 1.0))


def test_composition_aware():
    # Ni Ka (7.478 keV) lies above the Fe K edge (7.112 keV): strongly absorbed in an Fe-rich
    # matrix, weakly in pure Ni (below its own K edge) at the same density and thickness
    ni = Sample(thickness=200.0, density=8.0, composition={"Ni": 1})
    feni = Sample(thickness=200.0, density=8.0, composition={"Ni": 0.1, "Fe": 0.9})
    a_ni, a_feni = ni.absorption(7.478)[()], feni.absorption(7.478)[()]
    assert a_feni < a_ni - 0.02
    # the mixture rule: mass-fraction-weighted mu/rho
    w_ni = 0.1 * xr.AtomicWeight(28) / (0.1 * xr.AtomicWeight(28) + 0.9 * xr.AtomicWeight(26))
    mu_mix = w_ni * xr.CS_Total(28, 7.478) + (1 - w_ni) * xr.CS_Total(26, 7.478)
    chi = mu_mix * 8.0 * 200e-7 / np.sin(np.radians(22.0))
    assert a_feni == pytest.approx(thin_film_absorption(chi)[()], rel=1e-6)


def test_default_composition_and_density():
    s = Sample(thickness=100.0)
    assert s.resolved_composition(["Fe", "O"]) == {"Fe": 0.5, "O": 0.5}
    rho = s.resolved_density(["Fe", "O"])
    # condensed-phase density for O, not the gas value: a few g/cm^3
    assert 2.0 < rho < 7.874
    with pytest.raises(ValueError, match="composition"):
        s.absorption(1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"thickness": -1.0}, "thickness"),
        ({"density": 0.0}, "density"),
        ({"take_off_angle": 0.0}, "take_off_angle"),
        ({"take_off_angle": 95.0}, "take_off_angle"),
        ({"composition": {"Fe": -1.0}}, "fraction"),
        ({"composition": {"Qq": 1.0}}, "unknown element"),
    ],
)
def test_sample_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Sample(**kwargs)
