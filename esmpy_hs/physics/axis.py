"""Uniform energy axis of a spectrum."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["EnergyAxis"]


@dataclass(frozen=True)
class EnergyAxis:
    """Uniform energy axis: channel ``i`` is centred at ``offset + i * scale``.

    Parameters
    ----------
    offset : float
        Centre of the first channel, in ``units``.
    scale : float
        Channel width (> 0), in ``units``.
    size : int
        Number of channels (>= 1).
    units : {"keV", "eV"}
        Units of ``offset`` and ``scale`` (case-insensitive).
    """

    offset: float
    scale: float
    size: int
    units: str = "keV"

    def __post_init__(self) -> None:
        units = str(self.units).strip()
        if units.lower() not in ("kev", "ev"):
            raise ValueError(f"units must be 'keV' or 'eV', got {self.units!r}")
        object.__setattr__(self, "units", "keV" if units.lower() == "kev" else "eV")
        if isinstance(self.size, bool) or int(self.size) != self.size:
            raise TypeError(f"size must be an integer, got {self.size!r}")
        if int(self.size) < 1:
            raise ValueError(f"the energy axis is empty (size={self.size}); it needs >= 1 channel")
        object.__setattr__(self, "size", int(self.size))
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be > 0, got {self.scale!r}")
        if not np.isfinite(self.offset):
            raise ValueError(f"offset must be finite, got {self.offset!r}")

    @property
    def _to_kev(self) -> float:
        return 1.0 if self.units == "keV" else 1e-3

    @property
    def energies(self) -> NDArray[np.float64]:
        """Channel centres, keV."""
        return (self.offset + self.scale * np.arange(self.size)) * self._to_kev

    @property
    def edges(self) -> NDArray[np.float64]:
        """Channel edges (size + 1), keV."""
        return (self.offset + self.scale * (np.arange(self.size + 1) - 0.5)) * self._to_kev

    @property
    def scale_keV(self) -> float:
        """Channel width, keV."""
        return float(self.scale) * self._to_kev

    def as_dict(self) -> dict:
        """Parameters as plain Python values."""
        return {
            "offset": float(self.offset),
            "scale": float(self.scale),
            "size": int(self.size),
            "units": self.units,
        }
