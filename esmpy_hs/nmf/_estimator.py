"""The scikit-learn compatible estimator :class:`EsmpyNMF`."""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable

import numba
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data

from esmpy_hs.nmf._data import CountData, prepare_counts
from esmpy_hs.nmf._init import (
    N_REFINE,
    bin_counts,
    bin_labels,
    fit_onto_g,
    random_init,
    select_spectra,
)
from esmpy_hs.nmf._laplacian import grid_degree
from esmpy_hs.nmf._schedule import CHECK_EVERY, run_schedule  # noqa: F401 (re-export)
from esmpy_hs.nmf._solver import Engine, Problem, relative_change

logger = logging.getLogger(__name__)

#: ``smoothness="auto"`` uses ``SMOOTHNESS_AUTO_SCALE * sqrt(mean counts per pixel)``.
SMOOTHNESS_AUTO_SCALE = 3.0
#: Default tolerances: (relative objective change, relative W/H change), per iteration.
DEFAULT_TOL = (1e-8, 1e-5)


def auto_smoothness(mean_counts_per_pixel: float) -> float:
    """Laplacian strength chosen by ``smoothness="auto"``.

    ``lambda = SMOOTHNESS_AUTO_SCALE * sqrt(N)`` with ``N`` the mean total counts per pixel.
    With abundances on the simplex, the curvature of the Poisson likelihood of one pixel grows
    like ``N`` while the Laplacian curvature is ``lambda * degree``, so the effective smoothing
    length shrinks like ``N**(-1/4)``: a few pixels at ~20 counts per pixel, about one pixel
    at a few hundred, and little smoothing at high dose. The factor 3 was set on simulated
    maps at 18 and 293 counts per pixel (abundance RMSE lowest between 2 and 8 times
    ``sqrt(N)`` there, with smooth maps); maps with fine features may prefer less.
    """
    return SMOOTHNESS_AUTO_SCALE * math.sqrt(max(float(mean_counts_per_pixel), 0.0))


class EsmpyNMF(TransformerMixin, BaseEstimator):
    """Poisson NMF with a fixed dictionary G: ``X.T ~ G W H``, H on the simplex.

    Minimises, by majorisation-minimisation (multiplicative) steps that never increase it,

    ``KL(Y || G W H) + smoothness * 0.5 * tr(H L H^T) + sparsity * sum log(H + sparsity_eps)``

    with ``Y = X.T`` (channels x pixels), W >= 0, H >= 0 and, by default, every pixel's
    abundances summing to one exactly (per-pixel Lagrange multiplier solved by monotone Newton
    steps). With ``regularize_counts=True`` both regularisers see each phase's
    abundance times ``beta_a``, the phase's total counts over the mean counts per pixel
    (``beta_a**2`` weights its Laplacian term, ``log(beta_a H + sparsity_eps)``). ``L`` is
    the 4-neighbour graph Laplacian of the pixel grid ``shape_2d``. Each iteration is one
    fused pass over the counts (numba), dense (uint16/float32) or over the non-zeros only
    (CSR) below ``density_threshold``.

    Parameters
    ----------
    n_components : int, default=3
        Number of phases ``k``.
    G : array-like of shape (n_channels, n_G), default=None
        Fixed non-negative dictionary (e.g. one simulated spectrum per element plus
        bremsstrahlung columns). ``None`` means the identity (plain KL-NMF with W the phase
        spectra). Channels whose row of G is all zero are excluded from the fit.
    max_iter : int, default=1000
        Maximum number of iterations (one H step and one W step each).
    tol : float or (float, float), default=(1e-8, 1e-5)
        Stopping tolerances ``(objective, parameters)``: the fit stops when the relative
        change per iteration of both W and H (Frobenius norms, tested every 10 iterations)
        is below the second value **and** the relative change per iteration of the objective
        since its previous evaluation is below the first. A single float is used for both.
        0 disables.
    random_state : int, RandomState or None, default=None
        Seed for ``init="random"`` (the ``"auto"`` initialisation is deterministic).
    init : {"auto", "random"}, default="auto"
        ``"auto"``: data-driven deterministic start (binned super-pixels, successive
        projections on their rank-k subspace, spectra fitted onto G, short refinement on the
        binned data). ``"random"``: random start from ``random_state``. Initial values given
        to :meth:`fit` (``W=``, ``H=``) take precedence.
    shape_2d : (int, int), default=None
        ``(ny, nx)`` of the pixel grid; the rows of X are the pixels in C order. Needed for
        the spatial smoothness.
    smoothness : float or "auto", default="auto"
        Laplacian strength ``lambda`` (in counts). ``"auto"`` uses
        :func:`auto_smoothness`: ``3 * sqrt(mean counts per pixel)``, and 0 when ``shape_2d``
        is None. 0 disables the term.
    sparsity : float, default=0.0
        Strength of ``sum log(H + sparsity_eps)`` (positive values favour sparse abundances).
    sparsity_eps : float, default=0.01
        Offset in the sparsity term.
    sparsity_exclude : None, "matrix", int or sequence of int, default=None
        Phases exempt from the sparsity term. ``"matrix"``: the phase with the largest mean
        abundance at the start (an embedding matrix or a support film). With particles that
        are never pure (a matrix above and below them), a sparsity term on every phase
        rewards shrinking the particle spectra until their centres look pure; exempting the
        matrix keeps the reward for pure matrix pixels (which stops the matrix spectrum from
        drifting outward) without that shrinking force.
    regularize_counts : bool, default=False
        Apply the smoothness and sparsity terms to the counts each phase contributes
        (abundance times the phase's total counts, relative to the mean counts per pixel)
        instead of to the bare abundances. Penalties on bare abundances can be lowered by
        making one phase's spectrum very bright and its abundances tiny, a degenerate
        solution that low-dose data (~20 counts/pixel) with weak smoothing do not prevent;
        on counts they cannot (but a phase can then be emptied instead). Ignored with
        ``simplex="W"`` (the scale is then fixed by W) or a negative ``sparsity``.
    refine_iter : int, default=0
        After the fit, up to this many further iterations without the sparsity term, with
        the W columns of the phases exempt from it (``sparsity_exclude``) pinned at their
        fitted values. The sparsity term anchors the exempt phase (a matrix at its pure
        pixels) but also pushes the other phases' spectra a little past the truth; the
        refinement lets the likelihood alone place them. 0 (or no ``sparsity_exclude``):
        no refinement.
    simplex : {"H", "W"} or None, default="H"
        ``"H"``: each pixel's abundances sum to 1. ``"W"``: each column of W sums to 1 over
        the rows ``simplex_W_rows`` (H is then only non-negative). None: no sum constraint.
    simplex_W_rows : array-like of int, default=None
        Rows of W constrained when ``simplex="W"`` (None: all rows).
    fixed_W : array-like of shape (n_G, k), default=None
        Pinned entries of W (NaN = free). Whole phases are pinned with whole columns.
    fixed_H : array-like of shape (k, n_pixels), default=None
        Pinned entries of H (NaN = free).
    dtype : {np.float32, np.float64}, default=np.float32
        Working precision of the channel loops and of H; small reductions are float64.
    n_threads : int, default=None
        Threads of the numba kernels (None: numba's default, usually the number of cores).
    sparse : bool or "auto", default="auto"
        Use the sparse (non-zeros only) kernels; "auto" chooses them below
        ``density_threshold``. Both paths compute the same iterates.
    density_threshold : float, default=0.15
        Fraction of non-zero counts under which ``sparse="auto"`` uses the sparse kernels.
    eval_every : int, default=50
        The objective is evaluated every ``eval_every`` iterations (in the same pass as the
        updates; it costs a log per non-zero count), and also at the iteration after the W/H
        criterion is met, to confirm convergence.
    h_inner : int, default=1
        H sub-steps per iteration: each pixel's abundances get ``h_inner`` exact
        majorisation-minimisation steps (the smoothness and sparsity majorisers built once at
        the incoming H) while its spectrum is in cache, before the W step. Each sub-step
        never increases the objective; 2-4 cut the number of iterations to convergence
        (about 2-3x fewer), for a small extra cost per iteration on the sparse path.
    verbose : bool, default=False
        Log progress at INFO level (loggers under ``esmpy_hs.nmf``).
    show_progressbar : bool, default=False
        Show a tqdm progress bar.
    callback : callable, default=None
        Called after every iteration as ``callback(n_iter, W, H, loss)`` with ``W`` (n_G, k),
        ``H`` (k, n_pixels) views of the current iterate and ``loss`` the objective when it
        was evaluated at this iteration (else None). Returning True stops the fit; raising
        KeyboardInterrupt stops it with a warning and keeps the current iterate.

    Attributes
    ----------
    W_ : ndarray of shape (n_G, k)
    H_ : ndarray of shape (k, n_pixels)
    G_ : ndarray of shape (n_channels, n_G)
    components_ : ndarray of shape (k, n_channels)
        ``(G W)^T``, the phase spectra (zero on channels excluded from the fit).
    n_iter_ : int
    losses_ : list of float
        Objective values, evaluated after the H step of the iterations ``loss_iterations_``.
    loss_iterations_ : list of int
    objective_ : float
        Objective at the returned ``(W_, H_)``.
    reconstruction_err_ : float
        Generalised KL divergence ``D(Y || G W H)`` at the returned factors.
    stop_reason_ : str
        ``"converged"``, ``"max_iter"``, ``"callback"`` or ``"interrupted"``.
    smoothness_ : float
        Laplacian strength used.
    count_scale_ : float or None
        Mean counts per pixel that the count-weighted regularisers are relative to (None
        when ``regularize_counts`` does not apply).
    refine_n_iter_ : int
        Iterations of the refinement stage (``refine_iter``; 0 when there was none). They are
        included in ``n_iter_``; the objective values of that stage are in
        ``refine_losses_`` and ``objective_`` is the refinement's objective (no sparsity).
    sparsity_weights_ : ndarray of shape (n_components,)
        Strength of the sparsity term applied to each phase (0 for exempt phases).
    fit_channels_ : ndarray of int
        Channels used in the fit (rows of G that are not all zero).
    sparse_path_ : bool
        Whether the sparse kernels were used.
    n_features_in_ : int

    Notes
    -----
    All of scikit-learn's estimator checks pass (``tests/nmf/test_sklearn_checks.py`` runs
    them with ``expected_failed_checks`` empty). The outputs have the precision of the
    ``dtype`` parameter (float32 by default, declared in the transformer tags), so float64
    input gives float32 abundances unless ``dtype=np.float64``.

    :meth:`transform` projects new pixels onto the fitted phases without spatial smoothness
    (the new pixels have no grid), so on the training data it differs slightly from
    ``H_`` when ``smoothness > 0``.
    """

    def __init__(
        self,
        n_components: int = 3,
        *,
        G=None,
        max_iter: int = 1000,
        tol=DEFAULT_TOL,
        random_state=None,
        init: str = "auto",
        shape_2d: tuple[int, int] | None = None,
        smoothness="auto",
        sparsity: float = 0.0,
        sparsity_eps: float = 1e-2,
        sparsity_exclude=None,
        regularize_counts: bool = False,
        refine_iter: int = 0,
        simplex: str | None = "H",
        simplex_W_rows=None,
        fixed_W=None,
        fixed_H=None,
        dtype=np.float32,
        n_threads: int | None = None,
        sparse="auto",
        density_threshold: float = 0.15,
        eval_every: int = 50,
        h_inner: int = 1,
        verbose: bool = False,
        show_progressbar: bool = False,
        callback: Callable | None = None,
    ):
        self.n_components = n_components
        self.G = G
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init = init
        self.shape_2d = shape_2d
        self.smoothness = smoothness
        self.sparsity = sparsity
        self.sparsity_eps = sparsity_eps
        self.sparsity_exclude = sparsity_exclude
        self.regularize_counts = regularize_counts
        self.refine_iter = refine_iter
        self.simplex = simplex
        self.simplex_W_rows = simplex_W_rows
        self.fixed_W = fixed_W
        self.fixed_H = fixed_H
        self.dtype = dtype
        self.n_threads = n_threads
        self.sparse = sparse
        self.density_threshold = density_threshold
        self.eval_every = eval_every
        self.h_inner = h_inner
        self.verbose = verbose
        self.show_progressbar = show_progressbar
        self.callback = callback

    # ------------------------------------------------------------------ sklearn glue
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = [self._dtype().name]
        return tags

    # ------------------------------------------------------------------ validation
    def _dtype(self) -> np.dtype:
        try:
            dt = np.dtype(self.dtype)
        except TypeError as exc:
            raise TypeError(f"dtype={self.dtype!r} is not a dtype; use np.float32 or "
                            "np.float64") from exc
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype={self.dtype!r} is not supported; use np.float32 or "
                             "np.float64")
        return dt

    def _tolerances(self) -> tuple[float, float]:
        tol = self.tol
        if isinstance(tol, numbers.Real):
            tol = (float(tol), float(tol))
        try:
            t_obj, t_par = (float(t) for t in tol)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"tol={self.tol!r} must be a float or a pair of floats "
                             "(objective, parameters)") from exc
        if t_obj < 0 or t_par < 0 or math.isnan(t_obj) or math.isnan(t_par):
            raise ValueError(f"tol={self.tol!r} must be non-negative")
        return t_obj, t_par

    def _check_params(self) -> None:
        k = self.n_components
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"n_components={k!r} must be a positive integer")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 0:
            raise ValueError(f"max_iter={self.max_iter!r} must be a non-negative integer")
        if not isinstance(self.h_inner, numbers.Integral) or self.h_inner < 1:
            raise ValueError(f"h_inner={self.h_inner!r} must be a positive integer")
        if not isinstance(self.eval_every, numbers.Integral) or self.eval_every < 1:
            raise ValueError(f"eval_every={self.eval_every!r} must be a positive integer")
        self._tolerances()
        self._dtype()
        if self.init not in ("auto", "random"):
            raise ValueError(f"init={self.init!r} must be 'auto' or 'random' (give initial "
                             "values with fit(X, W=..., H=...))")
        if self.simplex not in ("H", "W", None):
            raise ValueError(f"simplex={self.simplex!r} must be 'H', 'W' or None")
        if not (isinstance(self.smoothness, str) and self.smoothness == "auto"):
            if (not isinstance(self.smoothness, numbers.Real) or self.smoothness < 0
                    or not math.isfinite(self.smoothness)):
                raise ValueError(f"smoothness={self.smoothness!r} must be 'auto' or a "
                                 "finite float >= 0")
        for name in ("sparsity", "density_threshold"):
            val = getattr(self, name)
            if not isinstance(val, numbers.Real) or not math.isfinite(val):
                raise ValueError(f"{name}={val!r} must be a finite float")
        self._sparsity_exclude_spec()
        if (not isinstance(self.refine_iter, numbers.Integral)
                or isinstance(self.refine_iter, bool) or self.refine_iter < 0):
            raise ValueError(f"refine_iter={self.refine_iter!r} must be a non-negative integer")
        if not isinstance(self.regularize_counts, (bool, np.bool_)):
            raise ValueError(f"regularize_counts={self.regularize_counts!r} must be True or "
                             "False")
        if not isinstance(self.sparsity_eps, numbers.Real) or not self.sparsity_eps > 0:
            raise ValueError(f"sparsity_eps={self.sparsity_eps!r} must be > 0")
        if self.sparse not in ("auto", True, False):
            raise ValueError(f"sparse={self.sparse!r} must be 'auto', True or False")
        if self.n_threads is not None and (not isinstance(self.n_threads, numbers.Integral)
                                           or self.n_threads < 1):
            raise ValueError(f"n_threads={self.n_threads!r} must be None or a positive "
                             "integer")
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback={self.callback!r} must be callable or None")

    def _sparsity_exclude_spec(self) -> str | tuple[int, ...] | None:
        """``sparsity_exclude`` as None, "matrix" or a tuple of phase indices."""
        ex = self.sparsity_exclude
        if ex is None or (isinstance(ex, str) and ex == "matrix"):
            return ex
        if isinstance(ex, str):
            raise ValueError(f"sparsity_exclude={ex!r} must be None, 'matrix' or phase "
                             "indices")
        items = (ex,) if isinstance(ex, numbers.Integral) else tuple(np.ravel(ex).tolist())
        k = self.n_components
        for a in items:
            if (not isinstance(a, numbers.Integral) or isinstance(a, bool) or
                    not 0 <= int(a) < int(k)):
                raise ValueError(f"sparsity_exclude={ex!r}: phase indices must be integers "
                                 f"in [0, n_components={k})")
        return tuple(int(a) for a in items)

    def _sparsity_phases(self, H: np.ndarray, k: int) -> np.ndarray | None:
        """Per-phase weights (1 = sparsity applies, 0 = exempt) at the start abundances."""
        spec = self._sparsity_exclude_spec()
        if spec is None:
            return None
        w = np.ones(k)
        if spec == "matrix":
            w[int(np.argmax(np.asarray(H, dtype=np.float64).mean(axis=0)))] = 0.0
        else:
            w[list(spec)] = 0.0
        return w

    def _fitted_sparsity_phases(self) -> np.ndarray | None:
        """The per-phase sparsity weights of the fit, relative to ``sparsity``."""
        w = getattr(self, "sparsity_weights_", None)
        if w is None or self.sparsity == 0:
            return None
        return np.asarray(w, dtype=np.float64) / float(self.sparsity)

    def _validated_G(self, n_features: int) -> np.ndarray:
        if self.G is None:
            return np.eye(n_features)
        G = np.asarray(self.G, dtype=np.float64)
        if G.ndim != 2 or G.shape[0] != n_features:
            raise ValueError(f"G has shape {G.shape}, expected (n_channels={n_features}, n_G): "
                             "one row per channel (column of X)")
        if not np.all(np.isfinite(G)) or np.any(G < 0):
            raise ValueError("G must be finite and non-negative")
        return G

    def _fitted_G(self, n_features: int):
        """G over all channels, G on the fitted channels (rows not all zero), their indices,
        and the channel selection for the count preparation (None = all channels)."""
        G_full = self._validated_G(n_features)
        keep = np.flatnonzero(G_full.sum(axis=1) > 0)
        if keep.size == 0:
            raise ValueError("every row of G is zero: no channel can be fitted")
        keep_arg = None if keep.size == n_features else keep
        return G_full, np.ascontiguousarray(G_full[keep]), keep, keep_arg

    def _shape(self, n_pixels: int) -> tuple[int, int] | None:
        if self.shape_2d is None:
            return None
        try:
            ny, nx = (int(s) for s in self.shape_2d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"shape_2d={self.shape_2d!r} must be a pair of ints "
                             "(ny, nx)") from exc
        if ny * nx != n_pixels:
            raise ValueError(f"shape_2d={self.shape_2d!r} has {ny * nx} pixels but X has "
                             f"{n_pixels} rows; pass the navigation shape of X")
        return ny, nx

    def _problem(self, data: CountData, G: np.ndarray, shape) -> Problem:
        k = self.n_components
        n_G = G.shape[1]
        p = data.n_pixels
        if isinstance(self.smoothness, str):
            lam = auto_smoothness(data.total / max(p, 1)) if shape is not None else 0.0
        else:
            lam = float(self.smoothness)
            if lam > 0 and shape is None:
                raise ValueError(f"smoothness={lam} needs the pixel grid: pass shape_2d="
                                 "(ny, nx), or smoothness=0")
        w_rows = None
        if self.simplex == "W" and self.simplex_W_rows is not None:
            w_rows = np.unique(np.asarray(self.simplex_W_rows, dtype=np.intp))
            if w_rows.size == 0 or w_rows.min() < 0 or w_rows.max() >= n_G:
                raise ValueError(f"simplex_W_rows must be row indices in [0, {n_G}) of W")
        fixed_W = None
        if self.fixed_W is not None:
            fixed_W = np.array(self.fixed_W, dtype=np.float64)
            if fixed_W.shape != (n_G, k):
                raise ValueError(f"fixed_W has shape {fixed_W.shape}, expected (n_G, k) = "
                                 f"{(n_G, k)}; use NaN for free entries")
            if np.any(fixed_W < 0) or np.any(np.isinf(fixed_W)):
                raise ValueError("fixed_W entries must be NaN (free) or finite values >= 0")
            if np.all(np.isnan(fixed_W)):
                fixed_W = None
        fixed_H = None
        if self.fixed_H is not None:
            fh = np.array(self.fixed_H, dtype=np.float64)
            if fh.shape != (k, p):
                raise ValueError(f"fixed_H has shape {fh.shape}, expected (k, n_pixels) = "
                                 f"{(k, p)}; use NaN for free entries")
            if np.any(fh < 0) or np.any(np.isinf(fh)):
                raise ValueError("fixed_H entries must be NaN (free) or finite values >= 0")
            if not np.all(np.isnan(fh)):
                fixed_H = np.ascontiguousarray(fh.T)
                if self.simplex == "H" and np.any(np.nansum(fixed_H, axis=1) > 1 + 1e-9):
                    raise ValueError("fixed_H pins abundances summing to more than 1 in some "
                                     "pixels, which contradicts simplex='H'")
        count_scale = None
        if (self.regularize_counts and self.simplex != "W" and float(self.sparsity) >= 0
                and data.total > 0):
            count_scale = float(data.total) / max(p, 1)
        pb = Problem(k=k, lam=lam, shape_2d=shape, count_scale=count_scale,
                     degree=grid_degree(shape) if shape is not None else None,
                     sparsity=float(self.sparsity), sparsity_eps=float(self.sparsity_eps),
                     simplex=self.simplex, w_rows=w_rows, fixed_W=fixed_W, fixed_H=fixed_H)
        if self.simplex == "W" and fixed_W is not None:
            rows = np.zeros(n_G, dtype=bool)
            rows[w_rows if w_rows is not None else slice(None)] = True
            if np.any(np.nansum(np.where(rows[:, None], fixed_W, np.nan), axis=0) > 1 + 1e-9):
                raise ValueError("fixed_W pins weights summing to more than 1 over "
                                 "simplex_W_rows, which contradicts simplex='W'")
        return pb

    def _validate_X(self, X, reset: bool):
        X = validate_data(self, X, accept_sparse=("csr", "csc", "coo"), dtype="numeric",
                          reset=reset)
        if X.dtype.kind not in "fiu":
            X = X.astype(np.float64)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    # ------------------------------------------------------------------ helpers
    def _n_chunks(self) -> int:
        return 4 * (self.n_threads or numba.config.NUMBA_NUM_THREADS)

    def _prepare(self, X, keep, dtype) -> CountData:
        return prepare_counts(X, keep, dtype, self.sparse, float(self.density_threshold))

    @staticmethod
    def _project_H(H: np.ndarray, pb: Problem) -> np.ndarray:
        """Make H feasible: pins applied, free entries of each pixel rescaled to the target."""
        H = np.maximum(np.asarray(H, dtype=np.float64), 0.0)
        free = np.ones(H.shape, dtype=bool)
        if pb.fixed_H is not None:
            free = np.isnan(pb.fixed_H)
            H = np.where(free, H, pb.fixed_H)
        if pb.simplex == "H":
            target = pb.h_targets() if pb.fixed_H is not None else np.ones(H.shape[0])
            s = np.where(free, H, 0.0).sum(axis=1)
            nfree = free.sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(s > 0, target / s, 0.0)
                uni = np.where(nfree > 0, np.maximum(target, 0) / np.maximum(nfree, 1), 0.0)
            Hs = np.where(s[:, None] > 0, H * scale[:, None], uni[:, None])
            H = np.where(free, Hs, H)
        return H

    @staticmethod
    def _project_W(W: np.ndarray, H: np.ndarray | None, pb: Problem):
        """Apply W pins and, for simplex="W", normalise the constrained rows (scaling H)."""
        W = np.maximum(np.asarray(W, dtype=np.float64), 0.0).copy()
        if pb.fixed_W is not None:
            W = np.where(np.isnan(pb.fixed_W), W, pb.fixed_W)
        if pb.simplex == "W":
            rows = np.zeros(W.shape[0], dtype=bool)
            rows[pb.w_rows if pb.w_rows is not None else slice(None)] = True
            free = np.ones(W.shape, dtype=bool) if pb.fixed_W is None else np.isnan(pb.fixed_W)
            pinned = np.where(rows[:, None] & ~free, W, 0.0).sum(axis=0)
            s = np.where(rows[:, None] & free, W, 0.0).sum(axis=0)
            target = np.maximum(1.0 - pinned, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(s > 0, target / s, 1.0)
            W = np.where(rows[:, None] & free, W * scale[None, :], W)
            if H is not None:
                H = H / np.where(scale > 0, scale, 1.0)[None, :]
        return W, H

    def _auto_init(self, data: CountData, G: np.ndarray, pb: Problem, shape, dtype):
        labels, nb = bin_labels(data.n_pixels, shape)
        Yb = bin_counts(data, labels, nb)
        return self._init_from_binned(Yb, labels, data.total, G, pb, dtype)

    def _init_from_binned(self, Yb, labels, total, G, pb: Problem, dtype):
        """The "auto" start from counts summed into super-pixels.

        ``Yb`` (n_bins x channels) holds the counts of the super-pixels, ``labels`` the
        super-pixel of every pixel and ``total`` the counts of the whole data set. Near-pure
        spectra are picked among the super-pixels, fitted onto G, refined by ``N_REFINE``
        iterations on the binned data, and every pixel starts with its super-pixel's
        abundances. Shared with the chunked driver, which bins its chunks itself.
        """
        k = pb.k
        nb = Yb.shape[0]
        npix = np.bincount(labels, minlength=nb).astype(np.float64)
        S = select_spectra(Yb, k)
        mean_counts = total / max(len(labels), 1)
        W = fit_onto_g(S * max(mean_counts, 1e-12), G)
        Ybm = Yb / np.maximum(npix, 1.0)[:, None]
        datab = prepare_counts(Ybm, None, dtype, False, 0.0)
        pbb = Problem(k=k, simplex=pb.simplex, w_rows=pb.w_rows, fixed_W=pb.fixed_W,
                      sparsity=pb.sparsity, sparsity_eps=pb.sparsity_eps)
        Hb = np.full((nb, k), 1.0 / k)
        W, Hb = self._project_W(W, Hb, pbb)
        Hb = np.ascontiguousarray(Hb, dtype=dtype)
        eng = Engine(datab, G, pbb, dtype, self._n_chunks())
        for _ in range(N_REFINE):
            R, Hs, _ll = eng.sweep(Hb, W)
            W = eng.w_update(W, R, Hs)
        return W, Hb[labels].astype(np.float64)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, W=None, H=None):
        """Fit the model to X (pixels x channels counts).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_pixels, n_channels)
            Non-negative counts (integers or floats).
        y : ignored
        W : array-like of shape (n_G, k), optional
            Initial W (takes precedence over ``init``).
        H : array-like of shape (k, n_pixels), optional
            Initial H (rescaled onto the constraints).

        Returns
        -------
        self
        """
        self.fit_transform(X, W=W, H=H)
        return self

    def fit_transform(self, X, y=None, W=None, H=None):
        """Fit the model and return the abundances ``H.T``, shape (n_pixels, k).

        Parameters are as in :meth:`fit`.
        """
        self._check_params()
        X = self._validate_X(X, reset=True)
        p, n_features = X.shape
        dtype = self._dtype()
        G_full, G, keep, keep_arg = self._fitted_G(n_features)
        k = self.n_components
        shape = self._shape(p)
        old_threads = numba.get_num_threads()
        if self.n_threads is not None:
            numba.set_num_threads(min(int(self.n_threads), numba.config.NUMBA_NUM_THREADS))
        try:
            t0 = time.perf_counter()
            data = self._prepare(X, keep_arg, dtype)
            pb = self._problem(data, G, shape)
            W0, H0 = self._initial_factors(data, G, pb, shape, dtype, W, H)
            self.init_time_ = time.perf_counter() - t0
            W, Hpk = self._iterate(data, G, pb, W0, H0, dtype)
        finally:
            numba.set_num_threads(old_threads)
        self.G_ = G_full
        self.W_ = W
        self.H_ = np.ascontiguousarray(Hpk.T)
        self.components_ = (G_full @ W).T
        self.fit_channels_ = keep
        self.smoothness_ = pb.lam
        self.sparsity_weights_ = pb.sparsity_weights()
        self.count_scale_ = pb.count_scale
        self.sparse_path_ = data.kind == "sparse"
        self.n_components_ = k
        self.refine_n_iter_ = 0
        self.refine_losses_ = []
        refinement = self._refinement()
        if refinement is not None:
            Href = refinement.fit_transform(X, W=self.W_, H=self.H_)
            self._adopt_refinement(refinement)
            return Href
        return Hpk.copy()

    def _refinement(self) -> EsmpyNMF | None:
        """Unfitted estimator of the refinement stage (``refine_iter``), or None."""
        if not self.refine_iter or self.sparsity == 0 or self.sparsity_exclude is None:
            return None
        exempt = np.flatnonzero(np.asarray(self.sparsity_weights_) == 0.0)
        if exempt.size == 0:
            return None
        pins = (np.full(self.W_.shape, np.nan) if self.fixed_W is None
                else np.array(self.fixed_W, dtype=np.float64, copy=True))
        pins[:, exempt] = self.W_[:, exempt]
        return clone(self).set_params(sparsity=0.0, sparsity_exclude=None, fixed_W=pins,
                                      max_iter=int(self.refine_iter), refine_iter=0)

    def _adopt_refinement(self, ref: EsmpyNMF) -> None:
        """Take the refined factors and results of ``ref`` (fitted by :meth:`_refinement`)."""
        self.refine_n_iter_ = int(ref.n_iter_)
        self.refine_losses_ = list(ref.losses_)
        self.n_iter_ = int(self.n_iter_) + int(ref.n_iter_)
        self.fit_time_ = float(self.fit_time_) + float(ref.fit_time_)
        for name in ("W_", "H_", "components_", "stop_reason_", "objective_",
                     "reconstruction_err_", "objective_parts_"):
            setattr(self, name, getattr(ref, name))

    def _initial_factors(self, data, G, pb, shape, dtype, W, H):
        k = pb.k
        n_G = G.shape[1]
        p = data.n_pixels
        if W is not None:
            W = np.array(W, dtype=np.float64)
            if W.shape != (n_G, k):
                raise ValueError(f"initial W has shape {W.shape}, expected (n_G, k) = "
                                 f"{(n_G, k)}")
            if not np.all(np.isfinite(W)) or np.any(W < 0):
                raise ValueError("initial W must be finite and non-negative")
        if H is not None:
            H = np.array(H, dtype=np.float64)
            if H.shape != (k, p):
                raise ValueError(f"initial H has shape {H.shape}, expected (k, n_pixels) = "
                                 f"{(k, p)}")
            if not np.all(np.isfinite(H)) or np.any(H < 0):
                raise ValueError("initial H must be finite and non-negative")
            H = H.T
        if W is None or H is None:
            if self.init == "random":
                Wr, Hr = random_init(data, G, k, check_random_state(self.random_state))
            else:
                Wr, Hr = self._auto_init(data, G, pb, shape, dtype)
            W = Wr if W is None else W
            if H is None:
                H = Hr if W is Wr else np.full((p, k), 1.0 / k)
        H = self._project_H(H, pb)
        W = np.array(W, dtype=np.float64)
        # columns of G that vanish on every fitted channel carry no information: weight 0
        dead = G.sum(axis=0) <= 0
        free_w = np.ones(W.shape, dtype=bool) if pb.fixed_W is None else np.isnan(pb.fixed_W)
        W[dead[:, None] & free_w] = 0.0
        W, H = self._project_W(W, H, pb)
        H = self._project_H(H, pb) if pb.simplex == "H" else H
        pb.sparsity_phases = self._sparsity_phases(H, k)
        return W, np.ascontiguousarray(H, dtype=dtype)

    def _iterate(self, data, G, pb, W, H, dtype):
        eng = Engine(data, G, pb, dtype, self._n_chunks())
        H_ref = [H.copy()]

        def step(W, eval_loss, track):
            R, Hsum, ll = eng.sweep(H, W, update_h=int(self.h_inner), accumulate=True,
                                    eval_loss=eval_loss)
            F = eng.objective_parts(W, H, Hsum, ll)["total"] if eval_loss else None
            h_change = None
            if track:
                h_change = relative_change(H, H_ref[0])
                H_ref[0] = H.copy()
            return eng.w_update(W, R, Hsum, H), F, h_change, H.T

        level = logging.INFO if self.verbose else logging.DEBUG
        t0 = time.perf_counter()
        W = run_schedule(self, W, step, desc="EsmpyNMF")
        it = self.n_iter_
        self.fit_time_ = time.perf_counter() - t0
        parts = eng.objective(W, H)
        self.objective_ = parts["total"]
        self.reconstruction_err_ = parts["kl"]
        self.objective_parts_ = parts
        logger.log(level, "EsmpyNMF stopped (%s) after %d iterations in %.3g s, objective "
                   "%.10g", self.stop_reason_, it, self.fit_time_, self.objective_)
        return W, H

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Abundances of new pixels for the fitted phases ``G W_`` (W fixed).

        Uses the same constraints as the fit (simplex, sparsity) but no spatial smoothness.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_channels)

        Returns
        -------
        ndarray of shape (n_samples, k)
            Rows sum to 1 when ``simplex="H"``.
        """
        check_is_fitted(self, "W_")
        X = self._validate_X(X, reset=False)
        dtype = self._dtype()
        keep = self.fit_channels_
        keep_arg = None if keep.size == X.shape[1] else keep
        G = np.ascontiguousarray(self.G_[keep])
        old_threads = numba.get_num_threads()
        if self.n_threads is not None:
            numba.set_num_threads(min(int(self.n_threads), numba.config.NUMBA_NUM_THREADS))
        try:
            data = self._prepare(X, keep_arg, dtype)
            k = self.n_components_
            pb = Problem(k=k, sparsity=float(self.sparsity),
                         sparsity_eps=float(self.sparsity_eps), simplex=self.simplex,
                         sparsity_phases=self._fitted_sparsity_phases(),
                         count_scale=getattr(self, "count_scale_", None))
            if self.simplex == "H":
                H = np.full((data.n_pixels, k), 1.0 / k, dtype=dtype)
            else:
                colsum = (G @ self.W_).sum(axis=0)
                tot = data.row_totals()
                H = (tot[:, None] / np.maximum(colsum.sum(), 1e-300)
                     * np.ones((1, k))).astype(dtype)
                H = np.maximum(H, np.finfo(dtype).tiny)
            eng = Engine(data, G, pb, dtype, self._n_chunks())
            _, t_par = self._tolerances()
            H_ref = H.copy()
            for it in range(1, max(self.max_iter, 1) + 1):
                eng.sweep(H, self.W_, update_h=True, accumulate=False, eval_loss=False)
                if it % self.eval_every == 0:
                    if relative_change(H, H_ref) / self.eval_every < t_par:
                        break
                    H_ref = H.copy()
        finally:
            numba.set_num_threads(old_threads)
        return H

    def inverse_transform(self, X):
        """Model counts ``X @ components_`` for abundances X of shape (n_samples, k)."""
        check_is_fitted(self, "W_")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.components_.shape[0]:
            raise ValueError(f"X has shape {X.shape}, expected (n_samples, "
                             f"{self.components_.shape[0]}) abundances")
        return X @ self.components_
