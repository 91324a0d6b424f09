"""Mass attenuation coefficients of elements, compounds and mixtures (xraylib, edge-aware)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import xraylib
from numpy.typing import ArrayLike, NDArray

from esmpy_hs.physics.elements import atomic_number, normalize_fractions

__all__ = ["MIN_ENERGY_KEV", "mass_attenuation", "material_mass_fractions"]

#: Lowest photon energy of xraylib's attenuation data, keV. Lower energies are evaluated here.
MIN_ENERGY_KEV = 0.1
#: Highest photon energy evaluated (xraylib's splines stop near 800 keV).
MAX_ENERGY_KEV = 800.0


@lru_cache(maxsize=256)
def _material(material: str) -> tuple[tuple[tuple[int, float], ...], float]:
    """((Z, mass fraction), ...), density (NaN if unknown) of a material string."""
    try:
        z = atomic_number(material)
    except ValueError:
        z = 0
    if z:
        return ((z, 1.0),), float(xraylib.ElementDensity(z))
    try:
        data = xraylib.GetCompoundDataNISTByName(material)
        return (
            tuple(zip(data["Elements"], data["massFractions"], strict=True)),
            float(data["density"]),
        )
    except ValueError:
        pass
    try:
        data = xraylib.CompoundParser(material)
    except ValueError:
        raise ValueError(
            f"unknown material {material!r}: give an element symbol, a chemical formula "
            "(e.g. 'Si3N4') or a NIST compound name known to xraylib"
        ) from None
    return tuple(zip(data["Elements"], data["massFractions"], strict=True)), float("nan")


def material_mass_fractions(material: str | Mapping[str | int, float]) -> dict[int, float]:
    """{Z: mass fraction} of a material (symbol, formula, NIST name or {element: fraction})."""
    if isinstance(material, Mapping):
        return {atomic_number(k): v for k, v in normalize_fractions(material).items()}
    return dict(_material(str(material))[0])


def material_density(material: str) -> float:
    """Tabulated density (g/cm³) of an element or NIST material; NaN for a bare formula."""
    return _material(str(material))[1]


@lru_cache(maxsize=200_000)
def _mu_element(z: int, energy: float, photo: bool) -> float:
    e = min(max(energy, MIN_ENERGY_KEV), MAX_ENERGY_KEV)
    return float(xraylib.CS_Photo(z, e) if photo else xraylib.CS_Total(z, e))


def mass_attenuation(
    material: str | Mapping[str | int, float],
    energy_keV: ArrayLike,
    *,
    kind: str = "total",
) -> NDArray[np.float64]:
    """Mass attenuation coefficient μ/ρ (cm²/g) from xraylib.

    Parameters
    ----------
    material : str or mapping
        Element symbol, chemical formula (``"Si3N4"``), NIST compound name known to xraylib, or
        a {element: mass fraction} mapping (normalised to 1).
    energy_keV : array_like
        Photon energies, keV. Energies below 0.1 keV (xraylib's lower limit) are evaluated at
        0.1 keV, energies above 800 keV at 800 keV.
    kind : {"total", "photo"}
        Total attenuation (``CS_Total``) or photo-absorption only (``CS_Photo``).

    Returns
    -------
    ndarray
        μ/ρ with the shape of ``energy_keV``. Exact at absorption edges (xraylib's tables are
        edge-aware), so it is always positive.
    """
    if kind not in ("total", "photo"):
        raise ValueError(f"kind must be 'total' or 'photo', got {kind!r}")
    photo = kind == "photo"
    fractions = material_mass_fractions(material)
    e = np.asarray(energy_keV, dtype=np.float64)
    flat = e.ravel()
    out = np.zeros(flat.shape)
    for z, w in fractions.items():
        if w == 0:
            continue
        out += w * np.fromiter((_mu_element(z, float(x), photo) for x in flat), float, flat.size)
    return out.reshape(e.shape)
