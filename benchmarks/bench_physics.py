"""Benchmark: time to build G for 2048 channels x 20 elements (esmpy_hs.physics.EDXSModel).

Run: ``python benchmarks/bench_physics.py [--repeats N]``. Prints the cold time (first model,
empty caches: xraylib look-ups, cross-section table load), and the median over repeats of a
fresh model built with warm caches (the usual case inside a session).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

ELEMENTS = ["C", "O", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K",
            "Ca", "Ti", "Cr", "Mn", "Fe", "Ni", "Cu", "Zn", "Ag", "Au"]  # fmt: skip


def build(beam_energy: float = 200.0) -> tuple[float, tuple[int, int], int]:
    from esmpy_hs.physics import Detector, EDXSModel, EnergyAxis, Sample

    t0 = time.perf_counter()
    axis = EnergyAxis(offset=0.0, scale=0.01, size=2048, units="keV")
    model = EDXSModel(
        beam_energy=beam_energy,
        energy_axis=axis,
        elements=ELEMENTS,
        detector=Detector(resolution_mnka=130.0),
        sample=Sample(thickness=100.0, take_off_angle=22.0),
    )
    G = model.build_G(dtype=np.float32)
    dt = time.perf_counter() - t0
    return dt, G.shape, sum(len(v) for v in model.lines.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    cold, shape, n_lines = build()
    warm = [build()[0] for _ in range(args.repeats)]
    # new beam energy: cross sections and cascade recomputed, xraylib data cached
    new_e0 = [build(150.0 + i)[0] for i in range(5)]
    out = sys.stdout
    out.write(f"G shape {shape} (channels x columns), {n_lines} lines, float32\n")
    out.write(f"cold build (empty caches):          {cold * 1e3:8.1f} ms\n")
    med = statistics.median(warm) * 1e3
    out.write(f"warm build, median of {args.repeats:3d}:         {med:8.1f} ms\n")
    out.write(f"new beam energy, median of 5:       {statistics.median(new_e0) * 1e3:8.1f} ms\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
