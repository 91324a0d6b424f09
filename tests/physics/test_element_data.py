"""Element helpers: symbols, weights, fraction conversions, densities."""

from __future__ import annotations

import pytest

from esmpy_hs.physics import (
    atomic_number,
    atomic_to_weight_fractions,
    atomic_weight,
    element_symbol,
    mixture_density,
    weight_to_atomic_fractions,
)


def test_symbols_and_numbers():
    assert element_symbol("fe") == "Fe" and element_symbol(" O ") == "O"
    assert element_symbol(26) == "Fe" and atomic_number("Au") == 79
    for bad in ("Xx", "", "Fe2", 0, 104):
        with pytest.raises(ValueError):
            element_symbol(bad)
    with pytest.raises(TypeError):
        element_symbol(26.0)
    with pytest.raises(TypeError):
        element_symbol(True)


def test_atomic_weight():
    assert atomic_weight("Fe") == pytest.approx(55.845, abs=0.01)
    assert atomic_weight(8) == pytest.approx(15.999, abs=0.01)


def test_fraction_conversions_round_trip():
    at = {"Mg": 0.245, "Fe": 0.035, "Ca": 0.031, "Si": 0.219, "Al": 0.024, "O": 0.436}
    wt = atomic_to_weight_fractions(at)
    assert sum(wt.values()) == pytest.approx(1.0)
    back = weight_to_atomic_fractions(wt)
    total = sum(at.values())
    for k, v in at.items():
        assert back[k] == pytest.approx(v / total, rel=1e-12)
    # SiO2: 46.74 wt% Si
    assert atomic_to_weight_fractions({"Si": 1, 8: 2})["Si"] == pytest.approx(0.4674, abs=1e-4)


def test_fraction_errors():
    with pytest.raises(ValueError, match="empty"):
        atomic_to_weight_fractions({})
    with pytest.raises(ValueError, match="twice"):
        atomic_to_weight_fractions({"Fe": 1, 26: 1})
    with pytest.raises(ValueError, match=">= 0"):
        weight_to_atomic_fractions({"Fe": -1, "O": 2})
    with pytest.raises(ValueError, match="sum"):
        weight_to_atomic_fractions({"Fe": 0.0})


def test_mixture_density():
    assert mixture_density({"Fe": 1}) == pytest.approx(7.874, rel=1e-3)
    # harmonic mass-weighted rule, condensed O (1.46): Fe2O3 -> ~3.4 (true 5.24: documented)
    rho = mixture_density({"Fe": 2, "O": 3})
    w_fe = atomic_to_weight_fractions({"Fe": 2, "O": 3})["Fe"]
    assert rho == pytest.approx(1 / (w_fe / 7.874 + (1 - w_fe) / 1.46), rel=1e-3)
    assert mixture_density({"Fe": 0.7, "O": 0.3}, weight_fractions=True) == pytest.approx(
        1 / (0.7 / 7.874 + 0.3 / 1.46), rel=1e-3
    )
