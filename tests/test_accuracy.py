"""Accuracy of esmpy on the method paper's sample (issue 6, "Must show").

Setting: the full 128 × 128 paper sample (:func:`esmpy_hs.datasets.paper_sample`, seed 0) at
~293 and ~18 counts/pixel, without and with model mismatch
(:meth:`esmpy_hs.datasets.Mismatch.realistic`: espm's linear resolution law, absorption by
each phase's own composition in a 30 % thicker film, 0.5 % Si escape, +3 eV / +0.05 %
calibration error), decomposed through ``s.decomposition(algorithm="esmpy",
output_dimension=3, ignore_elements=["Cu"], ...)`` with the documented settings for the dose
(:data:`esmpy_hs.demo.PAPER_SETTINGS`: sparsity on the particle phases then a refinement
without it at high dose, a smoothness of 200 at low dose; the same for the exact and the
mismatched data);
scikit-learn's KL-NMF with its defaults (:data:`esmpy_hs.demo.DEMO_SKLEARN_OPTIONS`) on the
same counts. Phases are matched to the truth on spectra and maps together (Hungarian
assignment), the same for both methods.

One test per case (so that ``pytest -n 2`` computes each decomposition once). The issue's
targets are checked as stated; the targets not met are listed in :data:`KNOWN_UNMET` with the
measured numbers and reported as warnings. The list is strict both ways: a target missed that
is not listed fails the test, and a listed target that is now met fails it too (remove it
from the list).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from esmpy_hs.datasets import PAPER_DOSES, Mismatch, paper_sample
from esmpy_hs.demo import compare_on_signal, paper_options

pytestmark = pytest.mark.slow

SEED = 0
SIZE = 128


#: (dose, variant, target) -> measured value with the documented settings (seed 0, 128 x 128).
KNOWN_UNMET: dict[tuple[str, str, str], str] = {}


def _targets(dose: str, cmp) -> dict[str, tuple[bool, str]]:
    """The issue's targets for one case: name -> (met, measured value)."""
    r = cmp.esmpy.map_correlation
    shown = ", ".join(f"{x:.3f}" for x in r)
    if dose == "high":
        err = cmp.esmpy.overall_composition_error
        return {
            "maps >= 0.95": (bool(np.all(r >= 0.95)), f"map r = {shown}"),
            "composition <= 1.5 at.%": (bool(err <= 1.5), f"{err:.2f} at.%"),
        }
    r_sk = cmp.sklearn.map_correlation
    return {
        "maps >= 0.7": (bool(np.all(r >= 0.7)), f"map r = {shown}"),
        "better than scikit-learn": (
            bool(np.all(r > r_sk)),
            f"map r = {shown} vs " + ", ".join(f"{x:.3f}" for x in r_sk),
        ),
    }


def _case(dose: str, variant: str):
    mismatch = Mismatch.realistic() if variant == "mismatch" else None
    s = paper_sample(dose, seed=SEED, size=SIZE, mismatch=mismatch)
    return compare_on_signal(
        s, 3, esmpy_options=paper_options(dose), seed=SEED, run_sklearn=dose == "low"
    )


@pytest.mark.parametrize(
    ("dose", "variant"),
    [("high", "exact"), ("low", "exact"), ("high", "mismatch"), ("low", "mismatch")],
)
def test_paper_sample_accuracy(dose, variant):
    cmp = _case(dose, variant)
    rep = cmp.esmpy

    # the data: requested dose per pixel; exact model or not
    counts = np.asarray(cmp.signal.data).sum(-1)
    assert counts.shape == (SIZE, SIZE)
    assert counts.mean() == pytest.approx(PAPER_DOSES[dose], rel=0.01)
    assert cmp.truth.exact is (variant == "exact")
    # esmpy's abundances are on the simplex; every true phase is matched
    np.testing.assert_allclose(cmp.signal.learning_results.loadings.sum(axis=1), 1.0, atol=1e-4)
    assert sorted(rep.matched_index) == [0, 1, 2]
    if dose == "high":
        # the matrix spectrum no longer drifts outward (29 deg with the defaults)
        i = rep.phase_names.index("pseudo-bridgmanite")
        assert rep.spectral_angle[i] < (2.0 if variant == "exact" else 8.0)
        # every phase's composition, not only the mean, is close to the truth (the extrapolated
        # Ca-perovskite is the least accurate: 3.2 at.% on the mismatched data)
        assert np.all(rep.mean_abs_composition_error < 4.0), rep.mean_abs_composition_error

    missed, newly_met = [], []
    for name, (met, value) in _targets(dose, cmp).items():
        known = (dose, variant, name) in KNOWN_UNMET
        if not met and not known:
            missed.append(f"{name}: {value}")
        elif met and known:
            newly_met.append(f"{name}: {value}")
        elif not met:
            warnings.warn(
                f"{dose} dose, {variant}: target {name} not met ({value})",
                UserWarning,
                stacklevel=1,
            )
    assert not missed, f"targets missed: {missed}"
    assert not newly_met, f"targets now met, remove them from KNOWN_UNMET: {newly_met}"
