"""Detector: resolution law, peak integration, efficiency."""

from __future__ import annotations

import numpy as np
import pytest

from esmpy_hs.physics import Detector, Layer, gaussian_channel_integrals
from esmpy_hs.physics.detector import MN_KA_KEV


@pytest.mark.parametrize("res", [110.0, 121.0, 125.0, 130.0, 160.0])
def test_fwhm_at_mn_ka_is_the_configured_resolution(res):
    assert Detector(resolution_mnka=res).fwhm(MN_KA_KEV) * 1e3 == pytest.approx(res, rel=1e-12)


def test_fiori_law_values():
    det = Detector(resolution_mnka=130.0)
    # notes §5: 53.3 eV at C Ka, 68.2 eV at 1 keV, 149.2 eV at Cu Ka
    assert det.fwhm(0.277) * 1e3 == pytest.approx(53.3, abs=0.1)
    assert det.fwhm(1.0) * 1e3 == pytest.approx(68.2, abs=0.1)
    assert det.fwhm(8.048) * 1e3 == pytest.approx(149.2, abs=0.1)


def test_low_resolution_clamp_keeps_fwhm_positive_and_monotonic():
    det = Detector(resolution_mnka=115.0)  # 2.5 eV law alone would give N^2 < 0
    e = np.linspace(0.0, 20.0, 2001)
    f = det.fwhm(e) * 1e3
    assert np.all(np.isfinite(f))
    assert f.min() == pytest.approx(det.min_noise_fwhm)
    assert np.all(np.diff(f) > 0)
    assert det.fwhm(MN_KA_KEV) * 1e3 == pytest.approx(115.0)


def test_explicit_noise_fano_law():
    det = Detector(noise_fwhm=40.0, fano_factor=0.12, pair_energy=3.7)
    e = 5.0
    expected = np.sqrt(40.0**2 + 8 * np.log(2) * 0.12 * 3.7 * e * 1e3)
    assert det.fwhm(e) * 1e3 == pytest.approx(expected)


def test_gaussian_channel_integrals_area_and_width():
    edges = np.arange(-0.005, 20.0, 0.01)
    p = gaussian_channel_integrals([6.4, 0.7], [0.15, 0.06], edges)
    assert p.shape == (2, edges.size - 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    centres = 0.5 * (edges[1:] + edges[:-1])
    mean = (p * centres).sum(axis=1)
    sd = np.sqrt((p * (centres - mean[:, None]) ** 2).sum(axis=1))
    # channel integration adds step^2/12 to the variance
    expected = np.sqrt((np.array([0.15, 0.06]) / 2.35482) ** 2 + 0.01**2 / 12)
    np.testing.assert_allclose(mean, [6.4, 0.7], atol=1e-9)
    np.testing.assert_allclose(sd, expected, rtol=1e-4)


# notes §4.1, "generic default" column (computed with total attenuation in every layer)
EFF_E = np.array([0.183, 0.277, 0.525, 1.0, 1.74, 6.4, 10.0, 15.0, 20.0])
EFF_REF = np.array([0.431, 0.693, 0.920, 0.983, 0.973, 0.999, 0.971, 0.662, 0.374])


def test_default_efficiency_matches_notes_table_with_total_attenuation():
    eff = Detector(active_attenuation="total").efficiency(EFF_E)
    np.testing.assert_allclose(eff, EFF_REF, atol=0.01)
    np.testing.assert_allclose(eff, EFF_REF, atol=1e-3)


def test_default_efficiency_photo_absorption_in_active_layer():
    # default: photo-absorption in the active Si (the full-energy peak); identical to the
    # table up to 10 keV within 0.01, lower above where Compton scattering matters
    eff = Detector().efficiency(EFF_E)
    low = EFF_E <= 10.0
    np.testing.assert_allclose(eff[low], EFF_REF[low], atol=0.01)
    total = Detector(active_attenuation="total").efficiency(EFF_E)
    assert np.all(eff <= total + 1e-15)
    assert 0.01 < total[-1] - eff[-1] < 0.04  # 20 keV


def test_efficiency_layer_model_by_hand():
    import xraylib as xr

    det = Detector(window=(Layer("C8H8", 100.0, density=1.05),), open_area_fraction=0.8)
    e = 1.5
    tau = (
        xr.CS_Total_CP("C8H8", e) * 1.05 * 100e-7
        + xr.CS_Total(13, e) * xr.ElementDensity(13) * 30e-7
        + xr.CS_Total(14, e) * xr.ElementDensity(14) * 20e-7
    )
    active = xr.CS_Photo(14, e) * xr.ElementDensity(14) * 0.045
    expected = 0.8 * np.exp(-tau) * (1 - np.exp(-active))
    assert det.efficiency(e) == pytest.approx(expected, rel=1e-6)


def test_user_efficiency_curve():
    det = Detector(efficiency_curve=([0.0, 10.0, 20.0], [0.5, 1.0, 0.5]))
    np.testing.assert_allclose(det.efficiency([5.0, 15.0, 30.0]), [0.75, 0.75, 0.5])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution_mnka": -1.0}, "resolution_mnka"),
        ({"resolution_mnka": 0.13}, "eV"),
        ({"noise_fwhm": -3.0}, "noise_fwhm"),
        ({"efficiency_curve": ([1.0], [1.0])}, "efficiency_curve"),
        ({"efficiency_curve": ([2.0, 1.0], [1.0, 1.0])}, "increasing"),
        ({"active_attenuation": "compton"}, "active_attenuation"),
        ({"dead_layer_nm": -5.0}, "dead_layer_nm"),
    ],
)
def test_detector_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Detector(**kwargs)


def test_layer_errors():
    with pytest.raises(ValueError, match="density"):
        Layer("Si3N4", 50.0)  # a bare formula has no tabulated density
    with pytest.raises(ValueError, match="unknown material"):
        Layer("Xx9", 50.0, density=1.0).optical_depth(1.0)


def test_detector_as_dict_round_trip_and_equality():
    det = Detector(
        resolution_mnka=127.0,
        window=(Layer("Si3N4", 40.0, density=3.17),),
        efficiency_curve=([0.1, 1.0, 20.0], [0.2, 0.9, 0.4]),
    )
    d = det.as_dict()
    assert d["resolution_mnka"] == 127.0
    assert d["window"] == [{"material": "Si3N4", "thickness_nm": 40.0, "density": 3.17}]
    assert d["efficiency_curve"] == [[0.1, 1.0, 20.0], [0.2, 0.9, 0.4]]
    again = Detector(**{**d, "window": (Layer(**d["window"][0]),)})
    assert again == det and hash(again) == hash(det)
