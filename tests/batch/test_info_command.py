"""``esmpy-hs info`` run as a real command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def _blocks(stdout: str) -> dict[str, str]:
    """The report of each file, by file name."""
    blocks: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        if line and not line.startswith(" "):
            current = Path(line.split(":")[0]).name
            blocks[current] = ""
        if current is not None:
            blocks[current] += line + "\n"
    return blocks


def _row(block: str, quantity: str) -> list[str]:
    line = next(line for line in block.splitlines() if line.strip().startswith(quantity))
    return [c.strip() for c in line.strip()[len(quantity):].split("  ") if c.strip()]


def test_info_shows_sources_with_options_and_config(sim_folder, tmp_path, cli):
    config = tmp_path / "c.toml"
    config.write_text("beam_energy = 300\nenergy_resolution = 125\n")
    proc = cli("info", str(sim_folder / "full.hspy"), str(sim_folder / "no_beam.hspy"),
               "--config", str(config), "--thickness", "20")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    blocks = _blocks(proc.stdout)
    full, no_beam = blocks["full.hspy"], blocks["no_beam.hspy"]
    assert "[0] EsmpyEDSTEMSpectrum 'Simulated spectrum image' (20, 20|700)  <- used" in full
    assert "20 x 20 pixels, 700 channels" in full
    assert _row(full, "beam energy") == [
        "200 keV", "file", "configuration value 300 not used: the file has a value"]
    assert _row(full, "thickness") == ["20 nm", "option", "overrides the file's value 100"]
    assert _row(full, "elements") == ["Fe O Si", "file"]
    assert _row(no_beam, "beam energy") == ["300 keV", "config"]
    assert _row(no_beam, "thickness") == ["20 nm", "option", "overrides the file's value 100"]
    assert "missing for esmpy: nothing (ready)" in no_beam
    # counts per pixel: the simulated dose is 300 counts/pixel
    per_pixel = float(re.search(r"in total, ([0-9.e+]+) per pixel", full).group(1))
    assert per_pixel == pytest.approx(300, rel=0.05)


def test_info_reports_what_is_missing(sim_folder, cli):
    proc = cli("info", str(sim_folder / "no_beam.hspy"), str(sim_folder / "no_elements.hspy"),
               str(sim_folder / "broken.hspy"))
    assert proc.returncode == 1
    blocks = _blocks(proc.stdout)
    assert "missing for esmpy: beam energy (give --beam-energy KEV)" in blocks["no_beam.hspy"]
    assert _row(blocks["no_beam.hspy"], "beam energy")[:2] == ["—", "missing"]
    assert "missing for esmpy: elements (give --elements EL ...)" in blocks["no_elements.hspy"]
    assert "cannot use this file:" in blocks["broken.hspy"]


@pytest.mark.realdata
def test_info_on_a_real_bruker_file(cli):
    path = REAL / "bruker_stem_64x64.bcf"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    proc = cli("info", str(path), "--add-elements", "Si")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "[1] EDSTEMSpectrum 'EDX' (64, 64|2048)  <- used" in out
    assert "26,005 in total, 6.35 per pixel" in out
    assert _row(out, "resolution at Mn Ka") == ["130 eV", "default", "exspy default"]
    assert _row(out, "elevation angle") == ["18°", "file"]
    assert _row(out, "elements")[:2] == ["Cu O Pd Ti Si", "file"]
