"""Simulated STEM-EDX spectrum images with ground truth.

Abundance-map builders (:mod:`esmpy_hs.datasets.maps`), phase descriptions, the spectrum-image
simulator and the method paper's reference sample.
"""

from esmpy_hs.datasets.maps import gradient_maps, layer_maps, maps_from_array, particle_maps

__all__ = [
    "gradient_maps",
    "layer_maps",
    "maps_from_array",
    "particle_maps",
]
