"""Every metadata key esmpy-hs reads, and how it is read.

This module is the single place where the HyperSpy/exspy metadata tree is interpreted. Values
are always read with ``metadata.get_item`` (exspy's ``set_microscope_parameters`` writes the
beam energy under a key with a trailing space, which only ``get_item`` resolves).

Each value comes back as a :class:`MetadataValue` that records where it came from:
``"metadata"`` (read from the signal), ``"argument"`` (given by the caller) or ``"default"``
(not found; an exspy preference or "no absorption" was used). That provenance is stored with
the decomposition results.

Conventions
-----------
- beam energy: keV (``Acquisition_instrument.TEM.beam_energy``); required.
- energy resolution: eV FWHM at Mn Ka (``...Detector.EDS.energy_resolution_MnKa``); default
  ``exspy.preferences.EDS.eds_mn_ka`` (130 eV).
- take-off angle: degrees, from ``...Stage.tilt_alpha``, ``...Stage.tilt_beta``,
  ``...Detector.EDS.azimuth_angle`` and ``...Detector.EDS.elevation_angle`` through
  :func:`exspy.utils.eds.take_off_angle`; missing angles use the exspy preferences.
- elements: ``Sample.elements``, or the ``elements=`` argument.
- thickness: ``Sample.thickness`` is read in **nanometres** unless a
  ``Sample.thickness_units`` leaf names another unit (``"m"``, ``"cm"``, ``"mm"``,
  ``"um"``/``"µm"``, ``"nm"``, ``"A"``/``"Å"``).
  Absent or zero: no absorption correction.
- density: ``Sample.density`` in g/cm³. Absent: no absorption correction unless a thickness is
  given (then the physics estimates it from the composition).
- energy axis: the (single) signal axis, uniform, in ``"eV"`` or ``"keV"``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BEAM_ENERGY",
    "ENERGY_RESOLUTION",
    "TILT_ALPHA",
    "TILT_BETA",
    "AZIMUTH_ANGLE",
    "ELEVATION_ANGLE",
    "ELEMENTS",
    "THICKNESS",
    "THICKNESS_UNITS",
    "DENSITY",
    "SIGNAL_TYPE",
    "MetadataValue",
    "EnergyAxisInfo",
    "MicroscopeParameters",
    "microscope_node",
    "read_beam_energy",
    "read_energy_resolution",
    "read_take_off_angle",
    "read_elements",
    "read_thickness",
    "read_density",
    "read_energy_axis",
    "read_parameters",
    "validate_elements",
    "SEMSignalWarning",
]

# --- metadata keys (``{mic}`` is "TEM", or "SEM" for EDS_SEM signals) ----------------------
BEAM_ENERGY = "Acquisition_instrument.{mic}.beam_energy"
ENERGY_RESOLUTION = "Acquisition_instrument.{mic}.Detector.EDS.energy_resolution_MnKa"
TILT_ALPHA = "Acquisition_instrument.{mic}.Stage.tilt_alpha"
TILT_BETA = "Acquisition_instrument.{mic}.Stage.tilt_beta"
AZIMUTH_ANGLE = "Acquisition_instrument.{mic}.Detector.EDS.azimuth_angle"
ELEVATION_ANGLE = "Acquisition_instrument.{mic}.Detector.EDS.elevation_angle"
ELEMENTS = "Sample.elements"
THICKNESS = "Sample.thickness"
THICKNESS_UNITS = "Sample.thickness_units"
DENSITY = "Sample.density"
SIGNAL_TYPE = "Signal.signal_type"

# length units accepted in ``Sample.thickness_units`` -> factor to nm
_LENGTH_TO_NM = {
    "m": 1e9,
    "cm": 1e7,
    "mm": 1e6,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "nm": 1.0,
    "a": 0.1,
    "å": 0.1,
    "angstrom": 0.1,
}

# energy units accepted on the signal axis -> factor to keV
_ENERGY_TO_KEV = {"ev": 1e-3, "kev": 1.0}


class SEMSignalWarning(UserWarning):
    """An EDS_SEM signal is decomposed with the thin-film (STEM) model."""


@dataclass(frozen=True)
class MetadataValue:
    """A value used by the physics model and where it came from.

    Attributes
    ----------
    value
        The value in esmpy-hs units (keV, eV, degrees, nm, g/cm³), or None.
    source : str
        ``"metadata"``, ``"argument"`` or ``"default"``.
    key : str or None
        The metadata key it was (or would have been) read from.
    note : str
        Free-text remark, e.g. that a metadata value equals the exspy default.
    """

    value: Any
    source: str
    key: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (storable in ``.hspy``)."""
        value = self.value
        if isinstance(value, tuple):
            value = list(value)
        return {
            "value": value,
            "source": self.source,
            "key": self.key if self.key is not None else "",
            "note": self.note,
        }


@dataclass(frozen=True)
class EnergyAxisInfo:
    """The signal axis in keV.

    Attributes
    ----------
    offset, scale : float
        First channel energy and channel width in keV.
    size : int
        Number of channels.
    units : str
        The units of the axis as found on the signal (``"eV"`` or ``"keV"``).
    """

    offset: float
    scale: float
    size: int
    units: str

    @property
    def end(self) -> float:
        """Energy of the last channel (keV)."""
        return self.offset + self.scale * (self.size - 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (storable in ``.hspy``)."""
        return {
            "offset_keV": float(self.offset),
            "scale_keV": float(self.scale),
            "size": int(self.size),
            "units": self.units,
        }


@dataclass(frozen=True)
class MicroscopeParameters:
    """Everything the physics model needs, with provenance.

    Attributes
    ----------
    microscope : str
        ``"TEM"`` or ``"SEM"`` (the metadata node read).
    beam_energy : MetadataValue
        keV.
    energy_resolution_MnKa : MetadataValue
        eV.
    take_off_angle : MetadataValue
        Degrees.
    angles : dict
        ``tilt_alpha``, ``tilt_beta``, ``azimuth_angle``, ``elevation_angle`` (MetadataValue).
    elements : MetadataValue
        Tuple of element symbols.
    thickness : MetadataValue
        nm or None.
    density : MetadataValue
        g/cm³ or None.
    energy_axis : EnergyAxisInfo
    """

    microscope: str
    beam_energy: MetadataValue
    energy_resolution_MnKa: MetadataValue
    take_off_angle: MetadataValue
    angles: dict[str, MetadataValue]
    elements: MetadataValue
    thickness: MetadataValue
    density: MetadataValue
    energy_axis: EnergyAxisInfo
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dictionary of values, sources and keys (storable in ``.hspy``)."""
        return {
            "microscope": self.microscope,
            "beam_energy": self.beam_energy.to_dict(),
            "energy_resolution_MnKa": self.energy_resolution_MnKa.to_dict(),
            "take_off_angle": self.take_off_angle.to_dict(),
            **{name: mv.to_dict() for name, mv in self.angles.items()},
            "elements": self.elements.to_dict(),
            "thickness": self.thickness.to_dict(),
            "density": self.density.to_dict(),
            "energy_axis": self.energy_axis.to_dict(),
        }


# --- helpers ------------------------------------------------------------------------------


def _get(signal, key: str) -> Any:
    md = signal.metadata
    if md.has_item(key):
        return md.get_item(key)
    return None


def _as_float(value: Any, key: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"metadata {key!r} = {value!r} is not a number; set it to a number "
            f"with s.metadata.set_item({key!r}, ...)."
        ) from None
    if not math.isfinite(out):
        raise ValueError(
            f"metadata {key!r} = {value!r} is not finite; set a finite value with "
            f"s.metadata.set_item({key!r}, ...)."
        )
    return out


def microscope_node(signal) -> str:
    """Return ``"SEM"`` for EDS_SEM signals and ``"TEM"`` otherwise.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal

    Returns
    -------
    str
    """
    signal_type = str(_get(signal, SIGNAL_TYPE) or "")
    return "SEM" if signal_type.upper().startswith("EDS_SEM") else "TEM"


def _exspy_preferences():
    from exspy import preferences

    return preferences.EDS


# --- readers ------------------------------------------------------------------------------


def read_beam_energy(signal, microscope: str = "TEM") -> MetadataValue:
    """Beam energy in keV from ``Acquisition_instrument.<TEM|SEM>.beam_energy``.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    microscope : {"TEM", "SEM"}

    Returns
    -------
    MetadataValue

    Raises
    ------
    ValueError
        If the key is absent or not positive, with the command that sets it.
    """
    key = BEAM_ENERGY.format(mic=microscope)
    value = _get(signal, key)
    if value is None:
        raise ValueError(
            f"The beam energy is not set: metadata {key!r} is missing. Set it with "
            "s.set_microscope_parameters(beam_energy=...) (in keV), e.g. "
            "s.set_microscope_parameters(beam_energy=200)."
        )
    energy = _as_float(value, key)
    if energy <= 0:
        raise ValueError(
            f"metadata {key!r} = {energy!r} keV is not a valid beam energy; set it with "
            "s.set_microscope_parameters(beam_energy=...) (in keV)."
        )
    return MetadataValue(energy, "metadata", key)


def read_energy_resolution(signal, microscope: str = "TEM") -> MetadataValue:
    """FWHM at Mn Kα in eV, or the exspy default (130 eV) when absent.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    microscope : {"TEM", "SEM"}

    Returns
    -------
    MetadataValue
    """
    key = ENERGY_RESOLUTION.format(mic=microscope)
    default = float(_exspy_preferences().eds_mn_ka)
    value = _get(signal, key)
    if value is None:
        return MetadataValue(
            default, "default", key, f"not in metadata; exspy default {default:g} eV used"
        )
    res = _as_float(value, key)
    if res <= 0:
        raise ValueError(
            f"metadata {key!r} = {res!r} eV is not a valid resolution; set it with "
            "s.set_microscope_parameters(energy_resolution_MnKa=...) (eV)."
        )
    note = ""
    if res == default:
        note = (
            f"equals the exspy default ({default:g} eV): probably not measured; "
            "set the detector's value with s.set_microscope_parameters(energy_resolution_MnKa=...)"
        )
    return MetadataValue(res, "metadata", key, note)


def _read_angle(
    signal, template: str, mic: str, default: float | None, label: str
) -> MetadataValue:
    key = template.format(mic=mic)
    value = _get(signal, key)
    if value is None:
        return MetadataValue(default, "default", key, f"{label} not in metadata")
    return MetadataValue(_as_float(value, key), "metadata", key)


def read_take_off_angle(signal) -> tuple[MetadataValue, dict[str, MetadataValue]]:
    """Take-off angle (degrees) from the stage tilts and detector angles.

    Computed with :func:`exspy.utils.eds.take_off_angle`; missing angles use the exspy
    preferences (tilt 0°, azimuth 0°, elevation 35°), and ``tilt_beta`` defaults to 0°.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal

    Returns
    -------
    take_off_angle : MetadataValue
    angles : dict of MetadataValue
        The four angles used.
    """
    from exspy.utils.eds import take_off_angle

    prefs = _exspy_preferences()
    mic = microscope_node(signal)
    angles = {
        "tilt_alpha": _read_angle(
            signal, TILT_ALPHA, mic, float(prefs.eds_tilt_stage), "tilt_alpha"
        ),
        "tilt_beta": _read_angle(signal, TILT_BETA, mic, 0.0, "tilt_beta"),
        "azimuth_angle": _read_angle(
            signal, AZIMUTH_ANGLE, mic, float(prefs.eds_detector_azimuth), "azimuth_angle"
        ),
        "elevation_angle": _read_angle(
            signal, ELEVATION_ANGLE, mic, float(prefs.eds_detector_elevation), "elevation_angle"
        ),
    }
    toa = float(
        take_off_angle(
            angles["tilt_alpha"].value,
            angles["azimuth_angle"].value,
            angles["elevation_angle"].value,
            angles["tilt_beta"].value,
        )
    )
    # tilt_beta is absent from most files and 0 is the natural assumption: not flagged
    defaults = [
        name for name, mv in angles.items() if mv.source == "default" and name != "tilt_beta"
    ]
    if not 0.0 < toa < 90.0:
        raise ValueError(
            f"The take-off angle computed from the metadata is {toa:.3g}°, outside (0°, 90°): "
            "check the stage tilt and the detector angles, e.g. "
            "s.set_microscope_parameters(tilt_stage=..., azimuth_angle=..., elevation_angle=...)."
        )
    if len(defaults) == len(angles) - 1:
        source, note = "default", "all angles are exspy defaults"
    elif defaults:
        source, note = "metadata", "defaults used for " + ", ".join(defaults)
    else:
        source, note = "metadata", ""
    return MetadataValue(toa, source, None, note), angles


def validate_elements(elements) -> tuple[str, ...]:
    """Check element symbols against exspy's element database.

    Parameters
    ----------
    elements : iterable of str

    Returns
    -------
    tuple of str
        The symbols, de-duplicated in first-seen order.

    Raises
    ------
    TypeError
        If ``elements`` is a single string or not iterable.
    ValueError
        For an unknown symbol, naming it.
    """
    from exspy.material import elements as element_db

    if isinstance(elements, str):
        raise TypeError(
            f"elements must be a list of symbols, not the string {elements!r}; "
            f"write elements=[{elements!r}]."
        )
    try:
        items = list(elements)
    except TypeError:
        raise TypeError(
            f"elements must be a list of element symbols such as ['Si', 'O'], not {elements!r}."
        ) from None
    out: list[str] = []
    for item in items:
        sym = str(item).strip()
        if sym not in element_db:
            raise ValueError(
                f"Unknown element {item!r}: not an element symbol. Use symbols such as "
                "'Si', 'O', 'Fe' (case-sensitive)."
            )
        if sym not in out:
            out.append(sym)
    return tuple(out)


def read_elements(signal, elements=None, add_elements=None) -> MetadataValue:
    """Elements to model: the ``elements`` argument, or ``Sample.elements``.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    elements : list of str, optional
        Replaces the metadata list when given.
    add_elements : list of str, optional
        Added to the list (from the argument or the metadata).

    Returns
    -------
    MetadataValue
        Tuple of symbols.

    Raises
    ------
    ValueError
        If no element is known, with the two ways to provide them.
    """
    if elements is not None:
        symbols = validate_elements(elements)
        source = "argument"
    else:
        md_value = _get(signal, ELEMENTS)
        symbols = validate_elements(md_value) if md_value is not None else ()
        source = "metadata"
    if add_elements is not None:
        extra = validate_elements(add_elements)
        symbols = tuple(dict.fromkeys((*symbols, *extra)))
        if extra:
            source = "argument" if source == "argument" else "metadata+argument"
    if not symbols:
        raise ValueError(
            f"No elements to model: metadata {ELEMENTS!r} is empty or missing and no "
            "elements were given. Either add them to the signal with "
            "s.add_elements(['Si', 'O', ...]) or pass elements=['Si', 'O', ...]."
        )
    return MetadataValue(symbols, source, ELEMENTS)


def read_thickness(signal, thickness=None) -> MetadataValue:
    """Sample thickness in nm (argument in nm, or ``Sample.thickness``).

    ``Sample.thickness`` is taken in nm unless ``Sample.thickness_units`` gives another
    length unit. Zero or absent means no absorption correction.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    thickness : float, optional
        nm; overrides the metadata.

    Returns
    -------
    MetadataValue
    """
    if thickness is not None:
        value = _as_float(thickness, "thickness argument")
        if value < 0:
            raise ValueError(f"thickness={thickness!r} nm must be >= 0.")
        return MetadataValue(value or None, "argument", THICKNESS, "nm")
    raw = _get(signal, THICKNESS)
    if raw is None:
        return MetadataValue(None, "default", THICKNESS, "no thickness: no absorption correction")
    value = _as_float(raw, THICKNESS)
    units_raw = _get(signal, THICKNESS_UNITS)
    units = "nm" if units_raw is None else str(units_raw).strip()
    factor = _LENGTH_TO_NM.get(units.lower()) if units else None
    if factor is None:
        raise ValueError(
            f"metadata {THICKNESS_UNITS!r} = {units_raw!r} is not a length unit I know; use one "
            f"of {sorted(set(_LENGTH_TO_NM))} (or remove it: nm is assumed)."
        )
    value_nm = value * factor
    if value_nm < 0:
        raise ValueError(f"metadata {THICKNESS!r} = {raw!r} is negative; set a thickness >= 0.")
    return MetadataValue(value_nm or None, "metadata", THICKNESS, f"read as {value!r} {units}")


def read_density(signal, density=None) -> MetadataValue:
    """Sample density in g/cm³ (argument, or ``Sample.density``).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
    density : float, optional

    Returns
    -------
    MetadataValue
    """
    if density is not None:
        value = _as_float(density, "density argument")
        if value <= 0:
            raise ValueError(f"density={density!r} g/cm³ must be > 0.")
        return MetadataValue(value, "argument", DENSITY)
    raw = _get(signal, DENSITY)
    if raw is None:
        return MetadataValue(None, "default", DENSITY, "not in metadata")
    value = _as_float(raw, DENSITY)
    if value <= 0:
        raise ValueError(f"metadata {DENSITY!r} = {raw!r} must be > 0 (g/cm³).")
    return MetadataValue(value, "metadata", DENSITY)


def read_energy_axis(signal) -> EnergyAxisInfo:
    """The signal axis converted to keV.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal

    Returns
    -------
    EnergyAxisInfo

    Raises
    ------
    ValueError
        For more than one signal axis, a non-uniform axis or units other than eV/keV.
    """
    am = signal.axes_manager
    if am.signal_dimension != 1:
        raise ValueError(
            f"esmpy needs a spectrum image with one energy axis; this signal has "
            f"{am.signal_dimension} signal axes. Use a 1-D EDS signal (e.g. s.as_signal1D(-1))."
        )
    axis = am.signal_axes[0]
    if not getattr(axis, "is_uniform", True):
        raise ValueError(
            f"The energy axis {axis.name!r} is non-uniform; esmpy needs a uniform axis. "
            "Convert it with s.axes_manager.signal_axes[0].convert_to_uniform_axis() "
            "or interpolate the data onto a uniform energy grid first."
        )
    units = str(axis.units).strip()
    factor = _ENERGY_TO_KEV.get(units.lower())
    if factor is None:
        raise ValueError(
            f"The energy axis units are {axis.units!r}; esmpy needs 'eV' or 'keV'. Set them, "
            "e.g. s.axes_manager.signal_axes[0].units = 'keV'."
        )
    scale = float(axis.scale) * factor
    if scale <= 0:
        raise ValueError(
            f"The energy axis scale is {axis.scale!r} {units}; it must be positive (increasing "
            "energies)."
        )
    return EnergyAxisInfo(float(axis.offset) * factor, scale, int(axis.size), units)


def read_parameters(
    signal,
    *,
    elements=None,
    add_elements=None,
    thickness=None,
    density=None,
) -> MicroscopeParameters:
    """Read every parameter the physics model needs from a signal.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        An EDS spectrum image (EDS_TEM; EDS_SEM is accepted with a
        :class:`SEMSignalWarning`).
    elements, add_elements : list of str, optional
        See :func:`read_elements`.
    thickness : float, optional
        nm; overrides ``Sample.thickness``.
    density : float, optional
        g/cm³; overrides ``Sample.density``.

    Returns
    -------
    MicroscopeParameters
    """
    signal_type = str(_get(signal, SIGNAL_TYPE) or "")
    if "EELS" in signal_type.upper():
        raise ValueError(
            f"This is an EELS signal (signal_type {signal_type!r}); esmpy decomposes EDS (X-ray) "
            "spectrum images. Use an EDS signal, e.g. hs.load(..., signal_type='EDS_TEM')."
        )
    if not signal_type.upper().startswith("EDS"):
        warnings.warn(
            f"signal_type is {signal_type!r}, not an EDS type: the data are treated as an EDS "
            "TEM spectrum image. Set s.set_signal_type('EDS_TEM') (or 'esmpy') to make it "
            "explicit.",
            UserWarning,
            stacklevel=3,
        )
    mic = microscope_node(signal)
    if mic == "SEM":
        warnings.warn(
            "This is an EDS_SEM signal: esmpy models thin films (STEM), so for a bulk SEM "
            "sample the absorption and the electron range are not modelled correctly and the "
            "compositions are approximate. Metadata is read from Acquisition_instrument.SEM.",
            SEMSignalWarning,
            stacklevel=3,
        )
    energy_axis = read_energy_axis(signal)
    beam = read_beam_energy(signal, mic)
    resolution = read_energy_resolution(signal, mic)
    toa, angles = read_take_off_angle(signal)
    elems = read_elements(signal, elements, add_elements)
    thick = read_thickness(signal, thickness)
    dens = read_density(signal, density)
    notes = tuple(
        f"{name}: {mv.note}"
        for name, mv in (
            ("energy_resolution_MnKa", resolution),
            ("take_off_angle", toa),
            ("thickness", thick),
        )
        if mv.note and mv.source != "argument"
    )
    return MicroscopeParameters(
        microscope=mic,
        beam_energy=beam,
        energy_resolution_MnKa=resolution,
        take_off_angle=toa,
        angles=angles,
        elements=elems,
        thickness=thick,
        density=dens,
        energy_axis=energy_axis,
        notes=notes,
    )
