"""Element identities, atomic weights, densities and composition conversions (xraylib data)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np
import xraylib

__all__ = [
    "atomic_number",
    "atomic_to_weight_fractions",
    "atomic_weight",
    "element_density",
    "element_symbol",
    "mixture_density",
    "normalize_fractions",
    "weight_to_atomic_fractions",
]

#: Highest atomic number accepted (xraylib's data range).
MAX_Z = 103

# Densities (g/cm^3) of the condensed (solid or liquid) phase for elements that are gases at room
# temperature; the tabulated gas densities (e.g. O: 0.0013) would make the mixture rule useless
# for oxides, nitrides, halides.
_CONDENSED_DENSITY = {
    1: 0.086,  # H (solid H2)
    2: 0.125,  # He (liquid)
    7: 1.03,  # N (solid N2)
    8: 1.46,  # O (solid O2)
    9: 1.70,  # F (solid F2)
    10: 1.44,  # Ne (solid)
    17: 2.03,  # Cl (solid Cl2)
    18: 1.62,  # Ar (solid)
    36: 2.83,  # Kr (solid)
    54: 3.64,  # Xe (solid)
    86: 4.4,  # Rn (solid)
}


@lru_cache(maxsize=256)
def _symbol_to_z(symbol: str) -> int:
    try:
        z = int(xraylib.SymbolToAtomicNumber(symbol))
    except ValueError:
        z = 0
    return z


def atomic_number(element: str | int) -> int:
    """Atomic number of an element given by symbol (``"Fe"``) or atomic number.

    Raises
    ------
    ValueError
        For an unknown symbol or an atomic number outside 1–103.
    TypeError
        For anything that is neither a string nor an integer.
    """
    if isinstance(element, bool):
        raise TypeError(f"element must be a symbol or an atomic number, got {element!r}")
    if isinstance(element, (int, np.integer)):
        z = int(element)
        if not 1 <= z <= MAX_Z:
            raise ValueError(f"atomic number {z} is outside 1–{MAX_Z}; give a valid element")
        return z
    if isinstance(element, str):
        sym = element.strip()
        sym = sym[:1].upper() + sym[1:].lower()
        z = _symbol_to_z(sym) if sym.isalpha() else 0
        if z == 0:
            raise ValueError(f"unknown element {element!r}; use a chemical symbol such as 'Fe'")
        return z
    raise TypeError(f"element must be a symbol or an atomic number, got {element!r}")


def element_symbol(element: str | int) -> str:
    """Validated chemical symbol of an element given by symbol (any case) or atomic number."""
    return str(xraylib.AtomicNumberToSymbol(atomic_number(element)))


@lru_cache(maxsize=256)
def _weight(z: int) -> float:
    return float(xraylib.AtomicWeight(z))


def atomic_weight(element: str | int) -> float:
    """Standard atomic weight (g/mol) of an element (xraylib)."""
    return _weight(atomic_number(element))


@lru_cache(maxsize=256)
def _density(z: int) -> float:
    if z in _CONDENSED_DENSITY:
        return _CONDENSED_DENSITY[z]
    return float(xraylib.ElementDensity(z))


def element_density(element: str | int) -> float:
    """Density (g/cm^3) of the pure element; condensed-phase value for gaseous elements."""
    return _density(atomic_number(element))


def normalize_fractions(fractions: Mapping[str | int, float]) -> dict[str, float]:
    """Validate a {element: fraction} mapping and scale it to sum 1 (keys become symbols).

    Raises
    ------
    ValueError
        For an empty mapping, negative or non-finite fractions, a zero sum, or an element given
        twice (e.g. as ``"Fe"`` and ``26``).
    """
    if not fractions:
        raise ValueError("composition is empty; give at least one {element: fraction}")
    out: dict[str, float] = {}
    for key, value in fractions.items():
        sym = element_symbol(key)
        v = float(value)
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"fraction of {sym} must be finite and >= 0, got {value!r}")
        if sym in out:
            raise ValueError(f"element {sym} appears twice in the composition")
        out[sym] = v
    total = sum(out.values())
    if total <= 0:
        raise ValueError(f"fractions sum to {total}; at least one must be > 0")
    return {k: v / total for k, v in out.items()}


def atomic_to_weight_fractions(fractions: Mapping[str | int, float]) -> dict[str, float]:
    """Convert atomic (number) fractions to weight (mass) fractions, normalised to 1.

    Examples
    --------
    >>> w = atomic_to_weight_fractions({"Fe": 2, "O": 3})
    >>> round(w["Fe"], 4)
    0.6994
    """
    at = normalize_fractions(fractions)
    mass = {k: v * atomic_weight(k) for k, v in at.items()}
    total = sum(mass.values())
    return {k: v / total for k, v in mass.items()}


def weight_to_atomic_fractions(fractions: Mapping[str | int, float]) -> dict[str, float]:
    """Convert weight (mass) fractions to atomic (number) fractions, normalised to 1."""
    wt = normalize_fractions(fractions)
    moles = {k: v / atomic_weight(k) for k, v in wt.items()}
    total = sum(moles.values())
    return {k: v / total for k, v in moles.items()}


def mixture_density(
    fractions: Mapping[str | int, float], *, weight_fractions: bool = False
) -> float:
    """Density estimate (g/cm^3) of a mixture from the densities of its elements.

    Mass-weighted harmonic mean 1/Σ(w_k/ρ_k) (additive specific volumes), using condensed-phase
    densities for elements that are gases at room temperature. This is a rough default: it
    underestimates dense compounds such as oxides by ~20–40 % (Fe2O3: 3.4 instead of 5.2) —
    pass the real density when known.

    Parameters
    ----------
    fractions : mapping
        {element: fraction}, atomic fractions unless ``weight_fractions`` is True.
    weight_fractions : bool
        Whether ``fractions`` are mass fractions.
    """
    w = (
        normalize_fractions(fractions)
        if weight_fractions
        else atomic_to_weight_fractions(fractions)
    )
    return 1.0 / sum(v / element_density(k) for k, v in w.items())


def symbols(elements: Iterable[str | int]) -> list[str]:
    """Validated symbols of several elements (order kept)."""
    return [element_symbol(e) for e in elements]
