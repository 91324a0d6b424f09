"""``esmpy-hs decompose`` run as a real command on simulated and measured files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from esmpy_hs.batch.report import CSV_COLUMNS

#: true atomic fractions (%) of the two simulated phases (see conftest.py)
MATRIX = {"O": 200 / 3, "Si": 100 / 3}
PARTICLES = {"Fe": 40.0, "O": 60.0}

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"

CONFIG = """\
elements = ["Fe", "O", "Si"]    # only no_elements.hspy lacks them
energy_resolution = 125         # every file records 130 eV: never used
max_iter = 999                  # --max-iter wins
"""


@pytest.fixture(scope="module")
def batch(sim_folder, tmp_path_factory, cli, digest):
    """One batch over the simulated folder (2 good, 1 broken, 1 without beam energy)."""
    work = tmp_path_factory.mktemp("batch")
    config = work / "session.toml"
    config.write_text(CONFIG)
    before = {p.name: digest(p) for p in sim_folder.iterdir()}
    out = work / "out"
    proc = cli(
        "decompose", str(sim_folder), "--config", str(config), "-k", "2", "--max-iter", "30",
        "--seed", "0", "--thickness", "50", "--jobs", "2", "--no-progress", "--out", str(out),
    )
    return {"proc": proc, "out": out, "before": before, "folder": sim_folder}


def _load(path: Path):
    import hyperspy.api as hs

    return hs.load(path)


def _match(comp) -> dict[str, dict[str, float]]:
    """{"matrix": {el: at.%}, "particles": {...}}: the phase richer in Fe is the particles."""
    fe = comp.elements.index("Fe")
    j_part = int(np.nanargmax(comp.atomic_percent[fe]))
    j_mat = 1 - j_part
    return {
        "matrix": comp.phase(j_mat),
        "particles": comp.phase(j_part),
    }


def test_batch_finishes_good_files_and_reports_both_failures(batch):
    proc = batch["proc"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAILED  broken.hspy: cannot read the file" in out
    assert "FAILED  no_beam.hspy: no beam energy" in out
    assert "--beam-energy KEV" in out
    assert "ok      full.hspy: 2 phases" in out
    assert "ok      no_elements.hspy: 2 phases" in out
    assert "2 succeeded, 0 skipped, 2 failed" in out
    # summary table: one row per input
    table = out[out.index("file  "):]
    for name, status in (("broken.hspy", "failed"), ("full.hspy", "ok"),
                         ("no_beam.hspy", "failed"), ("no_elements.hspy", "ok")):
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert row.split()[1] == status
    # run settings: option wins over the configuration, and says so
    assert "max iter 30 [option] (configuration value 999 not used)" in out


def test_outputs_exist_only_for_good_files_and_inputs_unchanged(batch, digest):
    out = batch["out"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{stem}{suffix}"
        for stem in ("full", "no_elements")
        for suffix in ("_esmpy.hspy", "_compositions.csv", "_summary.png")
    )  # nothing for the failures, no temporary files left
    after = {p.name: digest(p) for p in batch["folder"].iterdir()}
    assert after == batch["before"]


def test_results_load_back_and_recover_the_phases(batch):
    from esmpy_hs.quantification import get_phase_compositions

    s = _load(batch["out"] / "full_esmpy.hspy")
    assert type(s).__name__ == "EsmpyEDSTEMSpectrum"
    assert s.learning_results.decomposition_algorithm == "esmpy"
    assert s.learning_results.loadings.shape == (400, 2)
    comp = get_phase_compositions(s)
    phases = _match(comp)
    for name, truth in (("matrix", MATRIX), ("particles", PARTICLES)):
        for element, expected in truth.items():
            assert phases[name][element] == pytest.approx(expected, abs=5.0), (name, element)
    assert phases["matrix"]["Fe"] < 1.0
    assert phases["particles"]["Si"] < 1.0
    assert int(s.learning_results.esmpy_params["n_iter"]) <= 30


def test_metadata_sources_are_recorded(batch):
    s = _load(batch["out"] / "full_esmpy.hspy")
    settings = s.metadata.Esmpy.batch.settings
    # explicit option overrides the file (100 nm) and says so
    assert settings.thickness.source == "option"
    assert settings.thickness.value == 50
    assert "100" in settings.thickness.note
    assert s.metadata.Sample.thickness == 50
    assert s.metadata.Sample.thickness_units == "nm"
    # the configuration never replaces a value of the file, and says it was not used
    assert settings.energy_resolution.source == "file"
    assert "125" in settings.energy_resolution.note
    assert s.metadata.Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa == 130
    assert settings.beam_energy.source == "file"
    assert settings.elements.source == "file"
    # the configuration fills what a file lacks
    s2 = _load(batch["out"] / "no_elements_esmpy.hspy")
    assert s2.metadata.Esmpy.batch.settings.elements.source == "config"
    assert list(s2.metadata.Sample.elements) == ["Fe", "O", "Si"]


def test_compositions_csv_matches_the_results(batch):
    from esmpy_hs.quantification import get_phase_compositions

    with (batch["out"] / "full_compositions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * 3
    comp = get_phase_compositions(_load(batch["out"] / "full_esmpy.hspy"))
    abundance = 0.0
    for j, phase in enumerate(comp.phases):
        mine = [r for r in rows if r["phase"] == phase]
        assert [r["element"] for r in mine] == list(comp.elements)
        values = np.array([float(r["atomic_percent"]) for r in mine])
        np.testing.assert_allclose(values, comp.atomic_percent[:, j], rtol=1e-5, atol=1e-9)
        assert values.sum() == pytest.approx(100.0, abs=1e-3)
        abundance += float(mine[0]["mean_abundance"])
    assert abundance == pytest.approx(1.0, abs=1e-4)  # abundances sum to one per pixel


def test_summary_png_is_a_picture(batch):
    import matplotlib.image as mpimg

    path = batch["out"] / "full_summary.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert height > 400 and width > 400
    assert image[..., :3].std() > 0.05  # not a blank page


def test_existing_outputs_are_kept_without_overwrite(sim_file, tmp_path, cli, digest):
    out = tmp_path / "out"
    out.mkdir()
    old = out / "sample_summary.png"
    old.write_bytes(b"earlier result")
    before = digest(sim_file)

    proc = cli("decompose", str(sim_file), "-k", "2", "--max-iter", "20", "--out", str(out),
                   "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped sample.hspy: outputs exist (sample_summary.png); use --overwrite" in proc.stdout
    assert "0 succeeded, 1 skipped, 0 failed" in proc.stdout
    assert old.read_bytes() == b"earlier result"
    assert sorted(p.name for p in out.iterdir()) == ["sample_summary.png"]

    proc = cli("decompose", str(sim_file), "-k", "2", "--max-iter", "20", "--out", str(out),
               "--no-progress", "--overwrite", "--lazy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 succeeded, 0 skipped, 0 failed" in proc.stdout
    assert _load(out / "sample_esmpy.hspy").learning_results.decomposition_algorithm == "esmpy"
    assert old.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == [
        "sample_compositions.csv", "sample_esmpy.hspy", "sample_summary.png"]
    assert digest(sim_file) == before


def test_usage_errors_exit_2_with_the_fix(sim_file, tmp_path, cli):
    bad = tmp_path / "bad.toml"
    bad.write_text("componets = 3\n")
    proc = cli("decompose", str(sim_file), "--config", str(bad))
    assert proc.returncode == 2
    assert "unknown key 'componets'" in proc.stderr
    assert "Did you mean 'components'?" in proc.stderr

    proc = cli("decompose", "--elements", "Fe", "O", str(sim_file), "-k", "2")
    assert proc.returncode == 2
    assert "was read as an element of --elements" in proc.stderr
    assert "end the element list with --" in proc.stderr
    assert not (tmp_path / "esmpy_results").exists()


# --- measured files ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.realdata
def test_real_sio2_particles_with_ignored_grid(tmp_path, cli, digest):
    src = REAL / "sio2_particles_stem_128x128.hspy"
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    from esmpy_hs.quantification import get_phase_compositions

    before = digest(src)
    out = tmp_path / "out"
    proc = cli("decompose", str(src), "-k", "2", "--elements", "Si", "O", "C", "--ignore",
                   "Cu", "--max-iter", "15", "--seed", "0", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "elements C Cu O Si [option]" in proc.stdout or \
        "elements Si O C Cu [option]" in proc.stdout
    s = _load(out / "sio2_particles_stem_128x128_esmpy.hspy")
    params = s.learning_results.esmpy_params
    assert "Cu" in list(params["elements"])
    assert list(params["ignored_elements"]) == ["Cu"]
    comp = get_phase_compositions(s)
    assert sorted(comp.elements) == ["C", "O", "Si"]
    with (out / "sio2_particles_stem_128x128_compositions.csv").open() as fh:
        assert {r["element"] for r in csv.DictReader(fh)} == {"C", "O", "Si"}
    # the carbon film and the particles end up in different phases
    c_share = comp.atomic_percent[comp.elements.index("C")]
    assert np.nanmax(c_share) - np.nanmin(c_share) > 20.0
    assert digest(src) == before


@pytest.mark.slow
@pytest.mark.realdata
def test_real_multi_signal_files_and_sem(tmp_path, cli, digest):
    files = [REAL / "bruker_stem_64x64.bcf", REAL / "bruker_sem_30x30_dense.bcf",
             REAL / "velox_stem_16x16.emd"]
    if not all(f.is_file() for f in files):
        pytest.skip(f"real files absent in {REAL}")
    digests = [digest(f) for f in files]
    out = tmp_path / "out"
    proc = cli("decompose", *map(str, files), "-k", "2", "--max-iter", "10", "--seed", "0",
                   "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 succeeded, 0 skipped, 0 failed" in proc.stdout
    assert "using [1] EDSTEMSpectrum 'EDX' (64, 64|2048)" in proc.stdout
    assert "using [9] EDSTEMSpectrum 'EDS' (16, 16|4096)" in proc.stdout
    assert "This is an EDS_SEM signal" in proc.stdout  # the backend's SEM warning, per file
    s = _load(out / "bruker_stem_64x64_esmpy.hspy")
    assert s.axes_manager.navigation_shape == (64, 64)
    assert s.learning_results.decomposition_algorithm == "esmpy"
    sem = _load(out / "bruker_sem_30x30_dense_esmpy.hspy")
    assert sem.metadata.Signal.signal_type == "EDS_SEM"
    assert sem.metadata.Esmpy.batch.settings.beam_energy.value == 20
    assert [digest(f) for f in files] == digests
