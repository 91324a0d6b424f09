"""Generate the ionization cross-section table shipped in ``esmpy_hs/physics/data``.

Reads the Bote–Salvat (2009) electron parameters from the shared reference file (never copied
into the repository) and writes ``esmpy_hs/physics/data/bote_salvat_electrons.npz``: for every
tabulated (Z, sub-shell) the two smooth factors of the formula on a logarithmic grid of beam
energies,

* ``log_low``  = ln of the low-overvoltage expression without its threshold factor (U - 1)/U,
* ``log_high`` = ln of the high-overvoltage expression,

so that the run-time lookup (:func:`esmpy_hs.physics.cross_sections.ionization_cross_section`)
interpolates each branch log–log on its own side of U = 16 and restores the exact threshold
behaviour. Values that the lookup never needs are stored as NaN.

Usage::

    python tools/make_cross_section_table.py [--csv PATH] [--out PATH] [--points-per-decade N]

The script checks, before writing, that log–log interpolation of the table reproduces the
formula within ``--tolerance`` (default 0.05 %) at intermediate energies for every sub-shell.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from esmpy_hs.physics.bote_salvat import (  # noqa: E402
    SUBSHELLS,
    U_SWITCH,
    BoteSalvatParameters,
    bote_salvat_high,
    bote_salvat_low,
    bote_salvat_sigma,
)

DEFAULT_CSV = REPO.parent / "shared" / "data" / "bote_salvat_2009" / "electrons.csv"
DEFAULT_OUT = REPO / "esmpy_hs" / "physics" / "data" / "bote_salvat_electrons.npz"
E_MIN_KEV = 1.0
E_MAX_KEV = 1000.0


def read_parameters(path: Path) -> list[BoteSalvatParameters]:
    """Read the reference CSV into a list of parameter records (file order)."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if header[:3] != ["Z", "subshell", "E_i_eV"] or len(header) != 14:
            raise ValueError(f"unexpected header in {path}: {header}")
        return [BoteSalvatParameters.from_row(row) for row in reader if row]


def energy_grid(points_per_decade: int) -> np.ndarray:
    """Logarithmic grid of beam energies (keV) from E_MIN_KEV to E_MAX_KEV inclusive."""
    n_dec = np.log10(E_MAX_KEV / E_MIN_KEV)
    n = int(round(n_dec * points_per_decade)) + 1
    return np.geomspace(E_MIN_KEV, E_MAX_KEV, n)


def overvoltage_grid(points_per_unit: int) -> np.ndarray:
    """Logarithmically uniform grid of overvoltages from 1 to U_SWITCH inclusive."""
    n = int(np.ceil(np.log(U_SWITCH) * points_per_unit)) + 1
    return np.exp(np.linspace(0.0, np.log(U_SWITCH), n))


def build_table(
    params: list[BoteSalvatParameters], grid_keV: np.ndarray, grid_u: np.ndarray
) -> dict[str, np.ndarray]:
    """Tabulate the low branch on ``grid_u`` and the high branch on ``grid_keV``."""
    e_ev = grid_keV * 1e3
    n = len(params)
    log_low = np.empty((n, grid_u.size))
    log_high = np.full((n, e_ev.size), np.nan)
    high_start = np.zeros(n, dtype=np.int16)
    for i, p in enumerate(params):
        log_low[i] = np.log(bote_salvat_low(p, grid_u * p.E_i_eV))
        u = e_ev / p.E_i_eV
        # two nodes below U = 16 so that the cubic stencil never leaves the valid range
        k0 = int(np.clip(np.searchsorted(u, U_SWITCH, side="right") - 2, 0, e_ev.size - 4))
        high_start[i] = k0
        log_high[i, k0:] = np.log(bote_salvat_high(p, e_ev[k0:]))
        if not (np.all(np.isfinite(log_low[i])) and np.all(np.isfinite(log_high[i, k0:]))):
            raise RuntimeError(f"Z={p.Z} {p.subshell}: non-positive cross section in the table")
    return {
        "energies_keV": grid_keV,
        "overvoltages": grid_u,
        "Z": np.array([p.Z for p in params], dtype=np.int16),
        "shell": np.array([SUBSHELLS.index(p.subshell) for p in params], dtype=np.int8),
        "E_i_eV": np.array([p.E_i_eV for p in params]),
        "log_low": log_low.astype(np.float32),
        "log_high": log_high.astype(np.float32),
        "high_start": high_start,
    }


def check_table(
    table: dict[str, np.ndarray], params: list[BoteSalvatParameters], tolerance: float
) -> float:
    """Largest relative error of the interpolated table vs the formula at mid-grid energies."""
    # import here so the check uses exactly the run-time interpolation code
    from esmpy_hs.physics.cross_sections import CrossSectionTable

    tab = CrossSectionTable(**table)
    grid = table["energies_keV"]
    # midpoints, quarter points, and points just around each threshold / branch switch
    probe = np.sort(
        np.concatenate(
            [
                np.sqrt(grid[1:] * grid[:-1]),
                grid[:-1] ** 0.75 * grid[1:] ** 0.25,
                grid[:-1] ** 0.25 * grid[1:] ** 0.75,
                grid,
            ]
        )
    )
    worst = 0.0
    for p in params:
        extra = np.array([1.001, 1.01, 1.1, 2.0, 15.99, 16.0, 16.01]) * p.E_i_eV / 1e3
        e = np.concatenate([probe, extra[(extra >= grid[0]) & (extra <= grid[-1])]])
        ref = bote_salvat_sigma(p, e * 1e3)
        got = tab.sigma(p.Z, p.subshell, e)
        ok = ref > 0
        if np.any(got[~ok] != 0):
            raise RuntimeError(f"Z={p.Z} {p.subshell}: non-zero value below threshold")
        rel = np.abs(got[ok] / ref[ok] - 1.0)
        if rel.size and not np.all(np.isfinite(rel)):
            raise RuntimeError(f"Z={p.Z} {p.subshell}: non-finite interpolated value")
        worst = max(worst, float(rel.max()) if rel.size else 0.0)
    if worst > tolerance:
        raise RuntimeError(f"table interpolation error {worst:.3e} exceeds {tolerance:.1e}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="Bote–Salvat electrons.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz")
    parser.add_argument("--points-per-decade", type=int, default=15, help="energy grid (U > 16)")
    parser.add_argument("--points-per-unit-lnU", type=int, default=16, help="overvoltage grid")
    parser.add_argument("--tolerance", type=float, default=5e-4)
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        parser.error(f"reference file not found: {args.csv}")
    params = read_parameters(args.csv)
    table = build_table(
        params, energy_grid(args.points_per_decade), overvoltage_grid(args.points_per_unit_lnU)
    )
    worst = check_table(table, params, args.tolerance)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **table)
    size = args.out.stat().st_size
    sys.stdout.write(
        f"wrote {args.out} ({len(params)} sub-shells x ({table['overvoltages'].size} overvoltages"
        f" + {table['energies_keV'].size} energies), "
        f"{size / 1024:.1f} KiB); max interpolation error {worst:.2e}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
