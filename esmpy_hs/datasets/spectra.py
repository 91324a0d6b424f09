"""Numerical core of the simulator: phase weights, dose scaling, Poisson counts, escape peaks.

Pure numpy; no HyperSpy. Shapes: G ``(n_channels, n_G)``, W ``(n_G, k)``, phase spectra
``(n_channels, k)``, maps ``(k, ny, nx)``, counts ``(ny, nx, n_channels)`` (HyperSpy layout).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from esmpy_hs.datasets.phases import CONTINUUM_FLAT_FRACTION, Phase

__all__ = [
    "SI_ESCAPE_ENERGY_KEV",
    "SI_K_EDGE_KEV",
    "phase_weights",
    "dose_scale",
    "expected_counts",
    "poisson_counts",
    "add_escape_peaks",
]

#: Energy carried away by an escaping Si Kα photon (keV).
SI_ESCAPE_ENERGY_KEV = 1.740
#: Si K absorption edge (keV): only photons above it can create escape peaks.
SI_K_EDGE_KEV = 1.839

_BREMS = "bremsstrahlung"


def phase_weights(
    G: np.ndarray, labels: Sequence[str], phase: Phase, *, ignore: Sequence[str] = ()
) -> np.ndarray:
    """Column of W for one phase: atomic fractions on element rows, continuum on the others.

    Parameters
    ----------
    G : numpy.ndarray
        ``(n_channels, n_G)`` model matrix.
    labels : sequence of str
        Column labels of G (element symbols, ``"bremsstrahlung_0"``, ``"bremsstrahlung_1"``).
    phase : Phase
        The phase; with a continuum *ratio*, the bremsstrahlung weights are set so that the
        continuum counts equal ``ratio ×`` the characteristic counts over the whole axis.
    ignore : sequence of str
        Elements of the phase allowed to be absent from G (e.g. dropped by the model because
        they have no line on the axis); they contribute no counts.

    Returns
    -------
    numpy.ndarray
        ``(n_G,)`` non-negative weights.
    """
    labels = list(labels)
    w = np.zeros(len(labels))
    missing = [el for el in phase.composition if el not in labels and el not in ignore]
    if missing:
        raise ValueError(
            f"phase {phase.name!r} has elements {missing} that are not columns of G "
            f"(columns: {labels}); add them to the model's elements"
        )
    for el, frac in phase.composition.items():
        if el in labels:
            w[labels.index(el)] = frac
    brems = [i for i, lab in enumerate(labels) if lab.startswith(_BREMS)]
    if not phase.continuum_is_ratio:
        if len(brems) != 2:
            raise ValueError(
                f"phase {phase.name!r} gives two continuum weights but G has {len(brems)} "
                "bremsstrahlung columns; build the model with bremsstrahlung=True"
            )
        w[brems] = phase.continuum
        return w
    ratio = float(phase.continuum)
    if ratio == 0:
        return w
    if len(brems) != 2:
        raise ValueError(
            f"phase {phase.name!r} has a continuum ratio {ratio} but G has {len(brems)} "
            "bremsstrahlung columns; build the model with bremsstrahlung=True or set continuum=0"
        )
    characteristic = float((G @ w).sum())
    totals = G[:, brems].sum(axis=0)
    if characteristic <= 0 or np.any(totals <= 0):
        raise ValueError(
            f"phase {phase.name!r} has no counts on this energy axis; check the axis and elements"
        )
    shares = np.array([CONTINUUM_FLAT_FRACTION, 1.0 - CONTINUUM_FLAT_FRACTION])
    w[brems] = ratio * characteristic * shares / totals
    return w


def dose_scale(spectra: np.ndarray, maps: np.ndarray, dose: float) -> float:
    """Factor that makes the mean counts per pixel of ``spectra @ maps`` equal to ``dose``.

    Parameters
    ----------
    spectra : numpy.ndarray
        ``(n_channels, k)`` phase spectra.
    maps : numpy.ndarray
        ``(k, ...)`` abundance maps.
    dose : float
        Requested mean counts per pixel (> 0).

    Returns
    -------
    float
        The scale factor.
    """
    if not np.isfinite(dose) or dose <= 0:
        raise ValueError(f"dose (mean counts per pixel) must be > 0, got {dose!r}")
    mean_abundance = np.asarray(maps, dtype=float).reshape(maps.shape[0], -1).mean(axis=1)
    current = float(spectra.sum(axis=0) @ mean_abundance)
    if current <= 0:
        raise ValueError("the simulated spectra have no counts; check elements and energy axis")
    return dose / current


def expected_counts(spectra: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Noiseless counts ``spectra @ maps`` in HyperSpy layout ``(ny, nx, n_channels)``."""
    k, ny, nx = maps.shape
    flat = maps.reshape(k, -1)
    return (spectra @ flat).T.reshape(ny, nx, spectra.shape[0])


def poisson_counts(
    spectra: np.ndarray,
    maps: np.ndarray,
    rng: np.random.Generator,
    *,
    dtype: np.dtype | type = np.float32,
    rows_per_chunk: int = 16,
) -> np.ndarray:
    """Poisson counts with mean ``spectra @ maps``, drawn row block by row block.

    Parameters
    ----------
    spectra : numpy.ndarray
        ``(n_channels, k)`` expected spectra of the pure phases (counts).
    maps : numpy.ndarray
        ``(k, ny, nx)`` abundances.
    rng : numpy.random.Generator
        Source of randomness.
    dtype : dtype
        Output dtype (float32 holds counts exactly up to 2²⁴).
    rows_per_chunk : int
        Image rows per block (bounds the float64 temporary).

    Returns
    -------
    numpy.ndarray
        ``(ny, nx, n_channels)`` counts.
    """
    k, ny, nx = maps.shape
    out = np.empty((ny, nx, spectra.shape[0]), dtype=dtype)
    for y0 in range(0, ny, rows_per_chunk):
        block = maps[:, y0 : y0 + rows_per_chunk]
        lam = expected_counts(spectra, block)
        np.clip(lam, 0.0, None, out=lam)
        out[y0 : y0 + block.shape[1]] = rng.poisson(lam)
    return out


def add_escape_peaks(
    spectra: np.ndarray,
    energies: np.ndarray,
    fraction: float,
    *,
    escape_energy: float = SI_ESCAPE_ENERGY_KEV,
    edge: float = SI_K_EDGE_KEV,
) -> np.ndarray:
    """Move a fraction of the counts above the Si K edge down by the Si Kα energy.

    A photon absorbed in the Si detector above the Si K edge can lose a Si Kα photon, which
    escapes: it is recorded at ``E − 1.74 keV``. This moves ``fraction`` of the counts of each
    channel above ``edge`` to ``E − escape_energy`` (linear sharing between the two nearest
    channels; counts that would land below the axis are lost). The escape peak keeps the width
    of its parent peak (a real one is slightly narrower).

    Parameters
    ----------
    spectra : numpy.ndarray
        ``(n_channels,)`` or ``(n_channels, k)`` counts on a uniform axis.
    energies : numpy.ndarray
        ``(n_channels,)`` channel centres, keV, uniform spacing.
    fraction : float
        Escape probability in ``[0, 1)`` (SDDs: about 0.1–1 %).
    escape_energy, edge : float
        Energy lost and threshold energy, keV.

    Returns
    -------
    numpy.ndarray
        New array of the same shape.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"escape fraction must be in [0, 1), got {fraction!r}")
    s = np.asarray(spectra, dtype=float)
    one_d = s.ndim == 1
    s = s[:, None] if one_d else s
    e = np.asarray(energies, dtype=float)
    if e.shape != (s.shape[0],):
        raise ValueError(f"energies has shape {e.shape}, expected ({s.shape[0]},)")
    step = float(e[1] - e[0]) if e.size > 1 else 1.0
    out = s.copy()
    src = np.nonzero(e > edge)[0]
    if fraction > 0 and src.size:
        moved = fraction * s[src]
        out[src] -= moved
        pos = (e[src] - escape_energy - e[0]) / step
        lo = np.floor(pos).astype(int)
        hi_w = pos - lo
        for idx, weight in ((lo, 1.0 - hi_w), (lo + 1, hi_w)):
            ok = (idx >= 0) & (idx < s.shape[0])
            np.add.at(out, idx[ok], moved[ok] * weight[ok, None])
    return out[:, 0] if one_d else out
