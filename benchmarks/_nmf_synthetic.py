"""Deterministic synthetic EDX-like counts for the NMF benchmark (Y ~ Poisson(G W H)).

G: ``n_elements`` element-like spectra (Gaussian lines whose width grows with energy, with a
weaker satellite line) plus ``n_brems`` smooth continuum columns, each column summing to 1.
W: every phase has 2-5 elements plus continuum. H: smooth random maps through a softmax
(each pixel's abundances sum to 1). Counts are scaled to a chosen mean per pixel-channel and
stored pixel-major (HyperSpy's navigation-first layout) as uint16.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def make_dictionary(n_channels: int, n_elements: int = 22, n_brems: int = 3, seed: int = 0):
    """G of shape (n_channels, n_elements + n_brems), columns summing to 1."""
    rng = np.random.default_rng(seed)
    e = np.linspace(0.2, 20.0, n_channels)
    cols = []
    for _ in range(n_elements):
        spec = np.zeros(n_channels)
        for _line in range(rng.integers(1, 4)):
            e0 = rng.uniform(0.4, 17.0)
            sigma = 0.045 + 0.004 * e0
            amp = rng.uniform(0.3, 1.0)
            spec += amp * np.exp(-0.5 * ((e - e0) / sigma) ** 2)
            spec += 0.15 * amp * np.exp(-0.5 * ((e - 1.1 * e0) / sigma) ** 2)
        cols.append(spec)
    for b in range(n_brems):
        cols.append((20.5 - e) ** (b + 1) / e ** (0.5 * b) * (1 - np.exp(-e / 0.8)))
    G = np.stack(cols, axis=1)
    return G / G.sum(axis=0, keepdims=True)


def make_data(ny: int, nx: int, n_channels: int, mean_counts: float, k: int = 4,
              n_elements: int = 22, n_brems: int = 3, seed: int = 0):
    """Return ``(X, G, W, H)``: X (ny*nx, n_channels) uint16 counts, H (k, ny*nx)."""
    rng = np.random.default_rng(seed)
    G = make_dictionary(n_channels, n_elements, n_brems, seed)
    W = np.zeros((G.shape[1], k))
    for a in range(k):
        els = rng.choice(n_elements, size=rng.integers(2, 6), replace=False)
        W[els, a] = rng.uniform(0.2, 1.0, size=els.size)
    W[n_elements:, :] = rng.uniform(0.3, 1.0, size=(n_brems, k))
    logits = np.stack([gaussian_filter(rng.normal(size=(ny, nx)), sigma=max(ny, nx) / 16)
                       for _ in range(k)])
    logits /= logits.std() + 1e-12
    Hg = np.exp(3.0 * logits)
    Hg /= Hg.sum(axis=0, keepdims=True)
    H = Hg.reshape(k, -1)
    A = G @ W  # (n, k)
    scale = mean_counts * n_channels / float((A @ H).sum(axis=0).mean())
    p = ny * nx
    X = np.empty((p, n_channels), dtype=np.uint16)
    block = 4096
    for r0 in range(0, p, block):
        r1 = min(p, r0 + block)
        M = (H[:, r0:r1].T @ A.T) * scale
        X[r0:r1] = np.minimum(rng.poisson(M), np.iinfo(np.uint16).max)
    return X, G, W * scale, H
