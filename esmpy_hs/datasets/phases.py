"""Phase descriptions for simulated spectrum images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from esmpy_hs.physics.elements import atomic_number, atomic_to_weight_fractions, normalize_fractions

__all__ = ["Phase", "DEFAULT_CONTINUUM_RATIO", "CONTINUUM_FLAT_FRACTION"]

#: Default ratio of bremsstrahlung counts to characteristic counts over the energy axis.
#: Why 0.25: a rough (order-of-magnitude) thin-target Bethe–Heitler/Kramers estimate of the
#: continuum emitted between 0.3 and 20 keV by 200 keV electrons, ∝ Σ x_i Z_i², against the
#: K/L line emission σ_ion·ω of the same atoms, gives about 0.1 for light oxides (MgO, SiO2)
#: and 0.3–0.5 once heavier elements (Fe, Cu, Hf) are present, as in the paper's phases. With
#: 0.25, a 100 nm oxide film and a windowless SDD at 130 eV, the O, Mg and Si Kα peaks stand
#: 40–80× above the continuum under them (Fe and Ca Kα ~20×), and the continuum is a fifth
#: of all counts.
DEFAULT_CONTINUUM_RATIO = 0.25

#: In ratio mode, the share of the continuum counts carried by the flat ``bremsstrahlung_0``
#: column (B0 = (E0 − E)/E0²); the rest goes to the Kramers-like ``bremsstrahlung_1`` column
#: (B1 = (E0 − E)²/(E0²·E) ≈ 1/E), the thin-target shape.
CONTINUUM_FLAT_FRACTION = 0.2


@dataclass(frozen=True)
class Phase:
    """A phase of a simulated sample: its composition and continuum level.

    Parameters
    ----------
    name : str
        Phase name (used in the ground truth and reports).
    composition : mapping
        ``{element: atomic fraction}``; symbols in any case or atomic numbers. Normalised to sum
        to one (``Phase("x", {"Fe": 2, "O": 3})`` is Fe₂O₃).
    continuum : float or (float, float)
        Either the ratio of bremsstrahlung counts to characteristic counts of this phase over
        the energy axis (a float ≥ 0, default :data:`DEFAULT_CONTINUUM_RATIO`), split
        :data:`CONTINUUM_FLAT_FRACTION` / rest over the two bremsstrahlung columns of G; or the
        explicit weights ``(b0, b1)`` of the two bremsstrahlung columns, in the units where the
        phase's atomic fractions are its element weights (they then depend on how G scales its
        columns, see ``EDXSModel.scale_factors``).

    Examples
    --------
    >>> Phase("hematite", {"Fe": 2, "O": 3}).composition  # by atomic number
    {'O': 0.6, 'Fe': 0.4}
    """

    name: str
    composition: Mapping[str | int, float]
    continuum: float | tuple[float, float] = DEFAULT_CONTINUUM_RATIO

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"phase name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.composition, Mapping):
            raise TypeError(
                f"composition of phase {self.name!r} must be a mapping "
                f"{{element: atomic fraction}}, got {type(self.composition).__name__}"
            )
        try:
            comp = normalize_fractions(self.composition)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"phase {self.name!r}: {exc}") from None
        comp = {el: v for el, v in sorted(comp.items(), key=lambda kv: atomic_number(kv[0]))}
        object.__setattr__(self, "composition", comp)
        c = self.continuum
        if np.ndim(c) == 0:
            try:
                ratio = float(c)
            except (TypeError, ValueError):
                raise TypeError(
                    f"continuum of phase {self.name!r} must be a ratio (float) or (b0, b1), "
                    f"got {c!r}"
                ) from None
            if not np.isfinite(ratio) or ratio < 0:
                raise ValueError(
                    f"continuum ratio of phase {self.name!r} must be finite and >= 0, got {c!r}"
                )
            object.__setattr__(self, "continuum", ratio)
        else:
            pair = np.asarray(c, dtype=float).ravel()
            if pair.shape != (2,) or not np.all(np.isfinite(pair)) or np.any(pair < 0):
                raise ValueError(
                    f"continuum weights of phase {self.name!r} must be two finite values >= 0 "
                    f"(b0, b1), got {c!r}"
                )
            object.__setattr__(self, "continuum", (float(pair[0]), float(pair[1])))

    @property
    def elements(self) -> tuple[str, ...]:
        """Element symbols, by increasing atomic number."""
        return tuple(self.composition)

    @property
    def weight_fractions(self) -> dict[str, float]:
        """Mass fractions of the elements."""
        return atomic_to_weight_fractions(self.composition)

    @property
    def continuum_is_ratio(self) -> bool:
        """True when ``continuum`` is a counts ratio, False for explicit weights."""
        return not isinstance(self.continuum, tuple)

    def as_dict(self) -> dict:
        """Plain-python description (for metadata)."""
        return {
            "name": self.name,
            "composition": dict(self.composition),
            "continuum": list(self.continuum)
            if isinstance(self.continuum, tuple)
            else self.continuum,
        }
