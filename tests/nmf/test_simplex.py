"""The exact per-pixel simplex solver (numba scalar and numpy vectorised versions)."""

import numpy as np
import pytest

from esmpy_hs.nmf._kernels import solve_entry_problem
from esmpy_hs.nmf._simplex import solve_entry_problem_np


def _objective(h, c, d, lam, mu):
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(c > 0, c * np.log(h), 0.0)
    return np.sum(d * h - logs + lam * (h - mu) ** 2)


def _random_cases(n=300, k=4, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.gamma(0.5, 20.0, size=(n, k))
    c[rng.uniform(size=(n, k)) < 0.2] = 0.0
    c[0] = [3.8e-17, 53.9, 234.1, 0.0]  # tiny c on the entry with the smallest d
    c[1] = [1e-310, 10.0, 5.0, 0.0]  # denormal
    d = rng.uniform(5.0, 400.0, size=(n, k))
    d[0] = [97.9, 157.7, 354.7, 200.0]
    d[1] = [1.0, 50.0, 70.0, 80.0]
    lam = np.where(rng.uniform(size=n) < 0.5, 0.0, rng.uniform(0.1, 500.0, size=n))
    lam[:2] = 0.0
    mu = rng.dirichlet(np.ones(k), size=n)
    return c, d, lam, mu


def _assert_simplex_kkt(h, c, d, lam, mu):
    """h >= 0 sums to 1; KKT: gradient + nu = 0 on the support, >= 0 where h == 0."""
    assert np.all(h >= 0)
    assert abs(h.sum() - 1.0) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        grad = d - np.where(c > 0, c / h, 0.0) + 2 * lam * (h - mu)
    supp = h > 1e-8
    nu = -np.median(grad[supp])
    scale = np.max(np.abs(grad[supp])) + 1.0
    assert np.allclose(grad[supp] + nu, 0.0, atol=1e-7 * scale)
    assert np.all(grad[~supp] + nu >= -1e-7 * scale)


def test_solver_satisfies_simplex_and_kkt():
    c, d, lam, mu = _random_cases()
    k = c.shape[1]
    free = np.ones(k, dtype=bool)
    for j in range(c.shape[0]):
        if lam[j] == 0 and not np.any(c[j] > 0):
            continue
        h = np.full(k, 1.0 / k)
        solve_entry_problem(c[j], d[j], np.full(k, lam[j]), mu[j], free, 1.0, True, h)
        _assert_simplex_kkt(h, c[j], d[j], lam[j], mu[j])


def test_solver_minimises_against_perturbations():
    c, d, lam, mu = _random_cases(n=60, seed=1)
    rng = np.random.default_rng(2)
    k = c.shape[1]
    free = np.ones(k, dtype=bool)
    for j in range(c.shape[0]):
        if lam[j] == 0 and not np.any(c[j] > 0):
            continue
        h = np.full(k, 1.0 / k)
        solve_entry_problem(c[j], d[j], np.full(k, lam[j]), mu[j], free, 1.0, True, h)
        f0 = _objective(h, c[j], d[j], lam[j], mu[j])
        for _ in range(20):
            q = np.clip(h + rng.normal(scale=1e-3, size=k) * (c[j] > 0 if lam[j] == 0 else 1),
                        0, None)
            if lam[j] == 0:
                q[c[j] == 0] = 0
            q /= q.sum()
            assert _objective(q, c[j], d[j], lam[j], mu[j]) >= f0 - 1e-9 * abs(f0)


def test_numba_and_numpy_versions_agree():
    c, d, lam, mu = _random_cases()
    n, k = c.shape
    rng = np.random.default_rng(3)
    free = rng.uniform(size=(n, k)) < 0.85
    target = rng.uniform(0.3, 1.0, size=n)
    for simplex in (True, False):
        h0 = rng.dirichlet(np.ones(k), size=n)
        h_np = h0.copy()
        solve_entry_problem_np(c, d, lam, mu, free, target, simplex, h_np)
        for j in range(n):
            h = h0[j].copy()
            solve_entry_problem(c[j], d[j], np.full(k, lam[j]), mu[j], free[j], target[j],
                                simplex, h)
            np.testing.assert_allclose(h, h_np[j], rtol=1e-10, atol=1e-14)
            # pinned entries untouched
            np.testing.assert_array_equal(h[~free[j]], h0[j][~free[j]])
            if simplex and free[j].any() and (lam[j] > 0 or np.any(c[j][free[j]] > 0)):
                assert abs(h[free[j]].sum() - target[j]) < 1e-12


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_zero_counts_pixel(lam):
    """All-zero pixel: exact minimiser, a vertex (lam == 0) or the Laplacian target."""
    k = 3
    h = np.array([0.2, 0.3, 0.5])
    mu = np.array([0.6, 0.3, 0.1])
    d = np.array([10.0, 8.0, 12.0]) if lam == 0 else np.full(k, 10.0)
    solve_entry_problem(np.zeros(k), d, np.full(k, lam), mu, np.ones(k, dtype=bool), 1.0, True, h)
    if lam == 0:
        # linear objective d.h on the simplex: all the mass on the smallest d
        np.testing.assert_array_equal(h, [0.0, 1.0, 0.0])
    else:
        # equal d: the minimiser of lam * ||h - mu||^2 on the simplex is mu itself
        np.testing.assert_allclose(h, mu, atol=1e-12)


def test_zero_c_entry_takes_mass_when_cheaper():
    """KKT with an entry without counts whose linear cost is below the multiplier."""
    c = np.array([1.0, 1.0, 0.0])
    d = np.array([10.0, 10.0, 1.0])
    h = np.full(3, 1 / 3)
    solve_entry_problem(c, d, np.zeros(3), np.zeros(3), np.ones(3, dtype=bool), 1.0, True, h)
    # nu = -d_2 = -1: h_a = c_a / (d_a - 1) = 1/9 for a = 0, 1; h_2 = 7/9
    np.testing.assert_allclose(h, [1 / 9, 1 / 9, 7 / 9], rtol=1e-12)
    h2 = np.full((1, 3), 1 / 3)
    solve_entry_problem_np(c[None], d[None], 0.0, np.zeros((1, 3)), np.ones((1, 3), bool), 1.0,
                           True, h2)
    np.testing.assert_allclose(h2[0], h, rtol=1e-12)


def test_per_entry_curvature_numba_and_numpy_agree_and_kkt():
    """Per-phase Laplacian weights (count-weighted smoothness): one curvature per entry."""
    c, d, lam, mu = _random_cases(n=80, seed=7)
    n, k = c.shape
    rng = np.random.default_rng(8)
    lam2 = lam[:, None] * rng.uniform(0.05, 4.0, size=(n, k))
    lam2[:, 0] *= 1e-4  # a phase 100 times dimmer than the mean pixel
    free = np.ones(k, dtype=bool)
    h_np = np.full((n, k), 1.0 / k)
    solve_entry_problem_np(c, d, lam2, mu, np.ones((n, k), dtype=bool), np.ones(n), True, h_np)
    for j in range(n):
        if not lam2[j].any() and not np.any(c[j] > 0):
            continue
        h = np.full(k, 1.0 / k)
        solve_entry_problem(c[j], d[j], lam2[j], mu[j], free, 1.0, True, h)
        np.testing.assert_allclose(h, h_np[j], rtol=1e-10, atol=1e-14)
        _assert_simplex_kkt(h, c[j], d[j], lam2[j], mu[j])
