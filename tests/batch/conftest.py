"""Simulated input files and a helper that runs the real ``esmpy-hs`` command."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m esmpy_hs.cli ARGS`` in a fresh process (text output captured)."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "esmpy_hs.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def sha256(path: Path) -> str:
    """Digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def cli():
    """:func:`run_cli`: run the real command in a subprocess."""
    return run_cli


@pytest.fixture(scope="session")
def digest():
    """:func:`sha256` of a file's bytes."""
    return sha256


def _simulated(seed: int):
    from esmpy_hs.datasets import Phase, particle_maps, simulate_spectrum_image

    phases = [Phase("matrix", {"Si": 1, "O": 2}), Phase("particles", {"Fe": 2, "O": 3})]
    maps = particle_maps(20, 2, n_particles=2, radius=(3, 4), seed=seed)
    return simulate_spectrum_image(phases, maps, dose=300, seed=seed, n_channels=700,
                                   thickness=100)


@pytest.fixture(scope="session")
def sim_folder(tmp_path_factory) -> Path:
    """A folder of four inputs.

    - ``full.hspy``: complete metadata (200 keV, Fe O Si, 100 nm);
    - ``no_elements.hspy``: no ``Sample.elements``;
    - ``no_beam.hspy``: no beam energy;
    - ``broken.hspy``: not an HDF5 file.
    """
    folder = tmp_path_factory.mktemp("inputs")
    s = _simulated(0)
    s.save(folder / "full.hspy")
    s = _simulated(1)
    delattr(s.metadata.Sample, "elements")
    s.save(folder / "no_elements.hspy")
    s = _simulated(2)
    delattr(s.metadata.Acquisition_instrument.TEM, "beam_energy")
    assert not s.metadata.has_item("Acquisition_instrument.TEM.beam_energy")
    s.save(folder / "no_beam.hspy")
    (folder / "broken.hspy").write_bytes(b"this is not an HDF5 file\n" * 10)
    for path in folder.iterdir():
        path.chmod(0o444)  # inputs are read-only, like data on a shared drive
    return folder


@pytest.fixture
def sim_file(sim_folder, tmp_path) -> Path:
    """A private copy of ``full.hspy``."""
    path = tmp_path / "sample.hspy"
    path.write_bytes((sim_folder / "full.hspy").read_bytes())
    return path
