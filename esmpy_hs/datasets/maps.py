"""Abundance-map builders for simulated spectrum images.

Every builder returns a float64 array of shape ``(k, ny, nx)``: one map per phase, non-negative,
summing to one in every pixel (the simplex constraint of esmpy's H). They only need numpy and
scipy, so they can be used and tested without HyperSpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import erf

__all__ = [
    "particle_maps",
    "layer_maps",
    "gradient_maps",
    "maps_from_array",
    "check_shape",
]


def check_shape(shape: int | Sequence[int]) -> tuple[int, int]:
    """Validate an image shape and return it as ``(ny, nx)``.

    Parameters
    ----------
    shape : int or sequence of two ints
        ``n`` for an ``n × n`` image, or ``(ny, nx)``.

    Returns
    -------
    tuple of int
        ``(ny, nx)``.
    """
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be an int or a pair of ints (ny, nx), got {shape!r}") from None
    if ny < 1 or nx < 1:
        raise ValueError(f"shape must be positive, got {(ny, nx)}")
    return ny, nx


def _check_n_phases(n_phases: int, minimum: int) -> int:
    if not isinstance(n_phases, (int, np.integer)) or n_phases < minimum:
        raise ValueError(f"n_phases must be an integer >= {minimum}, got {n_phases!r}")
    return int(n_phases)


def particle_maps(
    shape: int | Sequence[int],
    n_phases: int = 3,
    *,
    n_particles: int | Sequence[int] = 5,
    radius: float | tuple[float, float] = (4.0, 10.0),
    fill: float = 1.0,
    min_gap: float = 1.0,
    inside: bool = True,
    seed: int | np.random.Generator | None = None,
    max_tries: int = 10000,
) -> np.ndarray:
    """Spherical particles embedded in a matrix, seen in projection.

    Phase 0 is the matrix; phases ``1 … n_phases-1`` are particles. Each particle is a sphere of
    radius ``r`` (pixels) whose projected thickness through the film is the chord
    ``2·sqrt(r² − d²)`` at distance ``d`` from its centre. The particle's abundance in a pixel is
    ``fill · sqrt(1 − (d/r)²)``: ``fill`` is the fraction of the film thickness the particle
    occupies at its centre (1 = the sphere spans the whole film there). The matrix fills the rest.
    Spheres do not overlap in projection (random sequential placement with rejection).

    Parameters
    ----------
    shape : int or (ny, nx)
        Image size in pixels.
    n_phases : int
        Number of phases including the matrix (``>= 2``).
    n_particles : int or sequence of int
        Particles per particle phase (one int for all, or ``n_phases - 1`` values).
    radius : float or (float, float)
        Particle radius in pixels, or a ``(min, max)`` range sampled uniformly.
    fill : float
        Abundance at a particle's centre, in ``(0, 1]``.
    min_gap : float
        Minimum distance in pixels between the rims of two particles.
    inside : bool
        Keep every particle entirely inside the image (the outermost pixels are pure matrix).
    seed : int, numpy Generator or None
        Random seed (same seed, same maps).
    max_tries : int
        Placement attempts per particle before giving up.

    Returns
    -------
    numpy.ndarray
        ``(n_phases, ny, nx)`` maps summing to one per pixel.

    Raises
    ------
    ValueError
        If a parameter is out of range or the particles do not fit in the image.
    """
    ny, nx = check_shape(shape)
    n_phases = _check_n_phases(n_phases, 2)
    if isinstance(n_particles, (int, np.integer)):
        counts = [int(n_particles)] * (n_phases - 1)
    else:
        counts = [int(c) for c in n_particles]
        if len(counts) != n_phases - 1:
            raise ValueError(
                f"n_particles needs one value per particle phase ({n_phases - 1}), got {counts}"
            )
    if any(c < 0 for c in counts):
        raise ValueError(f"n_particles must be >= 0, got {counts}")
    if np.ndim(radius) == 0:
        r_min = r_max = float(radius)
    else:
        r_min, r_max = (float(v) for v in radius)
    if not 0 < r_min <= r_max:
        raise ValueError(f"radius must be positive with min <= max, got {radius!r}")
    if not 0 < fill <= 1:
        raise ValueError(f"fill must be in (0, 1], got {fill!r}")
    if min_gap < 0:
        raise ValueError(f"min_gap must be >= 0, got {min_gap!r}")
    if inside and 2 * r_min > min(ny, nx) - 1:
        raise ValueError(
            f"particles of radius {r_min} px do not fit in a {ny}×{nx} image; "
            "use a smaller radius or a larger shape"
        )
    rng = np.random.default_rng(seed)

    # place the largest particles first (fewer rejections), phase order randomised
    phases = np.repeat(np.arange(1, n_phases), counts)
    radii = rng.uniform(r_min, r_max, size=phases.size)
    order = np.argsort(-radii, kind="stable")
    placed: list[tuple[float, float, float, int]] = []
    for idx in order:
        r = radii[idx]
        for _ in range(max_tries):
            if inside:
                r = min(r, (min(ny, nx) - 1) / 2)
                cy = rng.uniform(r, ny - 1 - r)
                cx = rng.uniform(r, nx - 1 - r)
            else:
                cy = rng.uniform(-0.5, ny - 0.5)
                cx = rng.uniform(-0.5, nx - 0.5)
            if all(np.hypot(cy - py, cx - px) >= r + pr + min_gap for py, px, pr, _ in placed):
                placed.append((cy, cx, r, int(phases[idx])))
                break
        else:
            raise ValueError(
                f"could not place {phases.size} non-overlapping particles (radius {r_min}–{r_max} "
                f"px, gap {min_gap} px) in a {ny}×{nx} image after {max_tries} tries; "
                "use fewer or smaller particles or a larger image"
            )

    maps = np.zeros((n_phases, ny, nx))
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    for cy, cx, r, phase in placed:
        d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / r**2
        maps[phase] += fill * np.sqrt(np.clip(1.0 - d2, 0.0, None))
    # particles never overlap, so the particle sum is <= fill <= 1
    maps[0] = 1.0 - maps[1:].sum(axis=0)
    np.clip(maps, 0.0, None, out=maps)
    return maps / maps.sum(axis=0, keepdims=True)


def layer_maps(
    shape: int | Sequence[int],
    n_phases: int = 3,
    *,
    axis: int = 0,
    boundaries: Sequence[float] | None = None,
    interface_width: float = 0.0,
) -> np.ndarray:
    """Parallel layers (a multilayer seen in cross-section).

    Phase ``j`` occupies the band between boundaries ``j-1`` and ``j`` along ``axis``. Interfaces
    are sharp (``interface_width=0``) or diffuse: an error-function step whose 10–90 % width is
    about ``1.8 · interface_width`` pixels (``interface_width`` is the Gaussian σ).

    Parameters
    ----------
    shape : int or (ny, nx)
        Image size in pixels.
    n_phases : int
        Number of layers (``>= 1``).
    axis : {0, 1}
        0: layers stacked along y (horizontal bands); 1: along x (vertical bands).
    boundaries : sequence of float, optional
        ``n_phases - 1`` increasing interface positions in pixels (pixel centres are at
        ``0 … n-1``). Default: equal thicknesses.
    interface_width : float
        Gaussian σ of the interface roughness in pixels.

    Returns
    -------
    numpy.ndarray
        ``(n_phases, ny, nx)`` maps summing to one per pixel.
    """
    ny, nx = check_shape(shape)
    n_phases = _check_n_phases(n_phases, 1)
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (y) or 1 (x), got {axis!r}")
    if interface_width < 0:
        raise ValueError(f"interface_width must be >= 0, got {interface_width!r}")
    n = (ny, nx)[axis]
    if boundaries is None:
        b = (np.arange(1, n_phases) * n / n_phases) - 0.5
    else:
        b = np.asarray(boundaries, dtype=float)
        if b.shape != (n_phases - 1,) or np.any(np.diff(b) <= 0):
            raise ValueError(
                f"boundaries must be {n_phases - 1} increasing positions in pixels, "
                f"got {boundaries!r}"
            )
    x = np.arange(n, dtype=float)
    # step[j](x): fraction of the pixel beyond boundary j (decreasing in j for fixed x)
    if interface_width > 0:
        step = 0.5 * (1.0 + erf((x[None, :] - b[:, None]) / (np.sqrt(2.0) * interface_width)))
    else:
        step = (x[None, :] > b[:, None]).astype(float)
    upper = np.vstack([np.ones((1, n)), step])
    lower = np.vstack([step, np.zeros((1, n))])
    profile = np.clip(upper - lower, 0.0, None)
    profile /= profile.sum(axis=0, keepdims=True)
    if axis == 0:
        maps = np.broadcast_to(profile[:, :, None], (n_phases, ny, nx))
    else:
        maps = np.broadcast_to(profile[:, None, :], (n_phases, ny, nx))
    return np.ascontiguousarray(maps)


def gradient_maps(
    shape: int | Sequence[int],
    n_phases: int = 2,
    *,
    angle: float = 0.0,
) -> np.ndarray:
    """Linear composition gradient across the image.

    A coordinate ``t`` runs from 0 to 1 along the direction ``angle`` (degrees, counter-clockwise
    from +x, image y pointing down is ignored: 0° = left to right, 90° = top to bottom). The
    ``n_phases`` phases are piecewise-linear "hat" functions over ``n_phases`` equally spaced
    nodes of ``t``: phase 0 is pure at ``t=0``, the last phase at ``t=1``, two neighbours mix
    linearly in between.

    Parameters
    ----------
    shape : int or (ny, nx)
        Image size in pixels.
    n_phases : int
        Number of phases (``>= 2``).
    angle : float
        Direction of the gradient in degrees.

    Returns
    -------
    numpy.ndarray
        ``(n_phases, ny, nx)`` maps summing to one per pixel.
    """
    ny, nx = check_shape(shape)
    n_phases = _check_n_phases(n_phases, 2)
    a = np.deg2rad(angle)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    proj = np.cos(a) * xx + np.sin(a) * yy
    span = proj.max() - proj.min()
    t = (proj - proj.min()) / span if span > 0 else np.zeros_like(proj)
    nodes = np.linspace(0.0, 1.0, n_phases)
    spacing = nodes[1] - nodes[0]
    maps = np.clip(1.0 - np.abs(t[None] - nodes[:, None, None]) / spacing, 0.0, None)
    return maps / maps.sum(axis=0, keepdims=True)


def maps_from_array(
    maps: np.ndarray,
    *,
    normalize: bool = True,
    atol: float = 1e-6,
) -> np.ndarray:
    """Validate user abundance maps and return them as a float64 ``(k, ny, nx)`` array.

    Parameters
    ----------
    maps : array_like
        ``(k, ny, nx)`` (or ``(k, n)`` for a line scan, returned as ``(k, 1, n)``) non-negative,
        finite abundances.
    normalize : bool
        Divide every pixel by its sum over phases. If False, the sums must already be one
        within ``atol``.
    atol : float
        Tolerance on the pixel sums when ``normalize`` is False.

    Returns
    -------
    numpy.ndarray
        ``(k, ny, nx)`` maps summing to one per pixel (a new array).

    Raises
    ------
    ValueError
        For a wrong number of dimensions, negative or non-finite values, pixels whose
        abundances are all zero, or (``normalize=False``) sums different from one.
    """
    arr = np.array(maps, dtype=float, copy=True)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise ValueError(
            f"maps must have shape (k, ny, nx) (or (k, n) for a line), got shape {arr.shape}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"maps must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("maps contain NaN or infinite values; replace them before simulating")
    if np.any(arr < 0):
        raise ValueError(
            f"maps must be non-negative (minimum {arr.min():.3g}); clip or shift them first"
        )
    total = arr.sum(axis=0)
    if np.any(total <= 0):
        n_bad = int(np.count_nonzero(total <= 0))
        raise ValueError(
            f"{n_bad} pixel(s) have zero abundance in every phase; each pixel needs a phase "
            "(e.g. add a 'vacuum'/matrix phase)"
        )
    if normalize:
        arr /= total
    else:
        err = float(np.max(np.abs(total - 1.0)))
        if err > atol:
            raise ValueError(
                f"maps must sum to one in each pixel (max deviation {err:.3g} > atol={atol}); "
                "pass normalize=True to rescale them"
            )
    return arr
