"""Exact per-pixel solution of the majorised H (or W) sub-problem.

For one pixel (or one column of W) the majorisation-minimisation step minimises, over the
free entries ``a``,

    sum_a  d_a h_a - c_a log h_a + lam_a (h_a - mu_a)**2      subject to  sum_a h_a = t

where ``c_a >= 0`` comes from the Jensen majoriser of the KL term, ``d_a > 0`` is the linear
term (column sums of G.W plus the linearised sparsity term), ``lam_a >= 0`` and ``mu_a`` come
from the separable majoriser of the Laplacian (``lam_a`` = pixel curvature times the phase's
weight), and ``t`` is the simplex target (1 minus the
pinned entries). With a Lagrange multiplier ``nu`` each entry has the closed form

    h_a(nu) = positive root of  2 lam_a h**2 + (d_a + nu - 2 lam_a mu_a) h - c_a = 0

which is decreasing and convex in ``nu``; so ``sum_a h_a(nu) = t`` is solved by Newton's
method started left of the root, which then increases ``nu`` monotonically and converges
quadratically (no bracketing or bisection needed). The scalar numba version used inside the
fused kernels is :func:`esmpy_hs.nmf._kernels.solve_entry_problem` (kept in the kernels'
module so that numba's on-disk cache is invalidated together with them); this module holds the
vectorised numpy version (used by the reference implementation and for W), with the same
formulas.
"""

from __future__ import annotations

import numpy as np

from esmpy_hs.nmf._kernels import NEWTON_MAXITER, NEWTON_RTOL


def solve_entry_problem_np(c, d, lam, mu, free, target, simplex, h):
    """Vectorised numpy version of :func:`solve_entry_problem`.

    All arrays are ``(m, k)`` (one problem per row) except ``target`` which is ``(m,)``
    and ``lam``, which is ``(m, k)`` (per entry) or ``(m,)`` / a scalar (per row). ``h`` is
    updated in place (float64).
    """
    c = np.asarray(c, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    if lam.ndim < 2:
        lam = np.broadcast_to(lam, (c.shape[0],))[:, None]
    lam = np.broadcast_to(lam, c.shape)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (c.shape[0],))

    def roots(b):
        out = np.zeros_like(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam0 = np.broadcast_to(lam == 0.0, b.shape)
            disc = np.sqrt(b * b + 8.0 * lam * c)
            q_pos = 2.0 * c / (b + disc)
            q_neg = (disc - b) / (4.0 * lam)
            quad = np.where(b >= 0.0, q_pos, q_neg)
            quad = np.where(c == 0.0, np.maximum(-b, 0.0) / (2.0 * lam), quad)
            lin = np.where(c == 0.0, 0.0, c / b)
            out = np.where(lam0, lin, quad)
        return out, disc

    if not simplex:
        b = d - 2.0 * lam * mu
        hn, _ = roots(b)
        upd = free & ~((lam == 0.0) & (b <= 0.0))
        h[upd] = hn[upd]
        return
    nfree = free.sum(axis=1)
    anyc = (free & (c > 0.0)).any(axis=1)
    lam1 = np.where(free, lam, 0.0).max(axis=1)
    active = (nfree > 0) & (target > 0.0)
    zero_rows = (nfree > 0) & (target <= 0.0)
    h[zero_rows[:, None] & free] = 0.0
    lin = active & (lam1 == 0.0) & anyc
    vertex_only = active & (lam1 == 0.0) & ~anyc
    quad = active & (lam1 != 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cq = c / target[:, None] - d - 2.0 * lam * (target[:, None] - mu)
    cq = np.where(free, cq, -np.inf)
    pos = free & (c > 0.0)
    # linear rows: nu = -d_min + delta (see esmpy_hs.nmf._kernels._simplex_linear)
    dmin = np.where(lin, np.where(pos, d, np.inf).min(axis=1), 0.0)
    dmin = np.where(np.isfinite(dmin), dmin, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dl = np.where(pos, c / target[:, None] - (d - dmin[:, None]), 0.0).max(axis=1)
    nu = np.where(quad, cq.max(axis=1), 0.0)
    nu = np.where(lin, np.maximum(dl, 0.0), nu)
    running = active.copy()
    hcur = h.copy()
    for _ in range(NEWTON_MAXITER):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            b_lin = (d - dmin[:, None]) + nu[:, None]
            h_lin = np.where(pos, c / b_lin, 0.0)
            g_lin = np.where(pos, h_lin * (nu[:, None] / b_lin), 0.0)
        b = d + nu[:, None] - 2.0 * lam * mu
        h_q, disc = roots(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_q = np.where(h_q > 0.0, h_q / disc, 0.0)
        hn = np.where(lin[:, None], h_lin, h_q)
        hn = np.where(free, hn, 0.0)
        hcur = np.where(running[:, None] & free, hn, hcur)
        f = hn.sum(axis=1) - target
        g = np.where(free, np.where(lin[:, None], g_lin, g_q), 0.0).sum(axis=1)
        done = (f <= NEWTON_RTOL * target) | (g == 0.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # linear rows: delta += f delta / g (scaled Newton step); quadratic: nu += f / g
            nu_new = np.where(lin, nu + f * nu / g, nu + f / g)
        done |= ~(nu_new > nu)
        running &= ~done
        if not running.any():
            break
        nu = np.where(running, nu_new, nu)
    upd = (lin | quad)[:, None] & free
    h[upd] = hcur[upd]
    # lam == 0: entries without counts (c == 0) are 0 unless the cheapest of them, m, has
    # d_m + nu < 0; then nu = -d_m and h_m takes the remainder (see _simplex_linear)
    zero_c = free & (c == 0.0)
    has_z = (lin | vertex_only) & zero_c.any(axis=1)
    if has_z.any():
        dz_all = np.where(zero_c, d, np.inf)
        m = np.argmin(dz_all, axis=1)
        rows = np.arange(c.shape[0])
        dm = dz_all[rows, m]
        h[(lin[:, None] & zero_c)] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            dz = dmin - dm
            hb = np.where(pos, c / ((d - dmin[:, None]) + dz[:, None]), 0.0)
        s = hb.sum(axis=1)
        vert = lin & has_z & (dz > 0) & (s <= target)
        h[vert[:, None] & pos] = hb[vert[:, None] & pos]
        h[rows[vert], m[vert]] = (target - s)[vert]
        vo = vertex_only & has_z
        h[vo[:, None] & free] = 0.0
        h[rows[vo], m[vo]] = target[vo]
