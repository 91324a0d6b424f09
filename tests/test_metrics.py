"""Metrics on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from esmpy_hs.metrics import (
    EvaluationReport,
    composition_error,
    compositions_from_W,
    evaluation_report,
    map_correlation,
    map_mse,
    match_phases,
    spectral_angle,
)


def test_spectral_angle_known_values():
    a = np.array([1.0, 2.0, 3.0, 0.0])
    assert spectral_angle(a, 5 * a) == pytest.approx(0.0, abs=1e-6)
    assert spectral_angle(np.array([1.0, 0, 0]), np.array([0, 2.0, 0])) == pytest.approx(90.0)
    assert spectral_angle(np.array([1.0, 0]), np.array([1.0, 1.0])) == pytest.approx(45.0)
    cols = spectral_angle(np.array([[1.0, 1.0], [0.0, 0.0]]), np.array([[2.0, 1.0], [0.0, 1.0]]))
    np.testing.assert_allclose(cols, [0.0, 45.0], atol=1e-6)
    assert np.isnan(spectral_angle(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="same shape"):
        spectral_angle(np.ones(3), np.ones(4))


def test_map_mse_and_correlation():
    rng = np.random.default_rng(0)
    t = rng.random((3, 8, 9))
    np.testing.assert_allclose(map_correlation(t, t), 1.0)
    np.testing.assert_allclose(map_correlation(t, 2 * t + 1), 1.0)
    np.testing.assert_allclose(map_correlation(t, -t), -1.0)
    np.testing.assert_allclose(map_mse(t, t), 0.0)
    np.testing.assert_allclose(map_mse(t, t + 0.1), 0.01)
    # known Pearson value: x and x + orthogonal noise of equal norm -> r = 1/sqrt(2)
    x = np.array([1.0, -1.0, 1.0, -1.0])
    y = x + np.array([1.0, 1.0, -1.0, -1.0])
    assert map_correlation(x[None], y[None])[0] == pytest.approx(1 / np.sqrt(2))


def test_match_phases_recovers_permutation():
    rng = np.random.default_rng(1)
    spectra = rng.random((100, 4)) ** 4
    maps = rng.random((4, 10, 10))
    perm = np.array([2, 0, 3, 1])  # estimated component j = true phase perm[j]
    est_spectra = spectra[:, perm] * np.array([1.0, 3.0, 0.5, 2.0])
    est_maps = maps[perm]
    expected = np.argsort(perm)  # true phase i is estimated component expected[i]
    np.testing.assert_array_equal(match_phases(spectra, est_spectra), expected)
    np.testing.assert_array_equal(
        match_phases(true_maps=maps, est_maps=est_maps, on="maps"), expected
    )
    np.testing.assert_array_equal(
        match_phases(spectra, est_spectra, true_maps=maps, est_maps=est_maps, on="both"),
        expected,
    )
    # fewer estimated components: one true phase left unmatched (-1)
    idx = match_phases(spectra, est_spectra[:, :3])
    assert sorted(idx.tolist()) == [-1, 0, 1, 2]
    assert idx[1] == -1  # true phase 1 is the one that was dropped (perm[3] == 1)
    # more estimated components than true phases: the extra one is left out
    extra = np.column_stack([est_spectra, rng.random(100)])
    np.testing.assert_array_equal(match_phases(spectra, extra), expected)
    with pytest.raises(ValueError, match="needs true_maps"):
        match_phases(spectra, est_spectra, on="maps")


def test_composition_error_exact():
    true = {"Fe": 0.5, "O": 0.5}
    est = {"Fe": 40.0, "O": 50.0, "Si": 10.0}  # percentages are fine
    err = composition_error(true, est)
    assert err == pytest.approx({"Fe": -10.0, "O": 0.0, "Si": 10.0})
    # excluding Si renormalises the rest: Fe 40/90, O 50/90
    err2 = composition_error(true, est, exclude=["Si"])
    assert err2["Fe"] == pytest.approx(100 * (40 / 90 - 0.5))
    assert err2["O"] == pytest.approx(100 * (50 / 90 - 0.5))
    assert "Si" not in err2
    with pytest.raises(ValueError, match="negative"):
        composition_error({"Fe": -1.0}, est)


def test_compositions_from_W_ignores_bremsstrahlung():
    W = np.array([[2.0, 0.0], [6.0, 1.0], [100.0, 7.0], [50.0, 3.0]])
    labels = ["Fe", "O", "bremsstrahlung_0", "bremsstrahlung_1"]
    comps = compositions_from_W(W, labels)
    assert comps[0] == pytest.approx({"Fe": 0.25, "O": 0.75})
    assert comps[1] == pytest.approx({"Fe": 0.0, "O": 1.0})
    with pytest.raises(ValueError, match="labels"):
        compositions_from_W(W, labels[:3])


def _toy_truth():
    rng = np.random.default_rng(2)
    G = rng.random((60, 4)) ** 3  # Fe, O, Si, one continuum column
    labels = ["Fe", "O", "Si", "bremsstrahlung_0"]
    comps = [{"Fe": 0.4, "O": 0.6}, {"Si": 1 / 3, "O": 2 / 3}]
    W = np.array([[0.4, 0.0], [0.6, 2 / 3], [0.0, 1 / 3], [0.2, 0.1]]) * 1000
    maps = rng.random((2, 6, 7))
    maps /= maps.sum(axis=0)
    truth = {
        "spectra": G @ W,
        "maps": maps,
        "compositions": comps,
        "phase_names": ["oxide A", "oxide B"],
    }
    return G, W, labels, truth


def test_evaluation_report_perfect_and_permuted():
    G, W, labels, truth = _toy_truth()
    maps = truth["maps"]
    # estimated: phases swapped, W perturbed on phase B (Si 1/3 -> 0.4, O stays 2/3 weight)
    W_est = W[:, ::-1].copy()
    W_est[2, 0] = 0.4 * 1000
    factors = G @ W_est
    loadings = maps[::-1].reshape(2, -1).T  # HyperSpy layout (pixels, k)
    rep = evaluation_report(
        None,
        truth,
        factors=factors,
        loadings=loadings,
        W=W_est,
        W_labels=labels,
        rescale_maps=True,
    )
    assert isinstance(rep, EvaluationReport)
    np.testing.assert_array_equal(rep.matched_index, [1, 0])
    assert rep.spectral_angle[0] == pytest.approx(0.0, abs=1e-5)
    assert rep.spectral_angle[1] > 0.1
    # phase A is exact; phase B's maps are exact up to the spectrum total ratio (rescale)
    assert rep.map_correlation[0] == pytest.approx(1.0)
    assert rep.map_correlation[1] == pytest.approx(1.0)
    assert rep.map_mse[0] == pytest.approx(0.0, abs=1e-20)
    ratio = factors[:, 0].sum() / truth["spectra"][:, 1].sum()
    assert rep.map_mse[1] == pytest.approx(np.mean((maps[1] * (ratio - 1)) ** 2))
    # composition of B: Si 0.4/(0.4+2/3) = 37.5 %, O 62.5 % -> errors +4.1667 / -4.1667 at.%
    assert rep.composition_error[1]["Si"] == pytest.approx(100 * (0.4 / (0.4 + 2 / 3) - 1 / 3))
    assert rep.composition_error[1]["O"] == pytest.approx(-rep.composition_error[1]["Si"])
    assert rep.composition_error[0]["Fe"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(
        rep.mean_abs_composition_error, [0.0, abs(rep.composition_error[1]["Si"])], atol=1e-12
    )
    assert rep.overall_composition_error == pytest.approx(
        (0 + 0 + 2 * abs(rep.composition_error[1]["Si"])) / 4
    )
    text = str(rep)
    assert "oxide A" in text and "oxide B" in text and "mean |composition error|" in text
    d = rep.to_dict()
    assert d["matched_index"] == [1, 0]
    assert d["phase_names"] == ["oxide A", "oxide B"]
    df = rep.to_dataframe()
    assert list(df.index) == ["oxide A", "oxide B"]
    assert df.loc["oxide B", "component"] == 0
    assert "Si" in rep.composition_table()
    # "auto": loadings on the simplex are abundances already, compared unscaled
    auto = evaluation_report(None, truth, factors=factors, loadings=loadings)
    np.testing.assert_allclose(auto.map_mse, 0.0, atol=1e-25)
    # "auto" with NMF-like scaling (spectra ×4, loadings ÷4): rescaled back exactly
    nmf_like = evaluation_report(
        None, truth, factors=truth["spectra"] * 4, loadings=maps.reshape(2, -1).T / 4
    )
    np.testing.assert_allclose(nmf_like.map_mse, 0.0, atol=1e-25)
    unscaled = evaluation_report(
        None,
        truth,
        factors=truth["spectra"] * 4,
        loadings=maps.reshape(2, -1).T / 4,
        rescale_maps=False,
    )
    np.testing.assert_allclose(unscaled.map_mse, (0.75**2) * (maps**2).reshape(2, -1).mean(1))
    with pytest.raises(ValueError, match="rescale_maps"):
        evaluation_report(None, truth, factors=factors, loadings=loadings, rescale_maps="yes")


def test_evaluation_report_without_W_and_errors():
    G, W, labels, truth = _toy_truth()
    rep = evaluation_report(None, truth, factors=G @ W, loadings=truth["maps"])
    np.testing.assert_array_equal(rep.matched_index, [0, 1])
    np.testing.assert_allclose(rep.spectral_angle, 0.0, atol=1e-5)
    assert rep.composition_error == []
    assert np.isnan(rep.overall_composition_error)
    assert "comp" in str(rep)
    with pytest.raises(ValueError, match="W_labels"):
        evaluation_report(None, truth, factors=G @ W, loadings=truth["maps"], W=W)
    with pytest.raises(ValueError, match="channels"):
        evaluation_report(None, truth, factors=(G @ W)[:10], loadings=truth["maps"])
    with pytest.raises(ValueError, match="factors and loadings"):
        evaluation_report(None, truth)


def test_evaluation_report_phase_without_element_content():
    """A fitted phase made of bremsstrahlung only: its elements all count as missing."""
    G, W, labels, truth = _toy_truth()
    W_est = W.copy()
    W_est[:3, 1] = 0.0  # phase B keeps only its bremsstrahlung weight
    rep = evaluation_report(
        None,
        truth,
        factors=G @ W_est,
        loadings=truth["maps"].reshape(2, -1).T,
        W=W_est,
        W_labels=labels,
    )
    assert max(abs(v) for v in rep.composition_error[0].values()) < 1e-9
    assert rep.composition_error[1] == pytest.approx({"Si": -100 / 3, "O": -200 / 3})
    assert rep.mean_abs_composition_error[1] == pytest.approx(50.0)
