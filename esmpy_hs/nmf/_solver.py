"""The iteration: problem definition, fused sweeps over the counts, W update, objective."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from esmpy_hs.nmf import _kernels
from esmpy_hs.nmf._codegen import specialised_kernels
from esmpy_hs.nmf._data import CountData
from esmpy_hs.nmf._laplacian import (
    laplacian_energy,
    laplacian_energy_per_phase,
    majoriser_targets,
)
from esmpy_hs.nmf._simplex import solve_entry_problem_np

#: Below this many evaluated entries per sweep (channels x pixels dense, non-zeros sparse)
#: the kernels run on one thread.
PARALLEL_MIN_WORK = 4_000_000


@dataclass
class Problem:
    """Everything that defines the objective and constraints (besides the data and G).

    ``simplex`` is "H" (each pixel's abundances sum to 1), "W" (each column of W sums to 1
    over ``w_rows``) or None. ``fixed_W`` (n_G, k) and ``fixed_H`` (n_pixels, k, pixel-major)
    hold pinned values with NaN for free entries (or are None).

    ``count_scale`` (mean counts per pixel), when set, makes the smoothness and sparsity
    terms act on the counts each phase contributes rather than on its abundance: with
    ``beta_a = (column sum of G W)_a / count_scale`` the terms are
    ``lam * sum_a beta_a**2 * E_a(H)`` and ``sum_a s_a sum_j log(beta_a h_ja + eps)``. They
    are then unchanged when a phase's spectrum is scaled up and its abundances down by the
    same factor, so they cannot favour a bright phase used at tiny abundances.
    """

    k: int
    lam: float = 0.0
    shape_2d: tuple[int, int] | None = None
    degree: np.ndarray | None = None
    sparsity: float = 0.0
    sparsity_eps: float = 1e-2
    simplex: str | None = "H"
    w_rows: np.ndarray | None = None
    fixed_W: np.ndarray | None = None
    fixed_H: np.ndarray | None = None
    sparsity_phases: np.ndarray | None = None
    count_scale: float | None = None

    @property
    def smooth(self) -> bool:
        return self.lam > 0.0 and self.shape_2d is not None

    def sparsity_weights(self) -> np.ndarray:
        """Strength of the sparsity term for each phase, float64 array (k,)."""
        w = np.full(self.k, float(self.sparsity))
        if self.sparsity_phases is not None:
            w *= np.asarray(self.sparsity_phases, dtype=np.float64)
        return w

    def phase_beta(self, colsum: np.ndarray) -> np.ndarray | None:
        """``beta_a`` (see the class notes) for the column sums of G W, or None."""
        if self.count_scale is None:
            return None
        return np.maximum(np.asarray(colsum, dtype=np.float64) / self.count_scale, 1e-12)

    def phase_params(self, colsum: np.ndarray) -> np.ndarray:
        """Per-phase kernel parameters (2, k): sparsity offset and Laplacian weight."""
        out = np.empty((2, self.k))
        beta = self.phase_beta(colsum)
        if beta is None:
            out[0] = self.sparsity_eps
            out[1] = 1.0
        else:
            out[0] = self.sparsity_eps / beta
            out[1] = beta * beta
        return out

    def h_targets(self) -> np.ndarray | None:
        if self.fixed_H is None:
            return None
        return 1.0 - np.nansum(self.fixed_H, axis=1)


def chunk_bounds(n_pixels: int, n_chunks: int) -> np.ndarray:
    """Split ``range(n_pixels)`` into ``n_chunks`` contiguous ranges (int64 bounds)."""
    n_chunks = max(1, min(n_chunks, n_pixels))
    return np.linspace(0, n_pixels, n_chunks + 1).round().astype(np.int64)


class Engine:
    """Runs fused sweeps over one :class:`CountData` with a given G and problem.

    Parameters
    ----------
    data : CountData
    G : ndarray, shape (n_channels, n_G), float64
        Rows restricted to the fitted channels.
    problem : Problem
    dtype : numpy dtype
        Working dtype of the channel loops and of the stored H.
    n_chunks : int
        Number of pixel chunks (partials) per sweep; use a few per thread.
    parallel : bool or None
        Run the chunks on numba threads; None decides from the size of the work (small
        problems run serially, where synchronising threads would cost more than it saves).
    specialise : bool
        Use the kernels generated for this ``k`` (:mod:`esmpy_hs.nmf._codegen`) when available.
    """

    def __init__(self, data: CountData, G: np.ndarray, problem: Problem, dtype, n_chunks: int,
                 parallel: bool | None = None, specialise: bool = True):
        self.data = data
        self.G = np.ascontiguousarray(G, dtype=np.float64)
        self.Gsum = self.G.sum(axis=0)
        self.problem = problem
        self.dtype = np.dtype(dtype)
        work = data.nnz if data.kind == "sparse" else data.n_pixels * data.n_channels
        if parallel is None:
            parallel = numba.get_num_threads() > 1 and work >= PARALLEL_MIN_WORK
        self.parallel = bool(parallel)
        self.bounds = chunk_bounds(data.n_pixels, n_chunks if self.parallel else 1)
        self._kern = _kernels
        if specialise:
            self._kern = specialised_kernels(problem.k) or _kernels
        k = problem.k
        n = data.n_channels
        T = self.bounds.shape[0] - 1
        if data.kind == "dense":
            self._Rparts = np.zeros((T, k, n))
        else:
            self._Rparts = np.zeros((T, n, k))
        self._Hparts = np.zeros((T, k))
        self._Lparts = np.zeros(T)
        self._empty2 = np.empty((0, k), dtype=self.dtype)
        self._empty1 = np.empty(0)
        p = data.n_pixels
        self._mu = np.empty((p, k), dtype=self.dtype) if problem.smooth else self._empty2
        self._lam_pix = (problem.lam * problem.degree).astype(np.float64) if problem.smooth \
            else self._empty1
        self._fixH = (np.ascontiguousarray(np.nan_to_num(problem.fixed_H, nan=-1.0))
                      if problem.fixed_H is not None else np.empty((0, k)))

    # ------------------------------------------------------------------ sweeps
    def sweep(self, H: np.ndarray, W: np.ndarray, update_h: int = 1,
              accumulate: bool = True, eval_loss: bool = False):
        """One fused pass: H sub-steps (in place) and/or W numerator and log-likelihood.

        ``update_h`` is the number of H sub-steps per pixel (0: none); the Laplacian and
        sparsity majorisers are built once at the incoming H.

        Returns
        -------
        R : ndarray (n_channels, k), float64
            ``sum_j (y_j / v_j) h_j^T`` at the new H (zeros if not ``accumulate``).
        Hsum : ndarray (k,), float64
            Column sums of the (new) H.
        loglik : float
            ``sum_{y>0} y log v`` at the new H (0 if not ``eval_loss``).
        """
        pb = self.problem
        A64 = self.G @ W
        colsum = A64.sum(axis=0)
        update_h = int(update_h)
        if pb.smooth and update_h:
            majoriser_targets(H, pb.shape_2d, pb.degree, out=self._mu)
        has_mu = pb.smooth and update_h
        has_fix = pb.fixed_H is not None
        simplex = pb.simplex == "H"
        self._Rparts[...] = 0.0
        self._Hparts[...] = 0.0
        self._Lparts[...] = 0.0
        d = self.data
        if d.kind == "dense":
            At = np.ascontiguousarray(A64.T, dtype=self.dtype)
            run = self._kern.dense_pass if self.parallel else self._kern.dense_pass_serial
            run(d.Y, H, At, colsum, self._mu, self._lam_pix, self._fixH,
                                has_mu, has_fix, pb.sparsity_weights(), pb.phase_params(colsum),
                                simplex, update_h, accumulate, eval_loss, self.bounds,
                                self._Rparts, self._Hparts, self._Lparts)
            R = self._Rparts.sum(axis=0).T
        else:
            # the generated kernels gather each pixel's rows of A and do SIMD arithmetic in the
            # working dtype; the generic kernels are scalar, where float64 avoids conversions
            A = np.ascontiguousarray(A64, dtype=self.dtype if self._kern is not _kernels
                                     else np.float64)
            run = self._kern.sparse_pass if self.parallel else self._kern.sparse_pass_serial
            run(d.indptr, d.indices, d.data, H, A, colsum, self._mu,
                                 self._lam_pix, self._fixH, has_mu, has_fix,
                                 pb.sparsity_weights(), pb.phase_params(colsum), simplex, update_h,
                                 accumulate, eval_loss, self.bounds, self._Rparts,
                                 self._Hparts, self._Lparts)
            R = self._Rparts.sum(axis=0)
        return R, self._Hparts.sum(axis=0), float(self._Lparts.sum())

    # ------------------------------------------------------------------ W step
    def w_update(self, W: np.ndarray, R: np.ndarray, Hsum: np.ndarray,
                 H: np.ndarray | None = None) -> np.ndarray:
        """Exact minimiser of the majoriser in W (multiplicative update).

        ``H`` (the abundances after the sweep) is needed when the regularisers act on the
        phases' counts (``problem.count_scale``).
        """
        reg = None
        if H is not None and counts_regularised(self.problem):
            reg = w_regulariser_terms(W, self.Gsum, H, self.problem)
        return w_update(W, self.G, self.Gsum, R, Hsum, self.problem, reg)

    # ------------------------------------------------------------------ objective
    def objective_parts(self, W: np.ndarray, H: np.ndarray, Hsum: np.ndarray,
                        loglik: float) -> dict:
        """Objective terms from the sweep outputs (float64)."""
        return objective_parts(self.G, W, H, Hsum, loglik, self.data.const, self.problem)

    def objective(self, W: np.ndarray, H: np.ndarray) -> dict:
        """Objective terms at (W, H) (one extra pass over the non-zeros)."""
        _, Hsum, ll = self.sweep(H, W, update_h=False, accumulate=False, eval_loss=True)
        return self.objective_parts(W, H, Hsum, ll)


def counts_regularised(problem: Problem) -> bool:
    """True when the W step must include the count-weighted regularisers."""
    return (problem.count_scale is not None and problem.simplex != "W"
            and (problem.smooth or bool(np.any(problem.sparsity_weights() != 0.0))))


def w_regulariser_terms(W, Gsum, H, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per-phase Laplacian energies ``E_a`` and sparsity sums ``S_a`` at (W, H).

    ``S_a = sum_j h_ja / (beta_a h_ja + eps)``, the derivative of the sparsity sum with
    respect to ``beta_a``. Both are what :func:`w_update` needs besides the KL partials.
    """
    E = (laplacian_energy_per_phase(H, problem.shape_2d) if problem.smooth
         else np.zeros(problem.k))
    S = np.zeros(problem.k)
    if np.any(problem.sparsity_weights() != 0.0):
        beta = problem.phase_beta(Gsum @ W)
        H64 = np.asarray(H, dtype=np.float64)
        S = (H64 / (H64 * beta[None, :] + problem.sparsity_eps)).sum(axis=0)
    return E, S


def w_update(W, G, Gsum, R, Hsum, problem: Problem,
             reg: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Multiplicative W update (float64), with pinned entries and optional simplex on W.

    ``reg = (E, S)`` (from :func:`w_regulariser_terms`) adds the count-weighted smoothness
    and sparsity terms, which depend on W through ``beta_a = Gsum . W_a / count_scale``:
    ``lam E_a beta_a**2`` is majorised by a separable quadratic and the concave
    ``s_a sum_j log(beta_a h_ja + eps)`` by its tangent, so every entry has a closed-form
    minimiser (the positive root of a quadratic) and the objective cannot increase.
    """
    numW = G.T @ R
    den = Gsum[:, None] * Hsum[None, :]
    C = W * numW
    Wn = np.array(W, dtype=np.float64, copy=True)
    free = np.ones(W.shape, dtype=bool) if problem.fixed_W is None else np.isnan(problem.fixed_W)
    if problem.simplex == "W":
        rows = np.zeros(W.shape[0], dtype=bool)
        rows[problem.w_rows if problem.w_rows is not None else slice(None)] = True
        outside = free & ~rows[:, None] & (den > 0)
        Wn[outside] = C[outside] / den[outside]
        infree = free & rows[:, None]
        pinned_in = np.where(~free & rows[:, None], Wn, 0.0).sum(axis=0)
        hT = Wn.T.copy()
        solve_entry_problem_np(C.T, den.T, 0.0, np.zeros_like(hT), infree.T, 1.0 - pinned_in,
                               True, hT)
        Wn[infree] = hT.T[infree]
    elif reg is not None:
        E, S = reg
        N = float(problem.count_scale)
        b = Gsum @ W
        w_s = problem.sparsity_weights()
        # linear coefficient: KL part + tangent of the sparsity term in beta_a
        B = den + Gsum[:, None] * (w_s * S / N)[None, :]
        q = problem.lam * E * b / (N * N)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(W > 0, q[None, :] * Gsum[:, None] / W, 0.0)
            disc = np.sqrt(B * B + 8.0 * alpha * C)
            root = np.where(C > 0, 2.0 * C / (B + disc), 0.0)
        upd = free & ((B > 0) | (alpha > 0))
        Wn[upd] = root[upd]
    else:
        upd = free & (den > 0)
        Wn[upd] = C[upd] / den[upd]
    return Wn


def objective_parts(G, W, H, Hsum, loglik, const, problem: Problem) -> dict:
    """KL divergence, Laplacian and sparsity terms and their sum (float64)."""
    colsum = (G @ W).sum(axis=0)
    kl = float(colsum @ Hsum) - loglik + const
    lap = 0.0
    beta = problem.phase_beta(colsum)
    if problem.smooth:
        if beta is None:
            lap = problem.lam * laplacian_energy(H, problem.shape_2d)
        else:
            lap = problem.lam * float(laplacian_energy_per_phase(H, problem.shape_2d)
                                      @ (beta * beta))
    spa = sparsity_energy(H, problem, beta)
    total = kl + lap + spa
    return {"kl": kl, "laplacian": lap, "sparsity": spa, "total": total}


def sparsity_energy(H: np.ndarray, problem: Problem, beta: np.ndarray | None = None) -> float:
    """``sum_a s_a sum_j log(beta_a H[j, a] + eps)`` with the per-phase strengths ``s_a``
    (``beta = 1`` unless the regularisers act on the phases' counts)."""
    w = problem.sparsity_weights()
    if not np.any(w != 0.0) or H.shape[0] == 0:
        return 0.0
    H64 = H.astype(np.float64)
    if beta is not None:
        H64 = H64 * beta[None, :]
    return float(np.log(H64 + problem.sparsity_eps).sum(axis=0) @ w)


def relative_change(new: np.ndarray, old: np.ndarray) -> float:
    """``||new - old||_F / ||new||_F`` (0 when both vanish)."""
    num = float(np.linalg.norm((new - old).ravel()))
    den = float(np.linalg.norm(np.asarray(new).ravel()))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den
