"""The X-ray forward model of esmpy-hs: builds G from microscope, detector and sample.

Pure numpy/scipy/xraylib (no HyperSpy). Units: energies in keV (an :class:`EnergyAxis` may be
given in eV), cross sections in cm², sample thickness in nm, density in g/cm³, angles in degrees.

Examples
--------
>>> import numpy as np
>>> from esmpy_hs.physics import EDXSModel, Detector, Sample, EnergyAxis
>>> axis = EnergyAxis(offset=0.0, scale=0.01, size=2048, units="keV")
>>> m = EDXSModel(beam_energy=200.0, energy_axis=axis, elements=["Fe", "O"],
...               detector=Detector(resolution_mnka=130.0), sample=Sample(thickness=100.0))
>>> G = m.build_G(dtype=np.float32)
>>> G.shape, m.labels
((2048, 4), ['Fe', 'O', 'bremsstrahlung_0', 'bremsstrahlung_1'])
"""

from esmpy_hs.physics.attenuation import mass_attenuation
from esmpy_hs.physics.axis import EnergyAxis
from esmpy_hs.physics.bremsstrahlung import bremsstrahlung_basis, lifshin
from esmpy_hs.physics.cross_sections import ionization_cross_section
from esmpy_hs.physics.detector import Detector, Layer, gaussian_channel_integrals
from esmpy_hs.physics.elements import (
    atomic_number,
    atomic_to_weight_fractions,
    atomic_weight,
    element_density,
    element_symbol,
    mixture_density,
    weight_to_atomic_fractions,
)
from esmpy_hs.physics.lines import Line, emission_lines, family_cross_sections, siegbahn_name
from esmpy_hs.physics.model import BREMSSTRAHLUNG_LABELS, EDXSModel
from esmpy_hs.physics.sample import Sample, thin_film_absorption

__all__ = [
    "BREMSSTRAHLUNG_LABELS",
    "Detector",
    "EDXSModel",
    "EnergyAxis",
    "Layer",
    "Line",
    "Sample",
    "atomic_number",
    "atomic_to_weight_fractions",
    "atomic_weight",
    "bremsstrahlung_basis",
    "element_density",
    "element_symbol",
    "emission_lines",
    "family_cross_sections",
    "gaussian_channel_integrals",
    "ionization_cross_section",
    "lifshin",
    "mass_attenuation",
    "mixture_density",
    "siegbahn_name",
    "thin_film_absorption",
    "weight_to_atomic_fractions",
]
