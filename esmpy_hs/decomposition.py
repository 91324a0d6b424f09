"""``esmpy_hs.decomposition``: esmpy NMF of an EDS spectrum image, from metadata to phases.

The glue between HyperSpy and the two numerical layers: it reads the microscope parameters
(:mod:`esmpy_hs.metadata`), builds G (:mod:`esmpy_hs.physics`), runs
:class:`esmpy_hs.nmf.EsmpyNMF` through HyperSpy's decomposition with the estimator-object
contract, and writes the results back (see :mod:`esmpy_hs.results` for what is stored).

For eager signals the estimator runs on a private plain :class:`hyperspy.signals.Signal1D`
that shares (or, for integer data, holds a float copy of) the data: HyperSpy's own
``decomposition`` is used as is (no exspy vacuum mask or Poisson normalisation defaults, its
return value kept) for exspy, esmpy and any other EDS class. Lazy signals are fitted band by
band without loading the data (:mod:`esmpy_hs.lazy_decompose`). Either way the user's signal
is only touched once the fit has succeeded.
"""

from __future__ import annotations

import inspect
import logging
import numbers
import warnings
from typing import Any

import numpy as np

from esmpy_hs import metadata as md

__all__ = ["decompose", "ESMPY_ALGORITHM"]

_logger = logging.getLogger(__name__)

#: value of ``learning_results.decomposition_algorithm`` after an esmpy decomposition
ESMPY_ALGORITHM = "esmpy"

#: default low-energy cut (keV): channels at or below it are not fitted
DEFAULT_LOW_CUT = 0.15

# data peaks further than this (keV) from the model's line energies -> calibration warning
_SHIFT_WARN_KEV = 0.015

# residual peaks more significant than this (standard deviations) are reported
_PEAK_Z = 10.0

# rows of the data checked at a time for NaN / negative counts
_CHECK_ROWS = 4096

# estimator parameters set by decompose itself
_RESERVED = ("n_components", "G", "shape_2d", "show_progressbar")


# --- argument handling ---------------------------------------------------------------------


def _estimator_class():
    from esmpy_hs.nmf import EsmpyNMF

    return EsmpyNMF


def _check_estimator_options(options: dict[str, Any]) -> None:
    valid = [
        name
        for name in inspect.signature(_estimator_class().__init__).parameters
        if name not in ("self", *_RESERVED)
    ]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"decompose() got unknown keyword argument(s) {unknown}. Valid estimator options "
            f"are {sorted(valid)}; see esmpy_hs.decompose and esmpy_hs.nmf.EsmpyNMF."
        )
    reserved = sorted(set(options) & set(_RESERVED) - {"show_progressbar"})
    if reserved:  # pragma: no cover - excluded by the signature check above
        raise TypeError(f"{reserved} are set by decompose() and cannot be given.")


def _check_n_components(n_components) -> int:
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise TypeError(
            f"n_components must be a positive integer (the number of phases), got {n_components!r}."
        )
    if n_components < 1:
        raise ValueError(f"n_components={n_components} must be >= 1 (the number of phases).")
    return int(n_components)


def _navigation_mask(navigation_mask, closing) -> Any:
    """Return the mask to use (None or boolean); warn and drop exspy vacuum masks."""
    if navigation_mask is None:
        return None
    if isinstance(navigation_mask, (bool, np.bool_)):
        if navigation_mask:
            raise ValueError(
                "navigation_mask=True would exclude every pixel; pass None or a boolean mask."
            )
        return None
    if isinstance(navigation_mask, numbers.Real):
        warnings.warn(
            f"navigation_mask={navigation_mask!r} asks for exspy's vacuum mask, which removes "
            "the low-count pixels that esmpy's Poisson model needs (on sparse data it can mask "
            "almost every pixel): it is ignored and every pixel is fitted. To exclude pixels, "
            "pass a boolean mask (True = excluded).",
            UserWarning,
            stacklevel=3,
        )
        return None
    if closing is not None:
        _logger.debug("closing=%r ignored: it only applies to exspy's vacuum mask", closing)
    return navigation_mask


def _mask_array(mask, signal, kind: str) -> np.ndarray | None:
    """A user mask (numpy array or BaseSignal, True = excluded) as a flat bool array."""
    if mask is None:
        return None
    from hyperspy.signal import BaseSignal

    am = signal.axes_manager
    if isinstance(mask, BaseSignal):
        arr = np.asarray(mask.data)
    else:
        arr = np.asarray(mask)
        if kind == "navigation" and arr.ndim > 1:
            arr = arr.T  # HyperSpy's numpy navigation masks are in (x, y) order
    expected = am._signal_shape_in_array if kind == "signal" else am._navigation_shape_in_array
    if arr.dtype != bool or arr.size != int(np.prod(expected)):
        raise ValueError(
            f"{kind}_mask must be a boolean array or signal with the {kind} shape "
            f"{tuple(expected)[::-1]} (True = excluded), got dtype {arr.dtype} and shape "
            f"{arr.shape}."
        )
    return arr.reshape(-1)


def _ignored_elements(ignore_elements) -> tuple[str, ...]:
    if ignore_elements is None:
        return ()
    if isinstance(ignore_elements, str):
        ignore_elements = [ignore_elements]
    return md.validate_elements(ignore_elements)


def _build_detector(detector, resolution: md.MetadataValue):
    """Detector from the argument (Detector or dict of its fields) or the metadata resolution."""
    from esmpy_hs.physics import Detector

    if detector is None:
        return Detector(resolution_mnka=resolution.value), resolution
    if isinstance(detector, Detector):
        return detector, md.MetadataValue(
            float(detector.resolution_mnka), "argument", resolution.key, "from detector="
        )
    if isinstance(detector, dict):
        fields = {"resolution_mnka": resolution.value, **detector}
        source = (
            resolution
            if "resolution_mnka" not in detector
            else md.MetadataValue(
                float(fields["resolution_mnka"]), "argument", resolution.key, "from detector="
            )
        )
        return Detector(**fields), source
    raise TypeError(
        f"detector must be an esmpy_hs.physics.Detector or a dict of its parameters, got "
        f"{type(detector).__name__}."
    )


def _energy_window(
    energies: np.ndarray, energy_range, low_cut: float, beam_energy: float, axis_end: float
) -> tuple[np.ndarray, tuple[float, float]]:
    if energy_range is None:
        lo, hi = low_cut, min(axis_end, beam_energy)
    else:
        try:
            lo, hi = (float(v) for v in energy_range)
        except (TypeError, ValueError):
            raise TypeError(
                f"energy_range must be (low, high) in keV, got {energy_range!r}."
            ) from None
        if not lo < hi:
            raise ValueError(f"energy_range={energy_range!r}: low must be below high (keV).")
        lo = max(lo, low_cut)
    return (energies >= lo) & (energies <= hi), (lo, hi)


def _storable(value: Any) -> Any:
    """Plain data that h5py/.hspy stores and restores (dicts, lists of scalars, arrays)."""
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_storable(v) for v in value]
        if any(isinstance(v, (dict, list, np.ndarray)) for v in items):
            return {str(i): v for i, v in enumerate(items)}
        return items
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type):
        return f"{value.__module__}.{value.__name__}"
    if isinstance(value, np.dtype):
        return str(value)
    return repr(value)


def _fixed_W_matrix(fixed_W, labels: list[str], k: int) -> np.ndarray | None:
    """``fixed_W`` as an (n_G, k) array with NaN = free.

    Accepts an array, ``{label: {phase: value}}`` or ``{(label, phase): value}``.
    """
    if fixed_W is None:
        return None
    if not isinstance(fixed_W, dict):
        arr = np.asarray(fixed_W, dtype=float)
        if arr.shape != (len(labels), k):
            raise ValueError(
                f"fixed_W has shape {arr.shape}; it must be (n_G, n_components) = "
                f"{(len(labels), k)} with rows {labels} (NaN = free), or a dict "
                "{label: {phase: value}}."
            )
        return arr
    out = np.full((len(labels), k), np.nan)
    items: list[tuple[Any, Any, Any]] = []
    for key, value in fixed_W.items():
        if isinstance(key, tuple) and len(key) == 2:
            items.append((key[0], key[1], value))
        elif isinstance(value, dict):
            items.extend((key, phase, v) for phase, v in value.items())
        else:
            raise ValueError(
                f"fixed_W entry {key!r}: {value!r} not understood; use {{label: {{phase: value}}}} "
                "or {(label, phase): value}."
            )
    for label, phase, value in items:
        if label not in labels:
            raise ValueError(f"fixed_W label {label!r} is not a column of G; G has {labels}.")
        if not (isinstance(phase, numbers.Integral) and 0 <= phase < k):
            raise ValueError(f"fixed_W phase {phase!r} must be an integer in [0, {k}).")
        out[labels.index(label), phase] = float(value)
    return out


def _initial_values(W_init, H_init, labels, k, axes_manager, nav_mask_flat):
    """(W0, H0) for the estimator's fit, or None; shapes checked against the model."""
    if W_init is None and H_init is None:
        return None
    W0 = H0 = None
    if W_init is not None:
        W0 = np.asarray(W_init, dtype=float)
        if W0.shape != (len(labels), k):
            raise ValueError(
                f"W_init has shape {W0.shape}; it must be (n_G, n_components) = "
                f"{(len(labels), k)} with rows {labels}."
            )
    if H_init is not None:
        n_pixels = int(axes_manager.navigation_size)
        H0 = np.asarray(H_init, dtype=float)
        if H0.size != k * n_pixels or H0.shape[0] != k:
            raise ValueError(
                f"H_init has shape {H0.shape}; it must be (n_components, n_pixels) = "
                f"{(k, n_pixels)} or (n_components, *navigation shape)."
            )
        H0 = H0.reshape(k, n_pixels)
        if nav_mask_flat is not None:
            H0 = H0[:, ~nav_mask_flat]
    return W0, H0


class _StartFrom:
    """Estimator wrapper that passes starting values to ``fit_transform`` (HyperSpy's
    custom-object contract calls it with the data only)."""

    def __init__(self, estimator, W, H):
        self.estimator, self.W, self.H = estimator, W, H

    def fit_transform(self, X, y=None):
        return self.estimator.fit_transform(X, W=self.W, H=self.H)

    def transform(self, X):
        return self.estimator.transform(X)

    @property
    def components_(self):
        return self.estimator.components_


def _check_counts(data: np.ndarray, fit: np.ndarray, nav_keep: np.ndarray | None) -> None:
    """NaN/inf or negative counts in the fitted part of the data -> ValueError."""
    rows = np.arange(data.shape[0]) if nav_keep is None else np.flatnonzero(nav_keep)
    n_bad = n_negative = 0
    min_value = 0.0
    for start in range(0, rows.size, _CHECK_ROWS):  # row blocks: no full-size temporary
        block = data[rows[start : start + _CHECK_ROWS]][:, fit]
        finite = np.isfinite(block)
        n_bad += int(block.size - np.count_nonzero(finite))
        if block.size:
            min_value = min(min_value, float(np.min(block, where=finite, initial=0.0)))
            n_negative += int(np.count_nonzero(block < 0))
    if n_bad:
        n = n_bad
        raise ValueError(
            f"The data contain {n} NaN or infinite values in the fitted channels. esmpy needs "
            "counts: replace them (e.g. s.data = np.nan_to_num(s.data)) or exclude those "
            "pixels with navigation_mask=..."
        )
    if n_negative:
        n = n_negative
        raise ValueError(
            f"The data contain {n} negative values (minimum {min_value:g}) in the fitted "
            "channels. esmpy's Poisson model needs raw X-ray counts (>= 0): use data without "
            "background subtraction, or clip a copy (s2 = s.deepcopy(); "
            "s2.data[s2.data < 0] = 0)."
        )


def _peak_shift(
    data_sum: np.ndarray,
    lines_sum: np.ndarray,
    continuum_sum: np.ndarray,
    fit: np.ndarray,
    scale: float,
) -> float:
    """Energy shift (keV) of the data's X-ray peaks relative to the modelled lines.

    Works on the pixel-summed spectra: the data minus the modelled continuum is compared with
    the modelled characteristic lines, on the fitted channels around the lines. The line model
    is shifted by whole channels (up to ±0.1 keV) to maximise the correlation; a parabola
    through the best three shifts gives the sub-channel value. Positive: the data peaks sit
    above the modelled line energies. NaN when it cannot be measured reliably (fewer than
    1000 counts in the line regions, or the best shift at the edge of the search).
    """
    max_shift = int(min(20, max(1, round(0.1 / scale))))
    n = fit.size
    if not np.any(lines_sum > 0):
        return float("nan")
    near = lines_sum > 0.01 * lines_sum.max()
    for _ in range(max_shift):  # widen each line region by the search range
        near[1:] |= near[:-1].copy()
        near[:-1] |= near[1:].copy()
    idx = np.flatnonzero(fit & near)
    idx = idx[(idx >= max_shift) & (idx < n - max_shift)]
    residual = data_sum - continuum_sum
    if idx.size < 3 or residual[idx].sum() < 1000:
        return float("nan")
    d = residual[idx] - residual[idx].mean()
    scores = np.full(2 * max_shift + 1, -np.inf)
    for i, shift in enumerate(range(-max_shift, max_shift + 1)):
        m = lines_sum[idx - shift]
        m = m - m.mean()
        denom = np.sqrt((m * m).sum() * (d * d).sum())
        if denom > 0:
            scores[i] = float((m * d).sum() / denom)
    best = int(np.argmax(scores))
    if best in (0, scores.size - 1) or not np.isfinite(scores[best]):
        return float("nan")
    left, mid, right = scores[best - 1 : best + 2]
    curvature = left - 2 * mid + right
    offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return float((best - max_shift + offset) * scale)


def _work_data(signal, dtype) -> tuple[np.ndarray, bool]:
    """Float data of an eager signal for the fit: the user's array when already float32 or
    float64, a cast copy otherwise (integer counts are never modified in place)."""
    data = np.asarray(signal.data)
    if np.issubdtype(data.dtype, np.floating) and data.dtype.itemsize >= 4:
        return data, False
    return data.astype(dtype), True


def _build_model(params, elements, detector, axis_info, low_cut):
    """The physics model and G over the full axis; model-building errors get the fix."""
    from esmpy_hs.physics import EDXSModel, EnergyAxis, Sample

    detector_obj, resolution = _build_detector(detector, params.energy_resolution_MnKa)
    sample = Sample(
        thickness=params.thickness.value,
        density=params.density.value,
        take_off_angle=params.take_off_angle.value,
        composition=None,
    )
    axis = EnergyAxis(
        offset=axis_info.offset, scale=axis_info.scale, size=axis_info.size, units="keV"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = EDXSModel(
                beam_energy=params.beam_energy.value,
                energy_axis=axis,
                elements=elements,
                detector=detector_obj,
                sample=sample,
                low_cut=low_cut,
                bremsstrahlung=True,
            )
            G_full = np.asarray(model.build_G(dtype=np.float64), dtype=np.float64)
        except ValueError as err:
            raise ValueError(
                f"The X-ray model could not be built for elements {elements}: {err}. "
                "Check the elements (s.add_elements([...]) or elements=[...]), the energy axis "
                "calibration and the beam energy (s.set_microscope_parameters(beam_energy=...))."
            ) from err
    # the physics' warnings about dropped elements are replaced by decompose's own
    dropped = [e for e in elements if e not in model.elements]
    for w in caught:
        if not (issubclass(w.category, UserWarning) and any(e in str(w.message) for e in dropped)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model, G_full, detector_obj, resolution


def _fit_channels(model, G_full, labels, axis_info, energy_range, low_cut, beam, signal_mask):
    """Boolean mask of the fitted channels and the energy range used; checks G on it."""
    energies = axis_info.offset + axis_info.scale * np.arange(axis_info.size)
    window, used_range = _energy_window(energies, energy_range, low_cut, beam, axis_info.end)
    fit = np.asarray(model.fit_mask, dtype=bool) & window
    if signal_mask is not None:
        fit &= ~signal_mask
    n_fit = int(fit.sum())
    if n_fit < len(labels):
        raise ValueError(
            f"Only {n_fit} channels are left to fit (energy range {used_range[0]:g}-"
            f"{used_range[1]:g} keV and signal_mask); at least {len(labels)} are needed. "
            "Widen energy_range or relax signal_mask."
        )
    column_sums = G_full[fit].sum(axis=0)
    if np.any(column_sums <= 0):
        empty = [lab for lab, v in zip(labels, column_sums, strict=True) if v <= 0]
        raise ValueError(
            f"The G columns {empty} are zero over the fitted channels; widen energy_range or "
            "relax signal_mask so their lines are included."
        )
    return fit, used_range


def _grid_shape(axes_manager, masked: bool) -> tuple[int, int] | None:
    """Pixel grid for the spatial smoothness: (ny, nx), (1, n) for a line scan, else None."""
    if masked or axes_manager.navigation_dimension > 2:
        return None
    shape = tuple(int(n) for n in axes_manager._navigation_shape_in_array)
    return shape if len(shape) == 2 else (1, shape[0])


def _check_calibration(data_sum, G_full, W, phase_totals, element_cols, fit, axis_info):
    """Measure the data-vs-model peak shift (keV) and warn when the axis looks miscalibrated."""
    other_cols = [i for i in range(G_full.shape[1]) if i not in element_cols]
    shift = _peak_shift(
        data_sum,
        G_full[:, element_cols] @ (W[element_cols] @ phase_totals),
        G_full[:, other_cols] @ (W[other_cols] @ phase_totals),
        fit,
        axis_info.scale,
    )
    if abs(shift) >= max(_SHIFT_WARN_KEV, 0.75 * axis_info.scale):  # False for NaN
        in_units = shift * (1000.0 if axis_info.units.lower() == "ev" else 1.0)
        warnings.warn(
            f"The X-ray peaks in the data sit {shift * 1000:+.0f} eV from the modelled "
            "line energies: the energy axis calibration looks off, which biases the "
            "compositions. Correct it, e.g. s.axes_manager.signal_axes[0].offset -= "
            f"{in_units:.4g}, and decompose again.",
            UserWarning,
            stacklevel=3,
        )
    return shift


def _unexplained_peaks(
    data_sum, model_sum, fit, energies, detector, elements, shift=0.0, max_peaks=5
):
    """Peaks of the summed data that the fitted model leaves unexplained.

    The residual (data − model, pixel-summed; the model moved by the measured calibration
    ``shift``, keV) is integrated over ±FWHM windows and compared with the Poisson noise of
    the model there. Windows that are more than ``_PEAK_Z`` standard deviations in excess,
    where the excess is at least a quarter of the data and 0.2 % of all fitted counts, that
    lie 2 FWHM inside the fitted range, further than two FWHM from the main lines of the
    modelled elements (whose wings a resolution or calibration mismatch leaves in the
    residual) and one FWHM from their other lines and from the Si escape peaks of their main
    lines, are reported with candidate lines of other elements (exspy's line table).

    Returns
    -------
    list of (float, list of str)
        Peak energy (keV) and candidate lines, strongest excess first.
    """
    from exspy.material import elements as element_db
    from exspy.utils.eds import get_xray_lines_near_energy

    scale = float(energies[1] - energies[0])
    n = energies.size
    fwhm = detector.fwhm(np.clip(energies, 0.1, None))
    half = np.maximum(1, np.round(fwhm / scale).astype(int))
    idx = np.arange(n)
    lo, hi = np.clip(idx - half, 0, n), np.clip(idx + half + 1, 0, n)
    if np.isfinite(shift) and round(shift / scale):
        steps = int(round(shift / scale))
        moved = np.zeros_like(model_sum)
        if steps > 0:
            moved[steps:] = model_sum[:-steps]
        else:
            moved[:steps] = model_sum[-steps:]
        model_sum = moved
    residual = np.where(fit, data_sum - model_sum, 0.0)
    csum_r = np.concatenate([[0.0], np.cumsum(residual)])
    csum_m = np.concatenate([[0.0], np.cumsum(np.where(fit, model_sum, 0.0))])
    csum_f = np.concatenate([[0], np.cumsum(fit)])
    csum_d = np.concatenate([[0.0], np.cumsum(np.where(fit, data_sum, 0.0))])
    excess = csum_r[hi] - csum_r[lo]
    z = excess / np.sqrt(csum_m[hi] - csum_m[lo] + 1.0)
    lo2, hi2 = np.clip(idx - 2 * half, 0, n), np.clip(idx + 2 * half + 1, 0, n)
    inside = (csum_f[hi2] - csum_f[lo2]) == (hi2 - lo2)
    total = float(data_sum[fit].sum())
    good = (
        inside
        & (z > _PEAK_Z)
        & (excess > 0.002 * total)
        & (excess > 0.25 * (csum_d[hi] - csum_d[lo]))
    )
    modelled, main = [], []
    for el in elements:
        node = element_db[el].Atomic_properties
        if "Xray_lines" in node:
            for line in node.Xray_lines.as_dictionary().values():
                modelled.append(float(line["energy (keV)"]))
                if float(line["weight"]) >= 1.0:
                    main.append(modelled[-1])
    modelled, main = np.asarray(modelled), np.asarray(main)
    escapes = main[main > 1.84] - 1.74  # Si K escape peaks of the main modelled lines
    found: list[tuple[float, list[str]]] = []
    order = np.argsort(np.where(good, z, -np.inf))[::-1]
    taken = np.zeros(n, dtype=bool)
    for c in order:
        if not good[c] or len(found) >= max_peaks:
            break
        if taken[c]:
            continue
        taken[max(0, c - 2 * half[c]) : c + 2 * half[c] + 1] = True
        window = slice(lo[c], hi[c])
        weights = np.clip(residual[window], 0.0, None)
        energy = float((weights * energies[window]).sum() / weights.sum())
        width = float(fwhm[c])
        # wings of a modelled peak that is broader or shifted in the data are no new peak
        if main.size and np.min(np.abs(main - energy)) < 2 * width:
            continue
        near = np.concatenate([modelled, escapes])
        if near.size and np.min(np.abs(near - energy)) < width:
            continue
        candidates = [
            str(line)
            for line in get_xray_lines_near_energy(energy, width=2 * width, only_lines=("a",))
            if str(line).split("_")[0] not in elements
        ]
        if candidates:
            found.append((energy, candidates[:4]))
    return found


def _warn_unexplained(peaks) -> None:
    if not peaks:
        return
    described = "; ".join(f"{e:.2f} keV ({', '.join(c)}?)" for e, c in peaks)
    symbols = list(dict.fromkeys(c[0].split("_")[0] for _, c in peaks))
    warnings.warn(
        f"The model leaves peaks of the data unexplained at {described}: the element list "
        f"may be incomplete. Add the missing element(s), e.g. add_elements={symbols} or "
        f"s.add_elements({symbols}), and decompose again.",
        UserWarning,
        stacklevel=3,
    )


# --- main entry point ----------------------------------------------------------------------


def decompose(
    s,
    n_components: int,
    *,
    elements=None,
    add_elements=None,
    ignore_elements=None,
    thickness: float | None = None,
    density: float | None = None,
    detector=None,
    energy_range: tuple[float, float] | None = None,
    low_cut: float = DEFAULT_LOW_CUT,
    W_init=None,
    H_init=None,
    signal_mask=None,
    navigation_mask=None,
    normalize_poissonian_noise: bool = False,
    closing=None,
    show_progressbar: bool | None = None,
    print_info: bool = True,
    return_info: bool = False,
    **estimator_options,
):
    """Decompose an EDS spectrum image into phases with the physics-guided esmpy NMF.

    The counts are modelled as Y ≈ G·W·H: G is simulated from the microscope metadata (one
    column per element with all its X-ray lines, plus two bremsstrahlung columns), W holds
    the element content of each phase and H the abundance of each phase in each pixel (the
    abundances of a pixel sum to one). Works on any EDS TEM signal (exspy's
    ``EDSTEMSpectrum``, :class:`~esmpy_hs.signals.EsmpyEDSTEMSpectrum`, loaded
    ``.hspy``/``.emd``/``.bcf`` files), eager or lazy. The signal's data are never modified.

    Parameters read from the metadata (see :mod:`esmpy_hs.metadata`): beam energy (required;
    set with ``s.set_microscope_parameters(beam_energy=...)``), energy resolution at Mn Kα
    (default 130 eV, noted), take-off angle (from stage tilt, detector azimuth and elevation),
    elements (``Sample.elements``), thickness (``Sample.thickness``, nm unless
    ``Sample.thickness_units`` says otherwise) and density (``Sample.density``, g/cm³).

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal
        EDS spectrum image with one energy axis (eV or keV, uniform) and at least two pixels.
    n_components : int
        Number of phases k.
    elements : list of str, optional
        Elements to model; replaces ``Sample.elements``.
    add_elements : list of str, optional
        Elements modelled in addition to ``elements`` / ``Sample.elements``.
    ignore_elements : list of str, optional
        Elements modelled as free columns of G but excluded from quantification (e.g.
        ``["Cu"]`` for the grid). Added to the model if absent.
    thickness : float, optional
        Sample thickness in nm (overrides ``Sample.thickness``); None or 0: no absorption.
    density : float, optional
        g/cm³ (overrides ``Sample.density``).
    detector : esmpy_hs.physics.Detector or dict, optional
        Detector description; a dict gives :class:`~esmpy_hs.physics.Detector` fields, with
        the resolution from the metadata unless it contains ``resolution_mnka``.
    energy_range : (float, float), optional
        keV range fitted. Default ``(low_cut, min(axis end, beam energy))``: the zero-energy
        region is excluded.
    low_cut : float
        keV; channels at or below it are never fitted (default 0.15).
    signal_mask : numpy.ndarray or BaseSignal, optional
        Boolean, True = channel excluded from the fit (on top of the energy range). Factors
        are still given over the whole axis.
    navigation_mask : numpy.ndarray or BaseSignal, optional
        Boolean, True = pixel excluded; its loadings are NaN. A float (exspy's vacuum mask)
        is ignored with a warning. With a mask the pixels are not on a full grid, so the
        spatial smoothness is switched off.
    normalize_poissonian_noise : bool
        Must stay False: esmpy models raw counts. True gives a warning and is ignored.
    closing : bool, optional
        exspy's vacuum-mask option; ignored.
    show_progressbar : bool, optional
        Default: ``hs.preferences.General.show_progressbar``.
    print_info : bool
        Log a summary (logger ``esmpy_hs.decomposition``, level INFO). Nothing is printed.
    return_info : bool
        Return the fitted :class:`~esmpy_hs.nmf.EsmpyNMF`.
    W_init : array-like, optional
        Starting W, (n_G, k) in the order of the G labels (e.g. ``esmpy_W`` of an earlier
        run); takes precedence over ``init``.
    H_init : array-like, optional
        Starting abundances, (k, n_pixels) or (k, *navigation shape in array order).
    **estimator_options
        Any :class:`~esmpy_hs.nmf.EsmpyNMF` option: ``max_iter``, ``tol``, ``random_state``,
        ``init``, ``smoothness``, ``sparsity``, ``sparsity_exclude``, ``simplex``,
        ``fixed_W`` (array (n_G, k), NaN = free, or ``{label: {phase: value}}``),
        ``fixed_H``, ``dtype``, ``n_threads``, ``callback``, ... For particles embedded in
        a matrix (never pure), ``sparsity=0.5, sparsity_exclude="matrix"`` keeps the matrix
        spectrum from drifting outward (see :class:`~esmpy_hs.nmf.EsmpyNMF`).

    Returns
    -------
    esmpy_hs.nmf.EsmpyNMF or None
        The fitted estimator if ``return_info``.

    Raises
    ------
    ValueError
        Missing beam energy, no elements, unknown element, no element with a line in the
        energy range, non-uniform or non-energy axis, fewer than 2 pixels, NaN or negative
        counts. The signal is unchanged after any failure.

    Notes
    -----
    Results are stored in ``s.learning_results`` (``factors`` = G·W over the whole axis,
    ``loadings`` = Hᵀ, ``decomposition_algorithm = "esmpy"``, plus ``esmpy_W``, ``esmpy_G``,
    ``esmpy_fit_mask`` and ``esmpy_params``); they survive ``s.save()``. Use
    :func:`esmpy_hs.get_phase_compositions`, :func:`esmpy_hs.export_results` and the plots
    of :mod:`esmpy_hs.plotting`. Lazy signals are fitted band by band without loading the
    data (options: :func:`esmpy_hs.lazy_decompose.lazy_options`); the result equals the
    in-memory fit up to float32 summation order.

    On a plain exspy ``EDSTEMSpectrum``, ``s.decomposition(algorithm="esmpy")`` is not
    available (esmpy-hs never patches exspy): call this function, or convert the signal with
    ``s.set_signal_type("esmpy")`` first.

    Examples
    --------
    >>> import esmpy_hs
    >>> s.add_elements(["Si", "O", "C"])                          # doctest: +SKIP
    >>> esmpy_hs.decompose(s, 2, ignore_elements=["Cu"])          # doctest: +SKIP
    >>> print(esmpy_hs.get_phase_compositions(s))                 # doctest: +SKIP
    """
    import hyperspy.api as hs
    from hyperspy.signal import BaseSignal

    from esmpy_hs import __version__

    # -- arguments and signal checks (nothing touches s) ------------------------------------
    if not isinstance(s, BaseSignal):
        raise TypeError(
            f"decompose() needs a HyperSpy signal (e.g. loaded with hs.load), got "
            f"{type(s).__name__}."
        )
    k = _check_n_components(n_components)
    _check_estimator_options(estimator_options)
    if normalize_poissonian_noise:
        warnings.warn(
            "normalize_poissonian_noise=True is ignored: esmpy fits a Poisson model to the raw "
            "counts, which the Keenan-Kotula scaling would destroy.",
            UserWarning,
            stacklevel=2,
        )
    navigation_mask = _navigation_mask(navigation_mask, closing)
    if show_progressbar is None:
        show_progressbar = bool(hs.preferences.General.show_progressbar)

    axis_info = md.read_energy_axis(s)
    am = s.axes_manager
    n_pixels = int(am.navigation_size)
    if n_pixels < 2:
        raise ValueError(
            f"The navigation size is {n_pixels}: a decomposition needs a spectrum image (at "
            "least 2 pixels). For a single spectrum, fit a model instead (s.create_model())."
        )
    ignored = _ignored_elements(ignore_elements)
    params = md.read_parameters(
        s,
        elements=elements,
        add_elements=add_elements,
        thickness=thickness,
        density=density,
    )
    model_elements = list(params.elements.value)
    model_elements += [e for e in ignored if e not in model_elements]

    # -- physics: G over the full axis, and the channels to fit ----------------------------
    model, G_full, detector_obj, resolution = _build_model(
        params, model_elements, detector, axis_info, low_cut
    )
    dropped = [e for e in model_elements if e not in model.elements]
    labels = [str(lab) for lab in model.labels]
    fit, used_range = _fit_channels(
        model,
        G_full,
        labels,
        axis_info,
        energy_range,
        low_cut,
        params.beam_energy.value,
        _mask_array(signal_mask, s, "signal"),
    )
    quantified = [e for e in model.elements if e not in ignored]
    if not quantified:
        raise ValueError(
            f"None of the elements {list(params.elements.value)} has an X-ray line in the "
            f"energy range {used_range[0]:g}-{used_range[1]:g} keV, so there is nothing to "
            "quantify. Check the elements (s.add_elements([...]) or elements=...) and the "
            "energy axis calibration."
        )
    if dropped:
        warnings.warn(
            f"Element(s) {dropped} have no X-ray line between {low_cut:g} keV and "
            f"{min(axis_info.end, params.beam_energy.value):g} keV (the axis end or the beam "
            "energy) and are left out of the model. Remove them from the elements, or use data "
            "whose energy axis covers their lines.",
            UserWarning,
            stacklevel=2,
        )
    n_fit = int(fit.sum())

    # -- data: a float array for a private work signal --------------------------------------
    nav_mask_flat = _mask_array(navigation_mask, s, "navigation")
    estimator_dtype = estimator_options.get("dtype", np.float32)
    lazy = bool(getattr(s, "_lazy", False))  # lazy: fitted band by band (lazy_decompose)
    if not lazy:
        data, copied = _work_data(s, estimator_dtype)
        flat = data.reshape(n_pixels, axis_info.size)
        _check_counts(flat, fit, None if nav_mask_flat is None else ~nav_mask_flat)
        if copied:
            _logger.info("data cast to %s on a copy for the fit (signal unchanged)", data.dtype)

    masked = nav_mask_flat is not None and bool(nav_mask_flat.any())
    if masked:
        if estimator_options.get("smoothness", "auto") not in (0, 0.0, None, "auto"):
            warnings.warn(
                "Spatial smoothness is switched off: with a navigation_mask the fitted pixels "
                "are not a full grid.",
                UserWarning,
                stacklevel=2,
            )
        estimator_options["smoothness"] = 0.0
    shape_2d = _grid_shape(am, masked)
    if "fixed_W" in estimator_options:
        estimator_options["fixed_W"] = _fixed_W_matrix(estimator_options["fixed_W"], labels, k)
    start = _initial_values(W_init, H_init, labels, k, am, nav_mask_flat)

    estimator = _estimator_class()(
        n_components=k,
        G=G_full[fit],
        shape_2d=shape_2d,
        show_progressbar=show_progressbar,
        **estimator_options,
    )
    algorithm = estimator if start is None else _StartFrom(estimator, *start)

    _logger.info(
        "esmpy: fitting %d phases on %d pixels x %d channels (%d G columns)",
        k,
        n_pixels,
        n_fit,
        len(labels),
    )
    if lazy:
        from esmpy_hs.lazy_decompose import decompose_lazy_data

        lr, data_sum = decompose_lazy_data(s, algorithm, fit=fit, navigation_mask=nav_mask_flat)
    else:
        from hyperspy.signals import Signal1D

        axes = [ax.get_axis_dictionary() for ax in sorted(am._axes, key=lambda a: a.index_in_array)]
        work = Signal1D(data, axes=axes)  # array order
        work.decomposition(
            algorithm=algorithm,
            output_dimension=k,
            normalize_poissonian_noise=False,
            navigation_mask=None
            if nav_mask_flat is None
            else nav_mask_flat.reshape(am._navigation_shape_in_array).T,
            signal_mask=~fit,
            print_info=False,
            return_info=True,
        )
        lr = work.learning_results
        keep = slice(None) if nav_mask_flat is None else ~nav_mask_flat
        data_sum = flat[keep].sum(axis=0, dtype=np.float64)

    # -- write back --------------------------------------------------------------------------
    W = np.asarray(estimator.W_, dtype=np.float64)
    lr.factors = G_full @ W
    lr.decomposition_algorithm = ESMPY_ALGORITHM
    lr.output_dimension = k
    lr.esmpy_W = W
    lr.esmpy_G = G_full
    lr.esmpy_fit_mask = fit.copy()
    energy_shift = _check_calibration(
        data_sum,
        G_full,
        W,
        np.nansum(lr.loadings, axis=0),
        [labels.index(e) for e in model.elements],
        fit,
        axis_info,
    )
    phase_totals = np.nansum(lr.loadings, axis=0)
    peaks = _unexplained_peaks(
        data_sum,
        G_full @ (W @ phase_totals),
        fit,
        axis_info.offset + axis_info.scale * np.arange(axis_info.size),
        detector_obj,
        list(model.elements) + dropped,
        shift=energy_shift,
    )
    _warn_unexplained(peaks)
    metadata_used = params.to_dict()
    metadata_used["energy_resolution_MnKa"] = resolution.to_dict()
    metadata_used["detector"] = detector_obj.as_dict()
    metadata_used["energy_range_keV"] = [float(v) for v in used_range]
    metadata_used["low_cut_keV"] = float(low_cut)
    estimator_params = {
        name: value for name, value in estimator.get_params(deep=False).items() if name != "G"
    }
    lr.esmpy_params = _storable(
        {
            "version": __version__,
            "n_components": k,
            "G_labels": labels,
            "elements": [str(e) for e in model.elements],
            "ignored_elements": [e for e in ignored if e in model.elements],
            "quantified_elements": quantified,
            "dropped_elements": dropped,
            "scale_factors": getattr(model, "scale_factors", None),
            "estimator": estimator_params,
            "initial_values_given": {"W": W_init is not None, "H": H_init is not None},
            "metadata": metadata_used,
            "notes": list(params.notes),
            "n_fit_channels": n_fit,
            "energy_shift_keV": energy_shift,  # NaN: not measurable
            "unexplained_peaks": [
                f"{energy:.3f} keV: {', '.join(lines)}" for energy, lines in peaks
            ],
            "n_iter": int(getattr(estimator, "n_iter_", -1)),
            "stop_reason": str(getattr(estimator, "stop_reason_", "")),
            "reconstruction_err": float(getattr(estimator, "reconstruction_err_", np.nan)),
        }
    )
    s.learning_results.__dict__.update(lr.__dict__)

    if print_info:
        _logger.info(_summary(s.learning_results.esmpy_params, params))
    return estimator if return_info else None


def _summary(esmpy_params: dict, params: md.MicroscopeParameters) -> str:
    meta = esmpy_params["metadata"]
    lines = [
        "esmpy decomposition:",
        f"  phases: {esmpy_params['n_components']}",
        f"  elements: {', '.join(esmpy_params['quantified_elements'])}"
        + (
            f" (ignored: {', '.join(esmpy_params['ignored_elements'])})"
            if esmpy_params["ignored_elements"]
            else ""
        ),
        f"  beam energy: {meta['beam_energy']['value']:g} keV ({meta['beam_energy']['source']})",
        f"  resolution Mn Ka: {meta['energy_resolution_MnKa']['value']:g} eV "
        f"({meta['energy_resolution_MnKa']['source']})",
        f"  take-off angle: {meta['take_off_angle']['value']:.3g} deg "
        f"({meta['take_off_angle']['source']})",
        f"  energy range: {meta['energy_range_keV'][0]:g}-{meta['energy_range_keV'][1]:g} keV",
        f"  iterations: {esmpy_params['n_iter']} ({esmpy_params['stop_reason']})",
    ]
    lines += [f"  note: {n}" for n in params.notes]
    return "\n".join(lines)
