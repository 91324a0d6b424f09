"""``esmpy-hs info``: what a file holds, which metadata esmpy would use and what is missing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from esmpy_hs.batch.common import (
    add_metadata_arguments,
    metadata_options,
    quiet_environment,
    read_config,
)
from esmpy_hs.batch.config import METADATA_KEYS, ConfigError, Setting, resolve_metadata
from esmpy_hs.batch.io import expand_inputs, read_spectrum_image
from esmpy_hs.batch.report import format_table

DESCRIPTION = """\
Show, for each file, the signals it holds, the EDS spectrum image esmpy would use (shape,
energy axis, counts per pixel) and every metadata value the esmpy decomposition needs: its
value, where it comes from ([file]: recorded in the file; [option]/[config]: given to this
command; [default]: exspy's default or no absorption correction) and what is missing.

Give the same options or --config as to `esmpy-hs decompose` to see exactly which values a
run would use. Nothing is computed and no file is written.

Exit code: 0 when every file is readable and has what esmpy needs, 1 otherwise.
"""

EPILOG = """\
examples:
  esmpy-hs info particles.hspy
  esmpy-hs info session1/*.bcf
  # would these options be enough?
  esmpy-hs info raw.emd --beam-energy 200 --elements Fe O
  esmpy-hs info data/ --config session.toml
"""

_LABELS = {
    "beam_energy": "beam energy",
    "elements": "elements",
    "thickness": "thickness",
    "density": "density",
    "energy_resolution": "resolution at Mn Ka",
    "elevation_angle": "elevation angle",
    "azimuth_angle": "azimuth angle",
    "tilt_alpha": "stage tilt alpha",
    "tilt_beta": "stage tilt beta",
}

_FIXES = {
    "beam_energy": "--beam-energy KEV",
    "elements": "--elements EL ...",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``esmpy-hs info``."""
    parser.add_argument("inputs", nargs="+", metavar="FILE",
                        help="spectrum image files, folders or glob patterns")
    add_metadata_arguments(parser)
    parser.add_argument("--add-elements", nargs="+", metavar="EL",
                        help="elements added to the file's list (as for decompose)")
    parser.add_argument("--config", metavar="FILE.toml",
                        help="TOML configuration, as for `esmpy-hs decompose`")
    parser.add_argument("--lazy", action="store_true",
                        help="load lazily (large files; counts are still summed)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print library warnings")


def _value(setting: Setting) -> str:
    value = setting.value
    if value is None or (isinstance(value, (tuple, list)) and not value):
        return "—"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    unit = METADATA_KEYS[setting.name][1]
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text + unit if unit == "°" else f"{text} {unit}".strip()


def _describe(path: Path, options: dict, config: dict, add_elements, lazy: bool) -> tuple[
        list[str], bool]:
    """Lines about one file, and whether it is ready for esmpy."""
    import numpy as np

    from esmpy_hs.batch.pipeline import _defaults, _elements_setting

    si = read_spectrum_image(path, lazy=lazy)
    s = si.signal
    lines = [f"{path}"]
    lines.append(f"  signals in the file: {len(si.signals)}")
    for summary in si.signals:
        mark = "  <- used" if summary.index == si.index else ""
        lines.append(f"    {summary.describe()}{mark}")
    for note in si.notes:
        if "signals in the file" not in note:
            lines.append(f"  note: {note}")
    axis = s.axes_manager.signal_axes[0]
    nav = " x ".join(str(n) for n in s.axes_manager.navigation_shape)
    n_pixels = int(np.prod(s.axes_manager.navigation_shape))
    total = s.data.sum()
    total = float(total.compute() if hasattr(total, "compute") else total)
    offset = float(axis.offset) + 0.0
    end = offset + axis.scale * (axis.size - 1)
    kind = "SEM (bulk sample: esmpy's thin-film model is approximate)" if si.microscope == "SEM" \
        else "STEM/TEM"
    lines.append(f"  spectrum image: {kind}, {nav} pixels, {axis.size} channels "
                 f"{offset:g} .. {end:g} {axis.units} ({axis.scale:g} {axis.units}/channel), "
                 f"{s.data.dtype}")
    lines.append(f"  counts: {total:,.0f} in total, {total / max(n_pixels, 1):.3g} per pixel")

    settings = resolve_metadata(si.file_values, options, config, defaults=_defaults())
    settings["elements"] = _elements_setting(settings, tuple(add_elements or ()), ())
    rows = [[_LABELS[name], _value(st), st.source, st.note] for name, st in settings.items()]
    lines.append("  metadata for esmpy:")
    lines.extend("    " + line for line in format_table(
        ["quantity", "value", "source", "note"], rows).splitlines())
    missing = [name for name in ("beam_energy", "elements") if not settings[name].value]
    if missing:
        fixes = ", ".join(f"{_LABELS[m]} (give {_FIXES[m]})" for m in missing)
        lines.append(f"  missing for esmpy: {fixes}")
    else:
        lines.append("  missing for esmpy: nothing (ready)")
    defaults = [_LABELS[n] for n, st in settings.items() if st.source == "default"]
    if defaults:
        lines.append("  defaults used: " + ", ".join(defaults))
    return lines, not missing


def run(args: argparse.Namespace) -> int:
    """Print the report; returns 0 when every file is ready for esmpy, else 1 (2: usage)."""
    quiet_environment(verbose=args.verbose)
    try:
        config = read_config(args.config)
        options = metadata_options(args)
        add = args.add_elements
        if add is not None:
            from esmpy_hs.batch.config import RUN_KEYS

            add = RUN_KEYS["add_elements"][0]("--add-elements", add)
        elif "add_elements" in config:
            add = config["add_elements"]
    except ConfigError as exc:
        sys.stderr.write(f"esmpy-hs info: error: {exc}\n")
        return 2
    meta_config = {k: v for k, v in config.items() if k in METADATA_KEYS}
    files, problems = expand_inputs(args.inputs)
    ok = not problems
    for pattern, reason in problems:
        print(f"{pattern}: {reason}")
    for i, path in enumerate(files):
        if i or problems:
            print()
        try:
            lines, ready = _describe(path, options, meta_config, add, bool(args.lazy))
        except Exception as exc:  # noqa: BLE001 - reported, next file
            lines, ready = [f"{path}", f"  cannot use this file: {type(exc).__name__}: {exc}"], \
                False
        print("\n".join(lines))
        ok = ok and ready
    return 0 if ok else 1
