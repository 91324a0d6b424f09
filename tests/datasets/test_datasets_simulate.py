"""Simulated spectrum images: dose, metadata, ground truth, seeds, model mismatch."""

from __future__ import annotations

import numpy as np
import pytest

from esmpy_hs.datasets import (
    PAPER_COMPOSITIONS,
    GroundTruth,
    Mismatch,
    Phase,
    generate_counts,
    get_ground_truth,
    gradient_maps,
    layer_maps,
    paper_sample,
    simulate_spectrum_image,
)
from esmpy_hs.datasets.spectra import add_escape_peaks
from esmpy_hs.metrics import evaluation_report
from esmpy_hs.physics import EnergyAxis

PHASES = [
    Phase("silica", {"Si": 1, "O": 2}),
    Phase("hematite", {"Fe": 2, "O": 3}, continuum=0.1),
]
AXIS = EnergyAxis(offset=0.3, scale=0.01, size=1980, units="keV")


@pytest.fixture(scope="module")
def maps():
    return layer_maps((12, 10), 2, axis=1, interface_width=1.5)


@pytest.fixture(scope="module")
def signal(maps):
    return simulate_spectrum_image(
        PHASES,
        maps,
        dose=150.0,
        beam_energy=200.0,
        resolution_mnka=128.0,
        thickness=80.0,
        density=3.5,
        elevation_angle=30.0,
        tilt_stage=5.0,
        live_time=2.0,
        seed=3,
    )


def test_signal_metadata(signal):
    from esmpy_hs.signals import EsmpyEDSTEMSpectrum

    s = signal
    assert isinstance(s, EsmpyEDSTEMSpectrum)
    assert s.metadata.Signal.signal_type == "EDS_TEM_ESMPY"
    assert s.data.shape == (12, 10, 1980)
    assert s.data.dtype == np.float32
    tem = s.metadata.Acquisition_instrument.TEM
    assert tem.beam_energy == 200.0
    assert tem.Detector.EDS.energy_resolution_MnKa == 128.0
    assert tem.Detector.EDS.elevation_angle == 30.0
    assert tem.Detector.EDS.live_time == 2.0
    assert tem.Stage.tilt_alpha == 5.0
    assert s.get_take_off_angle() == pytest.approx(35.0, abs=1e-6)  # exspy: 30° + 5° tilt
    assert list(s.metadata.Sample.elements) == ["Fe", "O", "Si"]
    assert s.metadata.Sample.thickness == 80.0
    assert s.metadata.Sample.thickness_units == "nm"
    assert s.metadata.Sample.density == 3.5
    ax = s.axes_manager.signal_axes[0]
    assert (ax.name, ax.units, ax.offset, ax.scale) == ("Energy", "keV", 0.3, 0.01)
    assert [a.name for a in s.axes_manager.navigation_axes] == ["x", "y"]


def test_requested_dose_within_poisson_error(signal):
    totals = signal.data.sum(axis=-1, dtype=np.float64)
    n = totals.size
    # the sum of all counts is Poisson(dose * n): mean within 4 standard errors
    assert abs(totals.mean() - 150.0) < 4 * np.sqrt(150.0 / n)
    assert np.all(signal.data == np.round(signal.data))  # integer counts


def test_noiseless_equals_GWH_and_dose_exact(maps):
    counts, truth = generate_counts(
        PHASES, maps, dose=77.0, energy_axis=AXIS, density=3.5, noise=False
    )
    assert counts.dtype == np.float64
    GWH = (truth.G @ truth.W @ truth.maps.reshape(2, -1)).T.reshape(counts.shape)
    np.testing.assert_allclose(counts, GWH, rtol=1e-12, atol=0)
    assert counts.sum(axis=-1).mean() == pytest.approx(77.0, rel=1e-12)
    np.testing.assert_allclose(truth.spectra, truth.G @ truth.W, rtol=1e-12)
    assert truth.exact and truth.mismatch == {}
    # element rows of W are proportional to atomic fractions (one common scale)
    labels = truth.G_labels
    for k, comp in enumerate(truth.compositions):
        el_rows = [labels.index(el) for el in comp]
        w = truth.W[el_rows, k]
        ratio = w / np.array(list(comp.values()))
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    # the scale of both phases is the same: per atom, not per phase
    i_o = labels.index("O")
    assert truth.W[i_o, 0] / 2 * 3 == pytest.approx(truth.W[i_o, 1] / 3 * 5, rel=1e-12)
    # continuum ratio: bremsstrahlung counts = ratio × characteristic counts
    for k, ratio in enumerate([PHASES[0].continuum, PHASES[1].continuum]):
        cont = truth.G[:, -2:] @ truth.W[-2:, k]
        char = truth.G[:, :-2] @ truth.W[:-2, k]
        assert cont.sum() / char.sum() == pytest.approx(ratio, rel=1e-12)


def test_ground_truth_from_signal_and_roundtrip(signal, maps, tmp_path):
    import hyperspy.api as hs

    gt = get_ground_truth(signal)
    assert isinstance(gt, GroundTruth)
    assert gt.phase_names == ["silica", "hematite"]
    np.testing.assert_array_equal(gt.maps, maps)
    assert gt.spectra.shape == (1980, 2)
    assert gt.compositions[1] == pytest.approx({"Fe": 0.4, "O": 0.6})
    assert gt.G_labels == ["Fe", "O", "Si", "bremsstrahlung_0", "bremsstrahlung_1"]
    assert gt.elements == ["Fe", "O", "Si"]
    assert gt.dose == 150.0 and gt.seed == 3 and gt.exact
    np.testing.assert_allclose(gt.expected_counts().sum(-1).mean(), 150.0, rtol=1e-12)
    signal.save(tmp_path / "sim.hspy")
    loaded = hs.load(tmp_path / "sim.hspy")
    gt2 = get_ground_truth(loaded)
    np.testing.assert_array_equal(gt2.spectra, gt.spectra)
    np.testing.assert_array_equal(gt2.W, gt.W)
    assert gt2.compositions == gt.compositions
    assert type(loaded).__name__ == "EsmpyEDSTEMSpectrum"
    # a crop gets the matching part of the maps
    crop = get_ground_truth(signal.inav[2:7, 3:9])
    np.testing.assert_array_equal(crop.maps, maps[:, 3:9, 2:7])
    with pytest.raises(ValueError, match="rebinned"):
        get_ground_truth(signal.rebin(scale=(2, 2, 1)))
    with pytest.raises(ValueError, match="no ground truth"):
        get_ground_truth(hs.signals.Signal1D(np.zeros((2, 4))))


def test_seeds_reproducible(maps):
    a, _ = generate_counts(PHASES, maps, dose=20.0, energy_axis=AXIS, seed=11)
    b, _ = generate_counts(PHASES, maps, dose=20.0, energy_axis=AXIS, seed=11)
    c, _ = generate_counts(PHASES, maps, dose=20.0, energy_axis=AXIS, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_input_errors(maps):
    with pytest.raises(ValueError, match="2 phases but 3"):
        generate_counts(PHASES, gradient_maps(8, 3), dose=10.0, energy_axis=AXIS)
    with pytest.raises(ValueError, match="sum to one"):
        generate_counts(PHASES, maps * 2, dose=10.0, energy_axis=AXIS)
    with pytest.raises(ValueError, match="unique"):
        generate_counts([PHASES[0], PHASES[0]], maps, dose=10.0, energy_axis=AXIS)
    with pytest.raises(ValueError, match="dose"):
        generate_counts(PHASES, maps, dose=0.0, energy_axis=AXIS)
    with pytest.raises(TypeError, match="Phase"):
        generate_counts([{"Si": 1}], maps[:1] * 0 + 1, dose=10.0, energy_axis=AXIS)
    with pytest.raises(ValueError, match="unknown element"):
        Phase("bad", {"Xx": 1.0})
    with pytest.raises(ValueError, match="continuum"):
        Phase("bad", {"Fe": 1.0}, continuum=-1.0)
    with pytest.raises(ValueError, match="continuum weights"):
        Phase("bad", {"Fe": 1.0}, continuum=(1.0, 2.0, 3.0))
    assert Phase("x", {"fe": 2, 8: 3}).composition == pytest.approx({"O": 0.6, "Fe": 0.4})


def _single(mismatch=None, comp=None, continuum=0.0, thickness=100.0):
    phase = Phase("p", comp or {"Fe": 1.0}, continuum=continuum)
    _, truth = generate_counts(
        [phase],
        np.ones((1, 2, 2)),
        dose=1000.0,
        energy_axis=AXIS,
        thickness=thickness,
        density=5.0,
        noise=False,
        mismatch=mismatch,
    )
    return truth


def _window(spectrum, lo, hi):
    e = AXIS.energies
    return spectrum[(e >= lo) & (e <= hi)].sum()


def test_escape_peak_appears_at_E_minus_1_74():
    ref = _single().spectra[:, 0]
    esc = _single(Mismatch(escape_fraction=0.01))
    assert not esc.exact and esc.mismatch == {"escape_fraction": 0.01}
    # both are normalised to the same dose: compare shapes after rescaling the parent peak
    diff = esc.spectra[:, 0] - ref
    e = AXIS.energies
    peak_at = e[np.argmax(diff)]
    assert peak_at == pytest.approx(6.40 - 1.74, abs=0.015)  # Fe Kα escape at 4.66 keV
    # escape counts ≈ 1 % of the Fe K lines above the Si K edge
    assert _window(esc.spectra[:, 0], 4.5, 5.5) == pytest.approx(
        0.01 * _window(ref, 6.2, 7.3), rel=0.05
    )
    # the low-level helper conserves counts that land on the axis
    s = np.zeros(500)
    energies = 0.01 * np.arange(500)
    s[400] = 100.0  # 4.0 keV
    out = add_escape_peaks(s, energies, 0.02)
    assert out.sum() == pytest.approx(100.0)
    assert out[400] == pytest.approx(98.0) and out[226] == pytest.approx(2.0)


def test_energy_miscalibration_shifts_peaks():
    ref = _single().spectra[:, 0]
    shifted = _single(Mismatch(energy_offset_shift=0.02)).spectra[:, 0]
    # channel i now records energy offset + 0.02 + i*scale: peaks move 2 channels down
    i_ref = np.argmax(ref[(AXIS.energies > 6.2) & (AXIS.energies < 6.6)])
    i_sh = np.argmax(shifted[(AXIS.energies > 6.2) & (AXIS.energies < 6.6)])
    assert i_ref - i_sh == 2
    stretched = _single(Mismatch(energy_scale_factor=1.01)).spectra[:, 0]
    # Fe Kα at 6.40 keV: channel (6.40-0.3)/0.0101 = 604 instead of 610
    kalpha = (AXIS.energies > 5.8) & (AXIS.energies < 6.8)
    assert np.argmax(stretched[kalpha]) - np.argmax(ref[kalpha]) == -6


def _fwhm_of_isolated_peak(spectrum, lo, hi):
    e = AXIS.energies
    sel = (e >= lo) & (e <= hi)
    y, x = spectrum[sel], e[sel]
    mean = (y * x).sum() / y.sum()
    var = (y * (x - mean) ** 2).sum() / y.sum() - AXIS.scale_keV**2 / 12
    return 2.3548 * np.sqrt(var)


def test_linear_resolution_law_widens_low_energy_peaks():
    ref = _single(comp={"O": 1.0}).spectra[:, 0]
    lin = _single(Mismatch(resolution_law="linear"), comp={"O": 1.0}).spectra[:, 0]
    e_oka = 0.5249
    assert _fwhm_of_isolated_peak(ref, 0.3, 0.75) == pytest.approx(
        np.sqrt(130.0**2 + 2.5 * (e_oka * 1000 - 5898.7)) / 1000, abs=0.002
    )
    assert _fwhm_of_isolated_peak(lin, 0.3, 0.75) == pytest.approx(0.065 + 0.01 * e_oka, abs=0.002)
    wider = _single(Mismatch(resolution_mnka=150.0), comp={"O": 1.0}).spectra[:, 0]
    assert _fwhm_of_isolated_peak(wider, 0.3, 0.75) > _fwhm_of_isolated_peak(ref, 0.3, 0.75) + 0.02


def test_absorption_mismatch_lowers_soft_lines():
    comp = {"Fe": 0.4, "O": 0.6}
    ref = _single(comp=comp).spectra[:, 0]
    thick = _single(Mismatch(thickness_factor=3.0), comp=comp)
    own = _single(Mismatch(phase_absorption=True), comp=comp)
    ratio = lambda s: _window(s, 0.6, 0.8) / _window(s, 6.2, 6.6)  # noqa: E731  Fe Lα / Kα
    assert ratio(thick.spectra[:, 0]) < 0.9 * ratio(ref)
    # the model absorbs with equal Fe/O fractions; the phase itself is Fe-poorer (less Fe L abs.)
    assert ratio(own.spectra[:, 0]) != pytest.approx(ratio(ref), rel=1e-3)
    # G, the nominal model, is unchanged: data are no longer G @ W
    assert not thick.exact
    np.testing.assert_array_equal(thick.G, _single(comp=comp).G)
    assert np.max(np.abs(thick.G @ thick.W - thick.spectra)) > 1e-3 * thick.spectra.max()


def test_mismatch_metadata_keeps_nominal_values():
    s = paper_sample("high", size=16, seed=2, mismatch=Mismatch.realistic())
    assert s.metadata.Sample.thickness == 100.0
    assert s.metadata.Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa == 130.0
    assert s.axes_manager.signal_axes[0].offset == 0.3
    gt = get_ground_truth(s)
    assert not gt.exact
    assert gt.mismatch["thickness_factor"] == 1.3 and gt.mismatch["resolution_law"] == "linear"
    with pytest.raises(ValueError, match="resolution_law"):
        Mismatch(resolution_law="cubic")


def test_paper_sample_small():
    s = paper_sample("high", size=32, seed=0)
    gt = get_ground_truth(s)
    assert s.data.shape == (32, 32, 1980)
    assert gt.phase_names == list(PAPER_COMPOSITIONS)
    for comp, name in zip(gt.compositions, gt.phase_names, strict=True):
        # the published fractions sum to ~1.05 (Cu 0.05 added on top): stored normalised
        paper = PAPER_COMPOSITIONS[name]
        total = sum(paper.values())
        assert total == pytest.approx(1.05, abs=0.005)
        assert comp == pytest.approx({el: v / total for el, v in paper.items()})
    assert sorted(s.metadata.Sample.elements) == sorted(
        ["Mg", "Fe", "Ca", "Si", "Al", "O", "Cu", "Hf", "Ti", "Sm", "Lu", "Nd"]
    )
    tem = s.metadata.Acquisition_instrument.TEM
    assert tem.beam_energy == 200.0
    assert s.metadata.Sample.density == 4.5 and s.metadata.Sample.thickness == 100.0
    assert s.get_take_off_angle() == pytest.approx(35.0)
    n = 32 * 32
    assert abs(s.data.sum(-1).mean() - 293.0) < 4 * np.sqrt(293.0 / n)
    np.testing.assert_allclose(gt.maps.sum(axis=0), 1.0)
    # three phases with particles of both kinds
    assert gt.maps[1].max() > 0.45 and gt.maps[2].max() > 0.45
    low = paper_sample("low", size=32, seed=0)
    assert abs(low.data.sum(-1).mean() - 18.0) < 4 * np.sqrt(18.0 / n)
    # same seed: same particles at both doses, and reproducible noise
    np.testing.assert_array_equal(get_ground_truth(low).maps, gt.maps)
    np.testing.assert_array_equal(paper_sample("low", size=32, seed=0).data, low.data)
    with pytest.raises(ValueError, match="dose"):
        paper_sample("medium", size=16)


def test_evaluation_report_reads_decomposed_signal(maps):
    # HyperSpy's own NMF on noiseless two-phase data: checks the loadings layout end to end
    s = simulate_spectrum_image(PHASES, maps, dose=500.0, noise=False, density=3.5)
    s.decomposition(algorithm="NMF", output_dimension=2, max_iter=2000, random_state=0)
    rep = evaluation_report(s)
    assert rep.phase_names == ["silica", "hematite"]
    assert np.all(rep.map_correlation > 0.99)
    assert np.all(rep.spectral_angle < 2.0)
    # with esmpy-style results (exact truth as W): zero composition error
    gt = get_ground_truth(s)
    s.learning_results.esmpy_W = gt.W[:, ::-1]
    s.learning_results.esmpy_params = {"G_labels": gt.G_labels}
    s.learning_results.factors = gt.spectra[:, ::-1]
    s.learning_results.loadings = gt.maps[::-1].reshape(2, -1).T
    rep = evaluation_report(s)
    np.testing.assert_array_equal(rep.matched_index, [1, 0])
    np.testing.assert_allclose(rep.spectral_angle, 0.0, atol=1e-5)
    np.testing.assert_allclose(rep.map_correlation, 1.0)
    np.testing.assert_allclose(rep.map_mse, 0.0, atol=1e-25)
    assert rep.overall_composition_error == pytest.approx(0.0, abs=1e-10)


def test_evaluation_report_on_esmpy_decomposition(maps):
    # noiseless data inside the model: esmpy must recover it, and the report must read W,
    # labels and ignored elements from the esmpy results
    s = simulate_spectrum_image(PHASES, maps, dose=2000.0, noise=False, density=3.5)
    opts = {"print_info": False, "show_progressbar": False, "max_iter": 300}
    s.decomposition(algorithm="esmpy", output_dimension=2, **opts)
    rep = evaluation_report(s)
    assert np.all(rep.map_correlation > 0.995)
    assert np.all(rep.spectral_angle < 0.5)
    assert rep.overall_composition_error < 0.5
    assert set(rep.estimated_compositions[0]) == {"Fe", "O", "Si"}
    s.decomposition(algorithm="esmpy", output_dimension=2, ignore_elements=["Fe"], **opts)
    rep_ignored = evaluation_report(s)
    # Fe is ignored: compositions are compared on O and Si only
    assert all("Fe" not in err for err in rep_ignored.composition_error)


def _oracle_abundance_correlation(s, n_iter=150):
    """Per-pixel Poisson ML abundances with the TRUE phase spectra, vs the true maps."""
    from scipy import sparse

    from esmpy_hs.metrics import map_correlation

    gt = get_ground_truth(s)
    S = gt.spectra
    Y = sparse.csr_matrix(s.data.reshape(-1, S.shape[0]).T.astype(np.float64))
    Y.sum_duplicates()
    rows, cols = Y.nonzero()
    y = np.asarray(Y[rows, cols]).ravel()
    H = np.full((3, Y.shape[1]), 1 / 3)
    col = S.sum(0)[:, None]
    for _ in range(n_iter):
        ratio = y / np.einsum("ik,ki->i", S[rows], H[:, cols])
        R = sparse.csr_matrix((ratio, (rows, cols)), shape=Y.shape)
        H *= np.asarray(R.T @ S).T / col
    return map_correlation(gt.maps, (H / H.sum(0)).reshape(gt.maps.shape))


@pytest.mark.slow
def test_paper_sample_difficulty_matches_the_paper():
    # DESIGN §4: even with the true spectra, per-pixel abundances of the paper sample correlate
    # with the truth at ~0.86-0.94 (293 counts/px) and ~0.3-0.5 (18 counts/px)
    high = _oracle_abundance_correlation(paper_sample("high", size=64, seed=0))
    low = _oracle_abundance_correlation(paper_sample("low", size=64, seed=0))
    assert np.all((high > 0.86) & (high < 0.96)), high
    assert np.all((low > 0.25) & (low < 0.55)), low
