"""EDXSModel: the G matrix, its columns, scaling, lines and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from esmpy_hs.physics import Detector, EDXSModel, EnergyAxis, Sample
from esmpy_hs.physics.bremsstrahlung import bremsstrahlung_basis

AXIS = EnergyAxis(offset=0.0, scale=0.01, size=2048, units="keV")


@pytest.fixture(scope="module")
def model():
    return EDXSModel(
        beam_energy=200.0,
        energy_axis=AXIS,
        elements=["Fe", "O", 14],
        detector=Detector(resolution_mnka=130.0),
        sample=Sample(thickness=100.0, density=None, take_off_angle=22.0, composition=None),
        low_cut=0.15,
        bremsstrahlung=True,
    )


def test_api_shapes_and_labels(model):
    G = model.build_G(dtype=np.float32)
    assert G.dtype == np.float32 and G.shape == (2048, 5)
    assert model.labels == ["Fe", "O", "Si", "bremsstrahlung_0", "bremsstrahlung_1"]
    assert model.elements == ["Fe", "O", "Si"] and model.n_elements == 3
    np.testing.assert_allclose(model.energies, 0.01 * np.arange(2048))
    assert model.fit_mask.dtype == bool
    np.testing.assert_array_equal(model.fit_mask, (model.energies > 0.15) & (model.energies < 200))
    assert np.all(G[model.energies <= 0.15] == 0)
    assert np.all(G >= 0)
    assert np.all(G[model.fit_mask][:, 3:] > 0)
    G64 = model.build_G()
    assert G64.dtype == np.float64
    np.testing.assert_allclose(G, G64, rtol=1e-6)
    assert model.dropped_elements == []
    assert set(model.lines) == {"Fe", "O", "Si"}


def test_scale_factors(model):
    G = model.build_G()
    sf = model.scale_factors
    assert set(sf) == {"elements", "bremsstrahlung_0", "bremsstrahlung_1"}
    # one common factor: element columns are raw * factor, ratios between elements kept
    for j, sym in enumerate(model.elements):
        raw = model.element_column(sym, scaled=False)
        np.testing.assert_allclose(G[:, j], raw * sf["elements"], rtol=1e-12)
        np.testing.assert_array_equal(model.element_column(sym), G[:, j])
    assert np.mean(G[:, :3].sum(axis=0)) == pytest.approx(1.0)
    np.testing.assert_allclose(G[:, 3:].sum(axis=0), 1.0)
    # raw element columns are physical: cm^2 per atom per electron (1e-22 .. 1e-20)
    assert 1e-23 < model.element_column("Fe", scaled=False).sum() < 1e-20


def test_line_weights_are_sigma_eff_abs(model):
    det, smp = model.detector, model.sample
    for sym, lines in model.lines.items():
        assert lines and all(ln.element == sym for ln in lines)
        e = np.array([ln.energy_keV for ln in lines])
        eff = det.efficiency(e)
        absn = smp.absorption(e, ["Fe", "O", "Si"])
        for ln, f, a in zip(lines, eff, absn, strict=True):
            assert ln.efficiency == pytest.approx(f, rel=1e-12)
            assert ln.absorption == pytest.approx(a, rel=1e-12)
            assert ln.weight == pytest.approx(ln.cross_section_cm2 * f * a, rel=1e-12)
            assert 0 < ln.absorption <= 1 and 0 < ln.efficiency <= 1
            assert 0.15 <= ln.energy_keV <= AXIS.edges[-1]
    ka = [ln for ln in model.lines["Fe"] if ln.siegbahn == "Ka"]
    assert {ln.iupac for ln in ka} >= {"KL2", "KL3"}


def test_peak_areas_on_a_wide_axis():
    axis = EnergyAxis(offset=0.005, scale=0.005, size=5000, units="keV")  # 0.005–25 keV
    m = EDXSModel(200.0, axis, ["Fe", "Cu"], sample=Sample(thickness=50.0), low_cut=0.1)
    for sym in m.elements:
        raw = m.element_column(sym, scaled=False)
        lines = m.lines[sym]
        total = sum(ln.weight for ln in lines)
        assert raw.sum() == pytest.approx(total, rel=1e-4)
        # isolated groups: K alpha, K beta (window of +-0.25 keV around the group)
        for fam in ("Ka", "Kb"):
            group = [ln for ln in lines if ln.siegbahn == fam]
            lo = min(ln.energy_keV for ln in group) - 0.25
            hi = max(ln.energy_keV for ln in group) + 0.25
            inside = [ln for ln in lines if lo <= ln.energy_keV <= hi]
            window = (m.energies >= lo) & (m.energies <= hi)
            expected = sum(ln.weight for ln in inside)
            assert raw[window].sum() == pytest.approx(expected, rel=1e-4), (sym, fam)


def test_peak_width_at_mn_ka_is_the_configured_resolution():
    axis = EnergyAxis(offset=4000.0, scale=1.0, size=4000, units="eV")
    for res in (125.0, 140.0):
        m = EDXSModel(200.0, axis, ["Mn"], detector=Detector(resolution_mnka=res),
                      bremsstrahlung=False)  # fmt: skip
        col = m.element_column("Mn", scaled=False)
        ka = [ln for ln in m.lines["Mn"] if ln.siegbahn == "Ka"]
        w = np.array([ln.weight for ln in ka])
        e = np.array([ln.energy_keV for ln in ka])
        mean = np.sum(w * e) / w.sum()
        window = np.abs(m.energies - mean) < 0.3
        p = col[window] / col[window].sum()
        var = np.sum(p * (m.energies[window] - mean) ** 2)
        sig = m.detector.fwhm(e) / 2.354820045
        expected = np.sum(w * (sig**2 + (e - mean) ** 2)) / w.sum() + 0.001**2 / 12
        assert var == pytest.approx(expected, rel=2e-3)
        assert m.detector.fwhm(5.8987) * 1e3 == pytest.approx(res)


def test_bremsstrahlung_columns(model):
    G = model.build_G()
    e = model.energies
    mask = model.fit_mask
    basis = bremsstrahlung_basis(e[mask], 200.0)
    factor = model.detector.efficiency(e[mask]) * model.sample.absorption(
        e[mask], ["Fe", "O", "Si"]
    )
    for j in range(2):
        expected = basis[j] * factor
        np.testing.assert_allclose(G[mask, 3 + j], expected / expected.sum(), rtol=1e-10)


def test_ev_axis_equals_kev_axis(model):
    ev = EnergyAxis(offset=0.0, scale=10.0, size=2048, units="eV")
    m2 = EDXSModel(200.0, ev, ["fe", "O", "Si"], sample=model.sample)
    np.testing.assert_allclose(m2.energies, model.energies)
    np.testing.assert_allclose(m2.build_G(), model.build_G(), rtol=1e-12, atol=1e-300)


def test_no_bremsstrahlung_and_no_absorption():
    m = EDXSModel(200.0, AXIS, ["Fe"], bremsstrahlung=False)
    assert m.labels == ["Fe"] and m.build_G().shape == (2048, 1)
    assert set(m.scale_factors) == {"elements"}
    assert all(ln.absorption == 1.0 for ln in m.lines["Fe"])


def test_default_composition_is_equal_atomic_fractions(model):
    fe_la = next(ln for ln in model.lines["Fe"] if ln.iupac == "L3M5")
    expected = Sample(thickness=100.0, composition={"Fe": 1, "O": 1, "Si": 1}).absorption(
        fe_la.energy_keV
    )
    assert fe_la.absorption == pytest.approx(float(expected), rel=1e-12)
    pure = Sample(thickness=100.0, composition={"Fe": 1}).absorption(fe_la.energy_keV)
    assert abs(fe_la.absorption - float(pure)) > 0.01


def test_lines_below_beam_energy_only():
    m = EDXSModel(5.0, AXIS, ["Fe", "Si"])
    assert {ln.siegbahn for ln in m.lines["Fe"]}.isdisjoint({"Ka", "Kb"})
    assert any(ln.siegbahn == "La" for ln in m.lines["Fe"])
    assert not m.fit_mask[m.energies >= 5.0].any()
    assert np.all(m.build_G()[m.energies >= 5.0] == 0)


def test_dropped_element_warns_and_is_listed():
    axis = EnergyAxis(offset=0.2, scale=0.01, size=1000, units="keV")  # 0.2–10.2 keV
    with pytest.warns(UserWarning, match="H.*dropped"):
        m = EDXSModel(200.0, axis, ["Fe", "H"])
    assert m.dropped_elements == ["H"] and m.elements == ["Fe"]
    assert m.labels[0] == "Fe"
    # Sn: L lines (3.4–4.4 keV) outside a 5–10 keV axis, K lines (25 keV) too
    axis2 = EnergyAxis(offset=5.0, scale=0.01, size=500, units="keV")
    with pytest.warns(UserWarning, match="Sn"):
        m2 = EDXSModel(200.0, axis2, ["Fe", "Sn"])
    assert m2.dropped_elements == ["Sn"]
    with pytest.raises(ValueError, match="none of the elements"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        EDXSModel(200.0, axis2, ["H", "O"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"elements": ["Fe", "Xy"]}, ValueError, "Xy"),
        ({"elements": ["Fe", 0]}, ValueError, "atomic number 0"),
        ({"elements": []}, ValueError, "no elements"),
        ({"elements": ["Fe", "fe"]}, ValueError, "more than once"),
        ({"beam_energy": 0.0}, ValueError, "beam_energy"),
        ({"beam_energy": -200.0}, ValueError, "beam_energy"),
        ({"beam_energy": 5000.0}, ValueError, "outside"),
        ({"low_cut": -0.1}, ValueError, "low_cut"),
        ({"energy_axis": (0, 0.01, 2048)}, TypeError, "EnergyAxis"),
    ],
)
def test_model_errors(kwargs, exc, match):
    args = {"beam_energy": 200.0, "energy_axis": AXIS, "elements": ["Fe"]} | kwargs
    with pytest.raises(exc, match=match):
        EDXSModel(**args)


def test_axis_errors():
    with pytest.raises(ValueError, match="empty"):
        EnergyAxis(offset=0.0, scale=0.01, size=0)
    with pytest.raises(ValueError, match="scale"):
        EnergyAxis(offset=0.0, scale=0.0, size=10)
    with pytest.raises(ValueError, match="units"):
        EnergyAxis(offset=0.0, scale=0.01, size=10, units="nm")


def test_build_g_dtype_error(model):
    with pytest.raises(TypeError, match="floating"):
        model.build_G(dtype=np.int32)


def test_as_dict_is_plain(model):
    d = model.as_dict()
    assert d["beam_energy"] == 200.0 and d["labels"] == model.labels
    assert d["sample"]["composition"] == pytest.approx({"Fe": 1 / 3, "O": 1 / 3, "Si": 1 / 3})
    assert d["energy_axis"] == {"offset": 0.0, "scale": 0.01, "size": 2048, "units": "keV"}


def test_axis_with_negative_energies_and_zero_low_cut():
    # channels at E <= 0 are never used: no division by zero, rows are 0
    axis = EnergyAxis(offset=-200.0, scale=10.0, size=1000, units="eV")
    m = EDXSModel(200.0, axis, ["Si", "C"], low_cut=0.0, sample=Sample(thickness=50.0))
    G = m.build_G()
    assert np.all(np.isfinite(G)) and np.all(G >= 0)
    assert np.all(G[m.energies <= 0] == 0)
    assert not m.fit_mask[m.energies <= 0].any()
    assert np.all(G[m.fit_mask, 2:] > 0)


def test_line_factors():
    base = EDXSModel(200.0, AXIS, ["Fe", "O"])
    m = EDXSModel(200.0, AXIS, ["Fe", "O"], line_factors={"Fe_La": 1.5, "Fe_L": 2.0, "O_KL3": 0.0})
    ref = {(ln.element, ln.iupac): ln for v in base.lines.values() for ln in v}
    for sym, lines in m.lines.items():
        for ln in lines:
            r = ref[(sym, ln.iupac)]
            f = 1.0
            if sym == "Fe" and ln.iupac.startswith("L"):
                f = 2.0 * (1.5 if ln.siegbahn == "La" else 1.0)
            if sym == "O" and ln.iupac == "KL3":
                f = 0.0
            assert ln.cross_section_cm2 == pytest.approx(r.cross_section_cm2 * f, rel=1e-12)
            assert ln.weight == pytest.approx(r.weight * f, rel=1e-12)
    with pytest.raises(ValueError, match="not among the elements"):
        EDXSModel(200.0, AXIS, ["Fe"], line_factors={"Cu_Ka": 1.1})
    with pytest.raises(ValueError, match="must look like"):
        EDXSModel(200.0, AXIS, ["Fe"], line_factors={"FeKa": 1.1})
    with pytest.raises(ValueError, match=">= 0"):
        EDXSModel(200.0, AXIS, ["Fe"], line_factors={"Fe_Ka": -1})
