"""The chunked dask driver (esmpy_hs.nmf._dask.fit_dask) against the in-memory estimator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from esmpy_hs.nmf import EsmpyNMF  # noqa: E402
from esmpy_hs.nmf._dask import fit_dask, plan_bands  # noqa: E402

from ._synth import make_problem  # noqa: E402

NY, NX, NCH = 24, 20, 150


@pytest.fixture(scope="module")
def problem():
    X, G, W, H = make_problem(ny=NY, nx=NX, n_channels=NCH, counts_per_pixel=40.0,
                              poisson=True, seed=3)
    return X, G


def _pair(X, G, chunks=(5, 7, NCH), fit_kw=None, **params):
    params = dict(n_components=3, G=G, shape_2d=(NY, NX), max_iter=40, tol=0, eval_every=5,
                  **params)
    eager = EsmpyNMF(**params).fit(X)
    Xd = da.from_array(X.reshape(NY, NX, -1), chunks=chunks)
    lazy = fit_dask(EsmpyNMF(**params), Xd, client=None, **(fit_kw or {"chunk_rows": 3}))
    return eager, lazy


def _assert_same_iterates(eager, lazy, rtol=1e-5):
    assert lazy.n_iter_ == eager.n_iter_
    assert lazy.stop_reason_ == eager.stop_reason_
    np.testing.assert_allclose(lazy.W_, eager.W_, rtol=rtol, atol=rtol * np.abs(eager.W_).max())
    np.testing.assert_allclose(lazy.H_, eager.H_, atol=2e-5)
    assert lazy.loss_iterations_ == eager.loss_iterations_
    np.testing.assert_allclose(lazy.losses_, eager.losses_, rtol=1e-7)
    for key in ("kl", "laplacian", "sparsity", "total"):
        assert lazy.objective_parts_[key] == pytest.approx(eager.objective_parts_[key],
                                                           rel=1e-7, abs=1e-6)
    np.testing.assert_allclose(lazy.components_, eager.components_, rtol=1e-5,
                               atol=1e-5 * np.abs(eager.components_).max())


# --- planning ------------------------------------------------------------------------------


def test_plan_follows_stored_chunks_and_budget():
    row = 2**20  # 1 MiB per row
    # stored chunks of 10 rows, 128 MiB target: whole stored chunks merged, boundaries kept
    b = plan_bands(100, row, [10] * 10, n_parallel=1)
    assert b[0] == 0 and b[-1] == 100
    assert set(b.tolist()) <= set(range(0, 101, 10))
    # a 40 MiB budget with 2 threads: bands of at most 40 / (3 * 2) MiB = 6 rows
    b = plan_bands(100, row, [10] * 10, n_parallel=2, memory_limit="40MiB")
    assert np.diff(b).max() <= 6
    assert np.all(np.diff(b) >= 1)
    # 13 rows per band at most: whole stored chunks of 6 rows, split where a chunk is larger
    b = plan_bands(30, 2**20, [6] * 5, memory_limit=f"{13 * 3 * 2}MiB", n_parallel=2)
    assert b.tolist() == [0, 12, 24, 30]
    b = plan_bands(40, 2**20, [6, 30, 4], memory_limit=f"{13 * 3}MiB")
    assert b.tolist() == [0, 6, 16, 26, 36, 40]
    # explicit rows per band
    np.testing.assert_array_equal(plan_bands(10, row, chunk_rows=4), [0, 4, 8, 10])
    # load balance: a 64 MiB data set is split for 2 threads
    assert len(plan_bands(64, row, None, n_parallel=2)) - 1 >= 4
    with pytest.raises(ValueError, match="memory_limit='lots'"):
        plan_bands(10, row, memory_limit="lots")
    with pytest.raises(ValueError, match="chunk_rows=0"):
        plan_bands(10, row, chunk_rows=0)


# --- same iterates as the in-memory estimator ------------------------------------------------


def test_same_iterates_with_smoothness_and_auto_init(problem):
    X, G = problem
    eager, lazy = _pair(X, G)
    assert lazy.dask_info_.n_bands == 8
    assert lazy.smoothness_ == eager.smoothness_ > 0
    _assert_same_iterates(eager, lazy)


def test_halo_makes_strong_smoothing_exact(problem):
    """With bands of 2 rows, most pixels have a neighbour in another band: a halo-free
    approximation would change the iterates by far more than rounding."""
    X, G = problem
    eager, lazy = _pair(X, G, smoothness=200.0, fit_kw={"chunk_rows": 2})
    assert lazy.dask_info_.n_bands == NY // 2
    assert eager.objective_parts_["laplacian"] > 1.0
    _assert_same_iterates(eager, lazy)


def test_same_iterates_random_init_sparsity_and_fixed_H(problem):
    X, G = problem
    fixed_H = np.full((3, NY * NX), np.nan)
    fixed_H[0, :30] = 0.0
    eager, lazy = _pair(X, G, init="random", random_state=4, sparsity=0.05, fixed_H=fixed_H)
    assert np.all(lazy.H_[0, :30] == 0.0)
    _assert_same_iterates(eager, lazy)


def test_same_iterates_sparsity_exempting_the_matrix(problem):
    X, G = problem
    eager, lazy = _pair(X, G, sparsity=0.1, sparsity_exclude="matrix", regularize_counts=True,
                        refine_iter=15)
    np.testing.assert_array_equal(lazy.sparsity_weights_, eager.sparsity_weights_)
    assert sorted(eager.sparsity_weights_.tolist()) == [0.0, 0.1, 0.1]
    # the refinement stage (no sparsity, matrix W pinned) runs band by band too
    assert lazy.refine_n_iter_ == eager.refine_n_iter_ == 15
    np.testing.assert_allclose(lazy.refine_losses_, eager.refine_losses_, rtol=1e-7)
    _assert_same_iterates(eager, lazy)


@pytest.mark.parametrize("sparse", [True, False])
def test_dense_and_sparse_storage(problem, sparse):
    X, G = problem
    eager, lazy = _pair(X, G, sparse=sparse)
    assert lazy.sparse_path_ is sparse
    assert lazy.dask_info_.sparse_bands == (lazy.dask_info_.n_bands if sparse else 0)
    # uint16 dense storage is 4x smaller than the float64 input; CSR smaller still
    assert lazy.dask_info_.compact_bytes <= lazy.dask_info_.raw_bytes / 4
    _assert_same_iterates(eager, lazy)


@pytest.mark.skipif("h_inner" not in EsmpyNMF().get_params(), reason="no H sub-steps yet")
def test_same_iterates_with_h_substeps(problem):
    X, G = problem
    eager, lazy = _pair(X, G, h_inner=3)
    _assert_same_iterates(eager, lazy)


def test_same_stopping_iteration(problem):
    X, G = problem
    params = dict(n_components=3, G=G, shape_2d=(NY, NX), max_iter=400, tol=(1e-7, 1e-4))
    eager = EsmpyNMF(**params).fit(X)
    lazy = fit_dask(EsmpyNMF(**params), da.from_array(X.reshape(NY, NX, -1), chunks=(6, NX, NCH)),
                    client=None)
    assert eager.stop_reason_ == "converged" and eager.n_iter_ < 400
    _assert_same_iterates(eager, lazy)


def test_initial_values_and_navigation_mask(problem):
    X, G = problem
    mask = np.zeros(NY * NX, dtype=bool)
    mask[45:80] = True
    rng = np.random.default_rng(0)
    W0 = rng.uniform(0.5, 1.0, size=(G.shape[1], 3))
    params = dict(n_components=3, G=G, max_iter=25, tol=0)
    eager = EsmpyNMF(**params).fit(X[~mask], W=W0)
    lazy = fit_dask(EsmpyNMF(**params), da.from_array(X.reshape(NY, NX, -1), chunks=(4, NX, NCH)),
                    W=W0, navigation_mask=mask, client=None, chunk_rows=5)
    assert lazy.H_.shape == (3, int((~mask).sum()))
    _assert_same_iterates(eager, lazy)
    with pytest.raises(ValueError, match="navigation_mask has 10 entries"):
        fit_dask(EsmpyNMF(**params), X, navigation_mask=np.zeros(10, bool), client=None)


def test_line_scan_and_flat_input(problem):
    X, G = problem
    Xl = X[:60]
    params = dict(n_components=3, G=G, shape_2d=(1, 60), max_iter=30, tol=0, smoothness=20.0)
    eager = EsmpyNMF(**params).fit(Xl)
    lazy = fit_dask(EsmpyNMF(**params), da.from_array(Xl, chunks=(16, NCH)), client=None,
                    chunk_rows=7)
    assert lazy.dask_info_.n_bands == 9
    _assert_same_iterates(eager, lazy)


def test_channel_chunked_input_is_assembled_once_with_a_warning(problem):
    X, G = problem
    Xd = da.from_array(X.reshape(NY, NX, -1), chunks=(NY, NX, 50))  # whole images per chunk
    params = dict(n_components=3, G=G, shape_2d=(NY, NX), max_iter=10, tol=0)
    with pytest.warns(UserWarning, match="chunked along the channel axis"):
        lazy = fit_dask(EsmpyNMF(**params), Xd, client=None, chunk_rows=4)
    eager = EsmpyNMF(**params).fit(X)
    _assert_same_iterates(eager, lazy)
    # whole spectra per chunk: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_dask(EsmpyNMF(**params), da.from_array(X.reshape(NY, NX, -1), chunks=(4, NX, NCH)),
                 client=None)


def test_memory_limit_warns_when_converted_counts_do_not_fit(problem):
    X, G = problem
    params = dict(n_components=3, G=G, shape_2d=(NY, NX), max_iter=2, tol=0, sparse=False)
    with pytest.warns(ResourceWarning, match="more than memory_limit"):
        est = fit_dask(EsmpyNMF(**params), X.reshape(NY, NX, -1), client=None,
                       memory_limit=10_000)
    assert est.dask_info_.compact_bytes == NY * NX * NCH * 2  # uint16


def test_callback_sees_W_and_loss_and_can_stop(problem):
    X, G = problem
    seen = []

    def callback(it, W, H, loss):
        seen.append((it, W.shape, H, loss))
        return it == 7

    est = fit_dask(EsmpyNMF(3, G=G, shape_2d=(NY, NX), max_iter=50, eval_every=5,
                            callback=callback), X.reshape(NY, NX, -1), client=None)
    assert est.n_iter_ == 7 and est.stop_reason_ == "callback"
    assert [s[0] for s in seen] == list(range(1, 8))
    assert all(s[1] == (G.shape[1], 3) and s[2] is None for s in seen)
    assert [s[3] is not None for s in seen] == [False] * 4 + [True] + [False] * 2


def test_bad_counts_are_refused(problem):
    X, G = problem
    Xb = X.copy()
    Xb[7, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        fit_dask(EsmpyNMF(3, G=G), Xb, client=None)
    Xb[7, 3] = -2.0
    with pytest.raises(ValueError, match="1 negative values"):
        fit_dask(EsmpyNMF(3, G=G), Xb, client=None)
    with pytest.raises(TypeError, match="client="):
        fit_dask(EsmpyNMF(3, G=G), X, client="cluster")


# --- distributed -----------------------------------------------------------------------------


def _transfer_sizes(client):
    def sizes(dask_worker):
        log = getattr(dask_worker, "transfer_incoming_log", None)
        if log is None:  # older distributed
            log = getattr(dask_worker, "incoming_transfer_log", [])
        return [int(entry.get("total", 0)) for entry in log]

    return [v for vals in client.run(sizes).values() for v in vals]


def test_distributed_two_workers_same_result_and_data_stays_put(problem):
    distributed = pytest.importorskip("distributed")
    X, G = problem
    X = np.tile(X, (4, 1))  # 96 x 20 pixels: bands of 12 rows, 0.9 MB of float64 each
    params = dict(n_components=3, G=G, shape_2d=(4 * NY, NX), max_iter=15, tol=0)
    Xd = da.from_array(X.reshape(4 * NY, NX, -1), chunks=(12, NX, NCH))
    local = fit_dask(EsmpyNMF(**params), Xd, client=None, chunk_rows=12)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dist = fit_dask(EsmpyNMF(**params), Xd, chunk_rows=12)  # client="auto" finds it
        transfers = _transfer_sizes(client)
        # positive control: a band-sized array moved between workers shows in the logs
        a, b = list(client.scheduler_info()["workers"])
        big = client.scatter(np.ones(20_000), workers=[a])
        client.submit(np.sum, big, workers=[b], allow_other_workers=False).result()
        control = _transfer_sizes(client)
    assert dist.dask_info_.executor == "distributed"
    assert dist.dask_info_.n_parallel == 2
    # same partial sums in the same order: identical to the local run
    np.testing.assert_array_equal(dist.W_, local.W_)
    np.testing.assert_array_equal(dist.H_, local.H_)
    eager = EsmpyNMF(**params).fit(X)
    _assert_same_iterates(eager, dist)
    # only W-sized arrays (G W: n_channels x k float64) moved between workers, never a band
    w_sized = NCH * 3 * 8
    band = dist.dask_info_.compact_bytes / dist.dask_info_.n_bands
    assert band > 8 * w_sized
    assert max(transfers, default=0) <= 2 * w_sized
    assert max(control) >= 160_000


@pytest.mark.slow
def test_distributed_worker_processes(problem):
    distributed = pytest.importorskip("distributed")
    X, G = problem
    params = dict(n_components=3, G=G, shape_2d=(NY, NX), max_iter=10, tol=0)
    Xd = da.from_array(X.reshape(NY, NX, -1), chunks=(6, NX, NCH))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dist = fit_dask(EsmpyNMF(**params), Xd, client=client, chunk_rows=6)
    eager = EsmpyNMF(**params).fit(X)
    _assert_same_iterates(eager, dist)
