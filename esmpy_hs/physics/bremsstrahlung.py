"""Bremsstrahlung basis: two non-negative Lifshin-type columns.

With E0 the beam energy and 0 < E < E0 (keV),

    B0(E) = (E0 − E)/E0²,    B1(E) = (E0 − E)²/(E0²·E).

b0·B0 + b1·B1 = (1/E)·[a(E0 − E) + b(E0 − E)²] (Lifshin 1974) with a = b0/E0 and
b = (b1 − b0)/E0². The Lifshin continuum is non-negative on (0, E0) iff b0 ≥ 0 and b1 ≥ 0, so
non-negative weights on the two columns span exactly the non-negative Lifshin spectra.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["bremsstrahlung_basis", "lifshin"]


def bremsstrahlung_basis(energy_keV: ArrayLike, beam_energy_keV: float) -> NDArray[np.float64]:
    """The two basis functions (2, n) at ``energy_keV``; 0 where E ≤ 0 or E ≥ E0."""
    e = np.asarray(energy_keV, dtype=np.float64)
    e0 = float(beam_energy_keV)
    if not e0 > 0:
        raise ValueError(f"beam energy must be > 0 keV, got {beam_energy_keV!r}")
    out = np.zeros((2, *e.shape))
    ok = (e > 0) & (e < e0)
    d = e0 - e[ok]
    out[0][ok] = d / e0**2
    out[1][ok] = d**2 / (e0**2 * e[ok])
    return out


def lifshin(energy_keV: ArrayLike, beam_energy_keV: float, a: float, b: float) -> NDArray:
    """Lifshin continuum (1/E)·[a(E0 − E) + b(E0 − E)²] (0 where E ≤ 0 or E ≥ E0)."""
    e = np.asarray(energy_keV, dtype=np.float64)
    out = np.zeros(e.shape)
    ok = (e > 0) & (e < beam_energy_keV)
    d = beam_energy_keV - e[ok]
    out[ok] = (a * d + b * d**2) / e[ok]
    return out
