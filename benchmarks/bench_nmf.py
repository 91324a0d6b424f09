"""Benchmark: EsmpyNMF (dense and sparse kernels) vs scikit-learn KL-NMF (and espm if present).

Every method runs in its own subprocess on the same synthetic counts (see
``_nmf_synthetic.py``: G with 22 element-like columns + 3 continuum columns, k = 4 phases) and
reports, side by side: time per iteration (median, and mean including EsmpyNMF's objective
evaluations every ``eval_every`` iterations), iterations and time of the fit, the final
KL divergence of its own model, and peak memory: VmHWM of the whole process and the high-water
mark reached during the fit (VmHWM reset just before ``fit`` via /proc/self/clear_refs).

The data are given to every method as the same float32 pixels x channels array (CSR float32
for scikit-learn's sparse run). scikit-learn fits a plain k-component KL-NMF without G (its
cost per iteration is what is compared); espm's SmoothNMF is run when it can be imported.

Usage::

    python benchmarks/bench_nmf.py --quick
    python benchmarks/bench_nmf.py --sizes 256x256x2048 --means 0.1,10 --iters 20
    python benchmarks/bench_nmf.py --sizes 128x128x2048 --means 0.1 --converge

``--converge`` runs each method to its own stopping rule (capped by ``--max-iter``) instead of
a fixed number of iterations.
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
METHODS = ("esmpy_dense", "esmpy_sparse", "sklearn_dense", "sklearn_csr", "espm")
SIZES = ("64x64x1024", "128x128x2048", "256x256x2048")
MEANS = (0.01, 0.1, 1.0, 10.0)


# ----------------------------------------------------------------------------- memory
def _vm(key: str) -> float:
    """A Vm* value of this process from /proc/self/status, in MiB (nan if unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- workers
def _kl_of_factors(X: np.ndarray, left: np.ndarray, right: np.ndarray) -> float:
    """Generalised KL divergence D(X || left @ right) computed in row blocks (float64)."""
    total = 0.0
    for r0 in range(0, X.shape[0], 2048):
        xb = np.asarray(X[r0:r0 + 2048], dtype=np.float64)
        vb = left[r0:r0 + 2048] @ right
        nz = xb > 0
        total += float(vb.sum() - xb.sum())
        total += float(np.sum(xb[nz] * np.log(xb[nz] / np.maximum(vb[nz], 1e-300))))
    return total


def worker(args) -> dict:
    d = np.load(args.data)
    X16, G = d["X"], d["G"]
    ny, nx = (int(v) for v in d["shape"])
    k = args.k
    X = X16.astype(np.float32)
    del X16
    method = args.worker
    res = {"method": method}
    rng = np.random.default_rng(0)
    max_iter = args.max_iter if args.converge else args.iters
    rss_before = _vm("VmRSS")
    reset_ok = _reset_hwm()
    t0 = time.perf_counter()
    if method.startswith("esmpy"):
        from esmpy_hs.nmf import EsmpyNMF

        stamps = []
        est = EsmpyNMF(k, G=G, shape_2d=(ny, nx), sparse=method == "esmpy_sparse",
                       max_iter=max_iter, tol=(1e-8, 1e-5) if args.converge else 0.0,
                       n_threads=args.threads,
                       callback=lambda it, W, H, loss: stamps.append(time.perf_counter()))
        est.fit(X)
        fit_time = time.perf_counter() - t0
        steps = np.diff(stamps)
        res.update(n_iter=est.n_iter_, fit_time=fit_time, init_time=est.init_time_,
                   per_iter=float(np.median(steps)) if steps.size else float("nan"),
                   per_iter_mean=float(np.mean(steps)) if steps.size else float("nan"),
                   kl=float(est.reconstruction_err_), stop=est.stop_reason_,
                   path="sparse" if est.sparse_path_ else "dense")
    elif method.startswith("sklearn"):
        import warnings

        import scipy.sparse as sp
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning

        Xin = sp.csr_matrix(X) if method == "sklearn_csr" else X
        if method == "sklearn_csr":
            del X
            X = None
        mean = float(Xin.sum()) / (Xin.shape[0] * Xin.shape[1])
        W0 = rng.uniform(0.1, 1.0, size=(Xin.shape[0], k)).astype(np.float32)
        H0 = rng.uniform(0.1, 1.0, size=(k, Xin.shape[1])).astype(np.float32)
        W0 *= np.float32(np.sqrt(mean / k))
        H0 *= np.float32(np.sqrt(mean / k))
        nmf = NMF(n_components=k, beta_loss="kullback-leibler", solver="mu", init="custom",
                  max_iter=max_iter, tol=1e-4 if args.converge else 0.0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            Wf = nmf.fit_transform(Xin, W=W0, H=H0)
        fit_time = time.perf_counter() - t0
        res.update(n_iter=int(nmf.n_iter_), fit_time=fit_time, init_time=0.0,
                   per_iter=fit_time / max(int(nmf.n_iter_), 1),
                   per_iter_mean=fit_time / max(int(nmf.n_iter_), 1),
                   stop="converged" if nmf.n_iter_ < max_iter else "max_iter", path="-")
        fit_peak = _vm("VmHWM")
        Xd = Xin.toarray() if sp.issparse(Xin) else Xin
        res["kl"] = _kl_of_factors(Xd, Wf.astype(np.float64), nmf.components_.astype(np.float64))
        res.update(rss_before=rss_before, fit_peak=fit_peak if reset_ok else float("nan"),
                   process_peak=_vm("VmHWM"))
        return res
    elif method == "espm":
        try:
            from espm.estimators import SmoothNMF
        except Exception as exc:  # not installed or incompatible with this environment
            return {"method": method, "skipped": f"espm not importable ({type(exc).__name__})"}
        est = SmoothNMF(n_components=k, G=G, shape_2d=(ny, nx), max_iter=max_iter,
                        tol=1e-4 if args.converge else 0.0, simplex_H=True)
        est.fit(X.astype(np.float64))
        fit_time = time.perf_counter() - t0
        res.update(n_iter=int(getattr(est, "n_iter_", max_iter)), fit_time=fit_time,
                   init_time=0.0, per_iter=fit_time / max(int(getattr(est, "n_iter_", 1)), 1),
                   kl=float("nan"), stop="-", path="-")
    res.update(rss_before=rss_before, fit_peak=_vm("VmHWM") if reset_ok else float("nan"),
               process_peak=_vm("VmHWM"))
    return res


# ----------------------------------------------------------------------------- driver
def make_dataset(size: str, mean: float, k: int, cache: Path) -> Path:
    ny, nx, n = (int(v) for v in size.split("x"))
    path = cache / f"nmf_{ny}x{nx}x{n}_mean{mean:g}_k{k}.npz"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        from _nmf_synthetic import make_data

        X, G, W, H = make_data(ny, nx, n, mean, k=k)
        np.savez(path, X=X, G=G, W=W, H=H, shape=np.array([ny, nx]))
    return path


def run_one(method: str, data: Path, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--data",
           str(data), "--k", str(args.k), "--iters", str(args.iters), "--max-iter",
           str(args.max_iter)]
    if args.converge:
        cmd.append("--converge")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"method": method, "skipped": f"failed (rc={proc.returncode}): "
                + proc.stderr.strip().splitlines()[-1:][0] if proc.stderr.strip() else "?"}
    res = json.loads(lines[-1])
    res["wall"] = wall
    return res


def _fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma list of NYxNXxCHANNELS")
    ap.add_argument("--means", default=",".join(str(m) for m in MEANS),
                    help="comma list of mean counts per pixel-channel")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--iters", type=int, default=20, help="iterations timed per method")
    ap.add_argument("--max-iter", type=int, default=2000, help="cap with --converge")
    ap.add_argument("--converge", action="store_true", help="run to each method's own "
                    "stopping rule (capped by --max-iter)")
    ap.add_argument("--threads", type=int, default=None, help="numba threads for EsmpyNMF")
    ap.add_argument("--quick", action="store_true", help="64x64x1024 at means 0.1 and 10, "
                    "5 iterations")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "esmpy_hs_bench"),
                    help="directory for the generated data")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if args.quick:
        args.sizes, args.means, args.iters = "64x64x1024", "0.1,10", 5
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    results = []
    print(f"# load average {os.getloadavg()[0]:.1f}, cpus {os.cpu_count()}, k={args.k}, "
          f"{'to convergence' if args.converge else f'{args.iters} iterations'}", flush=True)
    header = (f"{'size':>13} {'mean':>5} {'method':>13} {'path':>6} {'iters':>5} "
              f"{'s/iter':>9} {'mean s/it':>9} {'fit s':>8} {'init s':>6} {'KL(Y|model)':>14} "
              f"{'peak fit MiB':>12} {'peak proc MiB':>13} stop")
    print(header, flush=True)
    for size in args.sizes.split(","):
        for mean in (float(m) for m in args.means.split(",")):
            data = make_dataset(size, mean, args.k, cache)
            rows = []
            for method in methods:
                r = run_one(method, data, args)
                r.update(size=size, mean=mean)
                rows.append(r)
                if "skipped" in r:
                    print(f"{size:>13} {mean:>5g} {method:>13}  skipped: {r['skipped']}",
                          flush=True)
                    continue
                print(f"{size:>13} {mean:>5g} {method:>13} {r['path']:>6} {r['n_iter']:>5} "
                      f"{_fmt(r['per_iter'], '9.4f')} {_fmt(r.get('per_iter_mean'), '9.4f')} "
                      f"{_fmt(r['fit_time'], '8.2f')} "
                      f"{_fmt(r['init_time'], '6.2f')} {_fmt(r['kl'], '14.6g')} "
                      f"{_fmt(r['fit_peak'], '12.0f')} {_fmt(r['process_peak'], '13.0f')} "
                      f"{r['stop']}", flush=True)
            ok = {r["method"]: r for r in rows if "skipped" not in r}
            sk = [ok[m]["per_iter"] for m in ("sklearn_dense", "sklearn_csr") if m in ok]
            es = [ok[m]["per_iter"] for m in ("esmpy_dense", "esmpy_sparse") if m in ok]
            if sk and es:
                auto = "esmpy_sparse" if mean <= 0.15 else "esmpy_dense"
                line = (f"{'':>13} {'':>5} speed-up per iteration vs the faster sklearn: "
                        f"best esmpy {min(sk) / min(es):.1f}x")
                if auto in ok:
                    line += f", {auto} {min(sk) / ok[auto]['per_iter']:.1f}x"
                print(line, flush=True)
            results.extend(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
