"""Phase compositions from W: fractions, Poisson uncertainties, display and conversions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("exspy")


import _simulation as _sim  # noqa: E402

PHASES, planted, simulated_signal = _sim.PHASES, _sim.planted, _sim.simulated_signal
from esmpy_hs.decomposition import decompose  # noqa: E402
from esmpy_hs.physics import atomic_weight  # noqa: E402
from esmpy_hs.quantification import (  # noqa: E402
    PhaseCompositions,
    compositions_from_W,
    get_phase_compositions,
)

A = {el: atomic_weight(el) for el in ("C", "O", "Si", "Fe")}


@pytest.fixture(scope="module")
def exact():
    """A signal whose esmpy results are exactly the planted W and H (both pinned)."""
    s = simulated_signal(ny=12, nx=10)
    G, W, H, labels = planted(ny=12, nx=10)
    decompose(
        s, 2, fixed_W=W, fixed_H=H, max_iter=2, ignore_elements=["Cu"], show_progressbar=False
    )
    assert s.learning_results.esmpy_params["G_labels"] == labels
    np.testing.assert_allclose(s.learning_results.esmpy_G, G, rtol=1e-12)
    return s, G, W, H, labels


# --- the maths ---------------------------------------------------------------------------------


def test_fractions_known_values():
    # phase 0: 1 Fe : 1 O (FeO); phase 1: 2 Si : 4 O -> SiO2
    W = np.array([[1.0, 0.0], [1.0, 4.0], [0.0, 2.0]])
    weights = np.array([A["Fe"], A["O"], A["Si"]])
    out = compositions_from_W(W, weights)
    np.testing.assert_allclose(out["atomic"][:, 0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(out["atomic"][:, 1], [0.0, 2 / 3, 1 / 3])
    feo = A["Fe"] / (A["Fe"] + A["O"])
    np.testing.assert_allclose(out["weight"][:, 0], [feo, 1 - feo, 0.0])
    sio2 = A["Si"] / (A["Si"] + 2 * A["O"])
    np.testing.assert_allclose(out["weight"][:, 1], [0.0, 1 - sio2, sio2])
    assert np.isnan(out["atomic_std"]).all()  # no counts given -> no uncertainty


def test_uncertainty_propagation_matches_monte_carlo():
    rng = np.random.default_rng(3)
    W = np.array([[2.0, 0.3], [1.0, 4.0], [0.5, 0.0]])
    weights = np.array([A["Fe"], A["O"], A["Si"]])
    unit = np.array([[40.0, 40.0], [25.0, 25.0], [60.0, 60.0]])  # counts per unit W
    out = compositions_from_W(W, weights, unit)
    np.testing.assert_allclose(out["counts"], W * unit)
    draws = rng.poisson(W * unit, size=(20000, *W.shape)) / unit
    for key, wts in (("atomic", np.ones(3)), ("weight", weights)):
        aw = wts[None, :, None] * draws
        frac = aw / aw.sum(axis=1, keepdims=True)
        mc_std = frac.std(axis=0)
        present = W > 0
        np.testing.assert_allclose(out[f"{key}_std"][present], mc_std[present], rtol=0.08)
    # an absent element gets an upper-limit uncertainty of about one count, not zero
    assert out["atomic_std"][2, 1] == pytest.approx((1 / 60.0) / W[:, 1].sum(), rel=1e-6)


def test_phase_without_element_signal_is_nan_not_absurd():
    W = np.array([[0.0, 1.0], [0.0, 1.0]])
    out = compositions_from_W(W, np.array([A["C"], A["O"]]), np.ones((2, 2)))
    assert np.isnan(out["atomic"][:, 0]).all()
    np.testing.assert_allclose(out["atomic"][:, 1], [0.5, 0.5])


# --- get_phase_compositions on a decomposed signal ---------------------------------------------


def test_exact_results_give_planted_compositions(exact):
    s, G, W, H, labels = exact
    comp = get_phase_compositions(s)
    assert comp.elements == ("C", "O", "Si")
    assert comp.phases == ("phase 0", "phase 1")
    assert comp.ignored_elements == ("Cu",)
    for j, phase in enumerate(PHASES):
        for i, el in enumerate(comp.elements):
            assert comp.atomic_percent[i, j] == pytest.approx(100 * phase[el], abs=1e-9)
    np.testing.assert_allclose(np.nansum(comp.atomic_percent, axis=0), 100.0)
    np.testing.assert_allclose(np.nansum(comp.weight_percent, axis=0), 100.0)
    sio2 = A["Si"] / (A["Si"] + 2 * A["O"])
    assert comp.weight_percent[2, 0] == pytest.approx(100 * sio2)
    # counts each element explains: sum_p H_kp * sum_fit G_e * W_ek
    fit = s.learning_results.esmpy_fit_mask
    si = labels.index("Si")
    expected = H[0].sum() * G[fit, si].sum() * W[si, 0]
    assert comp.counts[2, 0] == pytest.approx(expected, rel=1e-5)
    assert comp.atomic_percent_std[2, 0] > 0


def test_uncertainty_shrinks_with_dose(exact):
    s, *_ = exact
    low = get_phase_compositions(s)
    lr = s.learning_results
    W, factors = lr.esmpy_W, lr.factors
    lr.esmpy_W, lr.factors = W * 100.0, factors * 100.0  # 100x the counts, same composition
    try:
        high = get_phase_compositions(s)
    finally:
        lr.esmpy_W, lr.factors = W, factors
    np.testing.assert_allclose(high.atomic_percent, low.atomic_percent)
    si = 2
    # 1/sqrt(N): 100x the counts, 10x smaller (up to the one-count floor of absent C)
    assert high.atomic_percent_std[si, 0] == pytest.approx(
        low.atomic_percent_std[si, 0] / 10.0, rel=2e-3
    )


def test_phase_selection_and_extra_ignored(exact):
    s, *_ = exact
    comp = get_phase_compositions(s, phases=[1], ignore_elements=["O"])
    assert comp.phases == ("phase 1",)
    assert comp.elements == ("C", "Si")
    assert comp.ignored_elements == ("Cu", "O")
    assert comp.atomic_percent[0, 0] == pytest.approx(100.0)
    with pytest.raises(ValueError, match=r"phases=\[5\] out of range"):
        get_phase_compositions(s, phases=[5])
    with pytest.raises(ValueError, match="not modelled"):
        get_phase_compositions(s, ignore_elements=["Fe"])
    with pytest.raises(ValueError, match="Every modelled element is ignored"):
        get_phase_compositions(s, ignore_elements=["C", "O", "Si"])


def test_no_results_error():
    s = simulated_signal(ny=3, nx=3)
    with pytest.raises(ValueError, match=r"No esmpy decomposition results.*decompose\(s"):
        get_phase_compositions(s)
    s.change_dtype("float32")
    s.decomposition(print_info=False)  # SVD: learning_results exist, not esmpy ones
    with pytest.raises(ValueError, match="No esmpy decomposition results"):
        get_phase_compositions(s)


# --- display and conversions --------------------------------------------------------------------


def _table():
    at = np.array([[66.0, 0.05], [34.0, 99.95]])
    return PhaseCompositions(
        elements=("O", "Si"),
        phases=("phase 0", "phase 1"),
        atomic_percent=at,
        atomic_percent_std=np.array([[0.5, 0.01], [0.5, 0.01]]),
        weight_percent=at.copy(),
        weight_percent_std=np.array([[0.5, 0.01], [0.5, 0.01]]),
        counts=np.array([[1e4, 1.0], [5e3, 2e4]]),
        ignored_elements=("Cu",),
    )


def test_str_and_html():
    comp = _table()
    text = str(comp)
    assert "Atomic %" in text and "Weight %" in text
    assert "66.0 ± 0.5" in text
    assert "~0" in text  # 0.05 % is below the 0.1 % threshold
    assert "99.95 ± 0.01" in text
    assert "Not quantified (ignored): Cu." in text
    tiny = _table()
    tiny.atomic_percent_std[1, 1] = 1e-4
    assert "99.95 ± <0.01" in str(tiny)
    html = comp._repr_html_()
    assert html.count("<table>") == 2 and "~0" in html and "66.0 ± 0.5" in html
    nan_comp = _table()
    nan_comp.atomic_percent[:, 1] = np.nan
    assert "—" in str(nan_comp) and "no element signal in phase 1" in str(nan_comp)


def test_to_dict_and_dataframe():
    comp = _table()
    d = comp.to_dict()
    assert d["atomic_percent"]["phase 0"] == {"O": 66.0, "Si": 34.0}
    assert d["ignored_elements"] == ["Cu"]
    assert comp.phase(1)["Si"] == 99.95
    assert comp.phase("phase 0", units="weight")["O"] == 66.0
    with pytest.raises(KeyError, match="phase 7"):
        comp.phase("phase 7")
    pd = pytest.importorskip("pandas")
    df = comp.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert df.loc["Si", ("phase 1", "at.%")] == 99.95
    assert df.loc["O", ("phase 0", "at.% std")] == 0.5
    assert df.loc["O", ("phase 0", "counts")] == 1e4
    assert list(df.index) == ["O", "Si"]
