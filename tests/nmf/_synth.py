"""Small synthetic problems with planted factors for the estimator tests."""

from __future__ import annotations

from itertools import permutations

import numpy as np


def make_problem(ny=16, nx=16, n_channels=120, n_lines=6, k=3, counts_per_pixel=500.0,
                 poisson=False, seed=0):
    """G (n_channels, n_lines + 2), W (n_G, k), H (k, p) with pure regions, and X = (GWH)^T.

    The abundance maps have pure regions for every phase (so the factorisation is unique)
    and smooth transitions between them.
    """
    rng = np.random.default_rng(seed)
    e = np.linspace(0.05, 1.0, n_channels)
    centres = np.linspace(0.1, 0.9, n_lines)
    cols = [np.exp(-0.5 * ((e - c) / 0.012) ** 2) for c in centres]
    cols += [(1.05 - e), (1.05 - e) ** 2 / e]
    G = np.stack(cols, axis=1)
    G /= G.sum(axis=0, keepdims=True)
    n_G = G.shape[1]
    W = np.zeros((n_G, k))
    for a in range(k):
        lines = rng.choice(n_lines, size=3, replace=False)
        W[lines, a] = rng.uniform(0.5, 1.5, size=3)
    W[n_lines:, :] = rng.uniform(0.2, 0.6, size=(2, k))
    yy, xx = np.mgrid[0:ny, 0:nx]
    # three pure regions joined by soft boundaries
    cx = np.array([0.2, 0.8, 0.5])[:k] * nx
    cy = np.array([0.25, 0.3, 0.8])[:k] * ny
    d2 = np.stack([(xx - cx[a]) ** 2 + (yy - cy[a]) ** 2 for a in range(k)], axis=0)
    logits = -d2 / (0.02 * nx * ny)
    Hg = np.exp(logits - logits.max(axis=0))
    Hg /= Hg.sum(axis=0)
    Hg = np.where(Hg > 0.97, 1.0, Hg)
    Hg /= Hg.sum(axis=0)
    H = Hg.reshape(k, -1)
    GW = G @ W
    scale = counts_per_pixel / (GW @ H).sum(axis=0).mean()
    W *= scale
    M = (G @ W @ H).T
    X = rng.poisson(M).astype(np.float64) if poisson else M
    return X, G, W, H


def spectral_angles(A, B):
    """Angles in degrees between matched rows of A and B (both (k, n)), best permutation.

    Returns ``(angles, perm)`` with ``A[perm[a]]`` matched to ``B[a]``.
    """
    k = A.shape[0]
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    Bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(An @ Bn.T, -1.0, 1.0)))
    best = min(permutations(range(k)), key=lambda p: sum(ang[p[a], a] for a in range(k)))
    return np.array([ang[best[a], a] for a in range(k)]), list(best)
