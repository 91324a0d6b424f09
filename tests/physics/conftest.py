"""Shared fixtures of the physics tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from esmpy_hs.physics.bote_salvat import BoteSalvatParameters

REPO = Path(__file__).resolve().parents[2]
BOTE_CSV = REPO.parent / "shared" / "data" / "bote_salvat_2009" / "electrons.csv"


@pytest.fixture(scope="session")
def bote_parameters() -> list[BoteSalvatParameters]:
    """All rows of the reference Bote–Salvat parameter file (skips when it is absent)."""
    if not BOTE_CSV.is_file():
        pytest.skip(f"reference file {BOTE_CSV} not available (needs ../shared)")
    with open(BOTE_CSV, newline="") as fh:
        rows = list(csv.reader(fh))
    return [BoteSalvatParameters.from_row(r) for r in rows[1:] if r]


@pytest.fixture(scope="session")
def bote_by_shell(bote_parameters) -> dict[tuple[int, str], BoteSalvatParameters]:
    """Reference parameters keyed by (Z, sub-shell)."""
    return {(p.Z, p.subshell): p for p in bote_parameters}
