"""Settings of a batch run: TOML configuration files and where each value comes from.

Two kinds of settings, with different precedence rules:

*Run settings* (``components``, ``max_iter``, ``seed``, ``energy_range``, ``ignore``, ``out``,
``jobs``, ``lazy`` …): command-line option > configuration file > built-in default.

*Metadata settings* (``beam_energy``, ``elements``, ``thickness``, ``density``,
``energy_resolution``, detector and stage angles) describe the acquisition, which the file may
already record:

1. an explicit command-line option is a deliberate request: it is used, and when the file holds
   a different value the per-file report says that the option overrides it;
2. otherwise the value recorded in the file is used;
3. otherwise the configuration file fills it in (a configuration value never replaces a value
   the file has: when they differ the report says the configuration value was not used);
4. otherwise the default applies (exspy's detector and stage defaults, no absorption
   correction), or the file fails with the reason (no beam energy, no elements).

Every resolved value is a :class:`Setting` that records its source: ``"option"``,
``"config"``, ``"file"``, ``"default"`` or ``"missing"``.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

__all__ = [
    "ConfigError",
    "Setting",
    "METADATA_KEYS",
    "RUN_KEYS",
    "load_config",
    "resolve_run_settings",
    "resolve_metadata",
    "check_estimator_options",
]

SOURCES = ("option", "config", "file", "default", "missing")


class ConfigError(ValueError):
    """A configuration file or an option value is invalid (the message says how to fix it)."""


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from.

    Attributes
    ----------
    name : str
        Setting name (as in the configuration file).
    value
        The value used (None when missing or not applicable).
    source : str
        ``"option"``, ``"config"``, ``"file"``, ``"default"`` or ``"missing"``.
    note : str
        Remark for the report, e.g. that an option overrode the file's value.
    """

    name: str
    value: Any
    source: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (storable in ``.hspy`` metadata)."""
        value = self.value
        if isinstance(value, tuple):
            value = list(value)
        return {
            "value": "" if value is None else value,
            "source": self.source,
            "note": self.note,
        }


# --- value checkers ---------------------------------------------------------------------


def _number(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
            integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name} = {value!r} must be {kind}.")
    if integer and not float(value).is_integer():
        raise ConfigError(f"{name} = {value!r} must be an integer.")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{name} = {value!r} must be finite.")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        relation = ">" if strict else ">="
        raise ConfigError(f"{name} = {value!r} must be {relation} {minimum:g}.")
    return int(value) if integer else float(value)


def _positive(name: str, value: Any) -> float:
    return _number(name, value, minimum=0.0, strict=True)


def _non_negative(name: str, value: Any) -> float:
    return _number(name, value, minimum=0.0)


def _angle(name: str, value: Any) -> float:
    out = _number(name, value)
    if not -90.0 <= out <= 90.0:
        raise ConfigError(f"{name} = {value!r} must be an angle in degrees within [-90, 90].")
    return out


def _positive_int(name: str, value: Any) -> int:
    return _number(name, value, minimum=1, integer=True)


def _integer(name: str, value: Any) -> int:
    return _number(name, value, integer=True)


def _symbols(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} = {value!r} must be a list of element symbols, e.g. "
                          f'{name} = ["Si", "O"].')
    from esmpy_hs.metadata import validate_elements

    try:
        return validate_elements([v.strip() for v in value if v.strip()])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _energy_range(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"{name} = {value!r} must be two energies in keV, e.g. "
                          f"{name} = [0.3, 15.0].")
    low, high = (_non_negative(name, v) for v in value)
    if not high > low:
        raise ConfigError(f"{name} = {list(value)!r}: the upper energy must exceed the lower one.")
    return (low, high)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} = {value!r} must be true or false.")
    return value


def _path(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} = {value!r} must be a folder path (a string).")
    return value


def _table(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] must be a table of estimator options, e.g. "
                          f"[{name}]\\nmax_iter = 500.")
    return dict(value)


#: run settings: name -> (checker, default, help)
RUN_KEYS: dict[str, tuple[Any, Any, str]] = {
    "components": (_positive_int, None, "number of phases K (required)"),
    "max_iter": (_positive_int, None, "maximum number of iterations of the estimator"),
    "tol": (_positive, None, "convergence tolerance of the estimator"),
    "seed": (_integer, None, "random seed (reproducible runs)"),
    "energy_range": (_energy_range, None, "[low, high] energies in keV used in the fit"),
    "ignore": (_symbols, (), "elements modelled but left out of the compositions (grid)"),
    "add_elements": (_symbols, (), "elements added to the file's (or configured) list"),
    "out": (_path, "esmpy_results", "output folder"),
    "jobs": (_positive_int, 1, "number of worker processes"),
    "lazy": (_boolean, False, "load the files lazily (out of core)"),
    "estimator": (_table, {}, "other estimator options, passed to esmpy_hs.decompose"),
}

#: metadata settings: name -> (checker, unit, help)
METADATA_KEYS: dict[str, tuple[Any, str, str]] = {
    "beam_energy": (_positive, "keV", "beam energy"),
    "elements": (_symbols, "", "elements present in the sample"),
    "thickness": (_non_negative, "nm", "sample thickness (0: no absorption correction)"),
    "density": (_positive, "g/cm³", "sample density"),
    "energy_resolution": (_positive, "eV", "detector FWHM at Mn Kα"),
    "elevation_angle": (_angle, "°", "detector elevation angle"),
    "azimuth_angle": (_number, "°", "detector azimuth angle"),
    "tilt_alpha": (_angle, "°", "stage tilt α"),
    "tilt_beta": (_angle, "°", "stage tilt β"),
}

#: keys refused in a configuration file, with the reason
_COMMAND_LINE_ONLY = {
    "overwrite": "overwrite is accepted on the command line only (--overwrite), so that a "
    "configuration file can never replace existing results by itself",
}


def _check(name: str, value: Any) -> Any:
    if name in RUN_KEYS:
        return RUN_KEYS[name][0](name, value)
    return METADATA_KEYS[name][0](name, value)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a TOML configuration file.

    Keys are the setting names of :data:`RUN_KEYS` and :data:`METADATA_KEYS` (dashes and
    underscores are interchangeable), at the top level of the file; an ``[estimator]`` table
    passes further options to the estimator. A relative ``out`` folder is taken relative to the
    configuration file's folder.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    dict
        Validated values in esmpy-hs units.

    Raises
    ------
    ConfigError
        For an unreadable file, a TOML syntax error, an unknown key or a bad value.

    Examples
    --------
    A configuration for one microscopy session::

        components = 3
        elements = ["Si", "O", "C", "Cu"]
        ignore = ["Cu"]
        beam_energy = 200      # keV, used only where a file does not record it
        thickness = 50         # nm
        max_iter = 500
        [estimator]
        tol = 1e-5
    """
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError("Reading a TOML configuration on Python 3.10 needs the 'tomli' "
                          "package: pip install tomli.")
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} not found.") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {str(path)!r}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {str(path)!r} is not valid TOML: {exc}.") from None
    known = [*RUN_KEYS, *METADATA_KEYS]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.strip().replace("-", "_")
        if name in _COMMAND_LINE_ONLY:
            raise ConfigError(f"{path}: {_COMMAND_LINE_ONLY[name]}.")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{path}: unknown key {key!r}.{hint} Known keys: {', '.join(known)}."
            )
        try:
            out[name] = _check(name, value)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if "out" in out and not Path(out["out"]).expanduser().is_absolute():
        out["out"] = str(path.resolve().parent / Path(out["out"]).expanduser())
    return out


def resolve_run_settings(options: Mapping[str, Any], config: Mapping[str, Any]) -> dict[
        str, Setting]:
    """Run settings: command-line option > configuration > default.

    Parameters
    ----------
    options : mapping
        Values given on the command line (None or absent: not given).
    config : mapping
        Values from :func:`load_config`.

    Returns
    -------
    dict of Setting
        One per key of :data:`RUN_KEYS`. The ``estimator`` table is merged key by key
        (option values such as ``max_iter`` are separate settings and win over it).
    """
    out: dict[str, Setting] = {}
    for name, (checker, default, _help) in RUN_KEYS.items():
        given = options.get(name)
        if name == "estimator":
            merged = dict(config.get("estimator", {}))
            merged.update(options.get("estimator") or {})
            out[name] = Setting(name, merged, "config" if merged else "default")
            continue
        if given is not None and given != () and given != []:
            note = ""
            if name in config and config[name] != checker(name, given):
                note = f"configuration value {_show(config[name])} not used"
            out[name] = Setting(name, checker(name, given), "option", note)
        elif name in config:
            out[name] = Setting(name, config[name], "config")
        else:
            out[name] = Setting(name, default, "default")
    return out


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return sorted(a or ()) == sorted(b or ())
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return a == b


#: what happens when a metadata value is nowhere to be found
_ABSENT = {
    "beam_energy": ("missing", "required: give --beam-energy KEV or beam_energy in the config"),
    "elements": ("missing", "required: give --elements ... or elements in the config"),
    "thickness": ("default", "no absorption correction"),
    "density": ("default", "estimated from the composition when a thickness is given"),
    "energy_resolution": ("default", "exspy default"),
    "elevation_angle": ("default", "exspy default"),
    "azimuth_angle": ("default", "exspy default"),
    "tilt_alpha": ("default", "exspy default"),
    "tilt_beta": ("default", "0°"),
}


def resolve_metadata(
    file_values: Mapping[str, Any],
    options: Mapping[str, Any],
    config: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Setting]:
    """Metadata settings of one file: option > file > configuration > default.

    Parameters
    ----------
    file_values : mapping
        Values recorded in the file (None or absent: not recorded), in esmpy-hs units.
    options : mapping
        Values given on the command line (None or absent: not given).
    config : mapping
        Values from :func:`load_config`.
    defaults : mapping, optional
        Default values for the keys the file, the options and the configuration leave unset
        (e.g. the exspy preferences); used only for reporting.

    Returns
    -------
    dict of Setting
        One per key of :data:`METADATA_KEYS`.
    """
    defaults = defaults or {}
    out: dict[str, Setting] = {}
    for name in METADATA_KEYS:
        opt = options.get(name)
        in_file = file_values.get(name)
        if in_file is not None and name == "elements" and len(in_file) == 0:
            in_file = None
        conf = config.get(name)
        if opt is not None:
            opt = _check(name, opt)
            note = ""
            if in_file is not None and not _same(opt, in_file):
                note = f"overrides the file's value {_show(in_file)}"
            out[name] = Setting(name, opt, "option", note)
        elif in_file is not None:
            notes = []
            if conf is not None and not _same(conf, in_file):
                notes.append(f"configuration value {_show(conf)} not used: the file has a value")
            if name == "energy_resolution" and defaults.get(name) is not None and _same(
                    in_file, defaults[name]):
                notes.append("equals the exspy default: probably not measured")
            note = "; ".join(notes)
            out[name] = Setting(name, in_file, "file", note)
        elif conf is not None:
            out[name] = Setting(name, conf, "config")
        else:
            source, note = _ABSENT[name]
            out[name] = Setting(name, defaults.get(name), source, note)
    return out


#: estimator options a batch run sets itself
_ESTIMATOR_RESERVED = ("self", "n_components", "G", "shape_2d", "callback", "verbose",
                       "show_progressbar")


def check_estimator_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check the ``[estimator]`` table against the options of :class:`esmpy_hs.nmf.EsmpyNMF`.

    Parameters
    ----------
    options : mapping

    Returns
    -------
    dict
        The same options.

    Raises
    ------
    ConfigError
        For an option the estimator does not have (or one the batch run sets itself).
    """
    import inspect

    from esmpy_hs.nmf import EsmpyNMF

    valid = [name for name in inspect.signature(EsmpyNMF.__init__).parameters
             if name not in _ESTIMATOR_RESERVED]
    valid.append("low_cut")  # esmpy_hs.decompose's own option
    unknown = [name for name in options if name not in valid]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, valid, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"[estimator]: unknown option(s) {', '.join(hints)}; the options are "
            f"{', '.join(sorted(valid))}."
        )
    return dict(options)
