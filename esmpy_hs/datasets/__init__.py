"""Simulated STEM-EDX spectrum images with ground truth.

- abundance maps: :func:`particle_maps`, :func:`layer_maps`, :func:`gradient_maps`,
  :func:`maps_from_array` (numpy only);
- phases: :class:`Phase` (composition in atomic fractions, continuum level);
- simulation: :func:`simulate_spectrum_image` (an esmpy signal with the ground truth in its
  metadata), :func:`get_ground_truth`, :class:`Mismatch` (data outside the model), and the
  HyperSpy-free core :func:`generate_counts`;
- the method paper's sample: :func:`paper_sample`, :func:`paper_phases`.
"""

from esmpy_hs.datasets.generate import generate_counts, mean_composition
from esmpy_hs.datasets.maps import gradient_maps, layer_maps, maps_from_array, particle_maps
from esmpy_hs.datasets.mismatch import LinearResolutionDetector, Mismatch
from esmpy_hs.datasets.paper import (
    PAPER_COMPOSITIONS,
    PAPER_DOSES,
    paper_maps,
    paper_phases,
    paper_sample,
)
from esmpy_hs.datasets.phases import CONTINUUM_FLAT_FRACTION, DEFAULT_CONTINUUM_RATIO, Phase
from esmpy_hs.datasets.simulate import get_ground_truth, simulate_spectrum_image
from esmpy_hs.datasets.truth import GroundTruth

__all__ = [
    "CONTINUUM_FLAT_FRACTION",
    "DEFAULT_CONTINUUM_RATIO",
    "PAPER_COMPOSITIONS",
    "PAPER_DOSES",
    "GroundTruth",
    "LinearResolutionDetector",
    "Mismatch",
    "Phase",
    "generate_counts",
    "get_ground_truth",
    "gradient_maps",
    "layer_maps",
    "maps_from_array",
    "mean_composition",
    "paper_maps",
    "paper_phases",
    "paper_sample",
    "particle_maps",
    "simulate_spectrum_image",
]
