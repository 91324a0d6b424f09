"""Model-mismatch options: data generated *outside* the model that the metadata implies.

A decomposition is usually checked on data made by its own forward model. These options make the
simulated counts differ from what esmpy will build from the signal's metadata, the way real data
do: another resolution law, absorption by each phase's own composition and a different thickness,
Si escape peaks, a slightly wrong energy calibration. The metadata always states the nominal
values; only the counts change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from esmpy_hs.physics import Detector

__all__ = ["Mismatch", "LinearResolutionDetector"]


@dataclass(frozen=True)
class LinearResolutionDetector(Detector):
    """Detector with a linear resolution law FWHM(E) = a + b·E (keV), as used by espm.

    Parameters
    ----------
    fwhm_offset : float
        ``a`` in keV (espm default 0.065).
    fwhm_slope : float
        ``b`` (dimensionless, espm default 0.01).

    Other parameters are those of :class:`esmpy_hs.physics.Detector` (efficiency model);
    ``resolution_mnka`` is then only informative.
    """

    fwhm_offset: float = 0.065
    fwhm_slope: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (np.isfinite(self.fwhm_offset) and self.fwhm_offset > 0):
            raise ValueError(f"fwhm_offset must be > 0 keV, got {self.fwhm_offset!r}")
        if not (np.isfinite(self.fwhm_slope) and self.fwhm_slope >= 0):
            raise ValueError(f"fwhm_slope must be >= 0, got {self.fwhm_slope!r}")

    def fwhm(self, energy_keV: ArrayLike) -> NDArray[np.float64]:
        """Peak FWHM (keV) at ``energy_keV`` (keV): ``fwhm_offset + fwhm_slope·E``."""
        e = np.asarray(energy_keV, dtype=np.float64)
        return self.fwhm_offset + self.fwhm_slope * e


@dataclass(frozen=True)
class Mismatch:
    """How the simulated data depart from the model implied by the metadata.

    Parameters
    ----------
    resolution_law : {None, "linear"}
        ``"linear"``: peaks get FWHM = ``linear_fwhm[0] + linear_fwhm[1]·E`` (keV; espm's law,
        124 eV at Mn Kα but 70 eV at O Kα instead of 59 eV for a 130 eV detector) while the
        metadata keeps its Mn Kα resolution.
    linear_fwhm : (float, float)
        ``(a, b)`` of the linear law.
    resolution_mnka : float, optional
        True Mn Kα FWHM (eV) with the usual law, different from the metadata's value.
    phase_absorption : bool
        Absorb each phase's X-rays with the phase's own composition (and ``density`` if given)
        instead of the single composition the model assumes.
    thickness_factor : float
        True thickness = factor × the metadata thickness (absorption only).
    density : float, optional
        True density (g/cm³) used for absorption.
    escape_fraction : float
        Fraction of the counts above the Si K edge moved down by 1.74 keV (Si escape peaks).
    energy_offset_shift : float
        keV; the channels' true energies are ``offset + shift + i·scale·factor`` while the
        metadata says ``offset + i·scale``.
    energy_scale_factor : float
        Relative error of the channel width (e.g. 1.0005).
    """

    resolution_law: str | None = None
    linear_fwhm: tuple[float, float] = (0.065, 0.01)
    resolution_mnka: float | None = None
    phase_absorption: bool = False
    thickness_factor: float = 1.0
    density: float | None = None
    escape_fraction: float = 0.0
    energy_offset_shift: float = 0.0
    energy_scale_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.resolution_law not in (None, "linear"):
            raise ValueError(
                f"resolution_law must be None or 'linear', got {self.resolution_law!r}"
            )
        a, b = (float(v) for v in self.linear_fwhm)
        object.__setattr__(self, "linear_fwhm", (a, b))
        if self.resolution_mnka is not None and self.resolution_law is not None:
            raise ValueError("give either resolution_law='linear' or resolution_mnka, not both")
        if not (np.isfinite(self.thickness_factor) and self.thickness_factor >= 0):
            raise ValueError(f"thickness_factor must be >= 0, got {self.thickness_factor!r}")
        if self.density is not None and not (np.isfinite(self.density) and self.density > 0):
            raise ValueError(f"density must be > 0 g/cm³, got {self.density!r}")
        if not 0 <= self.escape_fraction < 1:
            raise ValueError(f"escape_fraction must be in [0, 1), got {self.escape_fraction!r}")
        if not np.isfinite(self.energy_offset_shift):
            raise ValueError(
                f"energy_offset_shift must be finite, got {self.energy_offset_shift!r}"
            )
        if not (np.isfinite(self.energy_scale_factor) and self.energy_scale_factor > 0):
            raise ValueError(f"energy_scale_factor must be > 0, got {self.energy_scale_factor!r}")

    @classmethod
    def realistic(cls) -> Mismatch:
        """A moderate combination of every effect, for accuracy checks outside the model.

        Linear (espm) resolution law, absorption by each phase's own composition in a film 30 %
        thicker than stated, 0.5 % Si escape, and a calibration off by +3 eV at the offset and
        +0.05 % in channel width (+8 eV at 10 keV).
        """
        return cls(
            resolution_law="linear",
            phase_absorption=True,
            thickness_factor=1.3,
            escape_fraction=0.005,
            energy_offset_shift=0.003,
            energy_scale_factor=1.0005,
        )

    @property
    def changes_model(self) -> bool:
        """Whether the generating G differs from the nominal one."""
        return bool(
            self.resolution_law is not None
            or self.resolution_mnka is not None
            or self.phase_absorption
            or self.thickness_factor != 1.0
            or self.density is not None
            or self.energy_offset_shift != 0.0
            or self.energy_scale_factor != 1.0
        )

    @property
    def active(self) -> bool:
        """Whether any effect is switched on."""
        return self.changes_model or self.escape_fraction > 0

    def as_dict(self) -> dict:
        """Only the options that differ from "no mismatch", as plain values."""
        default = asdict(Mismatch())
        out = {}
        for key, value in asdict(self).items():
            if value != default[key]:
                out[key] = list(value) if isinstance(value, tuple) else value
        if self.resolution_law == "linear":
            out["linear_fwhm"] = list(self.linear_fwhm)
        return out
