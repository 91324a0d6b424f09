"""Toolkit-independent model of the esmpy decomposition form.

:class:`EsmpyDecompositionUI` holds the form values as traits, pre-filled from the signal's
metadata (read through :mod:`esmpy_hs.metadata`) and from the defaults of
:class:`esmpy_hs.nmf.EsmpyNMF`. It knows where each value comes from (metadata, exspy default,
estimator default, edited), validates the form, turns it into the arguments of
:func:`esmpy_hs.decompose`, runs the decomposition and stores edited values in the
metadata. The widget toolkits (:mod:`esmpy_hs.gui._ipywidgets`) only draw it; they are found
through HyperSpy's GUI registry under the toolkey ``"esmpy_hs.decomposition"``.

This module imports no widget toolkit.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import traits.api as t
from hyperspy.ui_registry import add_gui_method

from esmpy_hs import metadata as md

__all__ = ["EsmpyDecompositionUI", "FieldNote", "TOOLKEY", "parse_elements"]

_logger = logging.getLogger(__name__)

#: HyperSpy GUI toolkey of the decomposition form (declared in hyperspy_extension.yaml).
TOOLKEY = "esmpy_hs.decomposition"

#: form fields, in display order: (trait name, label)
FIELDS: tuple[tuple[str, str], ...] = (
    ("elements", "Elements"),
    ("ignore_elements", "Elements to ignore"),
    ("n_components", "Number of phases"),
    ("thickness", "Thickness (nm)"),
    ("density", "Density (g/cm³)"),
    ("beam_energy", "Beam energy (keV)"),
    ("energy_resolution_MnKa", "Resolution at Mn Kα (eV)"),
    ("take_off_angle", "Take-off angle (°)"),
    ("energy_min", "Fit from (keV)"),
    ("energy_max", "Fit up to (keV)"),
    ("smoothness_auto", "Automatic smoothness"),
    ("smoothness", "Smoothness λ"),
    ("max_iter", "Max. iterations"),
    ("tol_objective", "Tolerance (objective)"),
    ("tol_parameters", "Tolerance (W, H)"),
    ("init", "Initialisation"),
    ("random_state", "Random seed"),
)

#: estimator options the form sets (and passes on every run)
_ESTIMATOR_FIELDS = (
    "smoothness_auto",
    "smoothness",
    "max_iter",
    "tol_objective",
    "tol_parameters",
    "init",
    "random_state",
)

_SPLIT = re.compile(r"[\s,;]+")


def parse_elements(text: str) -> list[str]:
    """Split a comma/space separated list of element symbols.

    Parameters
    ----------
    text : str
        e.g. ``"Fe, O Si"``.

    Returns
    -------
    list of str
        The symbols in the order given, duplicates removed.
    """
    return list(dict.fromkeys(item for item in _SPLIT.split(text.strip()) if item))


def _unknown_elements(symbols: list[str]) -> list[str]:
    unknown = []
    for sym in symbols:
        try:
            md.validate_elements([sym])
        except ValueError:
            unknown.append(sym)
    return unknown


@dataclass(frozen=True)
class FieldNote:
    """Where the value of a form field comes from.

    Attributes
    ----------
    kind : str
        ``"metadata"`` (read from the signal), ``"default"`` (an exspy preference or an
        estimator default, not a measured value), ``"edited"`` (changed in the form),
        ``"missing"`` (required but absent) or ``"info"``.
    text : str
        Short human-readable explanation.
    """

    kind: str
    text: str


def _estimator_defaults() -> dict[str, Any]:
    from esmpy_hs.nmf import EsmpyNMF

    params = inspect.signature(EsmpyNMF.__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def _same(a: float | None, b: float | None) -> bool:
    a = a or 0.0
    b = b or 0.0
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@add_gui_method(toolkey=TOOLKEY)
class EsmpyDecompositionUI(t.HasTraits):
    """Form model of the esmpy decomposition of an EDS spectrum image.

    The traits are pre-filled from the signal's metadata (elements, beam energy, resolution,
    take-off angle, thickness, density) and from :class:`esmpy_hs.nmf.EsmpyNMF`'s defaults.
    Call :meth:`gui` (added by HyperSpy's ``add_gui_method``) to draw it.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        An EDS spectrum image (exspy ``EDSTEMSpectrum``, an esmpy signal, ...).

    Notes
    -----
    Only values that :func:`esmpy_hs.decompose` would not read from the metadata by
    itself are passed to it (see :meth:`decompose_kwargs`); the estimator options are always
    passed. A beam energy that differs from the metadata (or is missing from it) is applied to
    a metadata copy for the run only (``decompose`` reads it from the metadata); use
    :meth:`store` to write the edited values into the signal's metadata.
    """

    elements = t.Str(desc="element symbols, separated by commas or spaces")
    ignore_elements = t.Str(desc="elements modelled but left out of the compositions (e.g. Cu)")
    n_components = t.Int(2, desc="number of phases")
    thickness = t.Float(0.0, desc="sample thickness in nm; 0: no absorption correction")
    density = t.Float(0.0, desc="sample density in g/cm³; 0: estimated from the composition")
    beam_energy = t.Float(0.0, desc="beam energy in keV (required)")
    energy_resolution_MnKa = t.Float(130.0, desc="detector FWHM at Mn Kα in eV")
    take_off_angle = t.Float(desc="from stage tilt and detector azimuth/elevation (read-only)")
    energy_min = t.Float(0.15, desc="lowest energy fitted, keV")
    energy_max = t.Float(20.0, desc="highest energy fitted, keV (at most the beam energy)")
    smoothness_auto = t.Bool(True, desc="set the spatial smoothness from the dose")
    smoothness = t.Float(0.0, desc="Laplacian smoothness strength (counts); 0: off")
    max_iter = t.Int(1000, desc="maximum number of iterations")
    tol_objective = t.Float(1e-8, desc="relative objective change per iteration to stop")
    tol_parameters = t.Float(1e-5, desc="relative change of W and H per iteration to stop")
    init = t.Enum("auto", "random", desc="initialisation of W and H")
    random_state = t.Int(0, desc="seed of the random initialisation")

    #: validation messages of the current values (empty when the form is valid)
    errors = t.List(t.Str)

    def __init__(self, signal, **traits):
        from hyperspy.signal import BaseSignal

        if not isinstance(signal, BaseSignal):
            raise TypeError(
                "decomposition_gui() needs a HyperSpy EDS signal (e.g. loaded with hs.load), "
                f"got {type(signal).__name__}."
            )
        super().__init__()
        self.signal = signal
        self._reference: dict[str, Any] = {}
        self._reference_notes: dict[str, FieldNote] = {}
        self._fixed_errors: list[str] = []
        self.reload()
        self.trait_set(**traits)
        # any change of a form field re-validates
        self.observe(self._update_errors, [name for name, _ in FIELDS])
        self._update_errors()

    # -- reading the signal --------------------------------------------------------------
    def reload(self) -> None:
        """Read the metadata and the estimator defaults again and reset every field."""
        s = self.signal
        ref: dict[str, Any] = {}
        notes: dict[str, FieldNote] = {}
        fixed: list[str] = []
        mic = md.microscope_node(s)
        self._microscope = mic

        from esmpy_hs.decomposition import DEFAULT_LOW_CUT

        ref["energy_min"] = float(DEFAULT_LOW_CUT)
        try:
            ref["energy_max"] = round(float(md.read_energy_axis(s).end), 6)
        except ValueError as err:
            fixed.append(str(err))
            ref["energy_max"] = 0.0

        try:
            ref["beam_energy"] = md.read_beam_energy(s, mic).value
            notes["beam_energy"] = FieldNote("metadata", "from metadata")
        except (ValueError, TypeError):
            ref["beam_energy"] = None
            notes["beam_energy"] = FieldNote(
                "missing", f"not in metadata ({md.BEAM_ENERGY.format(mic=mic)}): enter it"
            )

        try:
            res = md.read_energy_resolution(s, mic)
            ref["energy_resolution_MnKa"] = res.value
            if res.source == "default":
                notes["energy_resolution_MnKa"] = FieldNote(
                    "default", "not in metadata: exspy default"
                )
            elif res.note:
                notes["energy_resolution_MnKa"] = FieldNote(
                    "default", "metadata value equals the exspy default: probably not measured"
                )
            else:
                notes["energy_resolution_MnKa"] = FieldNote("metadata", "from metadata")
        except (ValueError, TypeError) as err:
            fixed.append(str(err))
            ref["energy_resolution_MnKa"] = None

        try:
            toa, angles = md.read_take_off_angle(s)
            ref["take_off_angle"] = round(float(toa.value), 4)
            notes["take_off_angle"] = self._angle_note(toa, angles)
        except (ValueError, TypeError) as err:
            fixed.append(str(err))
            ref["take_off_angle"] = float("nan")
            notes["take_off_angle"] = FieldNote("missing", "invalid angles in metadata")

        raw_elements = s.metadata.get_item(md.ELEMENTS, None)
        ref["elements"] = [str(e) for e in raw_elements] if raw_elements else []
        notes["elements"] = (
            FieldNote("metadata", f"from metadata ({md.ELEMENTS})")
            if ref["elements"]
            else FieldNote("missing", "not in metadata: enter the element symbols")
        )

        for name, reader in (("thickness", md.read_thickness), ("density", md.read_density)):
            try:
                mv = reader(s)
                ref[name] = mv.value
                if mv.value is None:
                    text = (
                        "not in metadata: no absorption correction"
                        if name == "thickness"
                        else "not in metadata: estimated from the composition"
                    )
                    notes[name] = FieldNote("default", text)
                else:
                    notes[name] = FieldNote("metadata", "from metadata")
            except (ValueError, TypeError) as err:
                fixed.append(str(err))
                ref[name] = None
                notes[name] = FieldNote("missing", "invalid value in metadata")

        defaults = _estimator_defaults()
        tol = defaults["tol"]
        tol_obj, tol_par = (tol, tol) if isinstance(tol, (int, float)) else tuple(tol)
        smooth = defaults["smoothness"]
        ref.update(
            smoothness_auto=smooth == "auto",
            smoothness=0.0 if smooth == "auto" else float(smooth),
            max_iter=int(defaults["max_iter"]),
            tol_objective=float(tol_obj),
            tol_parameters=float(tol_par),
            init=str(defaults["init"]),
            random_state=0 if defaults["random_state"] is None else int(defaults["random_state"]),
            n_components=2,
            ignore_elements=[],
        )

        self._reference, self._reference_notes, self._fixed_errors = ref, notes, fixed
        values: dict[str, Any] = {name: ref[name] for name in _ESTIMATOR_FIELDS + ("n_components",)}
        values.update(
            elements=", ".join(ref["elements"]),
            ignore_elements="",
            beam_energy=ref["beam_energy"] or 0.0,
            energy_resolution_MnKa=ref["energy_resolution_MnKa"] or 0.0,
            take_off_angle=ref["take_off_angle"],
            thickness=ref["thickness"] or 0.0,
            density=ref["density"] or 0.0,
            energy_min=ref["energy_min"],
            energy_max=ref["energy_max"],
        )
        self.trait_set(**values)
        self._update_errors()

    @staticmethod
    def _angle_note(toa: md.MetadataValue, angles: dict[str, md.MetadataValue]) -> FieldNote:
        from exspy import preferences

        prefs = preferences.EDS
        pref_values = {
            "tilt_alpha": float(prefs.eds_tilt_stage),
            "azimuth_angle": float(prefs.eds_detector_azimuth),
            "elevation_angle": float(prefs.eds_detector_elevation),
        }
        missing = [n for n, mv in angles.items() if mv.source == "default" and n in pref_values]
        same = [
            n
            for n, mv in angles.items()
            if mv.source == "metadata" and n in pref_values and mv.value == pref_values[n]
        ]
        if missing:
            return FieldNote(
                "default", "exspy defaults used for " + ", ".join(missing) + " (not in metadata)"
            )
        if len(same) == len(pref_values):
            return FieldNote(
                "default",
                "tilt, azimuth and elevation equal the exspy defaults: probably not measured",
            )
        return FieldNote("metadata", "from stage tilt and detector angles")

    # -- provenance ----------------------------------------------------------------------
    def _current(self, name: str) -> Any:
        if name in ("elements", "ignore_elements"):
            return parse_elements(getattr(self, name))
        return getattr(self, name)

    def is_edited(self, name: str) -> bool:
        """Whether field ``name`` differs from the value read from the metadata/defaults."""
        ref = self._reference.get(name)
        value = self._current(name)
        if name in ("elements", "ignore_elements"):
            return value != list(ref or [])
        if isinstance(value, bool) or isinstance(value, str):
            return value != ref
        if name == "take_off_angle":
            return False
        return not _same(value, ref)

    def field_note(self, name: str) -> FieldNote:
        """Where the current value of field ``name`` comes from.

        Parameters
        ----------
        name : str
            A trait name of the form (see ``FIELDS``).

        Returns
        -------
        FieldNote
        """
        if name in _ESTIMATOR_FIELDS or name == "n_components":
            if self.is_edited(name):
                return FieldNote("edited", "edited")
            if name == "smoothness_auto" and self.smoothness_auto:
                return FieldNote("default", "default: λ = 2·√(mean counts per pixel)")
            if name == "smoothness" and self.smoothness_auto:
                return FieldNote("info", "unused while automatic")
            if name == "random_state" and self.init == "auto":
                return FieldNote("info", "unused with init='auto' (deterministic)")
            return FieldNote("default", "default")
        if name in ("elements", "ignore_elements"):
            unknown = _unknown_elements(parse_elements(getattr(self, name)))
            if unknown:
                return FieldNote("missing", "unknown symbol(s): " + ", ".join(unknown))
        if name == "ignore_elements":
            if self.ignore_elements.strip():
                return FieldNote("edited", "modelled, left out of the compositions")
            return FieldNote("info", "e.g. Cu of the grid")
        if name == "take_off_angle":
            return self._reference_notes[name]
        if name in ("energy_min", "energy_max"):
            if self.is_edited(name):
                return FieldNote("edited", "edited")
            if name == "energy_min":
                return FieldNote("default", "default: channels below are never fitted")
            return FieldNote("default", "default: the axis end (capped at the beam energy)")
        if self.is_edited(name):
            if name in ("beam_energy", "energy_resolution_MnKa", "thickness", "density"):
                return FieldNote("edited", "edited (not stored in metadata)")
            return FieldNote("edited", "edited")
        return self._reference_notes[name]

    # -- validation ----------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Check the form values.

        Returns
        -------
        list of str
            One message per problem, naming the field and the fix; empty when valid.
        """
        errors = list(self._fixed_errors)
        elements = parse_elements(self.elements)
        if not elements:
            errors.append(
                "Elements: enter at least one element symbol (e.g. 'Fe, O, Si'); the "
                "metadata has none (s.add_elements([...]) sets them)."
            )
        for field, symbols in (
            ("Elements", elements),
            ("Elements to ignore", parse_elements(self.ignore_elements)),
        ):
            unknown = _unknown_elements(symbols)
            if unknown:
                errors.append(
                    f"{field}: unknown element symbol(s) {', '.join(map(repr, unknown))}; use "
                    "symbols such as 'Si', 'O', 'Fe' (case-sensitive)."
                )
        if self.n_components < 1:
            errors.append(f"Number of phases: {self.n_components} must be at least 1.")
        if not self.beam_energy > 0:
            errors.append(
                "Beam energy: missing. Enter the beam energy in keV (e.g. 200); the metadata "
                f"key {md.BEAM_ENERGY.format(mic=self._microscope)!r} is not set."
            )
        if not self.energy_resolution_MnKa > 0:
            errors.append(
                f"Resolution at Mn Kα: {self.energy_resolution_MnKa:g} eV must be positive "
                "(typical SDD: 120-140 eV)."
            )
        if not self.thickness >= 0:
            errors.append(f"Thickness: {self.thickness:g} nm must be >= 0 (0: no absorption).")
        if not self.density >= 0:
            errors.append(f"Density: {self.density:g} g/cm³ must be >= 0.")
        elif self.density == 0 and self._reference.get("density"):
            errors.append(
                f"Density: the metadata has {self._reference['density']:g} g/cm³; enter a "
                "positive density (to estimate it from the composition, delete "
                f"{md.DENSITY} from the metadata)."
            )
        if not 0 <= self.energy_min < self.energy_max:
            errors.append(
                f"Energy range: {self.energy_min:g}-{self.energy_max:g} keV; the low end must "
                "be >= 0 and below the high end."
            )
        if not self.smoothness_auto and not self.smoothness >= 0:
            errors.append(f"Smoothness: {self.smoothness:g} must be >= 0 (0: off).")
        if self.max_iter < 1:
            errors.append(f"Max. iterations: {self.max_iter} must be at least 1.")
        for label, value in (
            ("Tolerance (objective)", self.tol_objective),
            ("Tolerance (W, H)", self.tol_parameters),
        ):
            if not value >= 0:
                errors.append(f"{label}: {value:g} must be >= 0 (0: run all iterations).")
        if self.random_state < 0:
            errors.append(f"Random seed: {self.random_state} must be >= 0.")
        return errors

    def _update_errors(self, event=None) -> None:
        self.errors = self.validate()

    # -- what to run ---------------------------------------------------------------------
    def decompose_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`esmpy_hs.decompose` for the current form.

        Physical parameters are included only when they differ from what ``decompose`` reads
        from the metadata by itself, the energy range (capped at the beam energy) only when
        edited; ``n_components`` and the estimator options
        (``max_iter``, ``tol``, ``smoothness``, ``init``, ``random_state``) always are.
        The beam energy is not a ``decompose`` argument (see :meth:`metadata_overrides`).

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            If the form is invalid, with every validation message.
        """
        errors = self.validate()
        if errors:
            raise ValueError("The form is invalid:\n- " + "\n- ".join(errors))
        kwargs: dict[str, Any] = {"n_components": int(self.n_components)}
        if self.is_edited("elements"):
            kwargs["elements"] = parse_elements(self.elements)
        ignore = parse_elements(self.ignore_elements)
        if ignore:
            kwargs["ignore_elements"] = ignore
        if self.is_edited("thickness"):
            kwargs["thickness"] = float(self.thickness)
        if self.is_edited("density"):
            kwargs["density"] = float(self.density)
        if self.is_edited("energy_resolution_MnKa"):
            kwargs["detector"] = {"resolution_mnka": float(self.energy_resolution_MnKa)}
        if self.is_edited("energy_min") or self.is_edited("energy_max"):
            high = min(float(self.energy_max), float(self.beam_energy))
            kwargs["energy_range"] = (float(self.energy_min), high)
        kwargs.update(
            max_iter=int(self.max_iter),
            tol=(float(self.tol_objective), float(self.tol_parameters)),
            smoothness="auto" if self.smoothness_auto else float(self.smoothness),
            init=str(self.init),
            random_state=int(self.random_state),
        )
        return kwargs

    def metadata_overrides(self) -> dict[str, float]:
        """Metadata items (full key -> value) applied to a copy of the metadata for a run.

        Returns
        -------
        dict
            The beam energy key when the form's value differs from the metadata (or the
            metadata has none); empty otherwise.
        """
        if self.is_edited("beam_energy"):
            return {md.BEAM_ENERGY.format(mic=self._microscope): float(self.beam_energy)}
        return {}

    def run(self, callback: Callable | None = None):
        """Run :func:`esmpy_hs.decompose` with the form's values.

        The results are written to the signal's ``learning_results`` exactly as by
        ``decompose`` (see there). The signal's metadata is not changed.

        Parameters
        ----------
        callback : callable, optional
            Estimator callback ``callback(n_iter, W, H, loss)`` (e.g. a progress bar).

        Returns
        -------
        esmpy_hs.nmf.EsmpyNMF
            The fitted estimator.

        Raises
        ------
        ValueError
            If the form is invalid (nothing is run), or from ``decompose``.
        """
        from esmpy_hs.decomposition import decompose

        kwargs = self.decompose_kwargs()
        n_components = kwargs.pop("n_components")
        overrides = self.metadata_overrides()
        options = {"show_progressbar": False, "print_info": False, "return_info": True}
        if callback is not None:
            options["callback"] = callback
        if not overrides:
            return decompose(self.signal, n_components, **kwargs, **options)
        # decompose reads these from the metadata: use a copy that shares the data
        work = self.signal._deepcopy_with_new_data(self.signal.data)
        for key, value in overrides.items():
            work.metadata.set_item(key, value)
        _logger.info("running on a metadata copy with %s", overrides)
        estimator = decompose(work, n_components, **kwargs, **options)
        self.signal.learning_results.__dict__.update(work.learning_results.__dict__)
        return estimator

    # -- storing -------------------------------------------------------------------------
    def store(self) -> list[str]:
        """Write the edited sample and microscope values into the signal's metadata.

        Written when edited or absent from the metadata: beam energy, resolution at Mn Kα
        (keV/eV, ``Acquisition_instrument.<TEM|SEM>``), elements (``Sample.elements``,
        sorted), thickness (``Sample.thickness`` with ``Sample.thickness_units = "nm"``) and
        density (``Sample.density``). The fields are then re-read from the metadata.

        Returns
        -------
        list of str
            The metadata keys written.

        Raises
        ------
        ValueError
            If the form is invalid (nothing is written).
        """
        errors = self.validate()
        if errors:
            raise ValueError("The form is invalid:\n- " + "\n- ".join(errors))
        mic = self._microscope
        items: dict[str, Any] = {}
        if self.is_edited("beam_energy"):  # also when absent from the metadata
            items[md.BEAM_ENERGY.format(mic=mic)] = float(self.beam_energy)
        if self.is_edited("energy_resolution_MnKa"):
            items[md.ENERGY_RESOLUTION.format(mic=mic)] = float(self.energy_resolution_MnKa)
        if self.is_edited("elements"):
            items[md.ELEMENTS] = sorted(parse_elements(self.elements))
        if self.is_edited("thickness"):
            items[md.THICKNESS] = float(self.thickness)
            items[md.THICKNESS_UNITS] = "nm"
        if self.is_edited("density"):
            items[md.DENSITY] = float(self.density)
        # keep the form's other edits (estimator options, phases) across the reload
        keep = {
            name: getattr(self, name)
            for name in (
                *_ESTIMATOR_FIELDS,
                "n_components",
                "ignore_elements",
                "energy_min",
                "energy_max",
            )
        }
        for key, value in items.items():
            self.signal.metadata.set_item(key, value)
        self.reload()
        self.trait_set(**keep)
        return list(items)
