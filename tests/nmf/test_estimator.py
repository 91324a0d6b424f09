"""EsmpyNMF: monotonicity, constraints, pinned entries, recovery, path agreement."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from esmpy_hs.nmf import EsmpyNMF, auto_smoothness, chunk_step, w_step_from_partials
from esmpy_hs.nmf import _reference as ref
from esmpy_hs.nmf._laplacian import grid_degree, majoriser_targets
from esmpy_hs.nmf._solver import Problem

from ._synth import make_problem, spectral_angles

SHAPE = (12, 10)


@pytest.fixture(scope="module")
def poisson_small():
    return make_problem(ny=SHAPE[0], nx=SHAPE[1], n_channels=80, counts_per_pixel=60.0,
                        poisson=True, seed=1)


def _start(G, k, p, seed=5):
    rng = np.random.default_rng(seed)
    W0 = rng.uniform(0.2, 1.0, size=(G.shape[1], k)) * 20
    H0 = rng.dirichlet(np.ones(k), size=p).T
    return W0, H0


OPTION_SETS = [
    dict(smoothness=0.0),
    dict(smoothness=4.0),
    dict(smoothness=4.0, sparsity=0.5),
    dict(smoothness=0.0, sparsity=0.3, simplex="W", simplex_W_rows=[0, 1, 2, 3, 4, 5]),
    dict(smoothness=2.0, simplex=None),
    dict(smoothness=2.0, fixed="W"),
    dict(smoothness=2.0, fixed="H"),
    dict(smoothness=3.0, sparsity=0.2, h_inner=3),
    dict(smoothness=4.0, sparsity=0.5, sparsity_exclude="matrix"),
    dict(smoothness=0.0, sparsity=0.4, sparsity_exclude=[0, 2]),
    dict(smoothness=4.0, sparsity=0.5, regularize_counts=True),
    dict(smoothness=3.0, sparsity=0.3, sparsity_exclude="matrix", regularize_counts=True,
         h_inner=2),
    dict(smoothness=0.0, sparsity=0.3, regularize_counts=True, simplex=None),
]


def _problem_of(est):
    """The Problem the fitted estimator solved, built from its parameters."""
    shape = est.shape_2d
    return Problem(
        k=est.n_components, lam=float(est.smoothness_), shape_2d=shape,
        degree=grid_degree(shape) if shape is not None else None,
        sparsity=est.sparsity, sparsity_eps=est.sparsity_eps, simplex=est.simplex,
        w_rows=None if est.simplex_W_rows is None else np.asarray(est.simplex_W_rows),
        fixed_W=None if est.fixed_W is None else np.asarray(est.fixed_W, dtype=float),
        fixed_H=None if est.fixed_H is None else np.asarray(est.fixed_H, dtype=float).T.copy(),
        sparsity_phases=est._fitted_sparsity_phases(),
        count_scale=est.count_scale_,
    )


def _feasible(W0, H0, pb):
    H = EsmpyNMF._project_H(H0.T, pb)
    W, H = EsmpyNMF._project_W(W0, H, pb)
    return W, EsmpyNMF._project_H(H, pb) if pb.simplex == "H" else H


def _pins(opts, G, k, p, X, W0, H0):
    opts = dict(opts)
    fixed = opts.pop("fixed", None)
    if fixed == "W":
        fw = np.full((G.shape[1], k), np.nan)
        fw[:, 0] = W0[:, 0]  # a whole phase pinned
        fw[2, 1] = 0.0  # an element absent from phase 1
        opts["fixed_W"] = fw
    elif fixed == "H":
        fh = np.full((k, p), np.nan)
        fh[0, :10] = 0.25
        fh[2, 50:60] = 0.0
        opts["fixed_H"] = fh
    return opts


def _opt_id(opts):
    return "-".join(f"{k}={v}" for k, v in opts.items() if k != "simplex_W_rows")


@pytest.mark.parametrize("opts", OPTION_SETS, ids=_opt_id)
def test_objective_non_increasing_and_constraints(poisson_small, opts):
    X, G, _, _ = poisson_small
    k, p = 3, X.shape[0]
    W0, H0 = _start(G, k, p)
    opts = _pins(opts, G, k, p, X, W0, H0)
    est = EsmpyNMF(k, G=G, shape_2d=SHAPE, max_iter=60, tol=0, eval_every=1,
                   dtype=np.float64, **opts)
    HT = est.fit_transform(X, W=W0, H=H0)
    losses = np.array(est.losses_)
    assert est.loss_iterations_ == list(range(1, 61))
    # every recorded objective (after each H step) is below the previous one
    assert np.all(np.diff(losses) <= 1e-10 * np.abs(losses[1:]))
    assert est.objective_ <= losses[-1] + 1e-10 * abs(losses[-1])
    # the reference implementation, evaluated after every half-step, never increases either
    pb = _problem_of(est)
    Wf, Hf = _feasible(W0, H0, pb)
    Wr, Hr, hist = ref.iterate(X, G, Wf, Hf, pb, 15, record=True, n_inner=est.h_inner)
    hist = np.array(hist)
    assert np.all(np.diff(hist) <= 1e-10 * np.abs(hist[1:]))
    assert np.all(est.W_ >= 0) and np.all(HT >= 0)
    if est.simplex == "H":
        np.testing.assert_allclose(HT.sum(axis=1), 1.0, atol=1e-6)
    if est.simplex == "W":
        np.testing.assert_allclose(est.W_[:6].sum(axis=0), 1.0, atol=1e-9)
    if est.fixed_W is not None:
        pinned = ~np.isnan(est.fixed_W)
        np.testing.assert_array_equal(est.W_[pinned], est.fixed_W[pinned])
    if est.fixed_H is not None:
        pinned = ~np.isnan(est.fixed_H)
        np.testing.assert_array_equal(est.H_[pinned], est.fixed_H[pinned])


def test_planted_factors_noiseless():
    X, G, W, H = make_problem()
    est = EsmpyNMF(3, G=G, shape_2d=(16, 16), smoothness=0.0, max_iter=2500, tol=0,
                   dtype=np.float64)
    HT = est.fit_transform(X)
    ang, perm = spectral_angles(est.components_, (G @ W).T)
    assert np.all(ang < 1.0)
    assert np.abs(HT[:, perm] - H.T).max() < 1e-3
    np.testing.assert_allclose(est.W_[:, perm], W, rtol=0.02, atol=0.02 * W.max())


def test_planted_factors_poisson_moderate_dose():
    X, G, W, H = make_problem(ny=32, nx=32, counts_per_pixel=200.0, poisson=True, seed=2)
    est = EsmpyNMF(3, G=G, shape_2d=(32, 32), max_iter=3000)
    HT = est.fit_transform(X)
    assert est.stop_reason_ == "converged"
    ang, perm = spectral_angles(est.components_, (G @ W).T)
    assert np.all(ang < 2.0)
    rmse = np.sqrt(np.mean((HT[:, perm] - H.T) ** 2))
    assert rmse < 0.03
    # smoothing helps at this dose: without it the abundance error is larger
    est0 = EsmpyNMF(3, G=G, shape_2d=(32, 32), smoothness=0.0, max_iter=3000)
    HT0 = est0.fit_transform(X)
    _, perm0 = spectral_angles(est0.components_, (G @ W).T)
    assert np.sqrt(np.mean((HT0[:, perm0] - H.T) ** 2)) > rmse


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_sparse_reference_agree(poisson_small, dtype):
    X, G, _, _ = poisson_small
    k, p = 3, X.shape[0]
    W0, H0 = _start(G, k, p)
    fits = {}
    for sparse in (False, True):
        est = EsmpyNMF(k, G=G, shape_2d=SHAPE, smoothness=3.0, sparsity=0.2, max_iter=25,
                       tol=0, sparse=sparse, dtype=dtype, h_inner=2)
        fits[sparse] = est.fit_transform(X, W=W0, H=H0), est
        assert est.sparse_path_ is sparse
    pb = _problem_of(fits[False][1])
    Wr, Hr, _ = ref.iterate(X, G, W0, H0.T, pb, 25, n_inner=2)
    tol = 1e-9 if dtype == np.float64 else 2e-4
    for HT, est in fits.values():
        np.testing.assert_allclose(HT, Hr, atol=tol)
        np.testing.assert_allclose(est.W_, Wr, rtol=tol, atol=tol * Wr.max())
        assert HT.dtype == dtype


def test_sparsity_exclude_weights_and_paths_agree(poisson_small):
    X, G, _, _ = poisson_small
    k, p = 3, X.shape[0]
    W0, H0 = _start(G, k, p)
    H0 = H0 * np.array([[0.2], [0.3], [1.5]])  # phase 2 dominates the start
    H0 /= H0.sum(axis=0)
    fits = {}
    for sparse in (False, True):
        est = EsmpyNMF(k, G=G, shape_2d=SHAPE, smoothness=2.0, sparsity=0.3,
                       sparsity_exclude="matrix", max_iter=20, tol=0, sparse=sparse,
                       regularize_counts=True, dtype=np.float64)
        fits[sparse] = est.fit_transform(X, W=W0, H=H0), est
    est = fits[False][1]
    np.testing.assert_array_equal(est.sparsity_weights_, [0.3, 0.3, 0.0])
    beta = (G @ est.W_).sum(axis=0) / (X.sum() / p)  # count-weighted (regularize_counts)
    expected = 0.3 * np.log(est.H_[:2].astype(float) * beta[:2, None] + 0.01).sum()
    assert est.objective_parts_["sparsity"] == pytest.approx(expected, rel=1e-9)
    pb = _problem_of(est)
    Wr, Hr, _ = ref.iterate(X, G, W0, H0.T, pb, 20)
    for HT, e in fits.values():
        np.testing.assert_allclose(HT, Hr, atol=1e-9)
        np.testing.assert_allclose(e.W_, Wr, rtol=1e-9, atol=1e-9 * Wr.max())
    # exempting a phase changes the fit (the weights reach the kernels)
    plain = EsmpyNMF(k, G=G, shape_2d=SHAPE, smoothness=2.0, sparsity=0.3, max_iter=20,
                     tol=0, regularize_counts=True, dtype=np.float64).fit_transform(X, W=W0, H=H0)
    assert np.abs(plain - fits[False][0]).max() > 1e-3
    # explicit indices; transform uses the fitted weights
    est1 = EsmpyNMF(k, G=G, sparsity=0.3, sparsity_exclude=1, max_iter=5, tol=0,
                    dtype=np.float64).fit(X, W=W0, H=H0)
    np.testing.assert_array_equal(est1.sparsity_weights_, [0.3, 0.0, 0.3])
    np.testing.assert_allclose(est1.transform(X).sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("bad", ["largest", 3, [0, -1], 1.5, [True]])
def test_sparsity_exclude_invalid(poisson_small, bad):
    X, G, _, _ = poisson_small
    with pytest.raises(ValueError, match="sparsity_exclude"):
        EsmpyNMF(3, G=G, sparsity=0.3, sparsity_exclude=bad, max_iter=2).fit(X)


def test_float32_and_float64_agree(poisson_small):
    X, G, _, _ = poisson_small
    out = {}
    for dt in (np.float32, np.float64):
        est = EsmpyNMF(3, G=G, shape_2d=SHAPE, max_iter=200, tol=0, dtype=dt)
        out[dt] = est.fit_transform(X), est
    (h32, e32), (h64, e64) = out[np.float32], out[np.float64]
    np.testing.assert_allclose(h32, h64, atol=2e-3)
    np.testing.assert_allclose(e32.components_, e64.components_, rtol=2e-3,
                               atol=2e-3 * e64.components_.max())
    assert abs(e32.objective_ - e64.objective_) < 1e-5 * abs(e64.objective_)


def test_same_random_state_same_result(poisson_small):
    X, G, _, _ = poisson_small
    a = EsmpyNMF(3, G=G, init="random", random_state=3, max_iter=40, tol=0).fit(X)
    b = EsmpyNMF(3, G=G, init="random", random_state=3, max_iter=40, tol=0).fit(X)
    c = EsmpyNMF(3, G=G, init="random", random_state=4, max_iter=40, tol=0).fit(X)
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_array_equal(a.H_, b.H_)
    assert not np.allclose(a.W_, c.W_)
    d = EsmpyNMF(3, G=G, max_iter=40, tol=0).fit(X)
    e = EsmpyNMF(3, G=G, max_iter=40, tol=0).fit(X)
    np.testing.assert_array_equal(d.W_, e.W_)


def test_keyboard_interrupt_returns_iterate(poisson_small):
    X, G, _, _ = poisson_small
    seen = {}

    def cb(it, W, H, loss):
        if it == 7:
            seen["W"] = W.copy()
            raise KeyboardInterrupt

    est = EsmpyNMF(3, G=G, max_iter=100, callback=cb)
    with pytest.warns(RuntimeWarning, match="interrupted at iteration 7"):
        est.fit(X)
    assert est.stop_reason_ == "interrupted"
    assert est.n_iter_ == 7
    np.testing.assert_array_equal(est.W_, seen["W"])
    np.testing.assert_allclose(est.H_.sum(axis=0), 1.0, atol=1e-6)


def test_callback_can_stop(poisson_small):
    X, G, _, _ = poisson_small
    est = EsmpyNMF(3, G=G, max_iter=100, callback=lambda it, W, H, loss: it >= 4).fit(X)
    assert est.stop_reason_ == "callback" and est.n_iter_ == 4


def test_zero_g_column_gets_zero_weight(poisson_small):
    X, G, _, _ = poisson_small
    G2 = np.concatenate([G, np.zeros((G.shape[0], 1))], axis=1)  # e.g. lines outside the axis
    est = EsmpyNMF(3, G=G2, max_iter=30).fit(X)
    np.testing.assert_array_equal(est.W_[-1], 0.0)
    assert np.all(np.isfinite(est.W_))


def test_zero_g_rows_and_zero_pixels():
    X, G, W, H = make_problem(ny=8, nx=8, n_channels=60, counts_per_pixel=80.0, poisson=True)
    G = G.copy()
    G[:5] = 0.0  # channels below a low cut: excluded from the fit
    X = X.copy()
    X[:, :5] = 3.0  # counts there are ignored
    X[7] = 0.0  # an empty pixel
    est = EsmpyNMF(3, G=G, shape_2d=(8, 8), max_iter=50)
    HT = est.fit_transform(X)
    assert np.all(np.isfinite(HT)) and np.all(np.isfinite(est.W_))
    np.testing.assert_array_equal(est.fit_channels_, np.arange(5, 60))
    assert np.all(est.components_[:, :5] == 0)
    np.testing.assert_allclose(HT.sum(axis=1), 1.0, atol=1e-6)
    assert est.components_.shape == (3, 60)
    np.testing.assert_allclose(est.inverse_transform(HT), HT @ est.components_)


def test_transform_matches_fit_without_smoothness(poisson_small):
    X, G, _, _ = poisson_small
    est = EsmpyNMF(3, G=G, smoothness=0.0, max_iter=3000, tol=(1e-12, 1e-8))
    HT = est.fit_transform(X)
    Ht2 = est.transform(X)
    np.testing.assert_allclose(Ht2, HT, atol=5e-3)
    np.testing.assert_allclose(Ht2.sum(axis=1), 1.0, atol=1e-6)
    Hs = est.transform(sp.csr_matrix(X[:20]))
    np.testing.assert_allclose(Hs, Ht2[:20], atol=1e-4)


def test_chunk_step_matches_engine(poisson_small):
    """A driver over chunks (as dask would run it) reproduces the estimator's iterates."""
    X, G, _, _ = poisson_small
    k, p = 3, X.shape[0]
    W0, H0 = _start(G, k, p)
    lam = 3.0
    # the chunk API regularises bare abundances (regularize_counts=False)
    est = EsmpyNMF(k, G=G, shape_2d=SHAPE, smoothness=lam, max_iter=5, tol=0,
                   regularize_counts=False, dtype=np.float64).fit(X, W=W0, H=H0)
    W, H = W0.copy(), np.ascontiguousarray(H0.T)
    deg = grid_degree(SHAPE)
    chunks = [slice(0, 37), slice(37, 80), slice(80, p)]
    for _ in range(5):
        mu = majoriser_targets(H, SHAPE, deg)
        parts = []
        for i, sl in enumerate(chunks):
            Yc = sp.csr_matrix(X[sl]) if i == 1 else X[sl]
            Hc = np.ascontiguousarray(H[sl])
            parts.append(chunk_step(Yc, Hc, G @ W, mu=mu[sl], lam=lam * deg[sl]))
            H[sl] = Hc
        W = w_step_from_partials(W, G, sum(r.R for r in parts), sum(r.Hsum for r in parts))
    np.testing.assert_allclose(W, est.W_, rtol=1e-10)
    np.testing.assert_allclose(H, est.H_.T, atol=1e-12)


def test_integer_and_sparse_input(poisson_small):
    X, G, _, _ = poisson_small
    a = EsmpyNMF(3, G=G, max_iter=30, tol=0).fit(X)
    b = EsmpyNMF(3, G=G, max_iter=30, tol=0).fit(X.astype(np.int64))
    c = EsmpyNMF(3, G=G, max_iter=30, tol=0).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_allclose(a.W_, c.W_, rtol=1e-5)


def test_auto_smoothness_rule(poisson_small):
    X, G, _, _ = poisson_small
    est = EsmpyNMF(3, G=G, shape_2d=SHAPE, max_iter=5).fit(X)
    mean_counts = X.sum() / X.shape[0]
    assert est.smoothness_ == pytest.approx(auto_smoothness(mean_counts))
    assert auto_smoothness(400.0) == pytest.approx(2 * auto_smoothness(100.0))
    assert EsmpyNMF(3, G=G, max_iter=5).fit(X).smoothness_ == 0.0  # no grid: no smoothing


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_components=0), "n_components"),
        (dict(smoothness=-1.0), "smoothness"),
        (dict(smoothness=1.0), "shape_2d"),
        (dict(shape_2d=(5, 5)), "shape_2d"),
        (dict(simplex="X"), "simplex"),
        (dict(init="nndsvd"), "init"),
        (dict(dtype=np.int32), "dtype"),
        (dict(tol=-1.0), "tol"),
        (dict(G=np.ones((7, 3))), "G has shape"),
        (dict(fixed_W=np.ones((2, 2))), "fixed_W"),
        (dict(fixed_H=np.full((3, 120), 0.5)), "more than 1"),
    ],
)
def test_invalid_parameters(poisson_small, kwargs, match):
    X, G, _, _ = poisson_small
    params = dict(G=G, max_iter=3)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        EsmpyNMF(**params).fit(X)


def test_negative_input_rejected(poisson_small):
    X, G, _, _ = poisson_small
    X = X.copy()
    X[0, 0] = -1
    with pytest.raises(ValueError, match="Negative values"):
        EsmpyNMF(3, G=G).fit(X)


def test_progressbar_and_verbose(poisson_small, caplog):
    X, G, _, _ = poisson_small
    with caplog.at_level("INFO", logger="esmpy_hs.nmf"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            EsmpyNMF(3, G=G, max_iter=10, verbose=True, show_progressbar=True).fit(X)
    assert any("stopped" in r.getMessage() for r in caplog.records)
    # the schedule logs the objective at the last iteration (max_iter)
    assert any(r.getMessage().startswith("iteration 10: objective") for r in caplog.records)


def test_sparse_auto_follows_density():
    X, G, _, _ = make_problem(ny=8, nx=8, n_channels=60, counts_per_pixel=3.0, poisson=True)
    density = np.count_nonzero(X) / X.size
    assert density < 0.15
    lo = EsmpyNMF(3, G=G, max_iter=3).fit(X)
    assert lo.sparse_path_
    hi = EsmpyNMF(3, G=G, max_iter=3, density_threshold=density / 2).fit(X)
    assert not hi.sparse_path_
    np.testing.assert_allclose(lo.W_, hi.W_, rtol=1e-4)


def test_refine_iter_pins_the_exempt_phase_and_drops_the_sparsity(poisson_small):
    X, G, _, _ = poisson_small
    k, p = 3, X.shape[0]
    W0, H0 = _start(G, k, p)
    H0 = H0 * np.array([[0.2], [0.3], [1.5]])  # phase 2 is the "matrix"
    H0 /= H0.sum(axis=0)
    opts = dict(shape_2d=SHAPE, smoothness=2.0, sparsity=0.3, sparsity_exclude="matrix",
                max_iter=30, tol=0, dtype=np.float64)
    base = EsmpyNMF(k, G=G, **opts).fit(X, W=W0, H=H0)
    est = EsmpyNMF(k, G=G, refine_iter=25, eval_every=1, **opts)
    HT = est.fit_transform(X, W=W0, H=H0)
    assert base.refine_n_iter_ == 0 and est.refine_n_iter_ == 25
    assert est.n_iter_ == 30 + 25
    # the exempt phase keeps the W of the sparse fit; the others move
    np.testing.assert_array_equal(est.W_[:, 2], base.W_[:, 2])
    assert np.abs(est.W_[:, :2] - base.W_[:, :2]).max() > 1e-6 * base.W_.max()
    # the refinement's objective has no sparsity term and never increases
    assert est.objective_parts_["sparsity"] == 0.0
    losses = np.array(est.refine_losses_)
    assert len(losses) == 25
    assert np.all(np.diff(losses) <= 1e-10 * np.abs(losses[1:]))
    np.testing.assert_allclose(HT.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(HT, est.H_.T)
    # without an exempt phase there is nothing to anchor: no refinement
    plain = EsmpyNMF(k, G=G, refine_iter=25, **{**opts, "sparsity_exclude": None})
    plain.fit(X, W=W0, H=H0)
    assert plain.refine_n_iter_ == 0 and plain.n_iter_ == 30


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_refine_iter_invalid(poisson_small, bad):
    X, G, _, _ = poisson_small
    with pytest.raises(ValueError, match="refine_iter"):
        EsmpyNMF(3, G=G, refine_iter=bad, max_iter=2).fit(X)
