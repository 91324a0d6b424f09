"""esmpy on measured spectrum images (../shared/data/real; skipped when absent).

The assertions are physical: the phase richest in an element sits where that element's X-ray
counts are high, and its composition is close to the expected compound.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("exspy")

import hyperspy.api as hs  # noqa: E402

from esmpy_hs.decomposition import decompose  # noqa: E402
from esmpy_hs.plotting import (  # noqa: E402
    plot_abundance_maps,
    plot_phase_compositions,
    plot_phase_spectra,
)
from esmpy_hs.quantification import get_phase_compositions  # noqa: E402

pytestmark = pytest.mark.realdata


def _spectrum_image(loaded):
    """The EDS spectrum image among the signals a file returns."""
    signals = loaded if isinstance(loaded, list) else [loaded]
    for s in signals:
        am = s.axes_manager
        if (
            str(s.metadata.get_item("Signal.signal_type", "")).startswith("EDS")
            and am.signal_dimension == 1
            and am.navigation_dimension == 2
        ):
            return s
    raise AssertionError(f"no EDS spectrum image in {signals}")


def _line_map(s, low, high):
    return s.isig[low:high].sum(-1).data.astype(float)


def _abundance(s, j):
    ny, nx = s.axes_manager._navigation_shape_in_array
    return s.learning_results.loadings[:, j].reshape(ny, nx)


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return hs.load(path)


@pytest.mark.slow
def test_sio2_particles_on_carbon(real_data_dir, tmp_path):
    s = _load(real_data_dir / "sio2_particles_stem_128x128.hspy")
    before = s.data.copy()
    # this file's energy axis is off by about +30 eV (C, O, Si and Cu K peaks all sit
    # 25-40 eV above their line energies): esmpy says so
    with pytest.warns(UserWarning, match=r"\+(2\d|3\d) eV from the modelled line energies"):
        decompose(s, 2, elements=["Si", "O", "C", "Cu"], ignore_elements=["Cu"], random_state=0)
    assert s.learning_results.esmpy_params["energy_shift_keV"] == pytest.approx(0.03, abs=0.01)
    assert s.data.dtype == np.uint32
    np.testing.assert_array_equal(s.data, before)
    comp = get_phase_compositions(s)
    assert comp.elements == ("Si", "O", "C")  # the order given
    assert comp.ignored_elements == ("Cu",)
    at = comp.atomic_percent
    si, o, c = (comp.elements.index(e) for e in ("Si", "O", "C"))
    particle = int(np.argmax(at[si]))
    film = 1 - particle
    # the SiO2 phase: Si and O dominate, O/Si in a range around 2 (no absorption model
    # for the unknown particle thickness), little carbon
    assert at[si, particle] + at[o, particle] > 85.0
    assert 0.8 < at[o, particle] / at[si, particle] < 3.0
    # the carbon film phase
    assert at[c, film] > 85.0
    # the particle phase is where the Si K counts are
    si_counts = _line_map(s, 1.6, 1.9)
    assert _corr(_abundance(s, particle), si_counts) > 0.9
    assert _corr(_abundance(s, film), si_counts) < -0.9
    assert np.all(np.isfinite(at)) and np.all((at >= 0) & (at <= 100))
    for plot in (plot_phase_spectra, plot_abundance_maps, plot_phase_compositions):
        plot(s).savefig(tmp_path / f"{plot.__name__}.png", dpi=40)


@pytest.mark.slow
def test_bruker_bcf_incomplete_element_list(real_data_dir):
    s = _spectrum_image(_load(real_data_dir / "bruker_stem_64x64.bcf"))
    assert "Si" not in s.metadata.Sample.elements  # the real-file trap: esmpy points it out
    with pytest.warns(UserWarning, match=r"unexplained at 1\.74 keV \(Si_Ka.*add_elements="):
        decompose(s.deepcopy(), 2, ignore_elements=["Cu"], max_iter=200)
    decompose(s, 2, add_elements=["Si"], ignore_elements=["Cu"], random_state=0)
    assert s.learning_results.esmpy_params["unexplained_peaks"] == []
    comp = get_phase_compositions(s)
    at = comp.atomic_percent
    ti, o, si = (comp.elements.index(e) for e in ("Ti", "O", "Si"))
    oxide = int(np.argmax(at[ti]))
    other = 1 - oxide
    # a titanium-oxide phase (TiO2: O/Ti = 2) and a Si-rich phase (Si is everywhere)
    assert at[ti, oxide] + at[o, oxide] > 90.0
    assert 1.2 < at[o, oxide] / at[ti, oxide] < 3.0
    assert at[si, other] > 80.0
    # the oxide phase is found in the pixels where Ti K and O K photons were detected (at
    # ~6 counts/pixel the element maps show little spatial structure beyond that)
    for low, high in ((4.4, 4.6), (0.45, 0.6)):  # Ti Ka, O Ka
        counts = _line_map(s, low, high)
        assert _corr(_abundance(s, oxide), counts) > 0.3
        assert _corr(_abundance(s, other), counts) < -0.3
    # Si (everywhere, as in the sum spectrum) does not tell the phases apart
    assert abs(_corr(_abundance(s, oxide), _line_map(s, 1.65, 1.85))) < 0.1


@pytest.mark.slow
def test_velox_emd_eager_equals_lazy(real_data_dir):
    pytest.importorskip("sparse")
    path = real_data_dir / "velox_stem_16x16.emd"
    s = _spectrum_image(_load(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        lazy = _spectrum_image(hs.load(path, lazy=True))
    assert lazy._lazy
    assert sorted(s.metadata.Sample.elements) == ["C", "Ca", "Cu", "O"]
    decompose(s, 2, ignore_elements=["Cu"], random_state=0, max_iter=200)
    decompose(lazy, 2, ignore_elements=["Cu"], random_state=0, max_iter=200)
    # the lazy fit runs band by band: equal up to float32 summation order
    np.testing.assert_allclose(
        lazy.learning_results.loadings, s.learning_results.loadings, atol=2e-3
    )
    meta = s.learning_results.esmpy_params["metadata"]
    assert meta["beam_energy"]["value"] == 300.0
    assert meta["take_off_angle"]["value"] == pytest.approx(35.0, abs=0.01)
    comp = get_phase_compositions(s)
    np.testing.assert_allclose(np.nansum(comp.atomic_percent, axis=0), 100.0)
