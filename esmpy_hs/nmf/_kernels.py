"""Fused numba kernels: one pass over the pixels does the H step and the W-numerator.

For every pixel ``j`` (a row of the counts, pixel-major) a chunk kernel

1. evaluates the model ``v = A h_j`` (``A = G W``, n_channels x k) and the ratio ``y / v``,
   forms the Jensen coefficients ``c_a = h_a sum_i A_ia y_i / v_i`` and solves the exact
   per-pixel majorised problem (simplex multiplier by monotone Newton,
   :func:`~esmpy_hs.nmf._simplex.solve_entry_problem`);
2. evaluates the model again with the new ``h_j`` and adds ``(y / v) h_j^T`` to the W
   numerator ``R`` (n_channels x k, float64) and, when asked, ``sum_{y>0} y log v`` to the
   log-likelihood partial.

No array of size channels x pixels is ever created. The dense kernel reads the counts in
their compact dtype (uint16 or float), converts one spectrum at a time and does the
channel loops in the working dtype (float32 by default) with small float64 reductions; the
sparse kernel walks a CSR matrix (rows = pixels, uint16 channel indices) and only touches
the non-zeros, which is exact because ``y / v`` vanishes where ``y == 0`` and the linear
term of the KL divergence is ``(1^T A) h_j``.

Only the innermost channel loops are compiled with ``fastmath`` (small leaf functions): numba
propagates fastmath to the functions a fastmath function calls, and the simplex solver must
keep strict IEEE semantics (it relies on the order of operations). Pinned entries are marked
by non-negative values in ``Hfix`` (free entries are negative), with no NaN tests.

The chunk kernels are also the unit of work of a chunked (e.g. dask) driver: a chunk needs
only its counts, its H rows, ``A``, and its rows of the Laplacian targets.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: Newton stops when the simplex residual is below this fraction of the target.
NEWTON_RTOL = 1e-13
#: Maximum Newton iterations (convergence is typically reached in 3-10).
NEWTON_MAXITER = 100
#: Pixels accumulated in the working dtype before the W numerator is flushed to float64.
_FLUSH = 64


# --------------------------------------------------------------------- per-pixel solver
@njit(cache=True, nogil=True, error_model="numpy")
def _root(c: float, b: float, lam: float) -> float:
    """Positive root of ``2 lam h^2 + b h - c = 0`` (``h = c / b`` when ``lam == 0``)."""
    if lam == 0.0:
        if c == 0.0:
            return 0.0
        return c / b
    if c == 0.0:
        return max(-b, 0.0) / (2.0 * lam)
    disc = math.sqrt(b * b + 8.0 * lam * c)
    if b >= 0.0:
        return 2.0 * c / (b + disc)
    return (disc - b) / (4.0 * lam)


@njit(cache=True, nogil=True, error_model="numpy")
def solve_entry_problem(c, d, lam, mu, free, target, simplex, h):
    """Solve the per-pixel majorised problem in place (scalar numba version).

    Parameters
    ----------
    c, d, mu : 1-D float64 arrays of length k
        Jensen coefficients, linear coefficients and Laplacian targets (``mu[a]`` is ignored
        when ``lam[a] == 0``).
    lam : 1-D float64 array of length k
        Laplacian curvature of each entry (``lambda * degree * phase weight``).
    free : 1-D bool array
        Entries that are updated; the others keep their value in ``h``.
    target : float
        Sum that the free entries must reach when ``simplex`` is true.
    simplex : bool
        Impose ``sum(h[free]) == target``; otherwise the multiplier is 0.
    h : 1-D float64 array
        Current values on input, new values on output.
    """
    k = c.shape[0]
    if not simplex:
        for a in range(k):
            if free[a]:
                b = d[a] - 2.0 * lam[a] * mu[a]
                if lam[a] == 0.0 and b <= 0.0:
                    continue  # degenerate (no counts and no linear term): keep h
                h[a] = _root(c[a], b, lam[a])
        return
    nfree = 0
    curved = False
    for a in range(k):
        if free[a]:
            nfree += 1
            if lam[a] != 0.0:
                curved = True
    if nfree == 0:
        return
    if target <= 0.0:
        for a in range(k):
            if free[a]:
                h[a] = 0.0
        return
    if not curved:
        _simplex_linear(c, d, free, target, h)
        return
    # starting multiplier: left of the root (one entry alone reaches the target)
    nu = 0.0
    first = True
    for a in range(k):
        if free[a]:
            cand = c[a] / target - d[a] - 2.0 * lam[a] * (target - mu[a])
            if first or cand > nu:
                nu = cand
                first = False
    for _ in range(NEWTON_MAXITER):
        f = -target
        fp = 0.0
        for a in range(k):
            if free[a]:
                b = d[a] + nu - 2.0 * lam[a] * mu[a]
                ha = _root(c[a], b, lam[a])
                h[a] = ha
                f += ha
                if ha > 0.0:
                    s = math.sqrt(b * b + 8.0 * lam[a] * c[a])
                    fp -= ha / s
        if f <= NEWTON_RTOL * target or fp == 0.0:
            break
        nu_new = nu - f / fp
        if nu_new <= nu:  # no progress possible in floating point
            break
        nu = nu_new


@njit(cache=True, nogil=True, error_model="numpy")
def _simplex_linear(c, d, free, target, h):
    """``lam == 0``: minimise ``sum d_a h_a - c_a log h_a`` with ``sum h_a = target``.

    Entries with ``c_a > 0`` get ``h_a = c_a / (d_a + nu)``. The multiplier is written
    ``nu = -d_min + delta`` with ``d_min`` the smallest ``d_a`` among them (the pole), so
    every ``b_a = (d_a - d_min) + delta`` is at least ``delta > 0`` without cancellation.
    Newton starts at the largest ``delta`` where one entry alone reaches the target (so
    ``h_a <= target`` for all iterates) and its step is computed scaled by ``delta`` so that
    nothing overflows even for denormal ``c_a``. Entries with ``c_a == 0`` stay at 0 unless
    the cheapest of them, ``m``, has ``d_m + nu < 0``; then ``nu = -d_m`` and ``h_m`` takes
    the remainder (the exact minimiser, KKT conditions).
    """
    k = c.shape[0]
    dmin = 0.0
    first = True
    m = -1
    for a in range(k):
        if free[a]:
            if c[a] > 0.0:
                if first or d[a] < dmin:
                    dmin = d[a]
                    first = False
            elif m < 0 or d[a] < d[m]:
                m = a
    for a in range(k):
        if free[a] and c[a] == 0.0:
            h[a] = 0.0
    if first:  # no counts at all: the objective is linear, put the mass on the cheapest
        h[m] = target
        return
    if m >= 0 and d[m] < dmin:
        dz = dmin - d[m]
        s = 0.0
        for a in range(k):
            if free[a] and c[a] > 0.0:
                s += c[a] / ((d[a] - dmin) + dz)
        if s <= target:
            for a in range(k):
                if free[a] and c[a] > 0.0:
                    h[a] = c[a] / ((d[a] - dmin) + dz)
            h[m] = target - s
            return
    delta = 0.0
    for a in range(k):
        if free[a] and c[a] > 0.0:
            delta = max(delta, c[a] / target - (d[a] - dmin))
    for _ in range(NEWTON_MAXITER):
        f = -target
        g = 0.0
        for a in range(k):
            if free[a] and c[a] > 0.0:
                b = (d[a] - dmin) + delta
                ha = c[a] / b
                h[a] = ha
                f += ha
                g += ha * (delta / b)
        if f <= NEWTON_RTOL * target or g == 0.0:
            break
        delta_new = delta + f * delta / g
        if delta_new <= delta:
            break
        delta = delta_new


@njit(cache=True, nogil=True, error_model="numpy")
def _pixel_setup(j, hh, H, colsum, Mu, lam_pix, Hfix, has_mu, has_fix, sparsity, phase_par, d,
                 mu, free, lamv):
    """Fill ``hh``, ``d``, ``mu``, ``free`` and ``lamv`` for pixel ``j``; return the target.

    ``phase_par`` (2, k) holds, per phase, the offset of the sparsity term (row 0) and the
    weight of the Laplacian curvature (row 1); ``lamv[a] = lam_pix[j] * phase_par[1, a]``.
    """
    k = hh.shape[0]
    target = 1.0
    for a in range(k):
        hh[a] = H[j, a]
        d[a] = colsum[a]
        if sparsity[a] != 0.0:
            d[a] += sparsity[a] / (hh[a] + phase_par[0, a])
        free[a] = True
        if has_fix:
            f = Hfix[j, a]
            if f >= 0.0:
                free[a] = False
                target -= f
        lamv[a] = 0.0
    if has_mu:
        lam = lam_pix[j]
        for a in range(k):
            mu[a] = Mu[j, a]
            lamv[a] = lam * phase_par[1, a]
    return target


@njit(cache=True, nogil=True, fastmath=True)
def _load(Y, j, ybuf):
    for i in range(ybuf.shape[0]):
        ybuf[i] = Y[j, i]


@njit(cache=True, nogil=True, fastmath=True)
def _model(At, hbuf, vbuf):
    """``vbuf = At^T hbuf`` (the model spectrum of one pixel)."""
    n = vbuf.shape[0]
    ha = hbuf[0]
    for i in range(n):
        vbuf[i] = At[0, i] * ha
    for a in range(1, At.shape[0]):
        ha = hbuf[a]
        for i in range(n):
            vbuf[i] += At[a, i] * ha


@njit(cache=True, nogil=True, fastmath=True)
def _ratio(ybuf, vbuf, rbuf, tiny):
    for i in range(ybuf.shape[0]):
        v = vbuf[i]
        if v < tiny:
            v = tiny
        rbuf[i] = ybuf[i] / v


@njit(cache=True, nogil=True, fastmath=True)
def _backproject(At, rbuf, hh, c, zero):
    """``c_a = hh_a * sum_i At[a, i] rbuf[i]`` (float64 output)."""
    for a in range(At.shape[0]):
        s = zero
        for i in range(rbuf.shape[0]):
            s += At[a, i] * rbuf[i]
        c[a] = hh[a] * s


@njit(cache=True, nogil=True, fastmath=True)
def _rank1(Rblk, rbuf, hbuf):
    for a in range(Rblk.shape[0]):
        ha = hbuf[a]
        for i in range(rbuf.shape[0]):
            Rblk[a, i] += rbuf[i] * ha


@njit(cache=True, nogil=True, fastmath=True)
def _flush(R, Rblk, zero):
    for a in range(Rblk.shape[0]):
        for i in range(Rblk.shape[1]):
            R[a, i] += Rblk[a, i]
            Rblk[a, i] = zero


@njit(cache=True, nogil=True)
def _loglik(ybuf, vbuf, tiny, zero):
    s = 0.0
    for i in range(ybuf.shape[0]):
        y = ybuf[i]
        if y > zero:
            v = vbuf[i]
            if v < tiny:
                v = tiny
            s += float(y) * math.log(float(v))
    return s


@njit(cache=True, nogil=True, error_model="numpy")
def dense_chunk(Y, H, At, colsum, Mu, lam_pix, Hfix, has_mu, has_fix, sparsity, phase_par, simplex,
                update_h, accumulate, eval_loss, R, Hsum):
    """One fused pass over a chunk of dense pixel spectra.

    Parameters
    ----------
    Y : ndarray, shape (m, n)
        Counts of the chunk, pixel-major (uint16, float32 or float64).
    H : ndarray, shape (m, k)
        Abundances of the chunk, updated in place.
    At : ndarray, shape (k, n)
        ``(G W)^T`` in the working dtype.
    colsum : ndarray, shape (k,)
        Column sums of ``G W`` (float64).
    Mu, lam_pix : ndarray
        Laplacian targets ``(m, k)`` and curvatures ``(m,)`` of the chunk (ignored unless
        ``has_mu``).
    Hfix : ndarray
        ``(m, k)`` pinned values (negative = free), ignored unless ``has_fix``.
    sparsity : ndarray, shape (k,)
        Strength of the sparsity term of each phase (0: none).
    phase_par : ndarray, shape (2, k)
        Per phase: offset of the sparsity term and weight of the Laplacian curvature
        (:meth:`esmpy_hs.nmf._solver.Problem.phase_params`).
    update_h : int
        Number of H sub-steps (majorisation-minimisation steps of each pixel's abundances
        with the Laplacian and sparsity majorisers fixed at the incoming H; 0: no H step).
    accumulate, eval_loss : bool
        Accumulate the W numerator; compute the log-likelihood partial (at the new H).
    R : ndarray, shape (k, n), float64
        W-numerator accumulator (``sum_j (y_j / v_j) h_j^T``, transposed); added to.
    Hsum : ndarray, shape (k,), float64
        Accumulator of the abundance sums; added to.

    Returns
    -------
    float
        ``sum_{y > 0} y log v`` over the chunk at the (new) H when ``eval_loss``, else 0.
    """
    m, n = Y.shape
    k = At.shape[0]
    dt = At.dtype
    ybuf = np.empty(n, dt)
    vbuf = np.empty(n, dt)
    rbuf = np.empty(n, dt)
    hbuf = np.empty(k, dt)
    Rblk = np.zeros((k, n), dt)
    tb = np.empty(2, dt)
    tb[0] = 1e-30
    tb[1] = 0.0
    tiny = tb[0]
    zero = tb[1]
    hh = np.empty(k)
    c = np.empty(k)
    d = np.empty(k)
    mu = np.zeros(k)
    lamv = np.zeros(k)
    free = np.ones(k, dtype=np.bool_)
    loss = 0.0
    nblk = 0
    for j in range(m):
        _load(Y, j, ybuf)
        target = _pixel_setup(j, hh, H, colsum, Mu, lam_pix, Hfix, has_mu, has_fix,
                              sparsity, phase_par, d, mu, free, lamv)
        for a in range(k):
            hbuf[a] = hh[a]
        for _ in range(int(update_h)):
            _model(At, hbuf, vbuf)
            _ratio(ybuf, vbuf, rbuf, tiny)
            _backproject(At, rbuf, hh, c, zero)
            solve_entry_problem(c, d, lamv, mu, free, target, simplex, hh)
            for a in range(k):
                H[j, a] = hh[a]
                hh[a] = H[j, a]
                hbuf[a] = H[j, a]
        for a in range(k):
            Hsum[a] += hbuf[a]
        if accumulate or eval_loss:
            _model(At, hbuf, vbuf)
            if accumulate:
                _ratio(ybuf, vbuf, rbuf, tiny)
                _rank1(Rblk, rbuf, hbuf)
                nblk += 1
                if nblk == _FLUSH:
                    _flush(R, Rblk, zero)
                    nblk = 0
            if eval_loss:
                loss += _loglik(ybuf, vbuf, tiny, zero)
    if nblk > 0:
        _flush(R, Rblk, zero)
    return loss


@njit(cache=True, nogil=True, error_model="numpy")
def sparse_chunk(indptr, indices, data, H, A, colsum, Mu, lam_pix, Hfix, has_mu, has_fix,
                 sparsity, phase_par, simplex, update_h, accumulate, eval_loss, R, Hsum):
    """One fused pass over a chunk of pixels stored as CSR (rows = pixels).

    ``indptr`` has ``m + 1`` entries pointing into ``indices``/``data`` (which may be the
    arrays of a larger matrix); ``A`` is ``G W`` with shape ``(n, k)``; ``R`` is the float64
    W-numerator accumulator with shape ``(n, k)``. Other arguments and the return value as
    in :func:`dense_chunk`.
    """
    m = indptr.shape[0] - 1
    k = A.shape[1]
    hh = np.empty(k)
    c = np.empty(k)
    d = np.empty(k)
    mu = np.zeros(k)
    lamv = np.zeros(k)
    sacc = np.empty(k)
    free = np.ones(k, dtype=np.bool_)
    loss = 0.0
    tiny = 1e-30
    for j in range(m):
        start = indptr[j]
        end = indptr[j + 1]
        target = _pixel_setup(j, hh, H, colsum, Mu, lam_pix, Hfix, has_mu, has_fix,
                              sparsity, phase_par, d, mu, free, lamv)
        for _ in range(int(update_h)):
            for a in range(k):
                sacc[a] = 0.0
            for t in range(start, end):
                i = indices[t]
                y = float(data[t])
                v = 0.0
                for a in range(k):
                    v += A[i, a] * hh[a]
                if v < tiny:
                    v = tiny
                r = y / v
                for a in range(k):
                    sacc[a] += A[i, a] * r
            for a in range(k):
                c[a] = hh[a] * sacc[a]
            solve_entry_problem(c, d, lamv, mu, free, target, simplex, hh)
            for a in range(k):
                H[j, a] = hh[a]
                hh[a] = H[j, a]
        for a in range(k):
            Hsum[a] += hh[a]
        if accumulate or eval_loss:
            for t in range(start, end):
                i = indices[t]
                y = float(data[t])
                v = 0.0
                for a in range(k):
                    v += A[i, a] * hh[a]
                if v < tiny:
                    v = tiny
                if accumulate:
                    r = y / v
                    for a in range(k):
                        R[i, a] += r * hh[a]
                if eval_loss and y > 0.0:
                    loss += y * math.log(v)
    return loss


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def dense_pass(Y, H, At, colsum, Mu, lam_pix, Hfix, has_mu, has_fix, sparsity, phase_par, simplex,
               update_h, accumulate, eval_loss, bounds, Rparts, Hparts, Lparts):
    """Run :func:`dense_chunk` over the pixel ranges ``bounds`` in parallel.

    ``Rparts`` (T, k, n), ``Hparts`` (T, k) and ``Lparts`` (T,) receive the per-chunk partials
    (they must be zeroed by the caller).
    """
    T = bounds.shape[0] - 1
    for t in prange(T):
        b0 = bounds[t]
        b1 = bounds[t + 1]
        Mu_t = Mu[b0:b1] if has_mu else Mu
        lam_t = lam_pix[b0:b1] if has_mu else lam_pix
        fix_t = Hfix[b0:b1] if has_fix else Hfix
        Lparts[t] = dense_chunk(Y[b0:b1], H[b0:b1], At, colsum, Mu_t, lam_t, fix_t, has_mu,
                                has_fix, sparsity, phase_par, simplex, update_h, accumulate,
                                eval_loss, Rparts[t], Hparts[t])


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def sparse_pass(indptr, indices, data, H, A, colsum, Mu, lam_pix, Hfix, has_mu, has_fix,
                sparsity, phase_par, simplex, update_h, accumulate, eval_loss, bounds, Rparts,
                Hparts, Lparts):
    """Run :func:`sparse_chunk` over the pixel ranges ``bounds`` in parallel.

    ``Rparts`` has shape (T, n, k); see :func:`dense_pass`.
    """
    T = bounds.shape[0] - 1
    for t in prange(T):
        b0 = bounds[t]
        b1 = bounds[t + 1]
        Mu_t = Mu[b0:b1] if has_mu else Mu
        lam_t = lam_pix[b0:b1] if has_mu else lam_pix
        fix_t = Hfix[b0:b1] if has_fix else Hfix
        Lparts[t] = sparse_chunk(indptr[b0:b1 + 1], indices, data, H[b0:b1], A, colsum, Mu_t,
                                 lam_t, fix_t, has_mu, has_fix, sparsity, phase_par, simplex,
                                 update_h, accumulate, eval_loss, Rparts[t], Hparts[t])


@njit(cache=True, nogil=True, error_model="numpy")
def dense_pass_serial(Y, H, At, colsum, Mu, lam_pix, Hfix, has_mu, has_fix, sparsity, phase_par,
simplex,
               update_h, accumulate, eval_loss, bounds, Rparts, Hparts, Lparts):
    """Serial version of :func:`dense_pass` (small problems: no thread synchronisation)."""
    T = bounds.shape[0] - 1
    for t in range(T):
        b0 = bounds[t]
        b1 = bounds[t + 1]
        Mu_t = Mu[b0:b1] if has_mu else Mu
        lam_t = lam_pix[b0:b1] if has_mu else lam_pix
        fix_t = Hfix[b0:b1] if has_fix else Hfix
        Lparts[t] = dense_chunk(Y[b0:b1], H[b0:b1], At, colsum, Mu_t, lam_t, fix_t, has_mu,
                                has_fix, sparsity, phase_par, simplex, update_h, accumulate,
                                eval_loss, Rparts[t], Hparts[t])


@njit(cache=True, nogil=True, error_model="numpy")
def sparse_pass_serial(indptr, indices, data, H, A, colsum, Mu, lam_pix, Hfix, has_mu, has_fix,
                sparsity, phase_par, simplex, update_h, accumulate, eval_loss, bounds, Rparts,
                Hparts, Lparts):
    """Serial version of :func:`sparse_pass`."""
    T = bounds.shape[0] - 1
    for t in range(T):
        b0 = bounds[t]
        b1 = bounds[t + 1]
        Mu_t = Mu[b0:b1] if has_mu else Mu
        lam_t = lam_pix[b0:b1] if has_mu else lam_pix
        fix_t = Hfix[b0:b1] if has_fix else Hfix
        Lparts[t] = sparse_chunk(indptr[b0:b1 + 1], indices, data, H[b0:b1], A, colsum, Mu_t,
                                 lam_t, fix_t, has_mu, has_fix, sparsity, phase_par, simplex,
                                 update_h, accumulate, eval_loss, Rparts[t], Hparts[t])
