"""Pure-numpy reference implementation of the EsmpyNMF iteration (float64, dense).

It computes exactly the same majorisation-minimisation steps as the fused numba kernels,
with whole-array numpy operations (channels x pixels temporaries), and is used by the tests
to check the kernels. It is not meant for large data.
"""

from __future__ import annotations

import numpy as np

from esmpy_hs.nmf._laplacian import laplacian_energy, majoriser_targets
from esmpy_hs.nmf._simplex import solve_entry_problem_np
from esmpy_hs.nmf._solver import Problem, sparsity_energy, w_update


def _ratio(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(X > 0, X / np.maximum(V, 1e-30), 0.0)


def h_step(X, G, W, H, problem: Problem, n_inner: int = 1) -> np.ndarray:
    """Majorisation-minimisation step(s) in H (pixel-major ``H``, shape (p, k)).

    ``n_inner`` sub-steps, with the Laplacian and sparsity majorisers built at the incoming H.
    """
    A = G @ W
    d = np.broadcast_to(A.sum(axis=0), H.shape).copy()
    w = problem.sparsity_weights()
    if np.any(w != 0.0):
        d += w[None, :] / (H + problem.sparsity_eps)
    p = H.shape[0]
    if problem.smooth:
        mu = majoriser_targets(H, problem.shape_2d, problem.degree)
        lam = problem.lam * problem.degree
    else:
        mu = np.zeros_like(H)
        lam = np.zeros(p)
    if problem.fixed_H is None:
        free = np.ones(H.shape, dtype=bool)
        target = np.ones(p)
    else:
        free = np.isnan(problem.fixed_H)
        target = 1.0 - np.nansum(problem.fixed_H, axis=1)
    Hn = H.copy()
    for _ in range(n_inner):
        C = Hn * (_ratio(X, Hn @ A.T) @ A)
        solve_entry_problem_np(C, d, lam, mu, free, target, problem.simplex == "H", Hn)
    return Hn


def w_step(X, G, W, H, problem: Problem) -> np.ndarray:
    """One multiplicative (majorisation-minimisation) step in W."""
    A = G @ W
    V = H @ A.T
    R = _ratio(X, V).T @ H
    return w_update(W, G, G.sum(axis=0), R, H.sum(axis=0), problem)


def objective(X, G, W, H, problem: Problem) -> dict:
    """Objective terms at (W, H) computed densely (float64)."""
    V = H @ (G @ W).T
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = float(np.sum(np.where(X > 0, X * np.log(X / np.maximum(V, 1e-30)), 0.0) - X + V))
    lap = problem.lam * laplacian_energy(H, problem.shape_2d) if problem.smooth else 0.0
    spa = sparsity_energy(H, problem)
    return {"kl": kl, "laplacian": lap, "sparsity": spa, "total": kl + lap + spa}


def iterate(X, G, W, H, problem: Problem, n_iter: int, record: bool = False,
            n_inner: int = 1):
    """Run ``n_iter`` iterations (``n_inner`` H sub-steps, then a W step) from (W, H).

    Returns ``(W, H, history)`` where ``history`` lists the total objective after every
    half-step when ``record`` is true (starting with the initial value).
    """
    X = np.asarray(X, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    W = np.array(W, dtype=np.float64)
    H = np.array(H, dtype=np.float64)
    hist = [objective(X, G, W, H, problem)["total"]] if record else []
    for _ in range(n_iter):
        H = h_step(X, G, W, H, problem, n_inner)
        if record:
            hist.append(objective(X, G, W, H, problem)["total"])
        W = w_step(X, G, W, H, problem)
        if record:
            hist.append(objective(X, G, W, H, problem)["total"])
    return W, H, hist
