"""esmpy_hs.decompose through real HyperSpy signals: recovery, storage, errors, lazy, masks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("exspy")

import exspy  # noqa: E402
import hyperspy.api as hs  # noqa: E402
from _simulation import (  # noqa: E402
    BEAM,
    OFFSET,
    SCALE,
    SIZE,
    planted,
    simulated_signal,
)

from esmpy_hs.decomposition import decompose  # noqa: E402
from esmpy_hs.physics import Detector  # noqa: E402
from esmpy_hs.quantification import get_phase_compositions  # noqa: E402


def _snapshot(s):
    return (
        s.data.copy(),
        s.data.dtype,
        s.metadata.as_dictionary(),
        dict(s.learning_results.__dict__),
        type(s),
    )


def _assert_unchanged(s, snap):
    data, dtype, meta, lr, cls = snap
    assert type(s) is cls
    assert s.data.dtype == dtype
    np.testing.assert_array_equal(s.data, data)
    assert s.metadata.as_dictionary() == meta
    assert set(s.learning_results.__dict__) == set(lr)
    for key, value in lr.items():
        other = s.learning_results.__dict__[key]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other, value)
        else:
            assert other == value or (other is None and value is None)


def _match(true_H, H):
    """Order of learned phases matching the true ones (2 phases: try both)."""
    c0 = np.corrcoef(true_H[0], H[0])[0, 1] + np.corrcoef(true_H[1], H[1])[0, 1]
    c1 = np.corrcoef(true_H[0], H[1])[0, 1] + np.corrcoef(true_H[1], H[0])[0, 1]
    return [0, 1] if c0 >= c1 else [1, 0]


@pytest.fixture(scope="module")
def decomposed():
    """One esmpy decomposition of the simulated SI, shared by the read-only tests."""
    s = simulated_signal()
    snap = _snapshot(s)
    est = decompose(
        s, 2, ignore_elements=["Cu"], random_state=0, return_info=True, show_progressbar=False
    )
    return s, snap, est


# --- the full path ---------------------------------------------------------------------------


def test_recovers_planted_maps_and_compositions(decomposed):
    s, _, _ = decomposed
    _, _, H_true, _ = planted()
    H = s.learning_results.loadings.T
    order = _match(H_true, H)
    for j, jj in enumerate(order):
        assert np.corrcoef(H_true[j], H[jj])[0, 1] > 0.95
    np.testing.assert_allclose(H.sum(axis=0), 1.0, atol=1e-4)
    comp = get_phase_compositions(s)
    assert comp.elements == ("C", "O", "Si")
    assert comp.ignored_elements == ("Cu",)
    particle, film = order
    at = comp.atomic_percent
    assert at[comp.elements.index("Si"), particle] == pytest.approx(100 / 3, abs=2.5)
    assert at[comp.elements.index("O"), particle] == pytest.approx(200 / 3, abs=2.5)
    assert at[comp.elements.index("C"), film] == pytest.approx(100.0, abs=2.5)
    # within 4 standard deviations of the truth (the model generated the data)
    si = comp.elements.index("Si")
    assert abs(at[si, particle] - 100 / 3) < 4 * comp.atomic_percent_std[si, particle] + 1.0


def test_results_stored_as_plain_data(decomposed):
    s, _, est = decomposed
    lr = s.learning_results
    assert lr.decomposition_algorithm == "esmpy"
    labels = lr.esmpy_params["G_labels"]
    assert labels == ["C", "O", "Si", "Cu", "bremsstrahlung_0", "bremsstrahlung_1"]
    assert lr.esmpy_W.shape == (6, 2)
    assert lr.esmpy_G.shape == (SIZE, 6)
    # factors = G·W over the FULL axis, including the excluded channels below low_cut
    np.testing.assert_allclose(lr.factors, lr.esmpy_G @ lr.esmpy_W)
    assert np.all(np.isfinite(lr.factors))
    assert not lr.esmpy_fit_mask[:10].any()  # -0.2..0 keV excluded
    energies = OFFSET + SCALE * np.arange(SIZE)
    assert energies[lr.esmpy_fit_mask].min() > 0.15
    np.testing.assert_allclose(lr.esmpy_W, est.W_)
    params = lr.esmpy_params
    meta = params["metadata"]
    assert meta["beam_energy"] == {
        "value": BEAM,
        "source": "metadata",
        "key": "Acquisition_instrument.TEM.beam_energy",
        "note": "",
    }
    assert meta["take_off_angle"]["value"] == pytest.approx(22.0)
    assert meta["energy_resolution_MnKa"]["value"] == 128.0
    assert meta["thickness"]["source"] == "default"
    assert params["ignored_elements"] == ["Cu"]
    assert params["estimator"]["random_state"] == 0
    assert params["n_iter"] == est.n_iter_ > 0
    assert params["stop_reason"] == str(est.stop_reason_)


def test_signal_data_unchanged_after_success(decomposed):
    s, snap, _ = decomposed
    assert s.data.dtype == np.uint16 == snap[1]
    np.testing.assert_array_equal(s.data, snap[0])
    assert s.metadata.as_dictionary() == snap[2]


def test_decomposition_model_and_hyperspy_accessors(decomposed):
    s, _, _ = decomposed
    lr = s.learning_results
    model = s.get_decomposition_model()
    expected = (lr.esmpy_G @ lr.esmpy_W @ lr.loadings.T).T.reshape(s.data.shape)
    np.testing.assert_allclose(model.data, expected, rtol=1e-6)
    factors = s.get_decomposition_factors()
    assert factors.data.shape == (2, SIZE)
    loadings = s.get_decomposition_loadings()
    assert loadings.data.shape == (2, 24, 20)


def test_plot_decomposition_results(decomposed):
    s, _, _ = decomposed
    s.plot_decomposition_results()
    s.plot_decomposition_factors()


def test_hspy_round_trip(decomposed, tmp_path):
    s, _, _ = decomposed
    path = tmp_path / "si.hspy"
    s.save(path)
    s2 = hs.load(path)
    lr, lr2 = s.learning_results, s2.learning_results
    assert lr2.decomposition_algorithm == "esmpy"
    for name in ("esmpy_W", "esmpy_G", "esmpy_fit_mask", "factors", "loadings"):
        np.testing.assert_array_equal(getattr(lr2, name), getattr(lr, name))
    assert lr2.esmpy_params["G_labels"] == lr.esmpy_params["G_labels"]
    assert lr2.esmpy_params["metadata"]["beam_energy"]["value"] == BEAM
    assert lr2.esmpy_params["estimator"]["random_state"] == 0
    c1, c2 = get_phase_compositions(s), get_phase_compositions(s2)
    np.testing.assert_allclose(c2.atomic_percent, c1.atomic_percent)
    np.testing.assert_allclose(c2.atomic_percent_std, c1.atomic_percent_std)


# --- routes: esmpy class, lazy, eV axis ------------------------------------------------------


def test_esmpy_class_route_equals_function():
    s = simulated_signal(ny=12, nx=10)
    ref = s.deepcopy()
    decompose(ref, 2, max_iter=60, random_state=1)
    s.set_signal_type("esmpy")
    s.decomposition(algorithm="esmpy", output_dimension=2, max_iter=60, random_state=1)
    assert type(s).__name__ == "EsmpyEDSTEMSpectrum"
    np.testing.assert_array_equal(s.learning_results.loadings, ref.learning_results.loadings)
    np.testing.assert_array_equal(s.learning_results.esmpy_W, ref.learning_results.esmpy_W)


def _assert_same_fit(a, b):
    """Lazy and eager fits agree up to float32 summation order (the lazy fit runs by bands)."""
    la, lb = a.learning_results, b.learning_results
    np.testing.assert_allclose(la.loadings, lb.loadings, atol=2e-3)
    np.testing.assert_allclose(la.factors, lb.factors, rtol=2e-3, atol=1e-6 * lb.factors.max())
    assert la.esmpy_params["G_labels"] == lb.esmpy_params["G_labels"]
    np.testing.assert_array_equal(la.esmpy_G, lb.esmpy_G)


def test_lazy_equals_eager():
    s = simulated_signal(ny=12, nx=10)
    lazy = s.as_lazy()
    decompose(s, 2, max_iter=60, random_state=2)
    decompose(lazy, 2, max_iter=60, random_state=2)
    assert lazy._lazy
    _assert_same_fit(lazy, s)
    np.testing.assert_array_equal(np.asarray(lazy.data), s.data)  # data untouched
    esmpy_lazy = s.as_lazy()
    esmpy_lazy.set_signal_type("esmpy")
    esmpy_lazy.decomposition(algorithm="esmpy", output_dimension=2, max_iter=60, random_state=2)
    assert type(esmpy_lazy).__name__ == "LazyEsmpyEDSTEMSpectrum"
    _assert_same_fit(esmpy_lazy, s)
    model = np.asarray(lazy.get_decomposition_model().data)
    eager_model = s.get_decomposition_model().data
    np.testing.assert_allclose(model, eager_model, atol=0.01 * eager_model.max())
    c_lazy, c_eager = get_phase_compositions(lazy), get_phase_compositions(s)
    np.testing.assert_allclose(c_lazy.atomic_percent, c_eager.atomic_percent, atol=0.05)


def test_ev_axis_gives_same_result_as_kev():
    s_kev = simulated_signal(ny=10, nx=10)
    s_ev = simulated_signal(ny=10, nx=10, units="eV")
    decompose(s_kev, 2, max_iter=40, random_state=0)
    decompose(s_ev, 2, max_iter=40, random_state=0)
    np.testing.assert_allclose(s_ev.learning_results.esmpy_G, s_kev.learning_results.esmpy_G)
    np.testing.assert_allclose(
        s_ev.learning_results.loadings, s_kev.learning_results.loadings, rtol=1e-5, atol=1e-6
    )


def test_float_data_is_not_copied_or_modified():
    s = simulated_signal(ny=8, nx=8, dtype=np.float64)
    before = s.data.copy()
    decompose(s, 2, max_iter=20)
    assert s.data.dtype == np.float64
    np.testing.assert_array_equal(s.data, before)


# --- options ---------------------------------------------------------------------------------


def test_signal_mask_and_energy_range_restrict_the_fit_but_not_the_factors():
    s = simulated_signal(ny=8, nx=8)
    energies = OFFSET + SCALE * np.arange(SIZE)
    mask = (energies > 7.5) & (energies < 8.5)  # hide the Cu K lines
    decompose(s, 2, signal_mask=mask, energy_range=(0.2, 10.0), max_iter=30, add_elements=["Cu"])
    lr = s.learning_results
    fit = lr.esmpy_fit_mask
    assert not fit[mask].any()
    assert not fit[energies > 10.0].any() and not fit[energies < 0.2].any()
    assert fit[(energies > 0.2) & (energies < 7.4)].all()
    assert np.all(np.isfinite(lr.factors))
    np.testing.assert_allclose(lr.factors, lr.esmpy_G @ lr.esmpy_W)
    assert lr.esmpy_params["metadata"]["energy_range_keV"] == [0.2, 10.0]


def test_navigation_mask_gives_nan_loadings_for_masked_pixels():
    s = simulated_signal(ny=8, nx=8)
    mask = np.zeros((8, 8), dtype=bool)  # array order (y, x)
    mask[0, :3] = True
    nav_mask = hs.signals.BaseSignal(mask).T
    decompose(s, 2, navigation_mask=nav_mask, max_iter=30)
    loadings = s.learning_results.loadings.reshape(8, 8, 2)
    assert np.isnan(loadings[0, :3]).all()
    assert np.isfinite(loadings[1:]).all()
    assert s.learning_results.esmpy_params["estimator"]["smoothness"] == 0.0
    # a numpy mask follows HyperSpy's convention: navigation shape in (x, y) order
    decompose(s, 2, navigation_mask=mask.T, max_iter=30)
    np.testing.assert_array_equal(np.isnan(s.learning_results.loadings[:, 0]).reshape(8, 8), mask)


def test_fixed_W_by_label_and_phase():
    s = simulated_signal(ny=8, nx=8)
    decompose(s, 2, max_iter=30, fixed_W={"C": {0: 0.0}, ("Si", 1): 0.0})
    W = s.learning_results.esmpy_W
    labels = s.learning_results.esmpy_params["G_labels"]
    assert W[labels.index("C"), 0] == 0.0
    assert W[labels.index("Si"), 1] == 0.0
    with pytest.raises(ValueError, match="'Fe' is not a column of G"):
        decompose(s, 2, fixed_W={"Fe": {0: 1.0}})


def test_warm_start_from_previous_results():
    s = simulated_signal(ny=8, nx=8)
    decompose(s, 2, max_iter=200, random_state=0)
    lr = s.learning_results
    W0, H0 = lr.esmpy_W.copy(), lr.loadings.T.reshape(2, 8, 8)
    decompose(s, 2, max_iter=1, W_init=W0, H_init=H0)
    np.testing.assert_allclose(s.learning_results.esmpy_W, W0, rtol=0.01, atol=1e-4 * W0.max())
    assert s.learning_results.esmpy_params["initial_values_given"] == {"W": True, "H": True}
    with pytest.raises(ValueError, match=r"W_init has shape \(2, 2\)"):
        decompose(s, 2, W_init=np.ones((2, 2)))


def test_thickness_and_density_arguments_reach_the_model():
    s = simulated_signal(ny=6, nx=6)
    s.metadata.set_item("Sample.thickness", 0.1)
    s.metadata.set_item("Sample.thickness_units", "um")
    decompose(s, 2, max_iter=5, density=2.2)
    meta = s.learning_results.esmpy_params["metadata"]
    assert meta["thickness"]["value"] == pytest.approx(100.0)
    assert meta["thickness"]["source"] == "metadata"
    assert meta["density"] == {
        "value": 2.2,
        "source": "argument",
        "key": "Sample.density",
        "note": "",
    }
    G_abs = s.learning_results.esmpy_G
    decompose(s, 2, max_iter=5, thickness=0)
    G_thin = s.learning_results.esmpy_G
    labels = s.learning_results.esmpy_params["G_labels"]
    o = labels.index("O")
    # absorption lowers the soft O K line relative to no absorption
    assert G_abs[:, o].sum() < 0.99 * G_thin[:, o].sum()


def test_detector_dict_keeps_metadata_resolution_unless_given():
    s = simulated_signal(ny=6, nx=6)
    decompose(s, 2, max_iter=5, detector={"dead_layer_nm": 50.0})
    meta = s.learning_results.esmpy_params["metadata"]
    assert meta["detector"]["dead_layer_nm"] == 50.0
    assert meta["detector"]["resolution_mnka"] == 128.0
    decompose(s, 2, max_iter=5, detector=Detector(resolution_mnka=140.0))
    meta = s.learning_results.esmpy_params["metadata"]
    assert meta["energy_resolution_MnKa"]["value"] == 140.0
    assert meta["energy_resolution_MnKa"]["source"] == "argument"


def test_ignored_element_is_added_to_the_model():
    s = simulated_signal(ny=6, nx=6)  # metadata elements: C, O, Si
    decompose(s, 2, max_iter=5, ignore_elements=["Cu"])
    params = s.learning_results.esmpy_params
    assert "Cu" in params["G_labels"] and params["ignored_elements"] == ["Cu"]
    assert "Cu" not in params["quantified_elements"]


# --- warnings --------------------------------------------------------------------------------


def test_poisson_normalisation_and_vacuum_mask_are_ignored_with_warnings():
    s = simulated_signal(ny=6, nx=6)
    with pytest.warns(UserWarning) as record:
        decompose(s, 2, max_iter=5, normalize_poissonian_noise=True, navigation_mask=1.0)
    messages = " ".join(str(w.message) for w in record)
    assert "normalize_poissonian_noise=True is ignored" in messages
    assert "vacuum mask" in messages
    assert s.learning_results.poissonian_noise_normalized is False
    assert s.learning_results.navigation_mask is None


def test_miscalibrated_energy_axis_is_detected(decomposed):
    s, _, _ = decomposed
    assert abs(s.learning_results.esmpy_params["energy_shift_keV"]) < 0.004
    shifted = simulated_signal(ny=10, nx=10)
    shifted.axes_manager.signal_axes[0].offset += 0.04  # peaks now read 40 eV too high
    with pytest.warns(UserWarning, match=r"\+40 eV from the modelled.*offset -= 0\.0[34]"):
        decompose(shifted, 2, max_iter=60)
    shift = shifted.learning_results.esmpy_params["energy_shift_keV"]
    assert shift == pytest.approx(0.04, abs=0.004)


def test_missing_element_is_detected_from_the_residual(decomposed):
    s, _, _ = decomposed
    assert s.learning_results.esmpy_params["unexplained_peaks"] == []
    no_si = simulated_signal(ny=10, nx=10, elements=("O", "C"))
    with pytest.warns(UserWarning, match=r"unexplained at 1\.74 keV \(Si_Ka.*add_elements=\['Si'"):
        decompose(no_si, 2, max_iter=60, ignore_elements=["Cu"])
    peaks = no_si.learning_results.esmpy_params["unexplained_peaks"]
    assert len(peaks) == 1 and peaks[0].startswith("1.74")


def test_sem_signal_warns_about_the_thin_film_model():
    from esmpy_hs.metadata import SEMSignalWarning

    s = simulated_signal(ny=6, nx=6)
    sem = exspy.signals.EDSSEMSpectrum(s.data)
    sem.axes_manager.signal_axes[0].update_from(
        s.axes_manager.signal_axes[0], ("offset", "scale", "units", "name")
    )
    sem.set_microscope_parameters(beam_energy=BEAM)
    sem.add_elements(["Si", "O", "C"])
    with pytest.warns(SEMSignalWarning, match="thin films"):
        decompose(sem, 2, max_iter=5)
    assert sem.learning_results.esmpy_params["metadata"]["microscope"] == "SEM"


def test_no_print(decomposed, capsys):
    s = simulated_signal(ny=6, nx=6)
    decompose(s, 2, max_iter=5, print_info=True)
    assert capsys.readouterr().out == ""


# --- errors: each names the problem and the fix; the signal is unchanged ---------------------


def _no_beam(s):
    del s.metadata.Acquisition_instrument.TEM.beam_energy
    assert not s.metadata.has_item("Acquisition_instrument.TEM.beam_energy")


def _no_elements(s):
    del s.metadata.Sample.elements


def _non_uniform(s):
    ax = s.axes_manager.signal_axes[0]
    ax.convert_to_non_uniform_axis()


ERROR_CASES = [
    (
        _no_beam,
        {},
        ValueError,
        r"Acquisition_instrument\.TEM\.beam_energy.*set_microscope_parameters\(beam_energy=",
    ),
    (_no_elements, {}, ValueError, r"s\.add_elements\(\[.*elements=\["),
    (None, {"elements": ["Si", "Xx"]}, ValueError, r"Unknown element 'Xx'"),
    (None, {"elements": "Si"}, TypeError, r"elements=\['Si'\]"),
    (None, {"elements": ["Li"]}, ValueError, r"\['Li'\].*X-ray line.*s\.add_elements"),
    (_non_uniform, {}, ValueError, r"non-uniform.*convert_to_uniform_axis"),
    (None, {"bogus_option": 1}, TypeError, r"unknown keyword argument.*bogus_option"),
    (None, {"n_components": 0}, ValueError, r"n_components=0 must be >= 1"),
    (None, {"energy_range": (5.0, 1.0)}, ValueError, r"low must be below high"),
    (None, {"tol": -1}, ValueError, r"tol=-1"),  # raised inside the fit
]


@pytest.mark.parametrize("mutate, kwargs, error, match", ERROR_CASES)
def test_errors_name_problem_and_fix_and_leave_signal_unchanged(mutate, kwargs, error, match):
    s = simulated_signal(ny=4, nx=4)
    decompose(s, 2, max_iter=3)  # earlier results must survive a failing call
    if mutate is not None:
        mutate(s)
    snap = _snapshot(s)
    kwargs = {"n_components": 2, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            decompose(s, **kwargs)
    _assert_unchanged(s, snap)


def test_single_pixel_is_refused():
    s = simulated_signal(ny=1, nx=1)
    snap = _snapshot(s)
    with pytest.raises(ValueError, match="navigation size is 1.*at least 2 pixels"):
        decompose(s, 2)
    _assert_unchanged(s, snap)


@pytest.mark.parametrize("bad, match", [(np.nan, "NaN or infinite"), (-3.0, "negative values")])
def test_nan_and_negative_counts_are_refused(bad, match):
    s = simulated_signal(ny=4, nx=4, dtype=np.float32)
    s.data[1, 2, 100] = bad
    snap = _snapshot(s)
    with pytest.raises(ValueError, match=match):
        decompose(s, 2)
    _assert_unchanged(s, snap)


def test_element_without_line_in_range_is_dropped_with_a_warning():
    s = simulated_signal(ny=4, nx=4)
    with pytest.warns(UserWarning, match=r"\['Li'\] have no X-ray line.*Remove them"):
        decompose(s, 2, max_iter=3, add_elements=["Li"])
    assert "Li" not in s.learning_results.esmpy_params["G_labels"]
    assert s.learning_results.esmpy_params["dropped_elements"] == ["Li"]
