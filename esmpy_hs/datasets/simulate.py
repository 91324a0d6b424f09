"""Simulated spectrum images as esmpy signals, with the ground truth in their metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from esmpy_hs.datasets.generate import generate_counts
from esmpy_hs.datasets.mismatch import Mismatch
from esmpy_hs.datasets.phases import Phase
from esmpy_hs.datasets.truth import GroundTruth

__all__ = ["simulate_spectrum_image", "get_ground_truth", "SIMULATION_NODE"]

#: Metadata node holding the ground truth of a simulated signal.
SIMULATION_NODE = "Simulation"


def simulate_spectrum_image(
    phases: Sequence[Phase],
    maps: np.ndarray,
    *,
    dose: float = 100.0,
    beam_energy: float = 200.0,
    energy_offset: float = 0.3,
    energy_scale: float = 0.01,
    n_channels: int = 1980,
    resolution_mnka: float = 130.0,
    thickness: float | None = 100.0,
    density: float | None = None,
    elevation_angle: float = 35.0,
    tilt_stage: float = 0.0,
    azimuth_angle: float = 0.0,
    live_time: float = 1.0,
    absorption_composition: str | Mapping[str, float] | None = None,
    low_cut: float = 0.15,
    mismatch: Mismatch | None = None,
    noise: bool = True,
    seed: int | np.random.Generator | None = None,
    dtype: np.dtype | type | None = None,
    title: str = "Simulated spectrum image",
) -> Any:
    """Simulate a STEM-EDX spectrum image with known phases, maps and compositions.

    The expected counts are ``S @ H``: ``S`` the phase spectra (n_channels × k) from the
    esmpy forward model (:class:`esmpy_hs.physics.EDXSModel`, the same G that a decomposition
    builds from the metadata) times the phases' weights W (atomic fractions on the element
    columns, continuum on the two bremsstrahlung columns), ``H`` the abundance maps. W is scaled
    so that the mean number of counts per pixel equals ``dose``; Poisson noise is then drawn.
    Without ``mismatch`` the noiseless data are exactly ``G @ W @ H``.

    Parameters
    ----------
    phases : sequence of Phase
        The ``k`` phases (compositions in atomic fractions and continuum level).
    maps : numpy.ndarray
        ``(k, ny, nx)`` abundances summing to one per pixel (see
        :func:`~esmpy_hs.datasets.particle_maps`, :func:`~esmpy_hs.datasets.layer_maps`,
        :func:`~esmpy_hs.datasets.gradient_maps`, :func:`~esmpy_hs.datasets.maps_from_array`).
    dose : float
        Mean counts per pixel over the whole energy axis.
    beam_energy : float
        keV.
    energy_offset, energy_scale : float
        Energy of the first channel and channel width, keV.
    n_channels : int
        Number of channels.
    resolution_mnka : float
        Detector FWHM at Mn Kα, eV.
    thickness : float or None
        Film thickness, nm (``None`` or 0: no absorption). Stored in ``Sample.thickness``.
    density : float or None
        g/cm³ (``None``: estimated from the composition by the physics module). Stored in
        ``Sample.density`` when given.
    elevation_angle, tilt_stage, azimuth_angle : float
        Detector and stage geometry (degrees, exspy's convention); the take-off angle used for
        absorption is exspy's ``take_off_angle`` of these (35° for the defaults).
    live_time : float
        s, stored in the metadata.
    absorption_composition : None, "mean" or mapping
        Composition of the absorbing matrix in the model: ``None`` (default) is what esmpy uses
        when it only knows the elements — equal atomic fractions — so that the data stay inside
        the model; ``"mean"`` the abundance-weighted mean composition; or ``{element: at.
        fraction}``. For absorption by each phase's own composition use
        ``Mismatch(phase_absorption=True)``.
    low_cut : float
        keV; the model has no counts at or below it.
    mismatch : Mismatch, optional
        Effects that put the data outside the model (resolution law, absorption, escape peaks,
        energy calibration); the metadata keep the nominal values.
        ``Mismatch.realistic()`` combines all of them moderately.
    noise : bool
        Draw Poisson counts (else the expected counts are returned).
    seed : int, numpy Generator or None
        Seed of the Poisson noise.
    dtype : dtype, optional
        Data dtype; default float32 with noise (counts are exact), float64 without.
    title : str
        ``metadata.General.title``.

    Returns
    -------
    EsmpyEDSTEMSpectrum
        Signal of shape ``(ny, nx | n_channels)`` with beam energy, Mn Kα resolution, stage and
        detector angles, live time, elements, thickness (nm) and density set, and the ground
        truth under ``metadata.Simulation`` (read it with :func:`get_ground_truth`).

    Examples
    --------
    >>> from esmpy_hs.datasets import Phase, particle_maps, simulate_spectrum_image
    >>> phases = [Phase("matrix", {"Si": 1, "O": 2}), Phase("particles", {"Fe": 2, "O": 3})]
    >>> maps = particle_maps(32, 2, n_particles=3, radius=(3, 5), seed=0)
    >>> s = simulate_spectrum_image(phases, maps, dose=200, seed=0)
    >>> s.data.shape
    (32, 32, 1980)
    """
    from exspy.utils.eds import take_off_angle as _take_off_angle

    from esmpy_hs.physics import EnergyAxis
    from esmpy_hs.signals import EsmpyEDSTEMSpectrum

    toa = float(_take_off_angle(tilt_stage, azimuth_angle, elevation_angle))
    if not 0 < toa <= 90:
        raise ValueError(
            f"the geometry (tilt {tilt_stage}°, azimuth {azimuth_angle}°, elevation "
            f"{elevation_angle}°) gives a take-off angle of {toa:.3g}°; it must be in (0, 90]"
        )
    axis = EnergyAxis(offset=energy_offset, scale=energy_scale, size=n_channels, units="keV")
    counts, truth = generate_counts(
        phases,
        maps,
        dose=dose,
        beam_energy=beam_energy,
        energy_axis=axis,
        resolution_mnka=resolution_mnka,
        thickness=thickness,
        density=density,
        take_off_angle=toa,
        absorption_composition=absorption_composition,
        low_cut=low_cut,
        mismatch=mismatch,
        noise=noise,
        seed=seed,
        dtype=dtype,
    )
    s = EsmpyEDSTEMSpectrum(counts)
    # navigation axes come in natural order: x (last array dimension) first
    for ax, name in zip(s.axes_manager.navigation_axes, ("x", "y"), strict=True):
        ax.name, ax.units = name, "px"
    ax_e = s.axes_manager.signal_axes[0]
    ax_e.name, ax_e.units = "Energy", "keV"
    ax_e.offset, ax_e.scale = float(energy_offset), float(energy_scale)
    s.metadata.General.title = title
    s.metadata.Signal.quantity = "X-rays (Counts)"
    s.set_microscope_parameters(
        beam_energy=float(beam_energy),
        energy_resolution_MnKa=float(resolution_mnka),
        tilt_stage=float(tilt_stage),
        azimuth_angle=float(azimuth_angle),
        elevation_angle=float(elevation_angle),
        live_time=float(live_time),
    )
    s.add_elements(truth.elements)
    if thickness is not None:
        s.metadata.set_item("Sample.thickness", float(thickness))
        s.metadata.set_item("Sample.thickness_units", "nm")
    if density is not None:
        s.metadata.set_item("Sample.density", float(density))
    _store_truth(s, truth, noise=noise)
    return s


def _store_truth(s: Any, truth: GroundTruth, *, noise: bool) -> None:
    node = SIMULATION_NODE
    elements = sorted({el for comp in truth.compositions for el in comp})
    fractions = np.array([[comp.get(el, 0.0) for el in elements] for comp in truth.compositions])
    md = s.metadata
    md.set_item(f"{node}.phase_names", list(truth.phase_names))
    md.set_item(f"{node}.spectra", truth.spectra)
    md.set_item(f"{node}.maps", truth.maps)
    md.set_item(f"{node}.composition_elements", elements)
    md.set_item(f"{node}.atomic_fractions", fractions)
    md.set_item(f"{node}.W", truth.W)
    md.set_item(f"{node}.G", truth.G)
    md.set_item(f"{node}.G_labels", list(truth.G_labels))
    md.set_item(f"{node}.dose", float(truth.dose))
    md.set_item(f"{node}.noise", bool(noise))
    md.set_item(f"{node}.exact", bool(truth.exact))
    md.set_item(f"{node}.seed", -1 if truth.seed is None else int(truth.seed))
    for key, value in truth.mismatch.items():
        md.set_item(f"{node}.mismatch.{key}", value)


def _crop_maps(s: Any, maps: np.ndarray) -> np.ndarray:
    """The part of the simulated maps under the signal's navigation axes (pixel units)."""
    nav = tuple(s.axes_manager.navigation_shape[::-1])
    if nav == maps.shape[1:]:
        return maps
    axes = s.axes_manager.navigation_axes  # x then y
    error = ValueError(
        f"the ground-truth maps have shape {maps.shape[1:]} but the signal's navigation shape "
        f"is {nav}; it was rebinned or its axes recalibrated after simulation (cropping with "
        "s.inav[...] is supported)"
    )
    if len(axes) != 2 or any(ax.scale != 1 for ax in axes):
        raise error
    x0, y0 = (float(ax.offset) for ax in axes)
    if x0 != round(x0) or y0 != round(y0):
        raise error
    x0, y0 = int(round(x0)), int(round(y0))
    ny, nx = nav
    if x0 < 0 or y0 < 0 or y0 + ny > maps.shape[1] or x0 + nx > maps.shape[2]:
        raise error
    return maps[:, y0 : y0 + ny, x0 : x0 + nx].copy()


def get_ground_truth(s: Any) -> GroundTruth:
    """Ground truth of a signal made by :func:`simulate_spectrum_image` (or a saved copy).

    Parameters
    ----------
    s : BaseSignal
        The simulated signal (also after saving and loading, or a decomposed copy).

    Returns
    -------
    GroundTruth
        Phase spectra ``(n_channels, k)``, maps ``(k, ny, nx)``, compositions, elements, W, G
        and its labels, dose and the mismatch options.

    Notes
    -----
    A signal cropped with ``s.inav[...]`` (pixel axes untouched otherwise) gets the matching
    part of the maps.

    Raises
    ------
    ValueError
        If the signal carries no simulation metadata, or its navigation axes no longer match
        the simulated pixel grid (rebinned or recalibrated).
    """
    md = getattr(s, "metadata", None)
    if md is None or not md.has_item(SIMULATION_NODE):
        raise ValueError(
            "this signal has no ground truth (metadata.Simulation); it was not made by "
            "esmpy_hs.datasets.simulate_spectrum_image"
        )
    node = md.get_item(SIMULATION_NODE)
    maps = _crop_maps(s, np.asarray(node.maps))
    elements = list(node.composition_elements)
    fractions = np.asarray(node.atomic_fractions)
    compositions = [
        {el: float(x) for el, x in zip(elements, row, strict=True) if x > 0} for row in fractions
    ]
    mismatch = node.mismatch.as_dictionary() if node.has_item("mismatch") else {}
    labels = list(node.G_labels)
    seed = int(node.seed) if node.has_item("seed") else -1
    return GroundTruth(
        phase_names=list(node.phase_names),
        spectra=np.asarray(node.spectra),
        maps=maps,
        compositions=compositions,
        elements=[lab for lab in labels if not lab.startswith("bremsstrahlung")],
        W=np.asarray(node.W),
        G=np.asarray(node.G),
        G_labels=labels,
        dose=float(node.dose),
        exact=bool(node.exact),
        mismatch=mismatch,
        seed=None if seed < 0 else seed,
    )
