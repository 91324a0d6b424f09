"""Bote–Salvat (2009) analytical electron-impact ionization cross sections.

Formulas of D. Bote, F. Salvat, A. Jablonski, C. J. Powell, *Atomic Data and Nuclear Data
Tables* 95 (2009) 871–909, for electrons and the K, L1–L3, M1–M5 sub-shells. This module holds
only the formula; the parameters (12 numbers per sub-shell) are read by the table generator
``tools/make_cross_section_table.py`` from the reference file, which is not part of the package.
At run time the package uses the pre-computed table (:mod:`esmpy_hs.physics.cross_sections`).

With E the electron kinetic energy, E_i the ionization energy that goes with the parameters and
U = E / E_i:

* U <= 1: sigma = 0;
* 1 < U <= 16: sigma = 4 pi a0^2 (U - 1)/U^2 [a1 + a2 U + a3/(1+U) + a4/(1+U)^3 + a5/(1+U)^5]^2;
* U > 16: sigma = 4 pi a0^2 (A/beta^2) U/(U + b_minus)
  [(ln X^2 - beta^2)(1 + g1/X) + g2 + g3 (1 - beta^2)^(1/4) + g4/X],
  with beta^2 = E(E + 2mc^2)/(E + mc^2)^2 and X = sqrt(E(E + 2mc^2))/mc^2.

The g3 term carries (1 - beta^2)^(+1/4) = sqrt(mc^2/(E + mc^2)); with this sign the two
branches meet at U = 16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "BOHR_RADIUS_CM",
    "ELECTRON_REST_ENERGY_EV",
    "SIGMA0_CM2",
    "SUBSHELLS",
    "BoteSalvatParameters",
    "bote_salvat_high",
    "bote_salvat_low",
    "bote_salvat_sigma",
]

#: Bohr radius (CODATA 2018), cm.
BOHR_RADIUS_CM = 5.29177210903e-9
#: Electron rest energy (CODATA 2018), eV.
ELECTRON_REST_ENERGY_EV = 510998.95
#: 4 pi a0^2, cm^2.
SIGMA0_CM2 = 4.0 * np.pi * BOHR_RADIUS_CM**2
#: Overvoltage at which the formula switches from the low- to the high-overvoltage branch.
U_SWITCH = 16.0
#: Sub-shells covered by the formulas, in the order used by the shipped table.
SUBSHELLS: tuple[str, ...] = ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5")


@dataclass(frozen=True)
class BoteSalvatParameters:
    """Parameters of one sub-shell (electrons).

    Attributes
    ----------
    Z : int
        Atomic number.
    subshell : str
        One of ``SUBSHELLS``.
    E_i_eV : float
        Ionization energy that goes with the parameters, eV.
    a : tuple of float
        a1..a5 (low-overvoltage branch).
    b_minus : float
        Exchange parameter of the high-overvoltage branch.
    A : float
        Bethe asymptote constant.
    g : tuple of float
        g1..g4 (high-overvoltage branch).
    """

    Z: int
    subshell: str
    E_i_eV: float
    a: tuple[float, float, float, float, float]
    b_minus: float
    A: float
    g: tuple[float, float, float, float]

    @classmethod
    def from_row(cls, row: Sequence[float | str]) -> BoteSalvatParameters:
        """Build from a row ``(Z, subshell, E_i_eV, a1..a5, b_minus, A, g1..g4)``."""
        if len(row) != 14:
            raise ValueError(f"a Bote–Salvat row has 14 fields, got {len(row)}: {row!r}")
        values = [float(v) for v in row[2:]]
        return cls(
            Z=int(row[0]),
            subshell=str(row[1]).strip(),
            E_i_eV=values[0],
            a=tuple(values[1:6]),  # type: ignore[arg-type]
            b_minus=values[6],
            A=values[7],
            g=tuple(values[8:12]),  # type: ignore[arg-type]
        )


def bote_salvat_low(p: BoteSalvatParameters, energy_eV: ArrayLike) -> NDArray[np.float64]:
    """Low-overvoltage expression without the threshold factor.

    Returns ``4 pi a0^2 / U * [a1 + a2 U + a3/(1+U) + a4/(1+U)^3 + a5/(1+U)^5]^2``, a smooth
    function of the energy; the cross section on ``1 < U <= 16`` is this value times
    ``(U - 1)/U``.

    Parameters
    ----------
    p : BoteSalvatParameters
        Sub-shell parameters.
    energy_eV : array_like
        Electron kinetic energy, eV (> 0).

    Returns
    -------
    ndarray
        Values in cm^2.
    """
    u = np.asarray(energy_eV, dtype=np.float64) / p.E_i_eV
    a1, a2, a3, a4, a5 = p.a
    w = 1.0 + u
    poly = a1 + a2 * u + a3 / w + a4 / w**3 + a5 / w**5
    return SIGMA0_CM2 * poly**2 / u


def bote_salvat_high(p: BoteSalvatParameters, energy_eV: ArrayLike) -> NDArray[np.float64]:
    """High-overvoltage (relativistic Bethe-type) expression, evaluated at any energy > 0.

    Parameters
    ----------
    p : BoteSalvatParameters
        Sub-shell parameters.
    energy_eV : array_like
        Electron kinetic energy, eV (> 0).

    Returns
    -------
    ndarray
        Cross section in cm^2 as given by the high-overvoltage branch (the physical cross
        section only for U > 16).
    """
    e = np.asarray(energy_eV, dtype=np.float64)
    mc2 = ELECTRON_REST_ENERGY_EV
    u = e / p.E_i_eV
    beta2 = e * (e + 2.0 * mc2) / (e + mc2) ** 2
    x = np.sqrt(e * (e + 2.0 * mc2)) / mc2
    g1, g2, g3, g4 = p.g
    bracket = (np.log(x**2) - beta2) * (1.0 + g1 / x) + g2 + g3 * np.sqrt(mc2 / (e + mc2)) + g4 / x
    return SIGMA0_CM2 * (p.A / beta2) * u / (u + p.b_minus) * bracket


def bote_salvat_sigma(p: BoteSalvatParameters, energy_eV: ArrayLike) -> NDArray[np.float64]:
    """Ionization cross section of one sub-shell by electron impact (Bote et al. 2009).

    Parameters
    ----------
    p : BoteSalvatParameters
        Sub-shell parameters.
    energy_eV : array_like
        Electron kinetic energy, eV.

    Returns
    -------
    ndarray
        Cross section in cm^2 per atom, same shape as ``energy_eV``; 0 at and below threshold
        (U <= 1).
    """
    e = np.atleast_1d(np.asarray(energy_eV, dtype=np.float64))
    out = np.zeros_like(e)
    u = e / p.E_i_eV
    low = (u > 1.0) & (u <= U_SWITCH)
    high = u > U_SWITCH
    if np.any(low):
        out[low] = bote_salvat_low(p, e[low]) * (u[low] - 1.0) / u[low]
    if np.any(high):
        out[high] = bote_salvat_high(p, e[high])
    out = np.maximum(out, 0.0)
    return out.reshape(np.shape(energy_eV)) if np.ndim(energy_eV) else out[0]
