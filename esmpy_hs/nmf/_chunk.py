"""Chunk-level unit of one iteration, for drivers that run over pixel chunks (e.g. dask).

One iteration over chunks ``b`` of pixels (whole spectra in every chunk) is::

    mu = majoriser_targets(H_full)                 # only with smoothness; k x pixels, cheap
    for every chunk b (in parallel, no communication):
        res_b = chunk_step(Y_b, H_b, G @ W, mu=mu_b, lam=lam * degree_b)   # H_b in place
    W = w_step_from_partials(W, G, sum_b res_b.R, sum_b res_b.Hsum)

and the objective is ``(1^T G W) . sum_b Hsum_b - sum_b loglik_b + const`` plus the
smoothness and sparsity terms, as in :class:`~esmpy_hs.nmf.EsmpyNMF`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from esmpy_hs.nmf import _kernels
from esmpy_hs.nmf._solver import Problem, w_update


@dataclass
class ChunkResult:
    """Partials returned by :func:`chunk_step`.

    Attributes
    ----------
    R : ndarray of shape (n_channels, k), float64
        W-numerator partial ``sum_j (y_j / v_j) h_j^T`` over the chunk (at the new H).
    Hsum : ndarray of shape (k,), float64
        Sum of the chunk's (new) abundances.
    loglik : float
        ``sum_{y > 0} y log v`` over the chunk at the new H (0 unless ``eval_loss``).
    """

    R: np.ndarray
    Hsum: np.ndarray
    loglik: float


def chunk_step(
    Y_chunk,
    H_chunk: np.ndarray,
    GW: np.ndarray,
    *,
    mu: np.ndarray | None = None,
    lam: np.ndarray | None = None,
    fixed_H: np.ndarray | None = None,
    sparsity: float | np.ndarray = 0.0,
    sparsity_eps: float = 1e-2,
    phase_params: np.ndarray | None = None,
    simplex: bool = True,
    update_h: int = 1,
    accumulate: bool = True,
    eval_loss: bool = False,
) -> ChunkResult:
    """Update the abundances of one chunk of pixels and return the W-numerator partials.

    Parameters
    ----------
    Y_chunk : ndarray of shape (m, n_channels) or scipy sparse matrix
        Counts of the chunk, pixel-major (uint16 / float32 / float64 dense, or CSR).
    H_chunk : ndarray of shape (m, k), C-contiguous float32 or float64
        Abundances of the chunk, updated in place when ``update_h``. Its dtype is the working
        dtype of the channel loops.
    GW : ndarray of shape (n_channels, k)
        Current ``G @ W``.
    mu : ndarray of shape (m, k), optional
        Laplacian majoriser targets of the chunk's pixels, computed on the whole H before the
        step (:func:`esmpy_hs.nmf._laplacian.majoriser_targets`). Needs ``lam``.
    lam : ndarray of shape (m,), optional
        Laplacian curvature of each pixel, ``smoothness * degree``.
    fixed_H : ndarray of shape (m, k), optional
        Pinned abundances of the chunk (NaN = free).
    sparsity : float or ndarray of shape (k,)
        Strength of the sparsity term, for every phase or per phase.
    phase_params : ndarray of shape (2, k), optional
        Per-phase sparsity offsets (row 0, default ``sparsity_eps``) and Laplacian weights
        (row 1, default 1), as :meth:`esmpy_hs.nmf._solver.Problem.phase_params` gives them
        for the count-weighted regularisers of :class:`~esmpy_hs.nmf.EsmpyNMF`.
    sparsity_eps : float
        Offset of the sparsity term, as in :class:`~esmpy_hs.nmf.EsmpyNMF`.
    simplex : bool
        Impose the per-pixel sum-to-one.
    update_h : int
        Number of H sub-steps (0: none); the smoothing and sparsity majorisers stay those
        of the incoming H.
    accumulate, eval_loss : bool
        Accumulate the W numerator; compute the log-likelihood partial.
    """
    H = H_chunk
    if not (isinstance(H, np.ndarray) and H.flags.c_contiguous
            and H.dtype in (np.float32, np.float64)):
        raise TypeError("H_chunk must be a C-contiguous float32 or float64 ndarray "
                        "(it is updated in place)")
    dtype = H.dtype
    m, k = H.shape
    GW = np.asarray(GW, dtype=np.float64)
    colsum = GW.sum(axis=0)
    has_mu = mu is not None
    if has_mu:
        if lam is None:
            raise ValueError("mu needs lam (the per-pixel Laplacian curvature)")
        mu = np.ascontiguousarray(mu, dtype=dtype)
        lam = np.ascontiguousarray(np.broadcast_to(lam, (m,)), dtype=np.float64)
    else:
        mu = np.empty((0, k), dtype=dtype)
        lam = np.empty(0)
    has_fix = fixed_H is not None
    fix = (np.ascontiguousarray(np.nan_to_num(np.asarray(fixed_H, dtype=np.float64), nan=-1.0))
           if has_fix else np.empty((0, k)))
    spars = np.ascontiguousarray(np.broadcast_to(np.asarray(sparsity, dtype=np.float64), (k,)))
    if phase_params is None:
        par = np.empty((2, k))
        par[0] = float(sparsity_eps)
        par[1] = 1.0
    else:
        par = np.ascontiguousarray(phase_params, dtype=np.float64)
        if par.shape != (2, k):
            raise ValueError(f"phase_params has shape {par.shape}, expected (2, k) = {(2, k)}")
    Hsum = np.zeros(k)
    if sp.issparse(Y_chunk):
        Yc = sp.csr_matrix(Y_chunk)
        Yc.sort_indices()
        R = np.zeros((GW.shape[0], k))
        ll = _kernels.sparse_chunk(Yc.indptr.astype(np.int64), Yc.indices, Yc.data, H,
                                   np.ascontiguousarray(GW), colsum, mu, lam, fix,
                                   has_mu, has_fix, spars, par,
                                   bool(simplex), int(update_h), accumulate, eval_loss, R, Hsum)
    else:
        Yc = np.ascontiguousarray(Y_chunk)
        if Yc.dtype.kind not in "fu":
            Yc = Yc.astype(dtype)
        Rt = np.zeros((k, GW.shape[0]))
        ll = _kernels.dense_chunk(Yc, H, np.ascontiguousarray(GW.T, dtype=dtype), colsum, mu,
                                  lam, fix, has_mu, has_fix, spars,
                                  par, bool(simplex), int(update_h), accumulate,
                                  eval_loss, Rt, Hsum)
        R = Rt.T
    return ChunkResult(R=np.ascontiguousarray(R), Hsum=Hsum, loglik=float(ll))


def w_step_from_partials(
    W: np.ndarray,
    G: np.ndarray,
    R: np.ndarray,
    Hsum: np.ndarray,
    *,
    simplex_W: bool = False,
    simplex_W_rows=None,
    fixed_W: np.ndarray | None = None,
) -> np.ndarray:
    """Multiplicative W update from the summed chunk partials (float64).

    Parameters
    ----------
    W : ndarray of shape (n_G, k)
    G : ndarray of shape (n_channels, n_G)
    R : ndarray of shape (n_channels, k)
        Sum of the chunks' ``ChunkResult.R``.
    Hsum : ndarray of shape (k,)
        Sum of the chunks' ``ChunkResult.Hsum``.
    simplex_W, simplex_W_rows, fixed_W
        As ``simplex="W"``, ``simplex_W_rows`` and ``fixed_W`` of the estimator.
    """
    G = np.asarray(G, dtype=np.float64)
    pb = Problem(k=W.shape[1], simplex="W" if simplex_W else None,
                 w_rows=None if simplex_W_rows is None else np.asarray(simplex_W_rows),
                 fixed_W=None if fixed_W is None else np.asarray(fixed_W, dtype=np.float64))
    return w_update(np.asarray(W, dtype=np.float64), G, G.sum(axis=0), R, Hsum, pb)
