"""Benchmark: in-memory EsmpyNMF vs the chunked dask driver (local threads, distributed).

A simulated spectrum image (default 512 x 512 pixels x 2048 channels, uint16 counts, k = 4
phases, G with 22 element-like columns + 3 continuum columns, see ``_nmf_synthetic.py``) is
written once to a chunked HDF5 file (chunks of ``--chunk-rows`` navigation rows with whole
spectra). Each mode then runs in its own subprocess:

- ``memory``: the whole array is read into memory and fitted by ``EsmpyNMF.fit`` (numba
  parallel kernels);
- ``lazy``: ``fit_dask`` on a dask array over the file, local thread pool (no distributed);
- ``distributed``: ``fit_dask`` on a ``LocalCluster`` of 2 worker processes x 1 thread.

Reported per mode: time to read/convert and initialise, time per iteration (iterations only,
objective evaluated every 5), the whole fit, and peak memory: the growth of VmHWM over the
resident size before the fit (for ``distributed``: the client plus both workers, each reset
before the fit). The W of every mode is compared with the in-memory one.

Usage::

    python benchmarks/bench_dask.py                       # 512x512x2048, 20 iterations
    python benchmarks/bench_dask.py --size 128x128x1024 --iters 10   # quick check

The file is written to ``--dir`` (default: a temporary directory, removed afterwards unless
``--keep``); 512 x 512 x 2048 uint16 is 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
K = 4


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> int:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status("VmRSS")


class H5Source:
    """Picklable array-like over an HDF5 dataset (opens the file on every read), so that dask
    tasks can read it in worker processes."""

    def __init__(self, path: str, name: str = "counts"):
        import h5py

        self.path, self.name = str(path), name
        with h5py.File(self.path, "r") as f:
            ds = f[name]
            self.shape, self.dtype = ds.shape, ds.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        import h5py

        with h5py.File(self.path, "r") as f:
            return f[self.name][key]


# ----------------------------------------------------------------------------- data
def write_data(path: Path, ny: int, nx: int, n: int, mean: float, chunk_rows: int, seed=0):
    """Poisson counts of a 4-phase model, written row block by row block (bounded memory)."""
    import h5py
    from scipy.ndimage import gaussian_filter

    sys.path.insert(0, str(HERE))
    from _nmf_synthetic import make_dictionary

    rng = np.random.default_rng(seed)
    G = make_dictionary(n, 22, 3, seed)
    W = np.zeros((G.shape[1], K))
    for a in range(K):
        els = rng.choice(22, size=rng.integers(2, 6), replace=False)
        W[els, a] = rng.uniform(0.2, 1.0, size=els.size)
    W[22:, :] = rng.uniform(0.3, 1.0, size=(3, K))
    logits = np.stack([gaussian_filter(rng.normal(size=(ny, nx)), sigma=max(ny, nx) / 16)
                       for _ in range(K)])
    logits /= logits.std() + 1e-12
    H = np.exp(3.0 * logits)
    H /= H.sum(axis=0, keepdims=True)
    A = G @ W
    scale = mean * n / float(np.einsum("nk,kyx->yx", A, H).mean())
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("counts", shape=(ny, nx, n), dtype=np.uint16,
                              chunks=(chunk_rows, nx, n))
        f.create_dataset("G", data=G)
        for r0 in range(0, ny, chunk_rows):
            r1 = min(ny, r0 + chunk_rows)
            M = np.einsum("kyx,nk->yxn", H[:, r0:r1], A) * scale
            ds[r0:r1] = np.minimum(rng.poisson(M), 65535).astype(np.uint16)


# ----------------------------------------------------------------------------- one mode
def _estimator(G, ny, nx, iters):
    from esmpy_hs.nmf import EsmpyNMF

    return EsmpyNMF(K, G=G, shape_2d=(ny, nx), max_iter=iters, tol=0)


def run_mode(mode: str, path: str, iters: int, out: str) -> dict:
    import dask.array as da
    import h5py

    from esmpy_hs.nmf._dask import fit_dask

    src = H5Source(path)
    ny, nx, n = src.shape
    with h5py.File(path, "r") as f:
        G = f["G"][...]
        crow = f["counts"].chunks[0]
        warm_data = f["counts"][:8, :16]
    # warm-up on a crop (numba compilation, imports) before measuring
    _estimator(G, 8, 16, 3).fit(warm_data.reshape(-1, n))
    fit_dask(_estimator(G, 8, 16, 3), warm_data, client=None)
    res = {"mode": mode, "shape": [ny, nx, n], "iters": iters}
    if mode == "memory":
        base = _reset_peak()
        t0 = time.perf_counter()
        with h5py.File(path, "r") as f:
            X = f["counts"][...].reshape(ny * nx, n)
        res["read_s"] = time.perf_counter() - t0
        est = _estimator(G, ny, nx, iters).fit(X)
        res["total_s"] = time.perf_counter() - t0
        res["setup_s"] = res["read_s"] + est.init_time_
        res["per_iter_s"] = est.fit_time_ / est.n_iter_
        res["peak_bytes"] = _status("VmHWM") - base
    elif mode == "lazy":
        base = _reset_peak()
        t0 = time.perf_counter()
        X = da.from_array(src, chunks=(crow, nx, n))
        est = fit_dask(_estimator(G, ny, nx, iters), X, client=None)
        res["total_s"] = time.perf_counter() - t0
        info = est.dask_info_
        res["setup_s"] = info.convert_time + info.init_time
        res["per_iter_s"] = info.time_per_iteration
        res["peak_bytes"] = _status("VmHWM") - base
        res["n_bands"], res["compact_bytes"] = info.n_bands, info.compact_bytes
    else:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            fit_dask(_estimator(G, 8, 16, 3), warm_data, client=client)  # compile on workers
            wbase = client.run(_reset_peak)
            base = _reset_peak()
            t0 = time.perf_counter()
            X = da.from_array(src, chunks=(crow, nx, n))
            est = fit_dask(_estimator(G, ny, nx, iters), X, client=client)
            res["total_s"] = time.perf_counter() - t0
            wpeak = client.run(_status, "VmHWM")
        info = est.dask_info_
        res["setup_s"] = info.convert_time + info.init_time
        res["per_iter_s"] = info.time_per_iteration
        res["client_peak_bytes"] = _status("VmHWM") - base
        res["worker_peak_bytes"] = [wpeak[w] - wbase[w] for w in wpeak]
        res["peak_bytes"] = res["client_peak_bytes"] + sum(res["worker_peak_bytes"])
        res["n_bands"], res["compact_bytes"] = info.n_bands, info.compact_bytes
    res["n_iter"] = est.n_iter_
    res["objective"] = est.objective_
    np.save(out, est.W_)
    return res


# ----------------------------------------------------------------------------- driver
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="512x512x2048", help="NYxNXxCHANNELS")
    parser.add_argument("--mean", type=float, default=0.1,
                        help="mean counts per pixel-channel (0.1: ~9%% non-zero, sparse path)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=16)
    parser.add_argument("--modes", default="memory,lazy,distributed")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_mode(args.worker, args.path, args.iters, args.out)))
        return 0

    ny, nx, n = (int(v) for v in args.size.lower().split("x"))
    tmp = tempfile.TemporaryDirectory(dir=args.dir)
    d = Path(tmp.name)
    path = d / "counts.h5"
    t0 = time.perf_counter()
    write_data(path, ny, nx, n, args.mean, args.chunk_rows)
    gen = time.perf_counter() - t0
    print(f"data: {ny}x{nx}x{n} uint16 ({ny * nx * n * 2 / 2**30:.2f} GiB on disk, chunks of "
          f"{args.chunk_rows} rows), k={K}, mean {args.mean} counts/pixel-channel, written in "
          f"{gen:.1f} s; load average {os.getloadavg()[0]:.2f}")
    results = []
    for mode in args.modes.split(","):
        out = d / f"W_{mode}.npy"
        cmd = [sys.executable, __file__, "--worker", mode, "--path", str(path), "--iters",
               str(args.iters), "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{mode}: failed\n{proc.stderr[-3000:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["W"] = np.load(out)
        results.append(res)
    ref = next((r for r in results if r["mode"] == "memory"), None)
    print(f"{'mode':<12}{'setup s':>9}{'s/iter':>9}{'total s':>9}{'peak MiB':>10}"
          f"{'x memory/iter':>15}{'max dW/W':>11}")
    for r in results:
        ratio = r["per_iter_s"] / ref["per_iter_s"] if ref else float("nan")
        dW = (np.abs(r["W"] - ref["W"]).max() / np.abs(ref["W"]).max()) if ref else float("nan")
        print(f"{r['mode']:<12}{r['setup_s']:>9.2f}{r['per_iter_s']:>9.3f}{r['total_s']:>9.1f}"
              f"{r['peak_bytes'] / 2**20:>10.0f}{ratio:>15.2f}{dW:>11.1e}")
        extra = {k: v for k, v in r.items() if k in ("n_bands", "compact_bytes",
                                                      "worker_peak_bytes", "client_peak_bytes")}
        if extra:
            print(f"{'':<12}{extra}")
    print(f"load average after the runs: {os.getloadavg()[0]:.2f}")
    if args.keep:
        print(f"data kept in {path}")
        tmp._finalizer.detach()
    else:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
