"""Finding input files and reading the EDS spectrum image they hold.

Any format HyperSpy reads through rosettasciio is accepted (.hspy, .emd, .bcf, .pts, …). A
file may hold several signals (a Bruker ``.bcf`` holds an image and the spectrum image; a
Velox ``.emd`` also sum spectra and element maps): the EDS spectrum image is picked.

The file is read twice: once normally (HyperSpy assigns the signal classes and exspy fills
its default detector parameters), and once with no signal type, lazily, to see which
metadata the file itself records, so that defaults are never mistaken for measurements.
Files are only ever opened for reading.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esmpy_hs import metadata as md

__all__ = [
    "OUTPUT_SUFFIXES",
    "NoSpectrumImageError",
    "SpectrumImage",
    "SignalSummary",
    "close_files",
    "expand_inputs",
    "is_output_file",
    "read_file_values",
    "read_spectrum_image",
    "supported_extensions",
]

#: names of the files written for each input (``<stem><suffix>``)
OUTPUT_SUFFIXES = {
    "results": "_esmpy.hspy",
    "compositions": "_compositions.csv",
    "summary": "_summary.png",
}

# extensions rosettasciio reads that never hold a spectrum image, skipped in folders
_NOT_SPECTRUM_IMAGES = {
    "png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "csv", "txt", "json", "toml", "md",
    "img", "map",
}


class NoSpectrumImageError(ValueError):
    """The file holds no EDS spectrum image."""


def supported_extensions() -> set[str]:
    """Lower-case file extensions (no dot) that rosettasciio can read.

    Returns
    -------
    set of str
    """
    from rsciio import IO_PLUGINS

    return {ext.lower() for plugin in IO_PLUGINS for ext in plugin.get("file_extensions", ())}


def is_output_file(path: str | Path) -> bool:
    """True for a file written by ``esmpy-hs decompose`` (``*_esmpy.hspy`` …).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    bool
    """
    name = Path(path).name
    return any(name.endswith(suffix) for suffix in OUTPUT_SUFFIXES.values())


def expand_inputs(patterns: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Turn command-line arguments (files, folders, glob patterns) into input files.

    A folder contributes the files directly inside it whose extension rosettasciio reads
    (images, text and the outputs of a previous run excluded). A glob pattern (``*``, ``?``,
    ``[…]``, ``**`` for sub-folders) is expanded here too, for shells that do not expand it;
    outputs of a previous run matched by a pattern are left out. Duplicates are removed,
    the order is kept.

    Parameters
    ----------
    patterns : iterable of str

    Returns
    -------
    files : list of pathlib.Path
    problems : list of (str, str)
        Arguments that matched no file, with the reason.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()
    extensions: set[str] | None = None

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_file():
            add(path)
        elif path.is_dir():
            if extensions is None:
                extensions = supported_extensions() - _NOT_SPECTRUM_IMAGES
            found = sorted(
                p for p in path.iterdir()
                if p.is_file() and p.suffix[1:].lower() in extensions and not is_output_file(p)
            )
            if not found:
                problems.append((pattern, "folder holds no file that HyperSpy can read"))
            for p in found:
                add(p)
        elif glob.has_magic(pattern):
            found = sorted(
                Path(p) for p in glob.glob(str(path), recursive=True)
                if Path(p).is_file() and not is_output_file(p)
            )
            if not found:
                problems.append((pattern, "no file matches this pattern"))
            for p in found:
                add(p)
        else:
            problems.append((pattern, "no such file or folder"))
    return files, problems


@dataclass(frozen=True)
class SignalSummary:
    """One signal of a file, for reports."""

    index: int
    class_name: str
    signal_type: str
    title: str
    navigation_shape: tuple[int, ...]
    signal_shape: tuple[int, ...]

    def describe(self) -> str:
        """``"[1] EDSTEMSpectrum 'EDX' (64, 64|2048)"``."""
        nav = ", ".join(str(n) for n in self.navigation_shape)
        sig = ", ".join(str(n) for n in self.signal_shape)
        return f"[{self.index}] {self.class_name} {self.title!r} ({nav}|{sig})"


@dataclass
class SpectrumImage:
    """The EDS spectrum image of a file and what the file records.

    Attributes
    ----------
    signal : hyperspy.signal.BaseSignal
        The spectrum image: :class:`~esmpy_hs.signals.EsmpyEDSTEMSpectrum` for STEM data
        (its lazy variant with ``lazy=True``), exspy's EDS_SEM class for SEM data.
    path : pathlib.Path
    index : int
        Position of the signal among those the file holds.
    signals : list of SignalSummary
        Every signal in the file.
    microscope : str
        ``"TEM"`` or ``"SEM"``: the metadata node that holds the microscope parameters.
    file_values : dict
        The metadata esmpy uses as recorded in the file itself (None: not recorded), in
        esmpy-hs units, see :func:`read_file_values`.
    notes : list of str
        Remarks for the report (which signal was picked, a missing signal type …).
    """

    signal: Any
    path: Path
    index: int
    signals: list[SignalSummary]
    microscope: str
    file_values: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _as_list(loaded) -> list:
    return list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]


def _signal_type(signal) -> str:
    return str(signal.metadata.get_item("Signal.signal_type", "") or "")


def _summaries(signals: Sequence) -> list[SignalSummary]:
    return [
        SignalSummary(
            index=i,
            class_name=type(s).__name__,
            signal_type=_signal_type(s),
            title=str(s.metadata.get_item("General.title", "") or ""),
            navigation_shape=tuple(int(n) for n in s.axes_manager.navigation_shape),
            signal_shape=tuple(int(n) for n in s.axes_manager.signal_shape),
        )
        for i, s in enumerate(signals)
    ]


def _has_energy_axis(signal) -> bool:
    axes = signal.axes_manager.signal_axes
    return len(axes) == 1 and str(axes[0].units).strip().lower() in ("ev", "kev")


def _pick(signals: Sequence, path: Path) -> tuple[int, list[str]]:
    """Index of the EDS spectrum image among ``signals`` and notes on the choice."""
    def is_image(s) -> bool:
        am = s.axes_manager
        return am.signal_dimension == 1 and am.navigation_dimension >= 1

    def nav_size(i: int) -> int:
        size = 1
        for n in signals[i].axes_manager.navigation_shape:
            size *= int(n)
        return size

    eds = [i for i, s in enumerate(signals)
           if is_image(s) and _signal_type(s).upper().startswith("EDS")]
    notes: list[str] = []
    if not eds:
        untyped = [i for i, s in enumerate(signals)
                   if is_image(s) and not _signal_type(s) and _has_energy_axis(s)]
        if not untyped:
            held = "; ".join(s.describe() for s in _summaries(signals))
            raise NoSpectrumImageError(
                f"no EDS spectrum image in {path.name} (a 1-D signal with an energy axis over "
                f"a map or line of pixels); the file holds: {held}"
            )
        eds = untyped
        notes.append("the file gives no signal type: the spectrum image is read as EDS_TEM")
    best = max(eds, key=nav_size)  # first of the largest
    if len(signals) > 1:
        notes.append(
            f"{len(signals)} signals in the file; using {_summaries(signals)[best].describe()}"
        )
    return best, notes


def _value(mdtree, key: str) -> Any:
    return mdtree.get_item(key) if mdtree.has_item(key) else None


def _float_or_none(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out


def read_file_values(signal, microscope: str = "TEM") -> dict[str, Any]:
    """The metadata esmpy uses, as recorded in a signal (no defaults filled in).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        A signal loaded with ``signal_type=""`` so that exspy did not add its defaults.
    microscope : {"TEM", "SEM"}

    Returns
    -------
    dict
        ``beam_energy`` (keV), ``elements`` (tuple), ``thickness`` (nm, honouring a
        ``Sample.thickness_units`` leaf), ``density`` (g/cm³), ``energy_resolution`` (eV),
        ``elevation_angle``, ``azimuth_angle``, ``tilt_alpha``, ``tilt_beta`` (degrees); None
        where the file records nothing (or a value that is not a number).
    """
    tree = signal.metadata
    keys = {
        "beam_energy": md.BEAM_ENERGY,
        "energy_resolution": md.ENERGY_RESOLUTION,
        "elevation_angle": md.ELEVATION_ANGLE,
        "azimuth_angle": md.AZIMUTH_ANGLE,
        "tilt_alpha": md.TILT_ALPHA,
        "tilt_beta": md.TILT_BETA,
    }
    out: dict[str, Any] = {
        name: _float_or_none(_value(tree, key.format(mic=microscope)))
        for name, key in keys.items()
    }
    elements = _value(tree, md.ELEMENTS)
    out["elements"] = tuple(str(e) for e in elements) if elements is not None else None
    if out["elements"] == ():
        out["elements"] = None
    try:
        out["thickness"] = md.read_thickness(signal).value
    except (TypeError, ValueError):
        out["thickness"] = None
    out["density"] = _float_or_none(_value(tree, md.DENSITY))
    return out


def close_files(signals: Sequence) -> None:
    """Close the files held by lazy signals (quietly: not every reader keeps one open)."""
    import logging

    loggers = [logging.getLogger(name) for name in ("hyperspy", "rsciio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        for s in signals:
            close = getattr(s, "close_file", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing a read-only handle
                    pass
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def read_spectrum_image(path: str | Path, *, lazy: bool = False) -> SpectrumImage:
    """Read the EDS spectrum image of a file (read-only).

    Parameters
    ----------
    path : str or pathlib.Path
    lazy : bool
        Load the data lazily (dask).

    Returns
    -------
    SpectrumImage

    Raises
    ------
    NoSpectrumImageError
        If the file holds no EDS spectrum image.
    Exception
        Whatever HyperSpy/rosettasciio raise for an unreadable file.
    """
    import hyperspy.api as hs

    path = Path(path)
    signals = _as_list(hs.load(path, lazy=lazy))
    summaries = _summaries(signals)
    index, notes = _pick(signals, path)
    signal = signals[index]
    signal_type = _signal_type(signal).upper()
    microscope = "SEM" if signal_type.startswith("EDS_SEM") else "TEM"

    raw = _as_list(hs.load(path, lazy=True, signal_type=""))
    try:
        raw_signal = raw[index] if len(raw) == len(signals) else None
        if raw_signal is None:  # pragma: no cover - the readers return the same list
            notes.append("could not re-read the file's own metadata: defaults may show as file "
                         "values")
            raw_signal = signal
        file_values = read_file_values(raw_signal, microscope)
    finally:
        close_files(raw)
    if microscope == "TEM" and not signal_type.startswith("EDS_TEM_ESMPY"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            signal.set_signal_type("esmpy")
    return SpectrumImage(
        signal=signal,
        path=path,
        index=index,
        signals=summaries,
        microscope=microscope,
        file_values=file_values,
        notes=notes,
    )
