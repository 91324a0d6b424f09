"""Thin-film sample: absorption of the generated X-rays on their way to the detector."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from esmpy_hs.physics.attenuation import mass_attenuation
from esmpy_hs.physics.elements import (
    atomic_to_weight_fractions,
    mixture_density,
    normalize_fractions,
)

__all__ = ["Sample", "thin_film_absorption"]


def thin_film_absorption(chi: ArrayLike) -> NDArray[np.float64]:
    """Absorption factor A = (1 − e^(−χ))/χ of a uniformly emitting film (A(0) = 1, 0 < A ≤ 1)."""
    x = np.asarray(chi, dtype=np.float64)
    out = np.ones(x.shape)
    nz = x > 0
    out[nz] = -np.expm1(-x[nz]) / x[nz]
    return out


@dataclass(frozen=True)
class Sample:
    """Thin-film sample geometry and composition.

    Parameters
    ----------
    thickness : float or None
        Film thickness in **nm**. ``None`` or 0: no absorption (A = 1).
    density : float or None
        Density in g/cm³. ``None``: estimated from the composition with
        :func:`~esmpy_hs.physics.elements.mixture_density` (a rough rule; give the density
        when known).
    take_off_angle : float
        X-ray take-off angle in degrees (0 < θ ≤ 90).
    composition : mapping or None
        Atomic fractions {element: fraction} of the absorbing matrix (normalised). ``None``:
        equal atomic fractions of the model's elements.
    """

    thickness: float | None = None
    density: float | None = None
    take_off_angle: float = 22.0
    composition: Mapping[str | int, float] | None = None

    def __post_init__(self) -> None:
        if self.thickness is not None and (not np.isfinite(self.thickness) or self.thickness < 0):
            raise ValueError(f"thickness must be >= 0 nm or None, got {self.thickness!r}")
        if self.density is not None and (not np.isfinite(self.density) or self.density <= 0):
            raise ValueError(f"density must be > 0 g/cm³ or None, got {self.density!r}")
        if not (np.isfinite(self.take_off_angle) and 0 < self.take_off_angle <= 90):
            raise ValueError(
                f"take_off_angle must be in (0, 90] degrees, got {self.take_off_angle!r}"
            )
        if self.composition is not None:
            object.__setattr__(self, "composition", normalize_fractions(self.composition))

    @property
    def absorbs(self) -> bool:
        """Whether the sample has a non-zero thickness."""
        return bool(self.thickness)

    def resolved_composition(self, elements: list[str] | None = None) -> dict[str, float]:
        """Atomic fractions used for absorption (given, or equal fractions of ``elements``)."""
        if self.composition is not None:
            return dict(self.composition)
        if not elements:
            raise ValueError("Sample.composition is None and no elements were given")
        return normalize_fractions({e: 1.0 for e in elements})

    def resolved_density(self, elements: list[str] | None = None) -> float:
        """Density used for absorption, g/cm³."""
        if self.density is not None:
            return float(self.density)
        return mixture_density(self.resolved_composition(elements))

    def absorption(
        self, energy_keV: ArrayLike, elements: list[str] | None = None
    ) -> NDArray[np.float64]:
        """Absorption factor at ``energy_keV`` for X-rays generated uniformly in the film.

        Parameters
        ----------
        energy_keV : array_like
            Photon energies, keV.
        elements : list of str, optional
            Elements for the default composition (used when ``composition`` is None).

        Returns
        -------
        ndarray
            A(E) = (1 − e^(−χ))/χ with χ = (μ/ρ)_mix(E)·ρ·t / sin θ; 1 without thickness.
        """
        e = np.asarray(energy_keV, dtype=np.float64)
        if not self.absorbs:
            return np.ones(e.shape)
        weights = atomic_to_weight_fractions(self.resolved_composition(elements))
        mu = mass_attenuation(weights, e)
        chi = (
            mu
            * self.resolved_density(elements)
            * float(self.thickness)
            * 1e-7
            / math.sin(math.radians(self.take_off_angle))
        )
        return thin_film_absorption(chi)

    def as_dict(self, elements: list[str] | None = None) -> dict:
        """Parameters as plain Python values, with the resolved composition and density."""
        comp = self.resolved_composition(elements) if (self.composition or elements) else None
        return {
            "thickness_nm": None if self.thickness is None else float(self.thickness),
            "density": None if self.density is None else float(self.density),
            "resolved_density": self.resolved_density(elements) if comp else None,
            "take_off_angle": float(self.take_off_angle),
            "composition": comp,
        }
