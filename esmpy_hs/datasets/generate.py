"""Spectrum-image generation without HyperSpy: phases + maps + microscope → counts + truth."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from esmpy_hs.datasets.maps import maps_from_array
from esmpy_hs.datasets.mismatch import LinearResolutionDetector, Mismatch
from esmpy_hs.datasets.phases import Phase
from esmpy_hs.datasets.spectra import (
    add_escape_peaks,
    dose_scale,
    expected_counts,
    phase_weights,
    poisson_counts,
)
from esmpy_hs.datasets.truth import GroundTruth
from esmpy_hs.physics import Detector, EDXSModel, EnergyAxis, Sample

__all__ = ["generate_counts", "mean_composition"]


def mean_composition(phases: Sequence[Phase], maps: np.ndarray) -> dict[str, float]:
    """Abundance-weighted mean atomic composition of the sample.

    Parameters
    ----------
    phases : sequence of Phase
        The phases.
    maps : numpy.ndarray
        ``(k, ...)`` abundances.

    Returns
    -------
    dict
        ``{element: atomic fraction}`` summing to one.
    """
    weights = np.asarray(maps, dtype=float).reshape(len(phases), -1).mean(axis=1)
    out: dict[str, float] = {}
    for phase, w in zip(phases, weights, strict=True):
        for el, x in phase.composition.items():
            out[el] = out.get(el, 0.0) + w * x
    total = sum(out.values())
    return {el: v / total for el, v in out.items()}


def _check_phases(phases: Sequence[Phase]) -> list[Phase]:
    if isinstance(phases, Phase):
        phases = [phases]
    phases = list(phases)
    if not phases:
        raise ValueError("phases is empty; give at least one Phase")
    for p in phases:
        if not isinstance(p, Phase):
            raise TypeError(
                f"phases must be esmpy_hs.datasets.Phase objects, got {type(p).__name__}"
            )
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    return phases


def _raw_columns(model: EDXSModel, labels: Sequence[str], scales: np.ndarray) -> np.ndarray:
    """Unscaled columns of ``model`` for ``labels`` (0 where absent), times ``scales``."""
    out = np.zeros((model.n_channels, len(labels)))
    for j, lab in enumerate(labels):
        if lab in model.labels:
            out[:, j] = model.column(lab, scaled=False)
    return out * scales


def generate_counts(
    phases: Sequence[Phase],
    maps: np.ndarray,
    *,
    dose: float,
    beam_energy: float = 200.0,
    energy_axis: EnergyAxis | None = None,
    resolution_mnka: float = 130.0,
    thickness: float | None = 100.0,
    density: float | None = None,
    take_off_angle: float = 35.0,
    absorption_composition: str | Mapping[str, float] | None = None,
    low_cut: float = 0.15,
    mismatch: Mismatch | None = None,
    noise: bool = True,
    seed: int | np.random.Generator | None = None,
    dtype: np.dtype | type | None = None,
) -> tuple[np.ndarray, GroundTruth]:
    """Counts ``(ny, nx, n_channels)`` and ground truth of a simulated spectrum image.

    This is the HyperSpy-free core of
    :func:`~esmpy_hs.datasets.simulate_spectrum_image`; see there for the parameters.

    Returns
    -------
    counts : numpy.ndarray
        ``(ny, nx, n_channels)``; Poisson counts (``noise=True``, float32 by default) or the
        expected counts (float64 by default).
    truth : GroundTruth
        Phase spectra, maps, compositions, W, the nominal G and its labels.
    """
    phases = _check_phases(phases)
    try:
        maps = maps_from_array(maps, normalize=False, atol=1e-6)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (build maps with esmpy_hs.datasets.particle_maps/layer_maps/gradient_maps "
            "or normalise your own with maps_from_array)"
        ) from None
    if maps.shape[0] != len(phases):
        raise ValueError(f"{len(phases)} phases but {maps.shape[0]} abundance maps")
    if energy_axis is None:
        energy_axis = EnergyAxis(offset=0.3, scale=0.01, size=1980, units="keV")
    mismatch = Mismatch() if mismatch is None else mismatch
    if not isinstance(mismatch, Mismatch):
        raise TypeError(f"mismatch must be a Mismatch or None, got {type(mismatch).__name__}")
    if isinstance(seed, np.random.Generator):
        rng, seed_value = seed, None
    else:
        rng, seed_value = np.random.default_rng(seed), seed

    # the elements of the metadata: exspy keeps them sorted alphabetically
    elements = sorted({el for p in phases for el in p.composition})
    if absorption_composition is None:
        abs_comp = None
    elif isinstance(absorption_composition, str):
        if absorption_composition != "mean":
            raise ValueError(
                "absorption_composition must be None, 'mean' or a mapping, got "
                f"{absorption_composition!r}"
            )
        abs_comp = mean_composition(phases, maps)
    else:
        abs_comp = dict(absorption_composition)

    def model(axis: EnergyAxis, detector: Detector, sample: Sample) -> EDXSModel:
        return EDXSModel(
            beam_energy=beam_energy,
            energy_axis=axis,
            elements=elements,
            detector=detector,
            sample=sample,
            low_cut=low_cut,
            bremsstrahlung=True,
        )

    nominal_sample = Sample(
        thickness=thickness, density=density, take_off_angle=take_off_angle, composition=abs_comp
    )
    nominal = model(energy_axis, Detector(resolution_mnka=resolution_mnka), nominal_sample)
    G = nominal.build_G(dtype=np.float64)
    labels = list(nominal.labels)
    ignore = set(nominal.dropped_elements)

    def weights(G_: np.ndarray, phase: Phase) -> np.ndarray:
        if all(el in ignore for el in phase.composition):
            raise ValueError(
                f"phase {phase.name!r} has no element with an X-ray line on this energy axis"
            )
        return phase_weights(G_, labels, phase, ignore=sorted(ignore))

    W = np.column_stack([weights(G, p) for p in phases])
    true_axis = EnergyAxis(
        offset=energy_axis.offset
        + mismatch.energy_offset_shift / (1.0 if energy_axis.units == "keV" else 1e-3),
        scale=energy_axis.scale * mismatch.energy_scale_factor,
        size=energy_axis.size,
        units=energy_axis.units,
    )
    if not mismatch.changes_model:
        spectra = G @ W
    else:
        factors = nominal.scale_factors
        nominal_scales = np.array(
            [factors.get(lab, factors["elements"]) for lab in labels], dtype=float
        )
        if mismatch.resolution_law == "linear":
            detector: Detector = LinearResolutionDetector(
                resolution_mnka=resolution_mnka,
                fwhm_offset=mismatch.linear_fwhm[0],
                fwhm_slope=mismatch.linear_fwhm[1],
            )
        elif mismatch.resolution_mnka is not None:
            detector = Detector(resolution_mnka=mismatch.resolution_mnka)
        else:
            detector = Detector(resolution_mnka=resolution_mnka)
        true_thickness = None if thickness is None else thickness * mismatch.thickness_factor
        true_density = density if mismatch.density is None else mismatch.density
        spectra = np.empty((energy_axis.size, len(phases)))
        for k, phase in enumerate(phases):
            comp = dict(phase.composition) if mismatch.phase_absorption else abs_comp
            sample = Sample(
                thickness=true_thickness,
                density=true_density,
                take_off_angle=take_off_angle,
                composition=comp,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # dropped elements: warned above
                G_k = _raw_columns(model(true_axis, detector, sample), labels, nominal_scales)
            W[:, k] = weights(G_k, phase)
            spectra[:, k] = G_k @ W[:, k]
    if mismatch.escape_fraction > 0:
        spectra = add_escape_peaks(spectra, true_axis.energies, mismatch.escape_fraction)

    c = dose_scale(spectra, maps, dose)
    W = W * c
    spectra = G @ W if not mismatch.active else spectra * c

    if noise:
        counts = poisson_counts(spectra, maps, rng, dtype=dtype or np.float32)
    else:
        counts = expected_counts(spectra, maps).astype(dtype or np.float64, copy=False)
    truth = GroundTruth(
        phase_names=[p.name for p in phases],
        spectra=spectra,
        maps=maps,
        compositions=[dict(p.composition) for p in phases],
        elements=[lab for lab in labels if not lab.startswith("bremsstrahlung")],
        W=W,
        G=G,
        G_labels=labels,
        dose=float(dose),
        exact=not mismatch.active,
        mismatch=mismatch.as_dict(),
        seed=seed_value if isinstance(seed_value, (int, np.integer)) else None,
    )
    return counts, truth
