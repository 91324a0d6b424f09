"""Plots of esmpy results: figures returned (never shown), content checked numerically."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("exspy")
pytest.importorskip("matplotlib")

import _simulation as _sim  # noqa: E402
import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from esmpy_hs.decomposition import decompose  # noqa: E402
from esmpy_hs.plotting import (  # noqa: E402
    plot_abundance_maps,
    plot_phase_compositions,
    plot_phase_spectra,
)
from esmpy_hs.quantification import get_phase_compositions  # noqa: E402
from esmpy_hs.results import export_results  # noqa: E402

NY, NX = 12, 10


@pytest.fixture(scope="module")
def decomposed():
    s = _sim.simulated_signal(ny=NY, nx=NX)
    decompose(s, 2, max_iter=80, random_state=0, ignore_elements=["Cu"], show_progressbar=False)
    return s


@pytest.fixture(autouse=True)
def _never_show(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("plt.show() must not be called by library code")

    monkeypatch.setattr(plt, "show", fail)


def test_phase_spectra_curves_and_line_markers(decomposed):
    s = decomposed
    fig = plot_phase_spectra(s)
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    lr = s.learning_results
    H = lr.loadings  # (pixels, k)
    Y = s.data.reshape(-1, s.data.shape[-1]).astype(float)
    energies = s.axes_manager.signal_axes[0].axis
    for j, ax in enumerate(axes):
        data_line, model_line, pure_line = ax.lines[:3]
        x = data_line.get_xdata()
        window = (energies >= x[0] - 1e-9) & (energies <= x[-1] + 1e-9)
        expected = (H[:, j] @ Y / H[:, j].sum())[window]
        np.testing.assert_allclose(data_line.get_ydata(), expected, rtol=1e-6)
        ratio = pure_line.get_ydata() / lr.factors[window, j]
        np.testing.assert_allclose(ratio[lr.factors[window, j] > 0], ratio.max(), rtol=1e-6)
        assert pure_line.get_ydata().max() == pytest.approx(model_line.get_ydata().max())
        assert pure_line.get_label().startswith("pure phase G·W (×")
        # the abundance-weighted model agrees with the weighted data (the model fits)
        model = model_line.get_ydata()
        assert np.abs(model - expected).sum() / expected.sum() < 0.15
        assert x[0] > 0.15  # the default range starts where the fit does
        assert 8.05 < x[-1] < 9.1  # and ends 1 keV above the highest line (Cu Ka)
    labels = {t.get_text() for ax in axes for t in ax.texts}
    comp = get_phase_compositions(s)
    particle = int(np.argmax(comp.atomic_percent[comp.elements.index("Si")]))
    film = 1 - particle
    assert {"Si Ka", "O Ka"} <= {t.get_text() for t in axes[particle].texts}
    assert "C Ka" in {t.get_text() for t in axes[film].texts}
    assert "Si Ka" not in {t.get_text() for t in axes[film].texts}
    assert "Cu Ka" in labels  # the ignored grid is still marked where present
    assert "Si" in axes[particle].get_title()


def test_phase_spectra_options(decomposed):
    fig = plot_phase_spectra(decomposed, phases=[1], energy_range=(1.0, 3.0), log_scale=True)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_xlim() == (1.0, 3.0)
    assert ax.get_yscale() == "log"
    assert ax.get_ylim()[0] > 0
    fig = plot_phase_spectra(export_results(decomposed), xray_lines=False)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and not ax.texts  # model only, no data without the signal
    lr = decomposed.learning_results
    top = lr.factors[:, 0].max()
    assert ax.lines[0].get_ydata().max() == pytest.approx(top)  # not rescaled
    with pytest.raises(ValueError, match=r"phases=\[3\] out of range"):
        plot_phase_spectra(decomposed, phases=[3])


def test_abundance_maps(decomposed):
    fig = plot_abundance_maps(decomposed, ncols=2)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    maps = decomposed.learning_results.loadings.T.reshape(2, NY, NX)
    for j, im in enumerate(images):
        np.testing.assert_allclose(np.asarray(im.get_array()), maps[j])
        assert im.get_clim() == (0.0, pytest.approx(maps[j].max()))
    assert len(fig.axes) == 4  # two maps and their colour bars
    fig = plot_abundance_maps(decomposed, vmax=1.0)
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in fig.axes if ax.images)


def test_composition_bars(decomposed):
    comp = get_phase_compositions(decomposed)
    fig = plot_phase_compositions(decomposed, units="weight")
    ax = fig.axes[0]
    heights = np.array([p.get_height() for p in ax.patches]).reshape(2, -1)
    np.testing.assert_allclose(heights, comp.weight_percent.T)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(comp.elements)
    assert "not quantified: Cu" in ax.get_title()
    assert ax.get_ylabel() == "weight %"
    with pytest.raises(ValueError, match="units='mass'"):
        plot_phase_compositions(decomposed, units="mass")
