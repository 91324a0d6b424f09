"""Shared test configuration: headless plotting, quiet progress bars, paths to shared data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# shared helper modules of the tests (e.g. ``_simulation``) are imported by name
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
REAL_DATA_DIR = SHARED_DIR / "data" / "real"
BOTE_SALVAT_CSV = SHARED_DIR / "data" / "bote_salvat_2009" / "electrons.csv"


@pytest.fixture(autouse=True)
def _quiet_hyperspy():
    """No progress bars from HyperSpy in tests (restored afterwards)."""
    try:
        import hyperspy.api as hs
    except ImportError:  # pragma: no cover - hyperspy is a hard dependency
        yield
        return
    old = hs.preferences.General.show_progressbar
    hs.preferences.General.show_progressbar = False
    yield
    hs.preferences.General.show_progressbar = old


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def real_data_dir() -> Path:
    """Folder of the real spectrum images; the test is skipped when it is absent."""
    if not REAL_DATA_DIR.is_dir():
        pytest.skip(f"real data folder {REAL_DATA_DIR} is absent")
    return REAL_DATA_DIR


@pytest.fixture
def bote_salvat_csv() -> Path:
    """The Bote–Salvat reference parameter file; the test is skipped when it is absent."""
    if not BOTE_SALVAT_CSV.is_file():
        pytest.skip(f"reference file {BOTE_SALVAT_CSV} is absent")
    return BOTE_SALVAT_CSV
