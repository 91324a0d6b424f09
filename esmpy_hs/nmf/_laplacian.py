"""4-neighbour graph Laplacian on a 2-D pixel grid (pixels in C order).

The smoothness term is ``lambda * 0.5 * tr(H L H^T) = lambda / 2 * sum_edges ||h_i - h_j||^2``.
It is majorised, around the current ``H~``, by a separable quadratic using
``(x - y)^2 <= 2 (x - m)^2 + 2 (y - m)^2`` with ``m = (x~ + y~) / 2``, which gives for pixel
``i`` the term ``lambda * deg_i * (h_i - mu_i)^2`` with
``mu_i = (h~_i + mean_{j ~ i} h~_j) / 2``. All functions work on ``H`` stored pixel-major,
shape ``(n_pixels, k)``.
"""

from __future__ import annotations

import numpy as np


def grid_degree(shape_2d: tuple[int, int]) -> np.ndarray:
    """Number of 4-neighbours of every pixel, flattened in C order (float64)."""
    ny, nx = shape_2d
    deg = np.zeros((ny, nx))
    deg[1:, :] += 1
    deg[:-1, :] += 1
    deg[:, 1:] += 1
    deg[:, :-1] += 1
    return deg.ravel()


def _neighbour_sum(H: np.ndarray, shape_2d: tuple[int, int], out: np.ndarray) -> np.ndarray:
    ny, nx = shape_2d
    k = H.shape[1]
    g = H.reshape(ny, nx, k)
    o = out.reshape(ny, nx, k)
    o[...] = 0.0
    o[1:] += g[:-1]
    o[:-1] += g[1:]
    o[:, 1:] += g[:, :-1]
    o[:, :-1] += g[:, 1:]
    return out


def majoriser_targets(
    H: np.ndarray, shape_2d: tuple[int, int], degree: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Laplacian majoriser targets ``mu = (h + mean of the neighbours' h) / 2``.

    Parameters
    ----------
    H : ndarray, shape (n_pixels, k)
        Current abundances, pixel-major.
    shape_2d : tuple of int
        ``(ny, nx)`` with ``ny * nx == n_pixels``.
    degree : ndarray, shape (n_pixels,)
        Output of :func:`grid_degree`.
    out : ndarray, optional
        Buffer of the same shape as ``H`` (its dtype is used).
    """
    if out is None:
        out = np.empty(H.shape, dtype=H.dtype)
    _neighbour_sum(H, shape_2d, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(degree > 0, 1.0 / np.maximum(degree, 1.0), 0.0).astype(out.dtype)
    out *= inv[:, None]
    out += H
    out *= 0.5
    # isolated pixels (1x1 grid): the target is the pixel itself
    iso = degree == 0
    if iso.any():
        out[iso] = H[iso]
    return out


def laplacian_energy_per_phase(H: np.ndarray, shape_2d: tuple[int, int]) -> np.ndarray:
    """``0.5 * sum over grid edges of (h_ia - h_ja)^2`` for every phase ``a`` (float64, (k,))."""
    ny, nx = shape_2d
    g = H.reshape(ny, nx, -1).astype(np.float64, copy=False)
    e = ((g[1:] - g[:-1]) ** 2).sum(axis=(0, 1)) + ((g[:, 1:] - g[:, :-1]) ** 2).sum(axis=(0, 1))
    return 0.5 * e


def laplacian_energy(H: np.ndarray, shape_2d: tuple[int, int]) -> float:
    """``0.5 * tr(H^T L H) = 0.5 * sum over grid edges of ||h_i - h_j||^2`` (float64)."""
    ny, nx = shape_2d
    g = H.reshape(ny, nx, -1).astype(np.float64, copy=False)
    e = np.sum((g[1:] - g[:-1]) ** 2) + np.sum((g[:, 1:] - g[:, :-1]) ** 2)
    return 0.5 * float(e)
