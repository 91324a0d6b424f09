"""Chunked (out-of-core / distributed) driver of :class:`~esmpy_hs.nmf.EsmpyNMF` on dask arrays.

The counts are split into bands of whole navigation rows (contiguous pixels in C order, whole
spectra). Each band is read from the dask array **once**, converted to the compact storage of
the kernels (uint16 dense, or CSR over the non-zeros below the density threshold) and kept:

- without a ``distributed`` client, in this process (one object per band; the iterations run
  on a thread pool, the numba chunk kernels release the GIL);
- with a ``distributed`` client, on the workers (futures); the bands never move and only
  ``n_channels x k`` arrays (``G W``, the W-numerator partials) and band-border rows of H
  travel each iteration.

The abundances of a band stay next to its counts. One iteration is, for every band ``b``
(the unit of :func:`esmpy_hs.nmf.chunk_step`, run here on the compact storage with the
kernels generated for ``k``, exactly as :class:`EsmpyNMF` runs them)::

    mu_b  = Laplacian majoriser targets of the band, from its H and a one-row halo
            (the neighbouring bands' border rows of the previous iterate)
    H_b  <- H step (in place);  R_b, Hsum_b, loglik_b  (partials at the new H_b)

and then ``W <- w_step(sum_b R_b, sum_b Hsum_b)`` on the client. The halo makes the smoothness
term exact: the iterates are those of :meth:`EsmpyNMF.fit` (same initialisation, same stopping
rules, same objective) up to the float summation order of the partial sums.

This module imports dask (and ``distributed`` only when a client is used), never HyperSpy.
"""

from __future__ import annotations

import logging
import math
import operator
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from esmpy_hs.nmf import _kernels
from esmpy_hs.nmf._codegen import specialised_kernels
from esmpy_hs.nmf._data import CountData, prepare_counts
from esmpy_hs.nmf._init import bin_labels, random_init
from esmpy_hs.nmf._laplacian import laplacian_energy_per_phase, majoriser_targets
from esmpy_hs.nmf._schedule import run_schedule
from esmpy_hs.nmf._solver import Problem, counts_regularised, objective_parts

__all__ = ["fit_dask", "plan_bands", "DaskFitInfo"]

logger = logging.getLogger(__name__)

#: Default size of one band of raw input data (bytes), when no memory budget is given.
DEFAULT_CHUNK_BYTES = 128 * 2**20
#: Smallest band (bytes of raw input) chosen automatically.
MIN_CHUNK_BYTES = 2 * 2**20
#: Working memory of one band during its conversion, in units of its raw size (the band as
#: read, its concatenation from the stored chunks and the conversion temporaries).
CONVERSION_FACTOR = 3.0
#: Pixels of a band checked and converted at a time (bounds the temporaries).
_CHECK_ROWS = 256


# ============================================================================ planning
def _parse_bytes(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        from dask.utils import parse_bytes

        try:
            out = int(parse_bytes(value))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"memory_limit={value!r} is not a size; use e.g. '2GB' or a "
                             "number of bytes") from exc
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = int(value)
    else:
        raise TypeError(f"memory_limit={value!r} must be a number of bytes or a string such "
                        "as '2GB'")
    if out <= 0:
        raise ValueError(f"memory_limit={value!r} must be positive")
    return out


def plan_bands(
    n_rows: int,
    row_bytes: int,
    input_row_chunks: Sequence[int] | None = None,
    *,
    n_parallel: int = 1,
    memory_limit=None,
    chunk_rows: int | None = None,
    bands_per_thread: int = 2,
) -> np.ndarray:
    """Boundaries of the bands of rows processed as one chunk.

    Parameters
    ----------
    n_rows : int
        Number of rows (first navigation axis) of the data.
    row_bytes : int
        Bytes of one row of raw input (all its pixels and channels).
    input_row_chunks : sequence of int, optional
        Row chunk sizes of the input (``dask_array.chunks[0]``); band boundaries follow them
        where possible so that every stored chunk is read by one band only.
    n_parallel : int
        Bands processed at the same time (threads, or worker threads).
    memory_limit : int or str, optional
        Memory budget of the fit (e.g. ``"2GB"``). The raw size of a band is at most
        ``memory_limit / (CONVERSION_FACTOR * n_parallel)`` (and 128 MiB), so that the
        conversions running in parallel fit the budget next to the converted data.
    chunk_rows : int, optional
        Explicit number of rows per band (overrides the automatic choice).
    bands_per_thread : int
        Data sets above 32 MiB get at least this many bands per thread (load balance).

    Returns
    -------
    ndarray of int64
        ``n_bands + 1`` increasing row boundaries from 0 to ``n_rows``.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows={n_rows} must be >= 1")
    if chunk_rows is not None:
        if not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
            raise ValueError(f"chunk_rows={chunk_rows!r} must be a positive integer")
        b = np.arange(0, n_rows, int(chunk_rows), dtype=np.int64)
        return np.append(b, n_rows)
    limit = _parse_bytes(memory_limit)
    target = DEFAULT_CHUNK_BYTES
    if limit is not None:
        target = min(target, max(MIN_CHUNK_BYTES,
                                 int(limit / (CONVERSION_FACTOR * max(n_parallel, 1)))))
    target_rows = max(1, target // max(int(row_bytes), 1))
    total = n_rows * row_bytes
    if total > 16 * MIN_CHUNK_BYTES:
        # enough bands to keep every thread busy (load balance)
        n_min = max(1, int(bands_per_thread)) * max(n_parallel, 1)
        target_rows = min(target_rows, max(1, math.ceil(n_rows / n_min)))
    bounds = [0]
    if input_row_chunks is None or len(input_row_chunks) <= 1:
        input_row_chunks = [n_rows]
    start = 0
    for size in input_row_chunks:
        stop = start + int(size)
        if size > target_rows:  # split a stored chunk into near-equal bands
            if bounds[-1] != start:
                bounds.append(start)
            n = math.ceil(size / target_rows)
            bounds.extend(int(v) for v in np.linspace(start, stop, n + 1)[1:].round())
        elif stop - bounds[-1] > target_rows:  # close the current band before this chunk
            bounds.append(start)
        start = stop
    if bounds[-1] != n_rows:
        bounds.append(n_rows)
    return np.unique(np.asarray(bounds, dtype=np.int64))


# ============================================================================ per-band work
@dataclass
class _BandData:
    """Compact counts of one band and their statistics (lives where it was converted)."""

    Y: CountData | None  # None when the band has invalid counts
    stats: dict

    def __sizeof__(self) -> int:  # dask/distributed memory accounting (spilling)
        return _counts_nbytes(self.Y) + 1024


def _counts_nbytes(Y: CountData | None) -> int:
    if Y is None:
        return 0
    arrays = (Y.Y,) if Y.kind == "dense" else (Y.indptr, Y.indices, Y.data)
    return int(sum(a.nbytes for a in arrays))


def _band_stats(band: _BandData) -> dict:
    return band.stats


def _convert_band(block, rows_keep, keep, dtype, sparse, density_threshold) -> _BandData:
    """Read one band (ndarray of shape (rows, ..., n_channels)) into compact storage.

    Works in blocks of ``_CHECK_ROWS`` pixels, so the temporaries stay small next to the band.
    """
    block = np.asarray(block)
    X = block.reshape(-1, block.shape[-1])
    if rows_keep is not None:
        X = X[rows_keep]
    m = X.shape[0]
    n = X.shape[1] if keep is None else int(keep.size)
    n_bad = n_neg = nnz = 0
    vmin = 0.0
    colsum = np.zeros(X.shape[1])
    for r0 in range(0, m, _CHECK_ROWS):
        xb = X[r0 : r0 + _CHECK_ROWS]
        colsum += xb.sum(axis=0, dtype=np.float64)
        if keep is not None:
            xb = xb[:, keep]
        nnz += int(np.count_nonzero(xb))
        if xb.dtype.kind == "f":
            fin = np.isfinite(xb)
            n_bad += int(xb.size - np.count_nonzero(fin))
            if xb.size:
                vmin = min(vmin, float(np.min(xb, where=fin, initial=0.0)))
        elif xb.size:
            vmin = min(vmin, float(xb.min()))
        if xb.dtype.kind != "u":
            n_neg += int(np.count_nonzero(xb < 0))
    stats = {"n_bad": n_bad, "n_negative": n_neg, "min": vmin, "n_pixels": int(m),
             "channel_sums": colsum}
    if n_bad or n_neg:
        return _BandData(Y=None, stats=stats)
    use_sparse = (nnz / max(m * n, 1) < density_threshold if sparse == "auto"
                  else bool(sparse))
    parts = [prepare_counts(X[r0 : r0 + _CHECK_ROWS], keep, np.dtype(dtype), use_sparse,
                            float(density_threshold)) for r0 in range(0, m, _CHECK_ROWS)]
    del X, block
    vals = [(q.Y if q.kind == "dense" else q.data) for q in parts]
    vdtype = (np.dtype(np.uint16) if all(v.dtype == np.uint16 for v in vals)
              else np.dtype(dtype))
    total = float(sum(q.total for q in parts))
    const = float(sum(q.const for q in parts))
    if not use_sparse:
        Yd = np.empty((m, n), dtype=vdtype)
        r0 = 0
        for v in vals:
            Yd[r0 : r0 + v.shape[0]] = v
            r0 += v.shape[0]
        Y = CountData("dense", Yd, None, None, None, m, n, nnz, total, const)
    else:
        indptr = np.zeros(m + 1, dtype=np.int64)
        indices = np.empty(nnz, dtype=np.uint16 if n <= 65536 else np.int32)
        data = np.empty(nnz, dtype=vdtype)
        r0 = a = 0
        for q in parts:
            b = a + q.nnz
            indptr[r0 + 1 : r0 + q.n_pixels + 1] = q.indptr[1:] + a
            indices[a:b] = q.indices
            data[a:b] = q.data
            r0, a = r0 + q.n_pixels, b
        Y = CountData("sparse", None, indptr, indices, data, m, n, nnz, total, const)
    stats.update(kind=Y.kind, nnz=nnz, total=total, const=const, nbytes=_counts_nbytes(Y),
                 n_channels=n)
    return _BandData(Y=Y, stats=stats)


def _bin_band(band: _BandData, labels: np.ndarray):
    """Per-super-pixel sums of the band's counts: (unique labels, sums)."""
    uniq, inv = np.unique(labels, return_inverse=True)
    Y: CountData = band.Y
    m = Y.n_pixels
    M = sp.csr_matrix((np.ones(m), (inv, np.arange(m))), shape=(uniq.size, m))
    if Y.kind == "sparse":
        Ys = sp.csr_matrix((Y.data.astype(np.float64), Y.indices.astype(np.int32), Y.indptr),
                           shape=(m, Y.n_channels))
        return uniq, (M @ Ys).toarray()
    out = np.zeros((uniq.size, Y.n_channels))
    for r0 in range(0, m, _CHECK_ROWS):
        r1 = min(m, r0 + _CHECK_ROWS)
        out += M[:, r0:r1] @ Y.row_block(r0, r1)
    return uniq, out


class _State:
    """One band during the iterations: counts, abundances and the band's constants."""

    __slots__ = ("Y", "H", "H_ref", "fixed_H", "lam_pix", "degree_win", "grid_cols", "top",
                 "bottom")

    def __init__(self, Y, H, fixed_H, lam_pix, degree_win, grid_cols, top, bottom):
        self.Y = Y
        self.H = H
        self.H_ref = H.copy()
        self.fixed_H = fixed_H
        self.lam_pix = lam_pix
        self.degree_win = degree_win
        self.grid_cols = grid_cols
        self.top = top  # has a band above (halo row needed)
        self.bottom = bottom

    def __sizeof__(self) -> int:  # dask/distributed memory accounting (spilling)
        extra = sum(a.nbytes for a in (self.H, self.H_ref, self.fixed_H, self.lam_pix,
                                       self.degree_win) if a is not None)
        return _counts_nbytes(self.Y) + int(extra) + 1024


def _make_state(band: _BandData, H, fixed_H, lam_pix, degree_win, grid_cols, top, bottom):
    fix = (None if fixed_H is None
           else np.ascontiguousarray(np.nan_to_num(np.asarray(fixed_H, dtype=np.float64),
                                                   nan=-1.0)))
    return _State(band.Y, np.ascontiguousarray(H), fix, lam_pix, degree_win, grid_cols, top,
                  bottom)


def _edges(st: _State):
    c = st.grid_cols
    if c is None:
        return None, None
    return st.H[:c].copy(), st.H[-c:].copy()


def _interior_energy(st: _State) -> np.ndarray:
    """Laplacian energy of the band's interior edges, per phase."""
    c = st.grid_cols
    return laplacian_energy_per_phase(st.H, (st.H.shape[0] // c, c))


def _kernels_for(k: int):
    """The fused kernels for ``k`` (generated for this k when possible, as EsmpyNMF uses)."""
    return specialised_kernels(k) or _kernels


def _band_sweep(Y: CountData, H, GW, mu, lam, fixH, opts):
    """One fused pass over a band (the unit of :func:`esmpy_hs.nmf.chunk_step`, on the
    compact storage of :class:`CountData`: uint16 channel indices, and the kernels generated
    for k, as the in-memory estimator runs them)."""
    m, k = H.shape
    dtype = H.dtype
    kern = _kernels_for(k)
    GW = np.asarray(GW, dtype=np.float64)
    colsum = GW.sum(axis=0)
    has_mu = mu is not None
    if has_mu:
        mu = np.ascontiguousarray(mu, dtype=dtype)
        lam = np.ascontiguousarray(lam, dtype=np.float64)
    else:
        mu, lam = np.empty((0, k), dtype=dtype), np.empty(0)
    has_fix = fixH is not None
    if not has_fix:
        fixH = np.empty((0, k))
    Hsum = np.zeros(k)
    args = (colsum, mu, lam, fixH, has_mu, has_fix, opts["sparsity"],
            opts["phase_par"], bool(opts["simplex"]), int(opts["update_h"]),
            bool(opts["accumulate"]), bool(opts["eval_loss"]))
    if Y.kind == "sparse":
        R = np.zeros((Y.n_channels, k))
        ll = kern.sparse_chunk(Y.indptr, Y.indices, Y.data, H,
                               np.ascontiguousarray(GW, dtype=dtype), *args, R, Hsum)
    else:
        Rt = np.zeros((k, Y.n_channels))
        ll = kern.dense_chunk(Y.Y, H, np.ascontiguousarray(GW.T, dtype=dtype), *args, Rt, Hsum)
        R = np.ascontiguousarray(Rt.T)
    return R, Hsum, float(ll)


def _step(st: _State, GW, halo_above, halo_below, opts: dict) -> dict:
    """H step of one band (in place) and its partials."""
    mu = lam = None
    if opts["smooth"] and opts["update_h"]:
        parts = [a for a in (halo_above, st.H, halo_below) if a is not None]
        Hwin = np.concatenate(parts, axis=0) if len(parts) > 1 else st.H
        c = st.grid_cols
        targets = majoriser_targets(Hwin, (Hwin.shape[0] // c, c), st.degree_win)
        off = 0 if halo_above is None else c
        mu = targets[off : off + st.H.shape[0]]
        lam = st.lam_pix
    ev = opts["eval_loss"]
    R, Hsum, ll = _band_sweep(st.Y, st.H, GW, mu, lam, st.fixed_H, opts)
    out = {"R": R, "Hsum": Hsum, "loglik": ll}
    reg = opts["w_reg"]
    if ev or opts["track"] or reg:
        H64 = st.H.astype(np.float64)
        beta = opts["beta"]
        if (ev or reg) and opts["smooth"]:
            out["lap"] = _interior_energy(st)
        if reg:
            out["spa_S"] = (H64 / (H64 * beta[None, :] + opts["sparsity_eps"])).sum(axis=0)
        if ev and np.any(opts["sparsity"] != 0.0):
            out["spa"] = float(np.log(H64 * beta[None, :] + opts["sparsity_eps"]).sum(axis=0)
                               @ opts["sparsity"])
        if opts["track"]:  # change of H since the last check, then a new reference
            out["dH2"] = float(np.sum((H64 - st.H_ref) ** 2))
            out["H2"] = float(np.sum(H64 * H64))
            st.H_ref = st.H.copy()
    if opts["smooth"]:
        out["first"], out["last"] = _edges(st)
    return out


def _step_copy(st: _State, GW, halo_above, halo_below, opts: dict):
    """Functional variant for distributed workers: a new state (new H), the partials."""
    new = _State.__new__(_State)
    for name in _State.__slots__:
        setattr(new, name, getattr(st, name))
    new.H = st.H.copy()
    out = _step(new, GW, halo_above, halo_below, opts)
    return new, out


def _get_H(st: _State) -> np.ndarray:
    return st.H


# ============================================================================ executors
class _LocalExecutor:
    """Bands held in this process; a thread pool runs the band steps (the kernels release
    the GIL)."""

    distributed = False

    def __init__(self, n_threads: int):
        self.n_threads = max(1, int(n_threads))
        self.pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="esmpy-dask")

    def close(self):
        self.pool.shutdown()

    def convert(self, X, bands, rows_keep, args):
        # one band per thread at a time: at most n_threads raw bands are in memory
        def one(band, rk):
            block = X[band[0] : band[1]].compute(scheduler="synchronous")
            return _convert_band(block, rk, *args)

        return self.map(one, bands, rows_keep)

    def map(self, fn, *iterables):
        return list(self.pool.map(fn, *iterables))

    def gather(self, objs):
        return objs

    def step(self, states, GW, above, below, opts):
        outs = self.map(lambda st, a, b: _step(st, GW, a, b, opts), states, above, below)
        return states, outs

    def release(self, objs):
        del objs


class _DistributedExecutor:
    """Bands held on the workers of a ``distributed.Client``; only small arrays travel."""

    distributed = True

    def __init__(self, client):
        self.client = client
        self._where = None  # worker of every band (bands never move once placed)

    def close(self):
        pass

    @property
    def n_threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def convert(self, X, bands, rows_keep, args):
        import dask

        tasks = [dask.delayed(_convert_band, pure=False)(X[r0:r1], rk, *args)
                 for (r0, r1), rk in zip(bands, rows_keep, strict=True)]
        return self.client.compute(tasks)

    def _workers(self, futs):
        who = self.client.who_has(futs)
        return [list(who.get(f.key, ())) or None for f in futs]

    def _submit(self, fn, *args, workers=None):
        extra = {} if workers is None else {"workers": workers, "allow_other_workers": True}
        return self.client.submit(fn, *args, pure=False, **extra)

    def map(self, fn, *iterables):
        items = list(zip(*iterables, strict=True))
        firsts = [it[0] for it in items]
        where = (self._workers(firsts) if firsts and all(hasattr(f, "key") for f in firsts)
                 else [None] * len(items))
        return [self._submit(fn, *it, workers=w) for it, w in zip(items, where, strict=True)]

    def gather(self, objs):
        return self.client.gather(objs)

    def step(self, states, GW, above, below, opts):
        c = self.client
        gw = c.scatter(GW, hash=False, broadcast=True)
        if self._where is None or None in self._where:
            self._where = self._workers(states)
        where = self._where
        pairs = [self._submit(_step_copy, st, gw, a, b, opts, workers=w)
                 for st, a, b, w in zip(states, above, below, where, strict=True)]
        new_states = [self._submit(operator.getitem, p, 0, workers=w)
                      for p, w in zip(pairs, where, strict=True)]
        outs = c.gather([self._submit(operator.getitem, p, 1, workers=w)
                         for p, w in zip(pairs, where, strict=True)])
        del pairs
        return new_states, outs

    def release(self, objs):
        for f in objs:
            if hasattr(f, "release"):
                f.release()


def _active_client(client):
    """Resolve the ``client`` argument: a Client, or None for the local thread pool."""
    if client is None or client is False:
        return None
    if client == "auto":
        if "distributed" not in sys.modules:
            return None
        from distributed import default_client

        try:
            return default_client()
        except ValueError:
            return None
    if hasattr(client, "submit") and hasattr(client, "gather"):
        return client
    raise TypeError(f"client={client!r} must be 'auto', None or a distributed.Client")


# ============================================================================ results
@dataclass
class DaskFitInfo:
    """How a chunked fit ran (stored as ``estimator.dask_info_``).

    Attributes
    ----------
    n_bands : int
        Number of bands (chunks of whole navigation rows).
    band_rows : list of int
        Rows of every band.
    executor : {"threads", "distributed"}
        Where the bands were held and updated.
    n_parallel : int
        Threads (local) or worker threads (distributed).
    compact_bytes : int
        Memory of the converted counts (uint16 dense or CSR), all bands.
    raw_bytes : int
        Size of the input array (as stored, all channels).
    sparse_bands : int
        Bands stored as CSR.
    convert_time, init_time, iter_time : float
        Seconds spent reading and converting the bands, initialising, iterating.
    time_per_iteration : float
        ``iter_time / n_iter``.
    channel_sums : ndarray of shape (n_channels,)
        Counts summed over the fitted pixels, every channel of the input.
    notes : list of str
        Remarks on the run (e.g. channel-axis chunking).
    """

    n_bands: int
    band_rows: list
    executor: str
    n_parallel: int
    compact_bytes: int
    raw_bytes: int
    sparse_bands: int
    convert_time: float
    init_time: float
    iter_time: float
    time_per_iteration: float
    channel_sums: np.ndarray | None = None
    notes: list = field(default_factory=list)


# ============================================================================ driver
def _as_dask(X):
    import dask.array as da

    if isinstance(X, da.Array):
        return X
    if hasattr(X, "shape") and hasattr(X, "dtype"):
        return da.from_array(X, chunks="auto")
    raise TypeError(f"X must be a dask or numpy array of counts, got {type(X).__name__}")


def _rows_view(X, shape_2d, n_pixels):
    """(X with rows on axis 0, grid of the rows (rows, cols) or None, pixels per row)."""
    if X.ndim < 2:
        raise ValueError(f"X has shape {X.shape}; it must be (*navigation, n_channels)")
    if shape_2d is None:
        per_row = int(np.prod(X.shape[1:-1], dtype=np.int64)) if X.ndim > 2 else 1
        return X, None, per_row
    ny, nx = (int(v) for v in shape_2d)
    if ny * nx != n_pixels:
        raise ValueError(f"shape_2d={tuple(shape_2d)} has {ny * nx} pixels but X has "
                         f"{n_pixels}; pass the navigation shape of X")
    if ny == 1 or nx == 1:  # a line: one pixel per row of a (n, 1) grid
        Xf = X.reshape(n_pixels, X.shape[-1]) if X.ndim != 2 else X
        return Xf, (n_pixels, 1), 1
    if X.ndim == 2:
        X = X.reshape(ny, nx, X.shape[-1])
    elif X.shape[:-1] != (ny, nx):
        raise ValueError(f"X has navigation shape {X.shape[:-1]} but shape_2d={tuple(shape_2d)}")
    return X, (ny, nx), nx


def _band_degree(grid, r0: int, r1: int) -> np.ndarray:
    """4-neighbour degrees of the pixels of rows r0:r1 of the grid (float64, C order)."""
    gy, gx = grid
    iy = np.repeat(np.arange(r0, r1), gx)
    ix = np.tile(np.arange(gx), r1 - r0)
    return ((iy > 0).astype(np.float64) + (iy < gy - 1) + (ix > 0) + (ix < gx - 1))


def fit_dask(
    estimator,
    X,
    *,
    W=None,
    H=None,
    navigation_mask=None,
    client="auto",
    memory_limit=None,
    chunk_rows: int | None = None,
):
    """Fit an :class:`~esmpy_hs.nmf.EsmpyNMF` on a (lazy) dask array, band by band.

    Parameters
    ----------
    estimator : EsmpyNMF
        Unfitted estimator whose parameters define the problem (``shape_2d`` is the
        navigation grid for the smoothness). It is fitted in place, with the same attributes
        as after :meth:`EsmpyNMF.fit` plus ``dask_info_`` (:class:`DaskFitInfo`).
        ``callback`` receives ``H=None`` (the abundances are distributed).
    X : dask.array.Array or ndarray of shape (*navigation, n_channels)
        Counts, navigation axes in C order (e.g. ``(ny, nx, n_channels)``). Read once.
    W : array-like of shape (n_G, k), optional
        Initial W.
    H : array-like of shape (k, n_pixels), optional
        Initial H (pixels not excluded by ``navigation_mask``).
    navigation_mask : ndarray of bool, optional
        Flat mask over the pixels (C order), True = excluded (needs ``shape_2d=None``).
    client : "auto", None or distributed.Client
        ``"auto"``: the active ``distributed`` client if there is one, else the local thread
        pool. None: always local.
    memory_limit : int or str, optional
        Memory budget (e.g. ``"2GB"``) that sets the band size (see :func:`plan_bands`);
        a warning is given when the converted counts alone exceed it.
    chunk_rows : int, optional
        Rows (first navigation axis) per band, instead of the automatic choice.

    Returns
    -------
    EsmpyNMF
        The fitted estimator.
    """
    import numba
    from sklearn.utils import check_random_state

    est = estimator
    est._check_params()
    dtype = est._dtype()
    t_obj, t_par = est._tolerances()
    X = _as_dask(X)
    if X.dtype.kind not in "fiu":
        raise TypeError(f"X has dtype {X.dtype}; counts must be integers or floats")
    n_features = int(X.shape[-1])
    n_all = int(np.prod(X.shape[:-1], dtype=np.int64))
    mask = None
    if navigation_mask is not None:
        mask = np.asarray(navigation_mask, dtype=bool).reshape(-1)
        if mask.size != n_all:
            raise ValueError(f"navigation_mask has {mask.size} entries, expected {n_all} "
                             "(one per pixel)")
        if not mask.any():
            mask = None
        elif est.shape_2d is not None:
            raise ValueError("navigation_mask needs shape_2d=None: the fitted pixels are not "
                             "a full grid")
    p = n_all if mask is None else int((~mask).sum())
    if p < 1:
        raise ValueError("every pixel is excluded by navigation_mask")
    G_full, G, keep, keep_arg = est._fitted_G(n_features)
    k = est.n_components
    shape = est._shape(p)

    Xr, grid, per_row = _rows_view(X, shape, n_all)
    n_rows = int(Xr.shape[0])
    cl = _active_client(client)
    ex = _DistributedExecutor(cl) if cl is not None else _LocalExecutor(
        est.n_threads or numba.config.NUMBA_NUM_THREADS)
    notes: list[str] = []
    row_bytes = per_row * n_features * X.dtype.itemsize
    in_chunks = Xr.chunks[0]
    limit = _parse_bytes(memory_limit)
    bounds = plan_bands(n_rows, row_bytes, in_chunks, n_parallel=ex.n_threads,
                        memory_limit=limit, chunk_rows=chunk_rows,
                        bands_per_thread=2 if ex.distributed else 4)
    bands = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    # stored chunks larger than a band are read once per band that overlaps them (locally;
    # a distributed client reads them once); with the channel axis chunked as well, every
    # band also assembles its spectra from several pieces
    span = max(in_chunks)
    band_rows = int(np.diff(bounds).min())
    reads = math.ceil(span / band_rows)
    sig_chunks = Xr.chunks[-1]
    if len(sig_chunks) > 1:
        msg = (f"X is chunked along the channel axis ({len(sig_chunks)} chunks): every band "
               "is assembled from its channel chunks once, before conversion")
        notes.append(msg)
        if reads > 1:
            warnings.warn(
                f"{msg}; the stored chunks span up to {span} rows and the bands have "
                f"{band_rows}, so a stored chunk may be read up to {reads} times. Store whole "
                "spectra per chunk (e.g. save with chunks=(32, nx, n_channels)) for a cheaper "
                "run.", UserWarning, stacklevel=2)
    elif reads > 1:
        notes.append(f"stored chunks of up to {span} rows are read by up to {reads} bands")
    rows_keep = [None] * len(bands)
    if mask is not None:
        rows_keep = [~mask[r0 * per_row : r1 * per_row] for r0, r1 in bands]
    old_threads = numba.get_num_threads()
    if est.n_threads is not None:
        numba.set_num_threads(min(int(est.n_threads), numba.config.NUMBA_NUM_THREADS))
    try:
        _fit(est, ex, Xr, bands, rows_keep, grid, per_row, keep_arg, keep, G, G_full,
             n_features, p, k, shape, dtype, t_obj, t_par, W, H, limit, notes,
             check_random_state)
    finally:
        numba.set_num_threads(old_threads)
        ex.close()
    est.refine_n_iter_ = 0
    est.refine_losses_ = []
    refinement = est._refinement()
    if refinement is not None:  # the refine_iter stage, band by band as well
        fit_dask(refinement, X, W=est.W_, H=est.H_, navigation_mask=navigation_mask,
                 client=client, memory_limit=memory_limit, chunk_rows=chunk_rows)
        est._adopt_refinement(refinement)
    return est


def _fit(est, ex, Xr, bands, rows_keep, grid, per_row, keep_arg, keep, G, G_full, n_features,
         p, k, shape, dtype, t_obj, t_par, W_init, H_init, limit, notes, check_random_state):

    t0 = time.perf_counter()
    chunks = ex.convert(Xr, bands, rows_keep,
                        (keep_arg, dtype, est.sparse, float(est.density_threshold)))
    stats = ex.gather(ex.map(_band_stats, chunks))
    n_bad = sum(s["n_bad"] for s in stats)
    n_neg = sum(s["n_negative"] for s in stats)
    if n_bad:
        raise ValueError(
            f"The data contain {n_bad} NaN or infinite values in the fitted channels. esmpy "
            "needs counts: replace them or exclude those pixels with navigation_mask=...")
    if n_neg:
        raise ValueError(
            f"The data contain {n_neg} negative values (minimum "
            f"{min(s['min'] for s in stats):g}) in the fitted channels. esmpy's Poisson model "
            "needs raw X-ray counts (>= 0): use data without background subtraction.")
    total = float(sum(s["total"] for s in stats))
    const = float(sum(s["const"] for s in stats))
    compact = int(sum(s["nbytes"] for s in stats))
    sizes = [s["n_pixels"] for s in stats]
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    if limit is not None and compact > limit:
        warnings.warn(
            f"the converted counts take {compact / 2**20:.0f} MiB, more than memory_limit="
            f"{limit / 2**20:.0f} MiB; they are kept in memory (on the workers with a "
            "distributed client, which may spill them to disk)", ResourceWarning, stacklevel=3)
    convert_time = time.perf_counter() - t0
    proxy = SimpleNamespace(total=total, n_pixels=p)
    pb = est._problem(proxy, G, shape)

    # ---- initialisation (as EsmpyNMF._initial_factors, with the binning done per band)
    t1 = time.perf_counter()
    W0, H0 = W_init, H_init
    if W0 is None or H0 is None:
        if est.init == "random":
            Wr, Hr = random_init(proxy, G, k, check_random_state(est.random_state))
        else:
            Wr, Hr = _auto_init(est, ex, chunks, offsets, G, pb, shape, dtype, p, total)
        Wc = Wr if W0 is None else W0
        if H0 is None:
            H0 = (Hr if Wc is Wr else np.full((p, k), 1.0 / k)).T
        W0 = Wc
    W, Hpk = est._initial_factors(proxy, G, pb, shape, dtype, W0, H0)
    init_time = time.perf_counter() - t1

    # ---- band states
    smooth = pb.smooth
    fixH = pb.fixed_H
    n_b = len(bands)
    args = []
    for b, (r0, r1) in enumerate(bands):
        q0, q1 = offsets[b], offsets[b + 1]
        lam_pix = deg_win = None
        if smooth:
            w0, w1 = max(r0 - 1, 0), min(r1 + 1, grid[0])
            deg_win = _band_degree(grid, w0, w1)
            lam_pix = pb.lam * _band_degree(grid, r0, r1)
        args.append((np.ascontiguousarray(Hpk[q0:q1]),
                     None if fixH is None else np.ascontiguousarray(fixH[q0:q1]),
                     lam_pix, deg_win, grid[1] if grid is not None else None,
                     b > 0, b < n_b - 1))
    states = ex.map(lambda c, a: _make_state(c, *a), chunks, args) if not ex.distributed \
        else ex.map(_make_state, chunks, *zip(*args, strict=True))
    del Hpk, args
    ex.release(chunks)
    del chunks

    # ---- iterations, under the schedule EsmpyNMF uses (esmpy_hs.nmf._schedule)
    first = [None] * n_b
    last = [None] * n_b
    if smooth:
        edges = ex.gather(ex.map(_edges, states))
        first = [e[0] for e in edges]
        last = [e[1] for e in edges]
    base = {"smooth": smooth, "sparsity": pb.sparsity_weights(),
            "sparsity_eps": float(pb.sparsity_eps), "simplex": pb.simplex == "H",
            "update_h": int(getattr(est, "h_inner", 1)), "accumulate": True,
            "w_reg": counts_regularised(pb)}
    w_reg = base["w_reg"]
    current = {"states": states, "first": first, "last": last}

    def step(W, eval_loss, track):
        states, first, last = current["states"], current["first"], current["last"]
        above = [last[b - 1] if b > 0 else None for b in range(n_b)]
        below = [first[b + 1] if b < n_b - 1 else None for b in range(n_b)]
        GW = G @ W
        colsum = GW.sum(axis=0)
        beta = pb.phase_beta(colsum)
        new_states, outs = ex.step(states, GW, above, below,
                                   dict(base, eval_loss=eval_loss, track=track,
                                        phase_par=pb.phase_params(colsum),
                                        beta=np.ones(k) if beta is None else beta))
        if new_states is not states:
            ex.release(states)
        current["states"] = new_states
        R = np.zeros_like(outs[0]["R"])
        Hsum = np.zeros(k)
        ll = 0.0
        for o in outs:
            R += o["R"]
            Hsum += o["Hsum"]
            ll += o["loglik"]
        if smooth:
            current["first"] = [o["first"] for o in outs]
            current["last"] = [o["last"] for o in outs]
        F = None
        if eval_loss:
            F = _objective(G, W, Hsum, ll, const, pb, outs, current["first"],
                           current["last"])["total"]
        h_change = None
        if track:
            dH = math.sqrt(sum(o["dH2"] for o in outs))
            nH = math.sqrt(sum(o["H2"] for o in outs))
            h_change = (0.0 if dH == 0.0 else math.inf) if nH == 0.0 else dH / nH
        reg = None
        if w_reg:
            E = (_phase_energies(outs, current["first"], current["last"], k) if smooth
                 else np.zeros(k))
            reg = (E, sum(o["spa_S"] for o in outs))
        return _w_update(W, G, R, Hsum, pb, reg), F, h_change, None

    t2 = time.perf_counter()
    W = run_schedule(est, W, step, desc="EsmpyNMF (chunked)")
    it = est.n_iter_
    states = current["states"]
    iter_time = time.perf_counter() - t2
    # ---- objective at the returned factors, and the abundances
    colsum = (G @ W).sum(axis=0)
    beta = pb.phase_beta(colsum)
    final = dict(base, update_h=0, accumulate=False, eval_loss=True, track=False,
                 w_reg=False, phase_par=pb.phase_params(colsum),
                 beta=np.ones(k) if beta is None else beta)
    states, outs = ex.step(states, G @ W, [None] * n_b, [None] * n_b, final)
    Hsum = np.sum([o["Hsum"] for o in outs], axis=0)
    ll = float(sum(o["loglik"] for o in outs))
    fl = [o.get("first") for o in outs]
    la = [o.get("last") for o in outs]
    parts = _objective(G, W, Hsum, ll, const, pb, outs, fl, la)
    Hparts = ex.gather(ex.map(_get_H, states))
    ex.release(states)
    Hpk = np.concatenate(Hparts, axis=0)

    est.fit_time_ = time.perf_counter() - t2
    est.init_time_ = convert_time + init_time
    est.n_iter_ = it
    est.objective_ = parts["total"]
    est.reconstruction_err_ = parts["kl"]
    est.objective_parts_ = parts
    est.G_ = G_full
    est.W_ = W
    est.H_ = np.ascontiguousarray(Hpk.T)
    est.components_ = (G_full @ W).T
    est.fit_channels_ = keep
    est.smoothness_ = pb.lam
    est.sparsity_weights_ = pb.sparsity_weights()
    est.count_scale_ = pb.count_scale
    n_sparse = sum(s["kind"] == "sparse" for s in stats)
    est.sparse_path_ = n_sparse == len(stats)
    est.n_components_ = k
    est.n_features_in_ = n_features
    est.dask_info_ = DaskFitInfo(
        n_bands=n_b, band_rows=[r1 - r0 for r0, r1 in bands],
        executor="distributed" if ex.distributed else "threads", n_parallel=ex.n_threads,
        compact_bytes=compact, raw_bytes=int(np.prod(Xr.shape, dtype=np.int64))
        * Xr.dtype.itemsize, sparse_bands=n_sparse, convert_time=convert_time,
        init_time=init_time, iter_time=iter_time,
        time_per_iteration=iter_time / max(it, 1),
        channel_sums=np.sum([s["channel_sums"] for s in stats], axis=0), notes=notes)
    level = logging.INFO if est.verbose else logging.DEBUG
    logger.log(level, "EsmpyNMF (chunked, %d bands, %s) stopped (%s) after %d iterations in "
               "%.3g s, objective %.10g", n_b, est.dask_info_.executor, est.stop_reason_, it,
               est.fit_time_, est.objective_)
    return est


def _w_update(W, G, R, Hsum, pb: Problem, reg=None) -> np.ndarray:
    from esmpy_hs.nmf._solver import w_update

    return w_update(W, G, G.sum(axis=0), R, Hsum, pb, reg)


def _phase_energies(outs, first, last, k: int) -> np.ndarray:
    """Per-phase Laplacian energy of the whole grid from the band partials and borders."""
    E = np.zeros(k)
    for o in outs:
        E += o["lap"]
    for b in range(len(outs) - 1):
        d = last[b].astype(np.float64) - first[b + 1]
        E += 0.5 * (d * d).sum(axis=0)
    return E


def _objective(G, W, Hsum, ll, const, pb: Problem, outs, first, last) -> dict:
    """Objective terms from the band partials (same terms as ``objective_parts``)."""
    parts = objective_parts(G, W, np.zeros((0, pb.k)), Hsum, ll, const,
                            Problem(k=pb.k, simplex=pb.simplex))
    lap = 0.0
    if pb.smooth:
        beta = pb.phase_beta((G @ W).sum(axis=0))
        wts = np.ones(pb.k) if beta is None else beta * beta
        lap = pb.lam * float(_phase_energies(outs, first, last, pb.k) @ wts)
    spa = 0.0
    if np.any(pb.sparsity_weights() != 0.0):
        spa = sum(o["spa"] for o in outs)
    kl = parts["kl"]
    return {"kl": kl, "laplacian": lap, "sparsity": spa, "total": kl + lap + spa}


def _auto_init(est, ex, chunks, offsets, G, pb: Problem, shape, dtype, p, total):
    """``init="auto"`` of :class:`EsmpyNMF` with the super-pixel sums computed per band."""
    labels, nb = bin_labels(p, shape)
    parts = ex.gather(ex.map(_bin_band, chunks,
                             [labels[offsets[b] : offsets[b + 1]] for b in range(len(chunks))]))
    Yb = None
    for uniq, sums in parts:
        if Yb is None:
            Yb = np.zeros((nb, sums.shape[1]))
        Yb[uniq] += sums
    return est._init_from_binned(Yb, labels, total, G, pb, dtype)

