"""Lazy signals through esmpy_hs.decompose: chunked fit equals the in-memory one, files on
disk, a distributed client, and a memory ceiling below the size of the data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("exspy")
da = pytest.importorskip("dask.array")

import hyperspy.api as hs  # noqa: E402

from esmpy_hs.datasets import Phase, particle_maps, simulate_spectrum_image  # noqa: E402
from esmpy_hs.decomposition import decompose  # noqa: E402
from esmpy_hs.lazy_decompose import get_lazy_options, lazy_options  # noqa: E402

NY, NX, NCH = 30, 24, 800
FIT = dict(max_iter=40, tol=0, random_state=0, show_progressbar=False)


def _phases():
    return [
        Phase("silica", {"Si": 1 / 3, "O": 2 / 3}),
        Phase("iron oxide", {"Fe": 0.5, "O": 0.5}),
        Phase("perovskite", {"Ca": 0.2, "Ti": 0.2, "O": 0.6}),
    ]


def _simulate(ny=NY, nx=NX, dose=60.0, seed=1, n_channels=NCH, dtype=None):
    r = max(1.5, min(ny, nx) / 8)
    maps = particle_maps((ny, nx), 3, n_particles=2, radius=(r, 1.5 * r),
                         min_gap=0.0, seed=seed)
    return simulate_spectrum_image(_phases(), maps, dose=dose, n_channels=n_channels,
                                   seed=seed + 1, dtype=dtype)


@pytest.fixture(scope="module")
def eager():
    s = _simulate()
    decompose(s, 3, **FIT)
    return s


def _assert_same_results(lazy_lr, eager_lr):
    np.testing.assert_allclose(lazy_lr.loadings, eager_lr.loadings, atol=5e-5)
    np.testing.assert_allclose(lazy_lr.esmpy_W, eager_lr.esmpy_W, rtol=1e-4,
                               atol=1e-4 * np.abs(eager_lr.esmpy_W).max())
    np.testing.assert_allclose(lazy_lr.factors, eager_lr.factors, rtol=1e-4,
                               atol=1e-4 * np.abs(eager_lr.factors).max())
    lp, ep = lazy_lr.esmpy_params, eager_lr.esmpy_params
    assert lp["n_iter"] == ep["n_iter"]
    assert lp["reconstruction_err"] == pytest.approx(ep["reconstruction_err"], rel=1e-6)


def test_lazy_signal_is_fitted_band_by_band_with_the_eager_result(eager):
    s = _simulate().as_lazy()
    s.data = s.data.rechunk((5, NX, NCH))
    with lazy_options(chunk_rows=4):
        est = decompose(s, 3, return_info=True, **FIT)
    assert s._lazy and isinstance(s.data, da.Array)  # the signal's data was not loaded
    info = est.dask_info_
    assert info.n_bands == 8 and info.executor == "threads"
    lr = s.learning_results
    assert lr.decomposition_algorithm == "esmpy"
    assert isinstance(lr.loadings, np.ndarray) and lr.loadings.shape == (NY * NX, 3)
    np.testing.assert_array_equal(lr.esmpy_fit_mask, eager.learning_results.esmpy_fit_mask)
    _assert_same_results(lr, eager.learning_results)
    # the loadings sum to one per pixel and the model is rebuilt lazily as for other results
    np.testing.assert_allclose(lr.loadings.sum(axis=1), 1.0, atol=1e-5)
    model = s.get_decomposition_model()
    np.testing.assert_allclose(np.asarray(model.data), eager.get_decomposition_model().data,
                               rtol=2e-4, atol=1e-4)


def test_decomposition_method_of_the_lazy_esmpy_class(eager):
    s = _simulate().as_lazy()
    assert type(s).__name__ == "LazyEsmpyEDSTEMSpectrum"
    with lazy_options(chunk_rows=7, memory_limit="64MB"):
        s.decomposition(algorithm="esmpy", output_dimension=3, **FIT)
    assert type(s).__name__ == "LazyEsmpyEDSTEMSpectrum"
    _assert_same_results(s.learning_results, eager.learning_results)


def test_lazy_navigation_mask_gives_nan_loadings():
    s = _simulate(ny=16, nx=12)
    mask = np.zeros((16, 12), dtype=bool)
    mask[2, 1:5] = True
    ref = s.deepcopy()
    decompose(ref, 3, navigation_mask=mask.T, **FIT)
    lazy = s.as_lazy()
    with lazy_options(chunk_rows=3):
        decompose(lazy, 3, navigation_mask=mask.T, **FIT)
    loadings = lazy.learning_results.loadings.reshape(16, 12, 3)
    assert np.isnan(loadings[2, 1:5]).all() and np.isfinite(loadings[~mask]).all()
    np.testing.assert_array_equal(lazy.learning_results.navigation_mask, mask.ravel())
    _assert_same_results(lazy.learning_results, ref.learning_results)


def test_lazy_warm_start_equals_eager(eager):
    W0 = eager.learning_results.esmpy_W
    H0 = eager.learning_results.loadings.T
    ref = _simulate()
    decompose(ref, 3, W_init=W0, H_init=H0, **dict(FIT, max_iter=5))
    lazy = _simulate().as_lazy()
    with lazy_options(chunk_rows=9):
        decompose(lazy, 3, W_init=W0, H_init=H0, **dict(FIT, max_iter=5))
    assert lazy.learning_results.esmpy_params["initial_values_given"] == {"W": True, "H": True}
    _assert_same_results(lazy.learning_results, ref.learning_results)


def test_lazy_line_scan_equals_eager():
    line = _simulate(ny=16, nx=12).inav[3, :]  # 16 pixels along one navigation axis
    assert line.axes_manager.navigation_dimension == 1
    ref = line.deepcopy()
    decompose(ref, 3, **FIT)
    lazy = line.as_lazy()
    with lazy_options(chunk_rows=5):
        est = decompose(lazy, 3, return_info=True, **FIT)
    assert est.dask_info_.band_rows == [5, 5, 5, 1] and est.smoothness_ > 0
    _assert_same_results(lazy.learning_results, ref.learning_results)


def test_lazy_options_are_validated_and_scoped():
    assert get_lazy_options() == {"memory_limit": None, "client": "auto", "chunk_rows": None}
    with lazy_options(memory_limit="1GB", chunk_rows=8) as opts:
        assert opts["chunk_rows"] == 8 and get_lazy_options()["memory_limit"] == "1GB"
    assert get_lazy_options()["chunk_rows"] is None
    with pytest.raises(ValueError, match="memory_limit='big'"):
        with lazy_options(memory_limit="big"):
            pass
    with pytest.raises(ValueError, match="chunk_rows=0"):
        with lazy_options(chunk_rows=0):
            pass


def test_lazily_loaded_file_on_a_two_worker_cluster(eager, tmp_path):
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "si.hspy"
    _simulate().save(path, chunks=(6, NX, NCH))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        s = hs.load(path, lazy=True)
        assert s._lazy and s.data.chunks[0] == (6,) * 5
        est = decompose(s, 3, return_info=True, **FIT)
    assert est.dask_info_.executor == "distributed" and est.dask_info_.n_parallel == 2
    assert est.dask_info_.band_rows == [30]  # small data: the stored chunks make one band
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), lazy_options(memory_limit="1MB"):
        s2 = hs.load(path, lazy=True)
        est = decompose(s2, 3, return_info=True, **FIT)
    rows = est.dask_info_.band_rows  # a small budget: whole stored chunks per band
    assert len(rows) >= 2 and all(r % 6 == 0 for r in rows) and sum(rows) == NY
    _assert_same_results(s2.learning_results, eager.learning_results)
    _assert_same_results(s.learning_results, eager.learning_results)


# --- memory ceiling ------------------------------------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import hyperspy.api as hs
    import numpy as np
    from esmpy_hs.decomposition import decompose
    from esmpy_hs.lazy_decompose import lazy_options

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    path, limit = sys.argv[1], sys.argv[2]
    s = hs.load(path, lazy=True)
    warm = s.inav[:8, :8]  # compiles the kernels and imports everything on a small crop
    with lazy_options(memory_limit=limit):
        decompose(warm, 3, max_iter=6, show_progressbar=False)
        with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to VmRSS
            f.write("5")
        base = status("VmRSS")
        est = decompose(s, 3, max_iter=6, random_state=0, show_progressbar=False,
                        return_info=True)
    peak = status("VmHWM")
    print(json.dumps({"base": base, "peak": peak, "data_bytes": int(s.data.nbytes),
                      "n_bands": est.dask_info_.n_bands,
                      "compact": est.dask_info_.compact_bytes,
                      "finite": bool(np.isfinite(s.learning_results.loadings).all())}))
    """
)


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM" in Path("/proc/self/status").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_file_larger_than_the_memory_limit_is_fitted_within_it(tmp_path):
    """256 MiB of float64 counts on disk; the fit (memory_limit="32MB") may grow the process
    by at most 96 MiB: the converted counts (~5 MiB CSR), the bands being read (2 x 4 MiB),
    and the initialisation on <= 1024 super-pixels (~40 MiB at 1024 channels)."""
    if not sys.platform.startswith("linux") or not _can_reset_peak():
        pytest.skip("needs Linux /proc/self/clear_refs and VmHWM to measure the peak memory")
    s = _simulate(ny=256, nx=128, dose=40.0, seed=5, n_channels=1024, dtype=np.float64)
    path = tmp_path / "big.hspy"
    s.save(path, chunks=(8, 128, 1024))
    del s
    ceiling = 96 * 2**20
    # glibc keeps freed large blocks in its heaps (the RSS then measures its caching policy,
    # not the live data): a fixed mmap threshold returns them, so VmHWM tracks live memory
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(2**20))
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(path), "32MB"],
                         capture_output=True, text=True, timeout=600, check=False, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["data_bytes"] == 256 * 2**20
    assert res["finite"] and res["n_bands"] >= 32
    growth = res["peak"] - res["base"]
    assert growth < ceiling, (growth / 2**20, res)
