"""Initialisation of W and H.

``"auto"`` (deterministic, data-driven):

1. bin the pixels into at most ~1024 super-pixels (square blocks of the 2-D grid when the
   shape is known, runs of consecutive pixels otherwise), which lifts the counts per spectrum;
2. find ``k`` nearly pure super-pixels with the successive projection algorithm on the rank-k
   (eigen-decomposition) approximation of the count-normalised binned spectra, and average
   each with its nearest neighbours in that subspace;
3. fit every selected spectrum onto G (non-negative KL fit, multiplicative updates) to get W,
   scaled to the mean counts per pixel;
4. refine W and H with the full iteration (no smoothness) on the binned mean spectra;
5. give every pixel the abundances of its super-pixel.

``"random"``: W uniform in [0.1, 1) scaled to the mean counts per pixel, H uniform and then
normalised, from ``random_state``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from numba import njit

from esmpy_hs.nmf._data import CountData

#: Target number of super-pixels for the "auto" initialisation.
N_BINS = 1024
#: Iterations of the binned refinement in the "auto" initialisation.
N_REFINE = 100


def bin_labels(n_pixels: int, shape_2d: tuple[int, int] | None, n_bins: int = N_BINS):
    """Super-pixel label of every pixel and the number of labels."""
    if shape_2d is not None:
        ny, nx = shape_2d
        b = max(1, math.ceil(math.sqrt(n_pixels / n_bins)))
        by, bx = math.ceil(ny / b), math.ceil(nx / b)
        iy, ix = np.divmod(np.arange(n_pixels), nx)
        return (iy // b) * bx + ix // b, by * bx
    b = max(1, math.ceil(n_pixels / n_bins))
    return np.arange(n_pixels) // b, math.ceil(n_pixels / b)


@njit(cache=True, nogil=True)
def _bin_dense(Y, labels, out):
    for j in range(Y.shape[0]):
        row = out[labels[j]]
        for c in range(Y.shape[1]):
            row[c] += Y[j, c]


@njit(cache=True, nogil=True)
def _bin_sparse(indptr, indices, data, labels, out):
    for j in range(indptr.shape[0] - 1):
        row = out[labels[j]]
        for t in range(indptr[j], indptr[j + 1]):
            row[indices[t]] += data[t]


def bin_counts(data: CountData, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Sum of the counts of every super-pixel, shape (n_labels, n_channels), float64."""
    out = np.zeros((n_labels, data.n_channels))
    labels = np.asarray(labels, dtype=np.int64)
    if data.kind == "dense":
        _bin_dense(data.Y, labels, out)
    else:
        _bin_sparse(data.indptr, data.indices, data.data, labels, out)
    return out


def successive_projection(Z: np.ndarray, k: int) -> list[int]:
    """Indices of ``k`` rows of Z picked by the successive projection algorithm."""
    R = np.array(Z, dtype=np.float64, copy=True)
    chosen: list[int] = []
    for _ in range(k):
        norms = np.einsum("ij,ij->i", R, R)
        if chosen:
            norms[chosen] = -1.0
        if np.all(norms < 0):
            chosen.append(chosen[len(chosen) % len(chosen)])
            continue
        j = int(np.argmax(norms))
        chosen.append(j)
        nj = math.sqrt(max(norms[j], 0.0))
        if nj > 0:
            u = R[j] / nj
            R -= np.outer(R @ u, u)
    return chosen


def fit_onto_g(S: np.ndarray, G: np.ndarray, n_iter: int = 300) -> np.ndarray:
    """Non-negative KL fit ``S[:, a] ~ G w_a`` by multiplicative updates; returns W (n_G, k)."""
    Gsum = G.sum(axis=0)
    ok = Gsum > 0
    W = np.zeros((G.shape[1], S.shape[1]))
    scale = S.sum(axis=0) / max(float(Gsum[ok].sum()), 1e-300)
    W[ok] = np.maximum(scale, 1e-12)[None, :]
    for _ in range(n_iter):
        V = G @ W
        with np.errstate(divide="ignore", invalid="ignore"):
            Q = np.where(S > 0, S / np.maximum(V, 1e-300), 0.0)
        W[ok] *= (G.T @ Q)[ok] / Gsum[ok, None]
    return W


def select_spectra(Yb: np.ndarray, k: int) -> np.ndarray:
    """Nearly pure normalised spectra (n_channels, k) of the binned data Yb (bins, channels)."""
    t = Yb.sum(axis=1)
    valid = np.flatnonzero(t > 0)
    if valid.size == 0:
        return np.full((Yb.shape[1], k), 1.0 / Yb.shape[1])
    Xn = Yb[valid] / t[valid, None]
    nv = Xn.shape[0]
    r = min(k, nv, Xn.shape[1])
    gram = Xn @ Xn.T
    if nv > 64:
        # a few leading eigenpairs: Lanczos from a fixed start vector (deterministic)
        evals, evecs = scipy.sparse.linalg.eigsh(gram, k=r, v0=np.ones(nv), which="LA")
    else:
        evals, evecs = scipy.linalg.eigh(gram, subset_by_index=[nv - r, nv - 1])
    Z = evecs * np.sqrt(np.maximum(evals, 0.0))[None, :]
    chosen = successive_projection(Z, k)
    n_nb = max(1, min(4, nv // (2 * k)))
    S = np.empty((Xn.shape[1], k))
    for a, j in enumerate(chosen):
        dist = np.einsum("ij,ij->i", Z - Z[j], Z - Z[j])
        nb = np.argsort(dist, kind="stable")[:n_nb]
        S[:, a] = Xn[nb].mean(axis=0)
    return S


def random_init(data: CountData, G: np.ndarray, k: int, rng: np.random.Generator):
    """Random W (n_G, k) and H (n_pixels, k) with H rows on the simplex."""
    mean_counts = data.total / max(data.n_pixels, 1)
    W = rng.uniform(0.1, 1.0, size=(G.shape[1], k))
    colsum = (G @ W).sum(axis=0)
    W *= (max(mean_counts, 1e-12) / np.maximum(colsum, 1e-300))[None, :]
    H = rng.uniform(0.1, 1.0, size=(data.n_pixels, k))
    H /= H.sum(axis=1, keepdims=True)
    return W, H
