"""Configuration files and the precedence of options, file metadata and configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from esmpy_hs.batch.config import (
    METADATA_KEYS,
    ConfigError,
    check_estimator_options,
    load_config,
    resolve_metadata,
    resolve_run_settings,
)

NONE = dict.fromkeys(METADATA_KEYS)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.toml"
    path.write_text(text)
    return path


def test_load_config_converts_and_validates(tmp_path):
    path = _write(tmp_path, """
components = 3
elements = ["Si", "O"]
ignore = "Cu"
beam-energy = 200
thickness = 50
energy_range = [0.3, 12]
out = "results"
[estimator]
tol = 1e-5
""")
    cfg = load_config(path)
    assert cfg["components"] == 3
    assert cfg["elements"] == ("Si", "O")
    assert cfg["ignore"] == ("Cu",)
    assert cfg["beam_energy"] == 200.0 and isinstance(cfg["beam_energy"], float)
    assert cfg["energy_range"] == (0.3, 12.0)
    assert cfg["estimator"] == {"tol": 1e-5}
    # a relative output folder is relative to the configuration file, not the working folder
    assert Path(cfg["out"]) == tmp_path.resolve() / "results"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("componets = 3", "Did you mean 'components'?"),
        ("overwrite = true", "command line only"),
        ("components = 0", "components = 0 must be >= 1"),
        ("components = 2.5", "must be an integer"),
        ("beam_energy = -200", "must be > 0"),
        ("beam_energy = 'high'", "must be a number"),
        ("elements = ['Xx']", "Unknown element 'Xx'"),
        ("energy_range = [12, 0.3]", "upper energy must exceed the lower one"),
        ("lazy = 1", "must be true or false"),
        ("components = [", "not valid TOML"),
    ],
)
def test_load_config_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(_write(tmp_path, text))
    assert message in str(info.value)
    assert "session.toml" in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_metadata_precedence_option_file_config_default():
    file_values = dict(NONE, beam_energy=200.0, elements=("Fe", "O"), energy_resolution=130.0)
    config = {"beam_energy": 300.0, "thickness": 40.0, "elements": ("Si",),
              "energy_resolution": 130.0}
    options = dict(NONE, elements=("Fe", "O", "Si"), density=5.0)
    got = resolve_metadata(file_values, options, config, defaults={"energy_resolution": 130.0})

    # file value kept; the differing configuration value is reported, not silently dropped
    assert (got["beam_energy"].value, got["beam_energy"].source) == (200.0, "file")
    assert "configuration value 300 not used" in got["beam_energy"].note
    # an explicit option replaces the file's value and says so
    assert (got["elements"].value, got["elements"].source) == (("Fe", "O", "Si"), "option")
    assert "overrides the file's value [Fe, O]" in got["elements"].note
    # an option where the file has nothing: no override note
    assert (got["density"].value, got["density"].source, got["density"].note) == (
        5.0, "option", "")
    # configuration fills what the file lacks
    assert (got["thickness"].value, got["thickness"].source) == (40.0, "config")
    # same value in config and file: no "not used" note, but the exspy-default warning
    assert got["energy_resolution"].source == "file"
    assert "not used" not in got["energy_resolution"].note
    assert "probably not measured" in got["energy_resolution"].note
    # nothing anywhere
    assert got["elevation_angle"].source == "default"
    assert got["tilt_beta"].source == "default"


def test_missing_required_values_are_marked_missing():
    got = resolve_metadata(NONE, NONE, {})
    assert got["beam_energy"].source == "missing" and got["beam_energy"].value is None
    assert "--beam-energy" in got["beam_energy"].note
    assert got["elements"].source == "missing"
    assert got["thickness"].source == "default"
    # an empty element list in the file counts as missing: the configuration fills it
    got = resolve_metadata(dict(NONE, elements=()), NONE, {"elements": ("Si",)})
    assert (got["elements"].value, got["elements"].source) == (("Si",), "config")


def test_option_equal_to_file_value_has_no_override_note():
    got = resolve_metadata(dict(NONE, beam_energy=200.0), dict(NONE, beam_energy=200), {})
    assert got["beam_energy"].source == "option"
    assert got["beam_energy"].note == ""


def test_option_values_are_validated():
    with pytest.raises(ConfigError, match="thickness"):
        resolve_metadata(NONE, dict(NONE, thickness=-1.0), {})


def test_run_settings_option_config_default():
    config = {"components": 4, "max_iter": 999, "jobs": 2, "estimator": {"tol": 1e-6}}
    got = resolve_run_settings({"components": None, "max_iter": 30, "ignore": None}, config)
    assert (got["components"].value, got["components"].source) == (4, "config")
    assert (got["max_iter"].value, got["max_iter"].source) == (30, "option")
    assert "configuration value 999 not used" in got["max_iter"].note
    assert (got["jobs"].value, got["jobs"].source) == (2, "config")
    assert (got["out"].value, got["out"].source) == ("esmpy_results", "default")
    assert got["ignore"].value == () and got["ignore"].source == "default"
    assert got["estimator"].value == {"tol": 1e-6}
    with pytest.raises(ConfigError, match="jobs = 0"):
        resolve_run_settings({"jobs": 0}, {})


def test_estimator_table_is_checked_against_the_estimator():
    assert check_estimator_options({"tol": 1e-6, "smoothness": 0.0, "low_cut": 0.2}) == {
        "tol": 1e-6, "smoothness": 0.0, "low_cut": 0.2}
    with pytest.raises(ConfigError, match="'smoothnes' \\(did you mean 'smoothness'\\?\\)"):
        check_estimator_options({"smoothnes": 1.0})
    with pytest.raises(ConfigError, match="'n_components'"):
        check_estimator_options({"n_components": 3})  # set by --components
