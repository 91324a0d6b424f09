"""Lazy (dask-backed) signals in :func:`esmpy_hs.decompose`: the fit runs band by band.

:func:`esmpy_hs.decompose` (and ``s.decomposition(algorithm="esmpy")``) hands lazy signals to
:func:`decompose_lazy_data`, which runs :func:`esmpy_hs.nmf._dask.fit_dask` on ``s.data``
without loading it: every band of navigation rows is read once, converted to compact counts
(uint16 or CSR) and kept in memory - in this process with dask's local scheduler, or on the
workers when a ``dask.distributed`` client is active - and the iterations exchange only
``n_channels x k`` arrays and border rows of the abundances. The results are those of the
in-memory fit (same initialisation and iterations) up to float32 summation order.

The abundances (loadings, ``k x pixels``) are returned in memory: they are small next to the
data (4 phases x 1024 x 1024 pixels are 16 MB in float32), and HyperSpy's lazy decomposition
also returns in-memory loadings.

Options of the chunked run are set with :func:`lazy_options`::

    with esmpy_hs.lazy_options(memory_limit="2GB"):
        s.decomposition(algorithm="esmpy", output_dimension=3)
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["decompose_lazy_data", "lazy_options", "get_lazy_options"]

_DEFAULTS: dict[str, Any] = {"memory_limit": None, "client": "auto", "chunk_rows": None}
_OPTIONS: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "esmpy_lazy_options", default=_DEFAULTS
)


@contextlib.contextmanager
def lazy_options(
    *, memory_limit: int | str | None = None, client: Any = "auto", chunk_rows: int | None = None
) -> Iterator[dict[str, Any]]:
    """Options of the chunked fit of lazy signals, for the calls inside the ``with`` block.

    Parameters
    ----------
    memory_limit : int or str, optional
        Memory budget of the fit (bytes or e.g. ``"2GB"``); it sets the band size so that the
        bands being converted in parallel fit in it. A warning is given when the converted
        counts alone are larger.
    client : "auto", None or distributed.Client
        ``"auto"`` (default): run on the active ``dask.distributed`` client if there is one,
        else in this process on a thread pool. None: always in this process.
    chunk_rows : int, optional
        Navigation rows per band (default: automatic, about 128 MB of raw data per band,
        aligned with the stored chunks).

    Yields
    ------
    dict
        The options in force.
    """
    from esmpy_hs.nmf._dask import _parse_bytes

    _parse_bytes(memory_limit)  # validate early, with the same message
    if chunk_rows is not None and (
        isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer))
        or chunk_rows < 1
    ):
        raise ValueError(f"chunk_rows={chunk_rows!r} must be a positive integer or None")
    opts = {"memory_limit": memory_limit, "client": client, "chunk_rows": chunk_rows}
    token = _OPTIONS.set(opts)
    try:
        yield dict(opts)
    finally:
        _OPTIONS.reset(token)


def get_lazy_options() -> dict[str, Any]:
    """The lazy-fit options in force (see :func:`lazy_options`)."""
    return dict(_OPTIONS.get())


def decompose_lazy_data(s, algorithm, *, fit: np.ndarray, navigation_mask: np.ndarray | None):
    """Fit the esmpy estimator on a lazy signal's dask data, band by band.

    Parameters
    ----------
    s : hyperspy LazySignal
        One signal axis (last in the array), counts.
    algorithm : EsmpyNMF or a wrapper with ``estimator``, ``W`` and ``H`` attributes
        The unfitted estimator built by :func:`esmpy_hs.decompose` (``G`` restricted to the
        fitted channels), optionally with starting values.
    fit : ndarray of bool, shape (n_channels,)
        Channels fitted (the rows of the full G kept in the estimator's G).
    navigation_mask : ndarray of bool, optional
        Flat mask in array (C) order, True = pixel excluded (its loadings are NaN).

    Returns
    -------
    learning_results : hyperspy.learn.LearningResults
        Filled as HyperSpy's own decomposition fills it (loadings with NaN rows for masked
        pixels, signal and navigation masks, shapes); the caller sets the factors.
    data_sum : ndarray of shape (n_channels,), float64
        Counts summed over the fitted pixels, over the whole energy axis.
    """
    from hyperspy.learn import LearningResults

    from esmpy_hs.nmf._dask import fit_dask

    estimator = getattr(algorithm, "estimator", algorithm)
    W0 = getattr(algorithm, "W", None) if algorithm is not estimator else None
    H0 = getattr(algorithm, "H", None) if algorithm is not estimator else None
    data = s.data
    n_channels = int(data.shape[-1])
    fit = np.asarray(fit, dtype=bool)
    if fit.shape != (n_channels,):
        raise ValueError(f"fit mask has shape {fit.shape}, expected ({n_channels},)")
    # give the estimator the full axis: G rows of excluded channels are zero, so the driver
    # reads whole spectra and converts only the fitted channels
    G_fit = np.asarray(estimator.G, dtype=np.float64)
    G_full = np.zeros((n_channels, G_fit.shape[1]))
    G_full[fit] = G_fit
    opts = get_lazy_options()
    estimator.set_params(G=G_full)
    try:
        fit_dask(estimator, data, W=W0, H=H0, navigation_mask=navigation_mask,
                 client=opts["client"], memory_limit=opts["memory_limit"],
                 chunk_rows=opts["chunk_rows"])
    finally:
        estimator.set_params(G=G_fit)
    # the estimator's fitted attributes as after a fit on the fitted channels only
    estimator.G_ = G_fit
    estimator.components_ = (G_fit @ estimator.W_).T
    estimator.fit_channels_ = np.arange(G_fit.shape[0])[G_fit.sum(axis=1) > 0]
    estimator.n_features_in_ = G_fit.shape[0]

    n_pixels = int(np.prod(data.shape[:-1], dtype=np.int64))
    H = np.asarray(estimator.H_)
    k = H.shape[0]
    if navigation_mask is not None and np.any(navigation_mask):
        loadings = np.full((n_pixels, k), np.nan, dtype=H.dtype)
        loadings[~np.asarray(navigation_mask, dtype=bool)] = H.T
    else:
        loadings = np.ascontiguousarray(H.T)
    lr = LearningResults()
    lr.loadings = loadings
    lr.decomposition_algorithm = type(estimator).__name__
    lr.poissonian_noise_normalized = False
    lr.output_dimension = k
    lr.unfolded = True
    lr.original_shape = tuple(int(v) for v in data.shape)
    lr.signal_mask = ~fit
    if navigation_mask is not None and np.any(navigation_mask):
        lr.navigation_mask = np.asarray(navigation_mask, dtype=bool).copy()
    data_sum = np.asarray(estimator.dask_info_.channel_sums, dtype=np.float64)
    return lr, data_sum
