"""Per-file outputs (composition CSV, summary PNG) and the text of the batch reports."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from esmpy_hs.batch.config import METADATA_KEYS, Setting

__all__ = [
    "CSV_COLUMNS",
    "write_compositions_csv",
    "write_summary_png",
    "format_setting",
    "format_settings",
    "format_table",
]

#: columns of ``<stem>_compositions.csv`` (one row per phase and element)
CSV_COLUMNS = (
    "phase",
    "element",
    "atomic_percent",
    "atomic_percent_std",
    "weight_percent",
    "weight_percent_std",
    "counts",
    "mean_abundance",
)


def write_compositions_csv(compositions, path: str | Path, mean_abundance=None) -> Path:
    """Write phase compositions as a tidy CSV table.

    Parameters
    ----------
    compositions : esmpy_hs.quantification.PhaseCompositions
        From :func:`esmpy_hs.get_phase_compositions`.
    path : str or pathlib.Path
    mean_abundance : sequence of float, optional
        Mean abundance of each phase over the pixels (its share of the area), one per phase.

    Returns
    -------
    pathlib.Path
        ``path``. Columns: :data:`CSV_COLUMNS`; empty cells for undefined values (a phase
        with no element signal).
    """
    path = Path(path)

    def cell(value: float) -> str:
        return "" if value is None or not np.isfinite(value) else f"{float(value):.6g}"

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for j, phase in enumerate(compositions.phases):
            for i, element in enumerate(compositions.elements):
                writer.writerow([
                    phase,
                    element,
                    cell(compositions.atomic_percent[i, j]),
                    cell(compositions.atomic_percent_std[i, j]),
                    cell(compositions.weight_percent[i, j]),
                    cell(compositions.weight_percent_std[i, j]),
                    cell(compositions.counts[i, j]) if compositions.counts is not None else "",
                    cell(mean_abundance[j]) if mean_abundance is not None else "",
                ])
    return path


def _rasterize(fig, dpi: int) -> np.ndarray:
    """RGBA pixels of a matplotlib figure (uint8, H × W × 4)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _stack(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stack RGBA images vertically, centred on a white background."""
    width = max(im.shape[1] for im in images)
    rows = []
    for im in images:
        pad = width - im.shape[1]
        left, right = pad // 2, pad - pad // 2
        rows.append(np.pad(im, ((0, 0), (left, right), (0, 0)), constant_values=255))
    return np.concatenate(rows, axis=0)


def write_summary_png(s, path: str | Path, title: str = "", dpi: int = 80) -> Path:
    """One PNG with the abundance maps, the phase spectra with their X-ray lines, and the
    composition bars of a decomposed signal.

    The three panels are drawn by :func:`esmpy_hs.plotting.plot_abundance_maps`,
    :func:`~esmpy_hs.plotting.plot_phase_spectra` and
    :func:`~esmpy_hs.plotting.plot_phase_compositions`, and stacked vertically under a title.

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal
        Signal decomposed with :func:`esmpy_hs.decompose`.
    path : str or pathlib.Path
        PNG file to write.
    title : str
        Text above the panels (e.g. the file name and the settings).
    dpi : int
        Resolution of the panels.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from esmpy_hs.plotting import (
        plot_abundance_maps,
        plot_phase_compositions,
        plot_phase_spectra,
    )

    figures = []
    try:
        figures.append(plot_abundance_maps(s))
        figures.append(plot_phase_spectra(s, log_scale=False, ncols=2))
        figures.append(plot_phase_compositions(s))
        panels = [_rasterize(fig, dpi) for fig in figures]
    finally:
        for fig in figures:
            plt.close(fig)
    if title:
        width_in = max(p.shape[1] for p in panels) / dpi
        n_lines = title.count("\n") + 1
        head = Figure(figsize=(width_in, 0.22 * n_lines + 0.15))
        head.text(0.01, 0.5, title, ha="left", va="center", fontsize=9, family="monospace")
        panels.insert(0, _rasterize(head, dpi))
    path = Path(path)
    mpimg.imsave(path, _stack(panels), format="png")
    return path


# --- text -------------------------------------------------------------------------------

_LABELS = {
    "beam_energy": "beam energy",
    "elements": "elements",
    "thickness": "thickness",
    "density": "density",
    "energy_resolution": "resolution Mn Kα",
    "elevation_angle": "elevation angle",
    "azimuth_angle": "azimuth angle",
    "tilt_alpha": "tilt α",
    "tilt_beta": "tilt β",
}


def _value_text(name: str, value: Any) -> str:
    if value is None or (isinstance(value, (tuple, list)) and not value):
        return "—"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    unit = METADATA_KEYS[name][1] if name in METADATA_KEYS else ""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if unit == "°":
        return text + "°"
    return f"{text} {unit}".strip()


def format_setting(setting: Setting) -> str:
    """``"beam energy 200 keV [file]"``, with the note in parentheses."""
    label = _LABELS.get(setting.name, setting.name.replace("_", " "))
    text = f"{label} {_value_text(setting.name, setting.value)} [{setting.source}]"
    if setting.note:
        text += f" ({setting.note})"
    return text


def format_settings(settings: Mapping[str, Setting], names: Sequence[str] | None = None) -> str:
    """Settings on one line, separated by ``"; "``."""
    names = list(settings) if names is None else names
    return "; ".join(format_setting(settings[n]) for n in names if n in settings)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with left-aligned columns.

    Parameters
    ----------
    headers : sequence of str
    rows : sequence of sequences

    Returns
    -------
    str
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
