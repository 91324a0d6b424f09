"""Compact storage of the counts for the kernels (dense uint16/float, or CSR over non-zeros)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

#: Rows converted at a time (bounds the temporary memory of the conversion).
_BLOCK_ROWS = 2048


@dataclass
class CountData:
    """Counts of the pixels x fitted channels, in the layout used by the kernels.

    Attributes
    ----------
    kind : {"dense", "sparse"}
        Storage used by the kernels.
    Y : ndarray or None
        Dense counts ``(n_pixels, n_channels)`` (uint16 when integral and <= 65535, else the
        working dtype).
    indptr, indices, data : ndarray or None
        CSR arrays (rows = pixels) for the sparse path; ``indices`` are uint16 when the number
        of channels allows it.
    n_pixels, n_channels, nnz : int
    total : float
        Sum of all counts.
    const : float
        ``sum_{y>0} y log y - sum y`` so that ``KL = sum v - sum y log v + const``.
    """

    kind: str
    Y: np.ndarray | None
    indptr: np.ndarray | None
    indices: np.ndarray | None
    data: np.ndarray | None
    n_pixels: int
    n_channels: int
    nnz: int
    total: float
    const: float

    @property
    def density(self) -> float:
        """Fraction of non-zero entries."""
        return self.nnz / max(self.n_pixels * self.n_channels, 1)

    def row_block(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` as a dense float64 array (used by the initialisation)."""
        if self.kind == "dense":
            return np.asarray(self.Y[r0:r1], dtype=np.float64)
        out = np.zeros((r1 - r0, self.n_channels))
        a, b = self.indptr[r0], self.indptr[r1]
        rows = np.repeat(np.arange(r1 - r0), np.diff(self.indptr[r0 : r1 + 1]))
        out[rows, self.indices[a:b].astype(np.intp)] = self.data[a:b]
        return out

    def row_totals(self) -> np.ndarray:
        """Total counts of every pixel (float64)."""
        if self.kind == "dense":
            return self.Y.sum(axis=1, dtype=np.float64)
        csum = np.concatenate(([0.0], np.cumsum(self.data, dtype=np.float64)))
        return csum[self.indptr[1:]] - csum[self.indptr[:-1]]

    def to_dense_float64(self) -> np.ndarray:
        """All counts as a dense float64 array (tests and small problems only)."""
        return self.row_block(0, self.n_pixels)


#: ``y log y`` for the small integers, so that integral counts need no log.
_YLOGY_TABLE_SIZE = 4096


@njit(cache=True, nogil=True)
def _dense_stats(X, row_nnz, table):
    """Row non-zero counts and (integral, max, total, sum y log y) of a 2-D array."""
    integral = True
    vmax = 0.0
    total = 0.0
    ylogy = 0.0
    nt = table.shape[0]
    for j in range(X.shape[0]):
        cnt = 0
        for c in range(X.shape[1]):
            x = float(X[j, c])
            if x != 0.0:
                cnt += 1
                total += x
                if x > vmax:
                    vmax = x
                ix = int(x)
                if ix == x and ix < nt:
                    ylogy += table[ix]
                else:
                    if ix != x:
                        integral = False
                    ylogy += x * math.log(x)
        row_nnz[j] = cnt
    return integral, vmax, total, ylogy


@njit(cache=True, nogil=True)
def _csr_fill(X, indptr, indices, data):
    """Fill CSR arrays from a dense block whose rows start at ``indptr[0]``."""
    for j in range(X.shape[0]):
        t = indptr[j]
        for c in range(X.shape[1]):
            x = X[j, c]
            if x != 0:
                indices[t] = c
                data[t] = x
                t += 1


def _ylogy_table() -> np.ndarray:
    y = np.arange(_YLOGY_TABLE_SIZE, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.maximum(y, 1.0)), 0.0)


def _prepare_dense_input(X: np.ndarray, keep, dtype, sparse, density_threshold) -> CountData:
    """Fast path for a dense ndarray input (numba passes over row blocks)."""
    p = X.shape[0]
    n = X.shape[1] if keep is None else len(keep)
    row_nnz = np.zeros(p, dtype=np.int64)
    table = _ylogy_table()
    integral, vmax, total, ylogy = True, 0.0, 0.0, 0.0
    for r0 in range(0, p, _BLOCK_ROWS):
        r1 = min(p, r0 + _BLOCK_ROWS)
        xb = _block(X, r0, r1, keep)
        i_b, m_b, t_b, l_b = _dense_stats(xb, row_nnz[r0:r1], table)
        integral &= bool(i_b)
        vmax = max(vmax, m_b)
        total += t_b
        ylogy += l_b
    return _store(X, keep, p, n, row_nnz, integral, vmax, total, ylogy, dtype, sparse,
                  density_threshold)


def _store(X, keep, p, n, row_nnz, integral, vmax, total, ylogy, dtype, sparse,
           density_threshold) -> CountData:
    """Second pass of both input paths: choose the storage from the statistics and fill it."""
    nnz = int(row_nnz.sum())
    compact_int = integral and vmax <= np.iinfo(np.uint16).max
    vdtype = np.dtype(np.uint16) if compact_int else np.dtype(dtype)
    density = nnz / max(p * n, 1)
    use_sparse = density < density_threshold if sparse == "auto" else bool(sparse)
    const = ylogy - total
    if not use_sparse:
        Y = np.empty((p, n), dtype=vdtype)
        for r0 in range(0, p, _BLOCK_ROWS):
            r1 = min(p, r0 + _BLOCK_ROWS)
            Y[r0:r1] = _block(X, r0, r1, keep)
        return CountData("dense", Y, None, None, None, p, n, nnz, total, const)
    idtype = np.uint16 if n <= np.iinfo(np.uint16).max + 1 else np.int32
    indptr = np.zeros(p + 1, dtype=np.int64)
    np.cumsum(row_nnz, out=indptr[1:])
    indices = np.empty(nnz, dtype=idtype)
    data = np.empty(nnz, dtype=vdtype)
    for r0 in range(0, p, _BLOCK_ROWS):
        r1 = min(p, r0 + _BLOCK_ROWS)
        _csr_fill(_block(X, r0, r1, keep), indptr[r0:r1 + 1], indices, data)
    return CountData("sparse", None, indptr, indices, data, p, n, nnz, total, const)


def _block(X, r0: int, r1: int, keep: np.ndarray | None) -> np.ndarray:
    """Dense rows ``r0:r1`` of X restricted to the ``keep`` channels (no dtype change)."""
    xb = X[r0:r1]
    if sp.issparse(xb):
        xb = xb.toarray()
    xb = np.asarray(xb)
    if keep is not None:
        xb = xb[:, keep]
    return xb


def prepare_counts(
    X,
    keep: np.ndarray | None,
    dtype: np.dtype,
    sparse: bool | str,
    density_threshold: float,
) -> CountData:
    """Convert X (pixels x channels, dense or scipy sparse) to :class:`CountData`.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix
        Non-negative finite counts (validated by the caller).
    keep : ndarray of int or None
        Channels kept for the fit (None = all).
    dtype : numpy dtype
        Working dtype (float32 or float64) for non-integral data.
    sparse : bool or "auto"
        Storage choice; "auto" picks CSR when the density is below ``density_threshold``.
    """
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "fiu":
        return _prepare_dense_input(X, keep, dtype, sparse, density_threshold)
    p = X.shape[0]
    n = X.shape[1] if keep is None else len(keep)
    # pass 1: statistics per block (density, integrality, max, total, constant, row nnz)
    row_nnz = np.zeros(p, dtype=np.int64)
    integral = True
    vmax = 0.0
    total = 0.0
    ylogy = 0.0
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    for r0 in range(0, p, _BLOCK_ROWS):
        r1 = min(p, r0 + _BLOCK_ROWS)
        xb = _block(X, r0, r1, keep)
        nzm = xb != 0
        row_nnz[r0:r1] = nzm.sum(axis=1)
        vals = xb[nzm].astype(np.float64)
        if vals.size:
            if integral and not np.issubdtype(xb.dtype, np.integer):
                integral = bool(np.all(vals == np.rint(vals)))
            vmax = max(vmax, float(vals.max()))
            total += float(vals.sum())
            ylogy += float(np.sum(vals * np.log(vals)))
    return _store(X, keep, p, n, row_nnz, integral, vmax, total, ylogy, dtype, sparse,
                  density_threshold)
