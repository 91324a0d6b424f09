"""Pieces shared by the ``decompose`` and ``info`` commands."""

from __future__ import annotations

import argparse
import logging
import os
import warnings
from typing import Any

from esmpy_hs.batch.config import ConfigError, load_config

__all__ = ["add_metadata_arguments", "metadata_options", "quiet_environment", "read_config"]

# option dest -> metadata setting name
_METADATA_OPTIONS = {
    "beam_energy": "beam_energy",
    "elements": "elements",
    "thickness": "thickness",
    "density": "density",
    "energy_resolution": "energy_resolution",
    "elevation_angle": "elevation_angle",
    "azimuth_angle": "azimuth_angle",
    "tilt_alpha": "tilt_alpha",
    "tilt_beta": "tilt_beta",
}


def add_metadata_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that supply acquisition metadata (explicit values override the file's)."""
    group = parser.add_argument_group(
        "acquisition metadata",
        "Used for every file. An option given here overrides the value recorded in a file\n"
        "(and the report says so); leave it out to use the file's value, with the\n"
        "configuration file filling only what a file lacks.",
    )
    group.add_argument("--elements", nargs="+", metavar="EL",
                       help="elements in the sample, e.g. --elements Fe O Si (replaces the "
                       "file's list; see also --add-elements)")
    group.add_argument("--beam-energy", type=float, metavar="KEV", help="beam energy in keV")
    group.add_argument("--thickness", type=float, metavar="NM",
                       help="sample thickness in nm (absorption correction; 0: none)")
    group.add_argument("--density", type=float, metavar="G_CM3",
                       help="sample density in g/cm3 (default: from the composition)")
    group.add_argument("--energy-resolution", type=float, metavar="EV",
                       help="detector FWHM at Mn Ka in eV")
    group.add_argument("--elevation-angle", type=float, metavar="DEG",
                       help="detector elevation angle in degrees")
    group.add_argument("--azimuth-angle", type=float, metavar="DEG",
                       help="detector azimuth angle in degrees")
    group.add_argument("--tilt-alpha", type=float, metavar="DEG",
                       help="stage tilt alpha in degrees")
    group.add_argument("--tilt-beta", type=float, metavar="DEG", help="stage tilt beta in degrees")


def metadata_options(args: argparse.Namespace) -> dict[str, Any]:
    """Metadata values given on the command line, validated (None: not given).

    Raises
    ------
    ConfigError
        For a bad value (unknown element, negative thickness …).
    """
    from esmpy_hs.batch.config import METADATA_KEYS

    out: dict[str, Any] = {}
    for dest, name in _METADATA_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            out[name] = None
            continue
        checker = METADATA_KEYS[name][0]
        try:
            out[name] = checker("--" + dest.replace("_", "-"), value)
        except ConfigError as exc:
            raise ConfigError(str(exc)) from None
    return out


def read_config(path: str | None) -> dict[str, Any]:
    """The validated configuration (empty without ``--config``)."""
    return {} if path is None else load_config(path)


def quiet_environment(verbose: bool = False) -> None:
    """Batch-friendly process settings: no GUI backend, no progress bars or library chatter.

    Matplotlib draws off-screen (Agg); HyperSpy's progress bars are off; the loggers of
    HyperSpy, rosettasciio and exspy only report errors and Python warnings are hidden (the
    commands report the warnings of esmpy-hs themselves), unless ``verbose``.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    if not verbose:
        warnings.simplefilter("ignore")
        import hyperspy.api as hs  # sets its log level on import: import it first

        hs.preferences.General.show_progressbar = False
        for name in ("hyperspy", "rsciio", "exspy"):
            logging.getLogger(name).setLevel(logging.ERROR)
