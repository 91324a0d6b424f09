"""The method paper's reference sample (esmpy, Figure 2 setting).

A 100 nm thick pseudo-bridgmanite matrix with spherical pseudo-ferropericlase and
pseudo-Ca-perovskite particles, 128 × 128 pixels, 1980 channels of 10 eV from 0.3 keV,
200 keV, take-off angle 35°, density 4.5 g/cm³, at about 293 ("low noise") or 18 ("high noise")
counts per pixel. Compositions are atomic fractions; Cu is the signal of the support grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from esmpy_hs.datasets.maps import particle_maps
from esmpy_hs.datasets.mismatch import Mismatch
from esmpy_hs.datasets.phases import DEFAULT_CONTINUUM_RATIO, Phase

__all__ = [
    "PAPER_COMPOSITIONS",
    "PAPER_DOSES",
    "PAPER_PARTICLE_FILL",
    "paper_maps",
    "paper_phases",
    "paper_sample",
]

#: Mean counts per pixel of the two doses of the paper.
PAPER_DOSES = {"high": 293.0, "low": 18.0}

#: Atomic fractions of the three phases as published. Each sums to about 1.05 (the grid's Cu,
#: 0.05, comes on top of the specimen's fractions); :class:`Phase` normalises them to one, so
#: the ground-truth compositions are these values divided by their sum.
PAPER_COMPOSITIONS: dict[str, dict[str, float]] = {
    "pseudo-bridgmanite": {
        "Mg": 0.245,
        "Fe": 0.035,
        "Ca": 0.031,
        "Si": 0.219,
        "Al": 0.024,
        "O": 0.436,
        "Cu": 0.05,
        "Hf": 0.01,
    },
    "pseudo-ferropericlase": {"Mg": 0.522, "Fe": 0.104, "O": 0.374, "Cu": 0.05},
    "pseudo-Ca-perovskite": {
        "Mg": 0.020,
        "Fe": 0.018,
        "Ca": 0.188,
        "Si": 0.173,
        "Al": 0.010,
        "O": 0.572,
        "Ti": 0.004,
        "Cu": 0.05,
        "Sm": 0.007,
        "Lu": 0.006,
        "Nd": 0.006,
    },
}

#: Particles per particle phase (ferropericlase, Ca-perovskite) and their radius range in
#: pixels at 128 × 128 (scaled with the image size).
_PAPER_PARTICLES = (8, 6)
_PAPER_RADIUS = (6.0, 14.0)

#: Abundance at a particle's centre. 0.5 = 1/(k − 1), the maximum concentration of the
#: reference implementation's sphere phantoms; it sets the per-pixel difficulty that the paper
#: quotes: with the *true* phase spectra, per-pixel Poisson maximum-likelihood abundances
#: correlate with the truth at ≈0.9 (293 counts/px) and ≈0.4–0.5 (18 counts/px).
PAPER_PARTICLE_FILL = 0.5


def paper_phases(continuum: float = DEFAULT_CONTINUUM_RATIO) -> list[Phase]:
    """The three phases of the paper's sample: matrix first, then the two particle phases.

    Parameters
    ----------
    continuum : float
        Ratio of bremsstrahlung counts to characteristic counts of every phase (see
        :class:`Phase`).

    Returns
    -------
    list of Phase
    """
    return [Phase(name, comp, continuum) for name, comp in PAPER_COMPOSITIONS.items()]


def paper_maps(
    size: int = 128,
    seed: int | np.random.Generator | None = 0,
    fill: float = PAPER_PARTICLE_FILL,
) -> np.ndarray:
    """Abundance maps of the paper's sample: a matrix with spherical particles.

    8 pseudo-ferropericlase and 6 pseudo-Ca-perovskite particles of radius 6–14 px at
    128 × 128 with a projected-sphere profile (see :func:`~esmpy_hs.datasets.particle_maps`)
    reaching ``fill`` at their centre; radii scale with ``size / 128``.

    Parameters
    ----------
    size : int
        Image side in pixels (≥ 16).
    seed : int, Generator or None
        Seed of the particle positions and radii.
    fill : float
        Particle abundance at the centre (default :data:`PAPER_PARTICLE_FILL` = 0.5).

    Returns
    -------
    numpy.ndarray
        ``(3, size, size)`` maps.
    """
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16 pixels, got {size!r}")
    f = size / 128.0
    return particle_maps(
        (size, size),
        3,
        n_particles=_PAPER_PARTICLES,
        radius=(_PAPER_RADIUS[0] * f, _PAPER_RADIUS[1] * f),
        min_gap=2.0 * f,
        fill=fill,
        seed=seed,
    )


def paper_sample(
    dose: str | float = "high",
    *,
    seed: int | None = 0,
    size: int = 128,
    mismatch: Mismatch | None = None,
    noise: bool = True,
    continuum: float = DEFAULT_CONTINUUM_RATIO,
    fill: float = PAPER_PARTICLE_FILL,
    **kwargs: Any,
) -> Any:
    """The method paper's Figure-2 sample as a simulated esmpy signal.

    128 × 128 px (``size`` for a smaller version), 1980 channels of 10 eV from 0.3 keV,
    200 keV, 130 eV at Mn Kα, 100 nm, take-off angle 35°, density 4.5 g/cm³. Matrix of
    pseudo-bridgmanite {Mg .245, Fe .035, Ca .031, Si .219, Al .024, O .436, Cu .05, Hf .01}
    with spherical particles of pseudo-ferropericlase {Mg .522, Fe .104, O .374, Cu .05} and
    pseudo-Ca-perovskite {Mg .020, Fe .018, Ca .188, Si .173, Al .010, O .572, Ti .004, Cu .05,
    Sm .007, Lu .006, Nd .006} (atomic fractions as published, normalised to one: they sum to
    about 1.05 because the grid's Cu is added on top). Each phase's continuum is
    ``continuum`` × its characteristic counts (default 0.25: the bremsstrahlung is a fifth of
    all counts and the O, Mg, Si Kα peaks stand 40–80× above it).

    Parameters
    ----------
    dose : {"high", "low"} or float
        ``"high"``: 293 counts per pixel (the paper's "low noise" case); ``"low"``: 18 (its
        "high noise" case); or any mean counts per pixel.
    seed : int or None
        Seeds both the particle layout and the Poisson noise (independent streams).
    size : int
        Image side in pixels (the paper: 128); particles scale with it.
    mismatch : Mismatch, optional
        Model-mismatch options (e.g. ``Mismatch.realistic()``).
    noise : bool
        Poisson noise (else expected counts).
    continuum : float
        Continuum-to-characteristic counts ratio of every phase.
    fill : float
        Particle abundance at the particles' centres (default 0.5, see
        :data:`PAPER_PARTICLE_FILL`; 1 makes the particles span the whole film and the problem
        easier).
    **kwargs
        Passed to :func:`~esmpy_hs.datasets.simulate_spectrum_image` (e.g. ``dtype``,
        ``resolution_mnka``).

    Returns
    -------
    EsmpyEDSTEMSpectrum
        With the ground truth in ``metadata.Simulation`` (:func:`get_ground_truth`).

    Examples
    --------
    >>> from esmpy_hs.datasets import paper_sample, get_ground_truth
    >>> s = paper_sample("low", size=32, seed=1)
    >>> s.data.shape, get_ground_truth(s).phase_names[0]
    ((32, 32, 1980), 'pseudo-bridgmanite')
    """
    from esmpy_hs.datasets.simulate import simulate_spectrum_image

    if isinstance(dose, str):
        if dose not in PAPER_DOSES:
            raise ValueError(
                f"dose must be 'high' (293 counts/px), 'low' (18 counts/px) or a number, "
                f"got {dose!r}"
            )
        dose_value = PAPER_DOSES[dose]
        label = f"{dose} dose"
    else:
        dose_value = float(dose)
        label = f"{dose_value:g} counts/px"
    map_seed, noise_seed = np.random.SeedSequence(seed).spawn(2)
    maps = paper_maps(size, seed=np.random.default_rng(map_seed), fill=fill)
    params: dict[str, Any] = {
        "beam_energy": 200.0,
        "energy_offset": 0.3,
        "energy_scale": 0.01,
        "n_channels": 1980,
        "resolution_mnka": 130.0,
        "thickness": 100.0,
        "density": 4.5,
        "elevation_angle": 35.0,
        "tilt_stage": 0.0,
        "azimuth_angle": 0.0,
        "title": f"Paper sample ({label})",
    }
    params.update(kwargs)
    s = simulate_spectrum_image(
        paper_phases(continuum),
        maps,
        dose=dose_value,
        mismatch=mismatch,
        noise=noise,
        seed=np.random.default_rng(noise_seed),
        **params,
    )
    if seed is not None:
        s.metadata.set_item("Simulation.seed", int(seed))
    return s
