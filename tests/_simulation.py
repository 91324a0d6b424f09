"""Shared simulated EDS data for the glue tests: an SiO2 particle on a carbon film.

Poisson counts drawn from G·W·H with G built by :mod:`esmpy_hs.physics` and planted W and H,
wrapped in a plain exspy ``EDSTEMSpectrum`` with complete metadata. Imported by the test modules
(``tests/`` is put on ``sys.path`` by ``tests/conftest.py``).
"""

from __future__ import annotations

import exspy
import numpy as np

from esmpy_hs.physics import Detector, EDXSModel, EnergyAxis, Sample

# Planted phases (atomic fractions): an SiO2 particle and a carbon film, Cu grid in both.
PHASES = (
    {"Si": 1 / 3, "O": 2 / 3, "C": 0.0, "Cu": 0.0},
    {"Si": 0.0, "O": 0.0, "C": 1.0, "Cu": 0.0},
)
GRID_CU = 0.02  # Cu share of each phase's element counts (ignored in quantification)
BEAM = 200.0
TOA = dict(tilt_stage=10.0, azimuth_angle=0.0, elevation_angle=12.0)  # take-off 22°
OFFSET, SCALE, SIZE = -0.2, 0.02, 600


def _truth_model(resolution=128.0, take_off=22.0):
    axis = EnergyAxis(offset=OFFSET, scale=SCALE, size=SIZE, units="keV")
    return EDXSModel(
        beam_energy=BEAM,
        energy_axis=axis,
        elements=["C", "O", "Si", "Cu"],  # the order decompose() uses: metadata, then ignored
        detector=Detector(resolution_mnka=resolution),
        sample=Sample(take_off_angle=take_off),
    )


def planted(ny=24, nx=20, dose=400.0):
    """True G (full axis), W (n_G x 2, element rows proportional to atoms) and H (2 x pixels)."""
    model = _truth_model()
    G = model.build_G(dtype=np.float64)
    labels = list(model.labels)
    W = np.zeros((G.shape[1], 2))
    for j, phase in enumerate(PHASES):
        for el, frac in phase.items():
            W[labels.index(el), j] = frac
    el_rows = [labels.index(e) for e in ("Si", "O", "C")]
    counts = G[:, el_rows].sum(axis=0) @ W[el_rows]  # element counts per unit phase
    W[el_rows] /= counts
    cu = labels.index("Cu")
    W[cu] = GRID_CU / G[:, cu].sum()
    W[labels.index("bremsstrahlung_0")] = 0.2 / G[:, labels.index("bremsstrahlung_0")].sum()
    W[labels.index("bremsstrahlung_1")] = 0.1 / G[:, labels.index("bremsstrahlung_1")].sum()
    W *= dose
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(yy - ny / 2, xx - nx / 3) / (ny / 4)
    particle = np.clip(1.5 - r, 0.0, 1.0)  # pure particle, a graded rim, pure film
    H = np.stack([particle, 1 - particle]).reshape(2, -1)
    return G, W, H, labels


def simulated_signal(
    ny=24, nx=20, dose=400.0, seed=0, dtype=np.uint16, elements=("Si", "O", "C"), units="keV"
):
    """Poisson counts from the planted model, as a plain exspy EDSTEMSpectrum."""
    G, W, H, _ = planted(ny, nx, dose)
    rng = np.random.default_rng(seed)
    counts = rng.poisson((G @ W @ H).T).reshape(ny, nx, -1).astype(dtype)
    s = exspy.signals.EDSTEMSpectrum(counts)
    ax = s.axes_manager.signal_axes[0]
    factor = 1000.0 if units == "eV" else 1.0
    ax.name, ax.units, ax.offset, ax.scale = "Energy", units, OFFSET * factor, SCALE * factor
    s.set_microscope_parameters(beam_energy=BEAM, energy_resolution_MnKa=128.0, **TOA)
    if elements:
        s.add_elements(list(elements))
    return s
