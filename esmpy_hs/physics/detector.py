"""EDX detector: energy resolution, peak shape and efficiency (layered SDD model or user curve)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import erf

from esmpy_hs.physics.attenuation import mass_attenuation, material_density

__all__ = ["MN_KA_KEV", "Detector", "Layer", "gaussian_channel_integrals"]

#: Mn Kα1 energy (keV), the reference of the resolution law.
MN_KA_KEV = 5.8987
#: FWHM² slope (eV² per eV of photon energy) of the Mn Kα-referenced law (Fiori & Newbury 1978).
FIORI_SLOPE_EV = 2.5
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class Layer:
    """A uniform layer in front of (or part of) the detector.

    Parameters
    ----------
    material : str
        Element symbol, chemical formula or NIST compound name known to xraylib.
    thickness_nm : float
        Thickness, nm.
    density : float, optional
        g/cm³; default: xraylib's density of the element or NIST material (required for a
        bare chemical formula).
    """

    material: str
    thickness_nm: float
    density: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.thickness_nm) or self.thickness_nm < 0:
            raise ValueError(
                f"layer thickness must be >= 0 nm, got {self.thickness_nm!r} ({self.material})"
            )
        rho = self.resolved_density()
        if not np.isfinite(rho) or rho <= 0:
            raise ValueError(
                f"layer {self.material!r} needs a density > 0 (g/cm³); pass density=..."
            )

    def resolved_density(self) -> float:
        """Density in g/cm³ (given or tabulated)."""
        return float(self.density) if self.density is not None else material_density(self.material)

    def optical_depth(self, energy_keV: ArrayLike, kind: str = "total") -> NDArray[np.float64]:
        """μ·ρ·t (dimensionless) at ``energy_keV``."""
        mu = mass_attenuation(self.material, energy_keV, kind=kind)
        return mu * self.resolved_density() * self.thickness_nm * 1e-7


def gaussian_channel_integrals(
    centers_keV: ArrayLike, fwhm_keV: ArrayLike, edges_keV: ArrayLike
) -> NDArray[np.float64]:
    """Integrals of unit-area Gaussians over channels.

    Parameters
    ----------
    centers_keV, fwhm_keV : array_like
        (n_peaks,) peak positions and full widths at half maximum, keV.
    edges_keV : array_like
        (n_channels + 1,) increasing channel edges, keV.

    Returns
    -------
    ndarray
        (n_peaks, n_channels): the fraction of each peak's area falling in each channel (erf
        differences; rows sum to 1 when the axis covers the whole peak).
    """
    mu = np.asarray(centers_keV, dtype=np.float64)[:, None]
    s = np.asarray(fwhm_keV, dtype=np.float64)[:, None] * (_FWHM_TO_SIGMA * math.sqrt(2.0))
    cdf = erf((np.asarray(edges_keV, dtype=np.float64)[None, :] - mu) / s)
    return 0.5 * np.diff(cdf, axis=1)


def _default_window() -> tuple[Layer, ...]:
    return ()


@dataclass(frozen=True)
class Detector:
    """Silicon drift detector: resolution and efficiency.

    Resolution: by default FWHM(E)² = N² + k·E (eV, E in eV) anchored at the Mn Kα resolution,
    with the Fiori–Newbury slope k = 2.5 eV, i.e. N² = FWHM_MnKα² − 2.5·5898.7 eV². For
    ``resolution_mnka`` below ≈ 125 eV this would give an electronic noise N below
    ``min_noise_fwhm`` (or even N² < 0 below 121.4 eV): then N = ``min_noise_fwhm`` and the
    slope is lowered so that FWHM(Mn Kα) stays exactly ``resolution_mnka``. With ``noise_fwhm``
    given, the explicit law FWHM² = N² + 8 ln2·F·w·E is used instead (F = ``fano_factor``,
    w = ``pair_energy`` eV) and ``resolution_mnka`` is ignored.

    Efficiency (unless ``efficiency_curve`` is given): layered model
    ε(E) = f_open·exp(−Σ_window μρt)·exp(−μρt)_contact·exp(−μρt)_dead·(1 − exp(−μρt)_active),
    μ/ρ from xraylib. The active layer absorbs with the photo-absorption coefficient by default
    (``active_attenuation="photo"``: a Compton-scattered photon does not give a full-energy
    count); ``"total"`` uses total attenuation for it, as in some published curves.

    Parameters
    ----------
    resolution_mnka : float
        FWHM at Mn Kα, eV (HyperSpy's ``energy_resolution_MnKa``).
    noise_fwhm : float, optional
        Electronic noise FWHM, eV: selects the explicit noise + Fano law.
    fano_factor : float
        Fano factor of Si (explicit law).
    pair_energy : float
        Mean energy per electron–hole pair in Si, eV (explicit law).
    min_noise_fwhm : float
        Lower bound of the noise term of the Mn Kα-anchored law, eV.
    active_thickness_mm : float
        Active Si thickness, mm.
    contact_material, contact_thickness_nm : str, float
        Front contact layer (default 30 nm Al).
    dead_layer_nm : float
        Si dead layer, nm.
    window : sequence of Layer
        Window layers (default: none, windowless).
    open_area_fraction : float
        Open fraction of a window support grid (1 for none).
    active_attenuation : {"photo", "total"}
        Attenuation coefficient used for the active layer.
    efficiency_curve : (energies_keV, efficiencies), optional
        User efficiency curve; replaces the layered model. Linearly interpolated; held constant
        at its end values outside its range.
    """

    resolution_mnka: float = 130.0
    noise_fwhm: float | None = None
    fano_factor: float = 0.115
    pair_energy: float = 3.64
    min_noise_fwhm: float = 30.0
    active_thickness_mm: float = 0.45
    contact_material: str = "Al"
    contact_thickness_nm: float = 30.0
    dead_layer_nm: float = 20.0
    window: Sequence[Layer] = field(default_factory=_default_window)
    open_area_fraction: float = 1.0
    active_attenuation: str = "photo"
    efficiency_curve: tuple[ArrayLike, ArrayLike] | None = None

    def __post_init__(self) -> None:
        r = float(self.resolution_mnka)
        if not np.isfinite(r) or r <= 0:
            raise ValueError(f"resolution_mnka must be > 0 eV, got {self.resolution_mnka!r}")
        if r < 20:
            raise ValueError(
                f"resolution_mnka={r} looks like keV; give the Mn Kα FWHM in eV (e.g. 130.0)"
            )
        if self.noise_fwhm is not None and not (
            np.isfinite(self.noise_fwhm) and self.noise_fwhm >= 0
        ):
            raise ValueError(f"noise_fwhm must be >= 0 eV, got {self.noise_fwhm!r}")
        if self.noise_fwhm is None and r <= self.min_noise_fwhm:
            raise ValueError(
                f"resolution_mnka={r} eV is not above min_noise_fwhm={self.min_noise_fwhm} eV"
            )
        for name in ("active_thickness_mm", "contact_thickness_nm", "dead_layer_nm"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        if not 0 < self.open_area_fraction <= 1:
            raise ValueError(
                f"open_area_fraction must be in (0, 1], got {self.open_area_fraction!r}"
            )
        if self.active_attenuation not in ("photo", "total"):
            raise ValueError(
                f"active_attenuation must be 'photo' or 'total', got {self.active_attenuation!r}"
            )
        window = tuple(self.window)
        for layer in window:
            if not isinstance(layer, Layer):
                raise TypeError(f"window layers must be Layer objects, got {layer!r}")
        object.__setattr__(self, "window", window)
        if self.efficiency_curve is not None:
            e, v = (np.asarray(a, dtype=np.float64).ravel() for a in self.efficiency_curve)
            if e.size != v.size or e.size < 2:
                raise ValueError(
                    "efficiency_curve must be (energies_keV, values) of equal length >= 2, got "
                    f"{e.size} and {v.size}"
                )
            if np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
                raise ValueError("efficiency_curve energies must be finite and strictly increasing")
            if not np.all(np.isfinite(v)) or np.any(v < 0):
                raise ValueError("efficiency_curve values must be finite and >= 0")
            # stored as tuples: the detector stays comparable and hashable
            object.__setattr__(self, "efficiency_curve", (tuple(e.tolist()), tuple(v.tolist())))

    # --- resolution -------------------------------------------------------------------------
    def _law(self) -> tuple[float, float]:
        """(N² in eV², slope in eV) of FWHM² = N² + slope·E_eV."""
        if self.noise_fwhm is not None:
            slope = 8.0 * math.log(2.0) * self.fano_factor * self.pair_energy
            return float(self.noise_fwhm) ** 2, slope
        r2 = float(self.resolution_mnka) ** 2
        e_mn = MN_KA_KEV * 1e3
        n2 = r2 - FIORI_SLOPE_EV * e_mn
        n2_min = float(self.min_noise_fwhm) ** 2
        if n2 >= n2_min:
            return n2, FIORI_SLOPE_EV
        return n2_min, (r2 - n2_min) / e_mn

    def fwhm(self, energy_keV: ArrayLike) -> NDArray[np.float64]:
        """Peak FWHM (keV) at ``energy_keV`` (keV)."""
        n2, slope = self._law()
        e = np.asarray(energy_keV, dtype=np.float64)
        return np.sqrt(np.maximum(n2 + slope * e * 1e3, n2)) * 1e-3

    # --- efficiency -------------------------------------------------------------------------
    def efficiency(self, energy_keV: ArrayLike) -> NDArray[np.float64]:
        """Detection efficiency (0–1) at ``energy_keV`` (keV)."""
        e = np.asarray(energy_keV, dtype=np.float64)
        if self.efficiency_curve is not None:
            ce, cv = self.efficiency_curve
            return np.interp(e, np.asarray(ce), np.asarray(cv))
        tau = np.zeros(e.shape)
        for layer in self.window:
            tau += layer.optical_depth(e)
        if self.contact_thickness_nm > 0:
            tau += Layer(self.contact_material, self.contact_thickness_nm).optical_depth(e)
        if self.dead_layer_nm > 0:
            tau += Layer("Si", self.dead_layer_nm).optical_depth(e)
        active = Layer("Si", self.active_thickness_mm * 1e6).optical_depth(
            e, kind=self.active_attenuation
        )
        return self.open_area_fraction * np.exp(-tau) * -np.expm1(-active)

    def as_dict(self) -> dict:
        """All parameters (including those of subclasses) as plain Python values."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "window":
                value = [
                    {"material": w.material, "thickness_nm": w.thickness_nm, "density": w.density}
                    for w in value
                ]
            elif f.name == "efficiency_curve" and value is not None:
                value = [list(value[0]), list(value[1])]
            elif isinstance(value, (np.floating, np.integer)):
                value = value.item()
            out[f.name] = value
        return out
