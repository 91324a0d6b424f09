"""Finding inputs, naming outputs, and reading the spectrum image of a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from esmpy_hs.batch.decompose_command import _output_stems
from esmpy_hs.batch.io import (
    NoSpectrumImageError,
    expand_inputs,
    is_output_file,
    read_spectrum_image,
)
from esmpy_hs.batch.report import format_table

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")


def test_expand_folder_glob_and_missing(tmp_path):
    _touch(tmp_path, "a.hspy", "b.bcf", "a_esmpy.hspy", "a_summary.png", "notes.txt",
           "sub/c.emd")
    files, problems = expand_inputs([str(tmp_path)])
    assert [f.name for f in files] == ["a.hspy", "b.bcf"]  # no outputs, text, images, sub-folders
    assert problems == []

    files, problems = expand_inputs([str(tmp_path / "**" / "*.*"), str(tmp_path / "a.hspy"),
                                     str(tmp_path / "none*.hspy"), str(tmp_path / "gone.hspy")])
    names = [f.name for f in files]
    assert sorted(names) == ["a.hspy", "b.bcf", "c.emd", "notes.txt"]  # patterns: any file
    assert len(names) == len(set(names))  # a.hspy once
    assert problems == [(str(tmp_path / "none*.hspy"), "no file matches this pattern"),
                        (str(tmp_path / "gone.hspy"), "no such file or folder")]
    # an output given explicitly by name is still an input (the user asked for it)
    files, _ = expand_inputs([str(tmp_path / "a_esmpy.hspy")])
    assert [f.name for f in files] == ["a_esmpy.hspy"]


def test_output_names():
    assert is_output_file("x/run_esmpy.hspy") and is_output_file("run_compositions.csv")
    assert not is_output_file("esmpy.hspy")
    files = [Path("day1/a.hspy"), Path("day2/a.bcf"), Path("day1/b.hspy"), Path("a/a.emd")]
    assert _output_stems(files) == ["day1_a", "day2_a", "b", "a_a"]
    assert _output_stems([Path("x/s.hspy"), Path("x/s.bcf")]) == ["x_s", "x_s_2"]


def test_format_table_aligns_columns():
    text = format_table(["file", "status"], [["a.hspy", "ok"], ["longer.bcf", "failed"]])
    lines = text.splitlines()
    assert lines[0] == "file        status"
    assert lines[1] == "----------  ------"
    assert lines[3] == "longer.bcf  failed"


def test_read_simulated_file(sim_folder):
    si = read_spectrum_image(sim_folder / "full.hspy")
    assert type(si.signal).__name__ == "EsmpyEDSTEMSpectrum"
    assert si.index == 0 and len(si.signals) == 1 and si.microscope == "TEM"
    assert si.file_values["beam_energy"] == 200.0
    assert si.file_values["elements"] == ("Fe", "O", "Si")
    assert si.file_values["thickness"] == 100.0
    assert si.notes == []
    si = read_spectrum_image(sim_folder / "no_beam.hspy")
    assert si.file_values["beam_energy"] is None


def test_a_file_without_spectrum_image(tmp_path):
    import hyperspy.api as hs
    import numpy as np

    hs.signals.Signal2D(np.zeros((8, 8))).save(tmp_path / "image.hspy")
    with pytest.raises(NoSpectrumImageError, match="no EDS spectrum image in image.hspy"):
        read_spectrum_image(tmp_path / "image.hspy")


def test_untyped_spectrum_image_is_read_as_eds(tmp_path):
    import hyperspy.api as hs
    import numpy as np

    s = hs.signals.Signal1D(np.ones((3, 4, 50), dtype="uint16"))
    s.axes_manager.signal_axes[0].units = "keV"
    s.save(tmp_path / "plain.hspy")
    si = read_spectrum_image(tmp_path / "plain.hspy")
    assert type(si.signal).__name__ == "EsmpyEDSTEMSpectrum"
    assert "no signal type" in si.notes[0]
    assert si.file_values["beam_energy"] is None


@pytest.mark.realdata
def test_real_bcf_picks_the_spectrum_image_and_sees_file_metadata_only():
    path = REAL / "bruker_stem_64x64.bcf"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    si = read_spectrum_image(path)
    assert si.index == 1 and [s.class_name for s in si.signals] == ["Signal2D", "EDSTEMSpectrum"]
    assert si.signal.axes_manager.navigation_shape == (64, 64)
    assert si.file_values["beam_energy"] == 200.0
    assert si.file_values["elements"] == ("Cu", "O", "Pd", "Ti")
    assert si.file_values["elevation_angle"] == 18.0
    # exspy fills a 130 eV default into the loaded signal; the file itself has none
    assert si.signal.metadata.get_item(
        "Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa") == 130.0
    assert si.file_values["energy_resolution"] is None
