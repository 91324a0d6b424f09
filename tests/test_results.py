"""Standalone export of esmpy results (independent of learning_results) and its round trip."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("exspy")

import _simulation as _sim  # noqa: E402

from esmpy_hs.decomposition import decompose  # noqa: E402
from esmpy_hs.quantification import get_phase_compositions  # noqa: E402
from esmpy_hs.results import EsmpyResults, export_results, get_state  # noqa: E402

NY, NX = 12, 10


@pytest.fixture(scope="module")
def decomposed():
    s = _sim.simulated_signal(ny=NY, nx=NX)
    decompose(s, 2, max_iter=80, random_state=0, ignore_elements=["Cu"], show_progressbar=False)
    return s


def test_export_types_shapes_and_content(decomposed):
    s = decomposed
    lr = s.learning_results
    res = export_results(s)
    assert type(res.factors).__name__ == "EsmpyEDSTEMSpectrum"
    assert res.factors.axes_manager.navigation_shape == (2,)
    np.testing.assert_allclose(res.factors.data, lr.factors.T)
    energy = res.factors.axes_manager.signal_axes[0]
    src = s.axes_manager.signal_axes[0]
    assert (energy.offset, energy.scale, energy.units) == (src.offset, src.scale, src.units)
    assert res.factors.metadata.get_item("Acquisition_instrument.TEM.beam_energy") == 200.0
    assert res.factors.metadata.Sample.elements == ["C", "O", "Si"]

    assert type(res.loadings).__name__ == "Signal2D"
    assert res.loadings.data.shape == (2, NY, NX)
    np.testing.assert_allclose(res.loadings.data.reshape(2, -1), lr.loadings.T)
    assert res.loadings.axes_manager.signal_shape == (NX, NY)

    assert res.W.data.shape == (2, 6)
    np.testing.assert_allclose(res.W.data, lr.esmpy_W.T)
    assert res.W.metadata.Esmpy.G_labels == lr.esmpy_params["G_labels"]
    assert res.W.metadata.Esmpy.ignored_elements == ["Cu"]
    np.testing.assert_allclose(res.G.data, lr.esmpy_G.T)


def test_export_is_independent_of_learning_results(decomposed):
    s = decomposed.deepcopy()
    res = export_results(s)
    W_before = res.W.data.copy()
    loadings_before = res.loadings.data.copy()
    s.learning_results.esmpy_W[:] = 0.0
    s.learning_results.loadings[:] = 0.0
    s.change_dtype("float32")
    s.decomposition(print_info=False)  # replaces the learning results
    np.testing.assert_array_equal(res.W.data, W_before)
    np.testing.assert_array_equal(res.loadings.data, loadings_before)
    comp = get_phase_compositions(res)
    assert np.isfinite(comp.atomic_percent).all()


def test_state_from_results_equals_state_from_signal(decomposed):
    a = get_state(decomposed)
    b = get_state(export_results(decomposed))
    for name in ("W", "G", "loadings", "fit_mask"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name))
    assert a.labels == b.labels and a.elements == b.elements
    assert a.ignored_elements == b.ignored_elements == ("Cu",)
    assert a.nav_shape == b.nav_shape == (NY, NX)
    assert b.params["metadata"]["beam_energy"]["value"] == 200.0


def test_save_and_load(decomposed, tmp_path):
    res = export_results(decomposed)
    paths = res.save(tmp_path / "run")
    assert sorted(p.name for p in paths) == [
        "run_G.hspy",
        "run_W.hspy",
        "run_factors.hspy",
        "run_loadings.hspy",
    ]
    back = EsmpyResults.load(tmp_path / "run")
    np.testing.assert_allclose(back.W.data, res.W.data)
    np.testing.assert_allclose(back.loadings.data, res.loadings.data)
    c1 = get_phase_compositions(decomposed)
    c2 = get_phase_compositions(back)
    np.testing.assert_allclose(c2.atomic_percent, c1.atomic_percent)
    np.testing.assert_allclose(c2.atomic_percent_std, c1.atomic_percent_std)
    assert c2.ignored_elements == ("Cu",)
    with pytest.raises(FileNotFoundError, match="EsmpyResults.save"):
        EsmpyResults.load(tmp_path / "missing")


def test_errors_without_or_with_stale_results(decomposed):
    s = _sim.simulated_signal(ny=3, nx=3)
    with pytest.raises(ValueError, match="No esmpy decomposition results"):
        export_results(s)
    s = decomposed.deepcopy()
    s.learning_results.crop_decomposition_dimension(1)
    with pytest.raises(ValueError, match="cropped or changed"):
        export_results(s)
    s = decomposed.deepcopy()
    s.normalize_decomposition_components()
    with pytest.raises(ValueError, match="no longer equal G·W.*normalize_decomposition"):
        get_phase_compositions(s)
