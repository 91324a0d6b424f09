"""The esmpy signal class survives HyperSpy's class re-assignments and keeps exspy working."""

from __future__ import annotations

import warnings

import hyperspy.api as hs
import numpy as np
import pytest
from exspy.signals import EDSTEMSpectrum

from esmpy_hs.signals import EsmpyEDSTEMSpectrum, LazyEsmpyEDSTEMSpectrum

ESMPY = "EDS_TEM_ESMPY"


def _spectrum_image(shape=(6, 5), size=600, seed=0) -> EsmpyEDSTEMSpectrum:
    """A small Fe/O spectrum image with Gaussian lines on a flat background, keV axis."""
    rng = np.random.default_rng(seed)
    energy = np.arange(size) * 0.02
    spectrum = (
        2.0
        + 40 * np.exp(-0.5 * ((energy - 6.40) / 0.06) ** 2)
        + 6 * np.exp(-0.5 * ((energy - 7.06) / 0.06) ** 2)
        + 30 * np.exp(-0.5 * ((energy - 0.525) / 0.04) ** 2)
    )
    data = rng.poisson(np.broadcast_to(spectrum, (*shape, size))).astype(float)
    s = EsmpyEDSTEMSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.units, ax.name = 0.02, 0.0, "keV", "Energy"
    s.set_microscope_parameters(
        beam_energy=200.0, tilt_stage=10.0, azimuth_angle=0.0, elevation_angle=22.0
    )
    s.add_elements(["Fe", "O"])
    return s


def _is_esmpy(s) -> bool:
    return type(s).__name__ in {"EsmpyEDSTEMSpectrum", "LazyEsmpyEDSTEMSpectrum"} and (
        s.metadata.Signal.signal_type == ESMPY
    )


def test_set_signal_type_alias_and_round_trip():
    s = hs.signals.Signal1D(np.ones((3, 4, 10)))
    s.set_signal_type("esmpy")
    assert type(s) is EsmpyEDSTEMSpectrum
    assert s.metadata.Signal.signal_type == ESMPY
    s.set_signal_type("EDS_TEM")
    assert type(s) is EDSTEMSpectrum
    s.set_signal_type(ESMPY)
    assert type(s) is EsmpyEDSTEMSpectrum
    s.set_signal_type("")
    assert type(s) is hs.signals.Signal1D


@pytest.mark.parametrize("algorithm", ["SVD", "NMF", "sklearn_pca"])
def test_class_survives_any_hyperspy_decomposition(algorithm):
    s = _spectrum_image()
    kwargs = {"output_dimension": 2} if algorithm != "SVD" else {}
    if algorithm == "NMF":
        kwargs["max_iter"] = 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.decomposition(algorithm=algorithm, print_info=False, **kwargs)
    assert _is_esmpy(s)
    factors = s.get_decomposition_factors()
    assert factors.axes_manager.signal_shape == (600,)
    assert s.learning_results.loadings.shape[0] == 30


def test_other_algorithms_keep_exspy_defaults():
    """Without arguments the call is exspy's: Poisson normalisation on, vacuum mask 1.0."""
    s = _spectrum_image()
    s.data[0, 0] = 0.0  # a vacuum pixel: exspy's default mask (max <= 1.0) excludes it
    s.decomposition(print_info=False)
    lr = s.learning_results
    assert lr.poissonian_noise_normalized is True
    assert lr.navigation_mask is not None and lr.navigation_mask.sum() == 1
    assert np.isfinite(lr.loadings).all()  # exspy's nan_to_num still applied


def test_other_algorithms_forward_explicit_and_positional_arguments():
    s = _spectrum_image()
    s.decomposition(False, None, print_info=False)
    assert s.learning_results.poissonian_noise_normalized is False
    assert s.learning_results.navigation_mask is None
    s.decomposition(normalize_poissonian_noise=False, navigation_mask=None, print_info=False)
    assert s.learning_results.poissonian_noise_normalized is False


def test_lazy_round_trip_keeps_class():
    s = _spectrum_image()
    lazy = s.as_lazy()
    assert type(lazy) is LazyEsmpyEDSTEMSpectrum
    assert lazy.metadata.Signal.signal_type == ESMPY
    lazy.compute()
    assert type(lazy) is EsmpyEDSTEMSpectrum
    np.testing.assert_array_equal(lazy.data, s.data)


def test_lazy_decomposition_keeps_class():
    lazy = _spectrum_image().as_lazy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lazy.decomposition(output_dimension=2, print_info=False)
    assert type(lazy) is LazyEsmpyEDSTEMSpectrum


def test_save_load_hspy_keeps_class_and_metadata(tmp_path):
    s = _spectrum_image()
    s.decomposition(normalize_poissonian_noise=False, navigation_mask=None, print_info=False)
    path = tmp_path / "si.hspy"
    s.save(path)
    loaded = hs.load(path)
    assert type(loaded) is EsmpyEDSTEMSpectrum
    assert loaded.metadata.Signal.signal_type == ESMPY
    assert loaded.metadata.get_item("Acquisition_instrument.TEM.beam_energy") == 200.0
    assert loaded.metadata.Sample.elements == ["Fe", "O"]
    np.testing.assert_allclose(loaded.learning_results.factors, s.learning_results.factors)
    lazy = hs.load(path, lazy=True)
    assert type(lazy) is LazyEsmpyEDSTEMSpectrum


def test_take_off_angle_from_tem_metadata():
    s = _spectrum_image()
    # tilt 10°, azimuth 0°, elevation 22° -> 32°
    assert s.get_take_off_angle() == pytest.approx(32.0)
    s.set_microscope_parameters(tilt_stage=0.0, azimuth_angle=45.0, elevation_angle=18.0)
    assert s.get_take_off_angle() == pytest.approx(18.0)


def test_line_energy_auto_resolution_uses_tem_metadata():
    s = _spectrum_image()
    s.set_microscope_parameters(energy_resolution_MnKa=130.0)
    energy, fwhm = s._get_line_energy("Mn_Ka", FWHM_MnKa="auto")
    assert energy == pytest.approx(5.8987, abs=1e-3)
    assert fwhm == pytest.approx(0.130, abs=1e-4)  # FWHM at Mn Ka is the configured one


def test_exspy_lines_intensity_and_cliff_lorimer():
    s = _spectrum_image()
    s.add_lines()
    assert s.metadata.Sample.xray_lines == ["Fe_Ka", "O_Ka"]
    intensities = s.get_lines_intensity()
    fe = intensities[0].data
    assert fe.shape == (6, 5)
    # 40-count Gaussian (sigma 0.06 keV, 0.02 keV channels) integrates to ~300 counts + background
    assert 250 < fe.mean() < 400
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant = s.quantification(intensities, method="CL", factors=[1.0, 1.0])
    total = quant[0].data + quant[1].data
    np.testing.assert_allclose(total, 100.0, rtol=1e-6)


def test_exspy_quantification_with_auto_take_off_angle():
    s = _spectrum_image()
    s.add_lines()
    intensities = s.get_lines_intensity()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant = s.quantification(
            intensities,
            method="CL",
            factors=[1.0, 1.0],
            absorption_correction=True,
            thickness=50.0,
            take_off_angle="auto",
        )
    composition = quant[0] if isinstance(quant, tuple) else quant
    assert len(composition) == 2
    np.testing.assert_allclose(composition[0].data + composition[1].data, 100.0, rtol=1e-6)


def test_create_model_fits():
    s = _spectrum_image(shape=(2, 2)).inav[0, 0]
    s.add_lines()
    m = s.create_model()
    assert type(m).__name__ == "EDSTEMModel"
    m.fit()
    intensity = m.get_lines_intensity()[0].data
    assert intensity.size == 1 and intensity.item() > 0


def test_line_plotting_works():
    s = _spectrum_image(shape=(2, 2))
    s.add_lines()
    s.plot(xray_lines=True)
    assert s._plot is not None


def test_get_decomposition_factors_are_esmpy_class():
    s = _spectrum_image()
    s.decomposition(normalize_poissonian_noise=False, navigation_mask=None, print_info=False)
    factors = s.get_decomposition_factors()
    assert type(factors) is EsmpyEDSTEMSpectrum


def test_class_has_no_per_instance_state():
    """HyperSpy re-runs __init__ on every re-assignment; nothing may be reset by it."""
    s = _spectrum_image()
    before = set(vars(s))
    s.set_signal_type("esmpy")
    assert set(vars(s)) == before
