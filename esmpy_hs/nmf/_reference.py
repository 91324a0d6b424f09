"""Pure-numpy reference implementation of the EsmpyNMF iteration (float64, dense).

It computes exactly the same majorisation-minimisation steps as the fused numba kernels,
with whole-array numpy operations (channels x pixels temporaries), and is used by the tests
to check the kernels. It is not meant for large data.
"""

from __future__ import annotations

import numpy as np

from esmpy_hs.nmf._laplacian import majoriser_targets
from esmpy_hs.nmf._simplex import solve_entry_problem_np
from esmpy_hs.nmf._solver import (
    Problem,
    counts_regularised,
    w_regulariser_terms,
    w_update,
)


def _ratio(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(X > 0, X / np.maximum(V, 1e-30), 0.0)


def h_step(X, G, W, H, problem: Problem, n_inner: int = 1) -> np.ndarray:
    """Majorisation-minimisation step(s) in H (pixel-major ``H``, shape (p, k)).

    ``n_inner`` sub-steps, with the Laplacian and sparsity majorisers built at the incoming H.
    """
    A = G @ W
    colsum = A.sum(axis=0)
    par = problem.phase_params(colsum)  # per-phase sparsity offset and Laplacian weight
    d = np.broadcast_to(colsum, H.shape).copy()
    w = problem.sparsity_weights()
    if np.any(w != 0.0):
        d += w[None, :] / (H + par[0][None, :])
    p = H.shape[0]
    if problem.smooth:
        mu = majoriser_targets(H, problem.shape_2d, problem.degree)
        lam = problem.lam * problem.degree[:, None] * par[1][None, :]
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
    Gsum = G.sum(axis=0)
    reg = w_regulariser_terms(W, Gsum, H, problem) if counts_regularised(problem) else None
    return w_update(W, G, Gsum, R, H.sum(axis=0), problem, reg)


def objective(X, G, W, H, problem: Problem) -> dict:
    """Objective terms at (W, H) computed densely (float64)."""
    A = G @ W
    V = H @ A.T
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = float(np.sum(np.where(X > 0, X * np.log(X / np.maximum(V, 1e-30)), 0.0) - X + V))
    beta = problem.phase_beta(A.sum(axis=0))
    lap = 0.0
    if problem.smooth:
        # sum over grid edges, written out independently of esmpy_hs.nmf._laplacian
        ny, nx = problem.shape_2d
        g = H.reshape(ny, nx, -1)
        e = 0.5 * (((g[1:] - g[:-1]) ** 2).sum(axis=(0, 1))
                   + ((g[:, 1:] - g[:, :-1]) ** 2).sum(axis=(0, 1)))
        wts = np.ones(H.shape[1]) if beta is None else beta * beta
        lap = problem.lam * float(e @ wts)
    spa = 0.0
    s_w = problem.sparsity_weights()
    if np.any(s_w != 0.0):
        Hb = H if beta is None else H * beta[None, :]
        spa = float(np.log(Hb + problem.sparsity_eps).sum(axis=0) @ s_w)
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
