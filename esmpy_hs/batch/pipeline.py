"""Processing of one input file: read, fill metadata, decompose, write the outputs.

:func:`process_file` never raises for a problem with the file: it returns a
:class:`FileResult` with ``status`` ``"ok"``, ``"skipped"`` (outputs exist, no
``--overwrite``) or ``"failed"`` and the reason, so that a batch goes on with the next file.
Both :class:`FileJob` and :class:`FileResult` are plain picklable data, for worker processes.
"""

from __future__ import annotations

import os
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esmpy_hs.batch.config import Setting, resolve_metadata
from esmpy_hs.batch.io import OUTPUT_SUFFIXES, close_files, read_spectrum_image

__all__ = ["FileJob", "FileResult", "output_paths", "process_file", "apply_settings"]

# metadata setting -> metadata key template ({mic}: TEM or SEM)
_KEYS = {
    "beam_energy": "Acquisition_instrument.{mic}.beam_energy",
    "energy_resolution": "Acquisition_instrument.{mic}.Detector.EDS.energy_resolution_MnKa",
    "elevation_angle": "Acquisition_instrument.{mic}.Detector.EDS.elevation_angle",
    "azimuth_angle": "Acquisition_instrument.{mic}.Detector.EDS.azimuth_angle",
    "tilt_alpha": "Acquisition_instrument.{mic}.Stage.tilt_alpha",
    "tilt_beta": "Acquisition_instrument.{mic}.Stage.tilt_beta",
    "density": "Sample.density",
}


@dataclass
class FileJob:
    """Everything needed to process one file (picklable).

    Attributes
    ----------
    path : str
        Input file.
    stem : str
        Output name prefix (``<stem>_esmpy.hspy`` …).
    out_dir : str
        Output folder (created if needed).
    n_components : int
    metadata_options : dict
        Metadata values given on the command line (None: not given).
    metadata_config : dict
        Metadata values from the configuration file.
    add_elements, ignore : tuple of str
        Elements added to the model; elements modelled but not quantified.
    add_elements_source : str
        Where ``add_elements`` came from (``"option"`` or ``"config"``).
    energy_range : (float, float) or None
        keV.
    estimator : dict
        Estimator options (``max_iter``, ``tol``, ``random_state`` …).
    lazy, overwrite : bool
    command : str
        The command line, stored with the results.
    """

    path: str
    stem: str
    out_dir: str
    n_components: int
    metadata_options: dict[str, Any] = field(default_factory=dict)
    metadata_config: dict[str, Any] = field(default_factory=dict)
    add_elements: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    add_elements_source: str = "option"
    energy_range: tuple[float, float] | None = None
    estimator: dict[str, Any] = field(default_factory=dict)
    lazy: bool = False
    overwrite: bool = False
    command: str = ""


@dataclass
class FileResult:
    """Outcome of one file (picklable).

    Attributes
    ----------
    path : str
    status : str
        ``"ok"``, ``"skipped"`` or ``"failed"``.
    reason : str
        Why the file failed or was skipped.
    settings : dict of Setting
        Metadata used and where each value came from.
    outputs : list of str
        Files written.
    n_iter : int or None
    stop_reason : str
    seconds : float
    notes : list of str
        Remarks (signal picked, warnings of the decomposition …).
    phases : list of str
        Main elements of each phase, e.g. ``"Si O"``.
    """

    path: str
    status: str
    reason: str = ""
    settings: dict[str, Setting] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    n_iter: int | None = None
    stop_reason: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    detail: str = ""


def output_paths(job: FileJob) -> dict[str, Path]:
    """The files written for ``job``: ``{"results": …_esmpy.hspy, "compositions": …, "summary":
    …}``."""
    out = Path(job.out_dir)
    return {kind: out / f"{job.stem}{suffix}" for kind, suffix in OUTPUT_SUFFIXES.items()}


def _defaults() -> dict[str, Any]:
    from exspy import preferences

    prefs = preferences.EDS
    return {
        "energy_resolution": float(prefs.eds_mn_ka),
        "elevation_angle": float(prefs.eds_detector_elevation),
        "azimuth_angle": float(prefs.eds_detector_azimuth),
        "tilt_alpha": float(prefs.eds_tilt_stage),
        "tilt_beta": 0.0,
    }


def _elements_setting(settings: dict[str, Setting], add: tuple[str, ...],
                      ignore: tuple[str, ...], add_source: str = "option") -> Setting:
    """Elements with ``add_elements`` and the ignored elements appended (and said so).

    Ignored elements alone never make an element list: a file without elements still fails
    unless ``elements`` or ``add_elements`` give some.
    """
    base = settings["elements"]
    elements = tuple(base.value or ())
    if not elements and not add:
        return base
    extra = tuple(dict.fromkeys(e for e in (*add, *ignore) if e not in elements))
    if not extra:
        return base
    notes = [base.note] if base.note and base.source != "missing" else []
    added = [e for e in extra if e in add]
    ignored = [e for e in extra if e not in add]
    if added:
        notes.append(f"{' '.join(added)} added (add_elements)")
    if ignored:
        notes.append(f"{' '.join(ignored)} added: modelled but not quantified (ignore)")
    source = base.source if base.source != "missing" else add_source
    return Setting("elements", elements + extra, source, "; ".join(notes))


def apply_settings(signal, settings: dict[str, Setting], microscope: str) -> None:
    """Write the settings that come from options or the configuration into ``signal``'s metadata.

    Values read from the file are already there; defaults are left to exspy and esmpy.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The in-memory signal (the file is not touched).
    settings : dict of Setting
    microscope : {"TEM", "SEM"}
    """
    tree = signal.metadata
    for name, setting in settings.items():
        if setting.value is None:
            continue
        if name == "elements" and (setting.source in ("option", "config") or setting.note):
            tree.set_item("Sample.elements", sorted(setting.value))
        elif name == "thickness" and setting.source in ("option", "config"):
            tree.set_item("Sample.thickness", float(setting.value))
            tree.set_item("Sample.thickness_units", "nm")
        elif name in _KEYS and setting.source in ("option", "config"):
            tree.set_item(_KEYS[name].format(mic=microscope), float(setting.value))


def _missing_reason(settings: dict[str, Setting], microscope: str) -> str:
    reasons = []
    if settings["beam_energy"].value is None:
        reasons.append(
            f"no beam energy: the file has no Acquisition_instrument.{microscope}.beam_energy; "
            "give --beam-energy KEV (or beam_energy = ... in the config)"
        )
    if not settings["elements"].value:
        reasons.append(
            "no elements: the file has no Sample.elements; give --elements Fe O ... "
            "(or elements = [...] in the config)"
        )
    return "; ".join(reasons)


def _phase_labels(compositions, n_top: int = 3) -> list[str]:
    labels = []
    for j, _phase in enumerate(compositions.phases):
        col = compositions.atomic_percent[:, j]
        order = [i for i in col.argsort()[::-1] if col[i] == col[i] and col[i] >= 5.0][:n_top]
        labels.append(" ".join(compositions.elements[i] for i in order) or "—")
    return labels


def _warning_notes(caught) -> list[str]:
    """Warnings raised by esmpy-hs (and SEM/physics remarks), as short notes."""
    notes = []
    for w in caught:
        filename = str(getattr(w, "filename", ""))
        if "esmpy_hs" in filename or "esmpy_hs" in type(w.message).__module__:
            text = str(w.message).strip().splitlines()[0]
            if text not in notes:
                notes.append(text)
    return notes


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def process_file(job: FileJob) -> FileResult:
    """Process one file; problems are returned in the result, never raised.

    Parameters
    ----------
    job : FileJob

    Returns
    -------
    FileResult
    """
    start = time.perf_counter()
    result = FileResult(path=job.path, status="failed")
    try:
        _process(job, result)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, the batch goes on
        result.status = "failed"
        if not result.reason:
            result.reason = f"{type(exc).__name__}: {exc}"
        result.detail = traceback.format_exc()
    result.seconds = time.perf_counter() - start
    return result


def _process(job: FileJob, result: FileResult) -> None:
    paths = output_paths(job)
    source = Path(job.path).resolve()
    if any(p.resolve() == source for p in paths.values()):
        result.reason = "an output would replace the input file; choose another --out folder"
        return
    existing = [p.name for p in paths.values() if p.exists()]
    if existing and not job.overwrite:
        result.status = "skipped"
        result.reason = f"outputs exist ({', '.join(existing)}); use --overwrite to replace them"
        return

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            si = read_spectrum_image(job.path, lazy=job.lazy)
        except Exception as exc:  # noqa: BLE001 - reported as the reason
            result.reason = f"cannot read the file: {type(exc).__name__}: {exc}"
            raise
        try:
            _use(job, si, result, paths)
        finally:
            result.notes.extend(_warning_notes(caught))
            if getattr(si.signal, "_lazy", False):
                close_files([si.signal])


def _use(job: FileJob, si, result: FileResult, paths: dict[str, Path]) -> None:
    """Resolve the metadata of a read file, then decompose it and write the outputs."""
    result.notes.extend(si.notes)
    settings = resolve_metadata(
        si.file_values, job.metadata_options, job.metadata_config, defaults=_defaults()
    )
    settings["elements"] = _elements_setting(
        settings, job.add_elements, job.ignore, job.add_elements_source
    )
    result.settings = settings
    missing = _missing_reason(settings, si.microscope)
    if missing:
        result.reason = missing
        return
    _decompose_and_write(job, si, settings, result, paths)
    result.status = "ok"


def _decompose_and_write(job: FileJob, si, settings: dict[str, Setting], result: FileResult,
                         paths: dict[str, Path]) -> None:
    """Fill the metadata, decompose, quantify and write the three outputs."""
    from esmpy_hs.batch.report import write_compositions_csv, write_summary_png
    from esmpy_hs.decomposition import decompose
    from esmpy_hs.quantification import get_phase_compositions

    s = si.signal
    apply_settings(s, settings, si.microscope)
    estimator = dict(job.estimator)
    estimator.setdefault("show_progressbar", False)
    try:
        fitted = decompose(
            s,
            job.n_components,
            ignore_elements=list(job.ignore) or None,
            energy_range=job.energy_range,
            print_info=False,
            return_info=True,
            **estimator,
        )
    except (TypeError, ValueError) as exc:
        result.reason = f"decomposition refused: {exc}"
        raise
    result.n_iter = getattr(fitted, "n_iter_", None)
    result.stop_reason = str(getattr(fitted, "stop_reason_", "") or "")
    compositions = get_phase_compositions(s)
    result.phases = _phase_labels(compositions)
    s.metadata.set_item("Esmpy.batch", {
        "source_file": str(Path(job.path).resolve()),
        "signal_index": int(si.index),
        "command": job.command,
        "n_components": int(job.n_components),
        "settings": {name: st.to_dict() for name, st in settings.items()},
    })
    _write_outputs(job, s, compositions, paths, result, write_compositions_csv,
                   write_summary_png)


def _mean_abundance(s) -> list[float] | None:
    import numpy as np

    from esmpy_hs.results import get_state

    loadings = get_state(s).loadings
    return [float(v) for v in np.nanmean(loadings, axis=0)]


def _write_outputs(job, s, compositions, paths, result, write_csv, write_png) -> None:
    """Write every output to a temporary name, then move them into place together."""
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmps = {kind: _tmp(p) for kind, p in paths.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s.save(tmps["results"], overwrite=True, show_progressbar=False)
        write_csv(compositions, tmps["compositions"], mean_abundance=_mean_abundance(s))
        title = (
            f"{Path(job.path).name}: {job.n_components} phases, "
            f"{result.n_iter if result.n_iter is not None else '?'} iterations\n"
            + "\n".join(_title_lines(result.settings))
        )
        write_png(s, tmps["summary"], title=title)
        if not job.overwrite:
            taken = [p.name for p in paths.values() if p.exists()]
            if taken:
                raise FileExistsError(
                    f"outputs appeared while processing ({', '.join(taken)}); not overwritten"
                )
        for kind, tmp in tmps.items():
            os.replace(tmp, paths[kind])
            result.outputs.append(str(paths[kind]))
    finally:
        for tmp in tmps.values():
            if tmp.exists():
                tmp.unlink()


def _title_lines(settings: dict[str, Setting]) -> list[str]:
    from esmpy_hs.batch.report import format_setting

    names = [n for n in ("beam_energy", "elements", "thickness", "energy_resolution")
             if n in settings]
    first = [format_setting(settings[n]) for n in names]
    return ["; ".join(first[:2]), "; ".join(first[2:])]
