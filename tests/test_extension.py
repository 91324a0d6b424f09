"""Registration with HyperSpy, packaging, and the README/CI contract."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

import esmpy_hs

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def test_version_is_exposed_and_matches_metadata():
    assert esmpy_hs.__version__ == importlib.metadata.version("esmpy-hs")


def test_import_is_cheap_and_side_effect_free(tmp_path):
    code = (
        "import sys, os; before = set(os.listdir('.')); import esmpy_hs; "
        "heavy = [m for m in ('hyperspy', 'exspy', 'numba', 'sklearn', 'xraylib', 'matplotlib') "
        "if m in sys.modules]; "
        "print(heavy, sorted(set(os.listdir('.')) - before))"
    )
    out = _run([sys.executable, "-c", code], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] []"


def test_entry_point_name_is_the_importable_package():
    eps = importlib.metadata.entry_points(group="hyperspy.extensions")
    ours = [ep for ep in eps if ep.value == "esmpy_hs"]
    assert len(ours) == 1
    assert ours[0].name == "esmpy_hs"  # HyperSpy looks the yaml up from the *name*


def test_yaml_registers_eager_and_lazy_classes():
    path = Path(esmpy_hs.__file__).parent / "hyperspy_extension.yaml"
    spec = yaml.safe_load(path.read_text())["signals"]
    assert set(spec) == {"EsmpyEDSTEMSpectrum", "LazyEsmpyEDSTEMSpectrum"}
    for name, entry in spec.items():
        assert entry["signal_type"] == "EDS_TEM_ESMPY"
        assert "esmpy" in entry["signal_type_aliases"]
        assert entry["lazy"] is name.startswith("Lazy")
        module = importlib.import_module(entry["module"])
        assert getattr(module, name).__name__ == name


def test_top_level_yaml_is_a_relative_link_to_the_package_yaml():
    top = REPO_ROOT / "hyperspy_extension.yaml"
    assert top.is_symlink()
    assert not Path(os.readlink(top)).is_absolute()
    assert top.resolve() == (REPO_ROOT / "esmpy_hs" / "hyperspy_extension.yaml").resolve()


def test_hyperspy_lists_signal_type_and_alias():
    import hyperspy.api as hs
    from hyperspy.extensions import ALL_EXTENSIONS

    entry = ALL_EXTENSIONS["signals"]["EsmpyEDSTEMSpectrum"]
    assert entry["signal_type"] == "EDS_TEM_ESMPY"
    assert hs.signals.Signal1D is not None


def test_selfcheck_command():
    out = _run([sys.executable, "-m", "esmpy_hs.cli", "selfcheck"])
    assert out.returncode == 0, out.stderr
    assert "-> ok" in out.stdout


def _readme_command(name: str) -> str:
    sys.path.insert(0, str(REPO_ROOT / ".ci"))
    try:
        from readme_command import readme_command
    finally:
        sys.path.pop(0)
    return readme_command(name)


def test_ci_runs_exactly_the_readme_commands():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "readme_command.py demo" in ci and "readme_command.py tests" in ci
    assert 'eval "$demo_cmd"' in ci and 'eval "$test_cmd"' in ci
    assert "-m venv" in ci
    assert _readme_command("tests").startswith('pip install ".[tests]"')
    assert _readme_command("demo").startswith("pip install .")


@pytest.mark.slow
def test_built_wheel_installs_and_registers_in_fresh_venv(tmp_path):
    """A broken extension breaks ``import hyperspy.api`` for everyone: test the real wheel."""
    dist = tmp_path / "dist"
    out = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist),
         str(REPO_ROOT)]
    )
    if out.returncode != 0:  # setuptools may be missing from the test environment
        out = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist),
                    str(REPO_ROOT)])
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(dist.glob("esmpy_hs-*.whl"))

    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "esmpy_hs/hyperspy_extension.yaml" in names
    assert any(n.startswith("esmpy_hs/physics/") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    out = _run([str(py), "-m", "pip", "install", "--quiet", str(wheel)])
    assert out.returncode == 0, out.stderr[-3000:]
    code = (
        "import hyperspy.api as hs; hs.print_known_signal_types(); "
        "s = hs.signals.Signal1D([[0., 1.]] * 2); s.set_signal_type('esmpy'); "
        "print(type(s).__name__)"
    )
    out = _run([str(py), "-c", code], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "EDS_TEM_ESMPY" in out.stdout and "esmpy" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "EsmpyEDSTEMSpectrum"


def test_top_level_names_are_the_documented_objects():
    """``esmpy_hs.decompose`` is the function, also after its module has been imported."""
    import esmpy_hs.decomposition
    from esmpy_hs.signals import EsmpyEDSTEMSpectrum

    assert callable(esmpy_hs.decompose)
    assert esmpy_hs.decompose is esmpy_hs.decomposition.decompose
    assert esmpy_hs.EsmpyEDSTEMSpectrum is EsmpyEDSTEMSpectrum
    assert esmpy_hs.get_phase_compositions.__name__ == "get_phase_compositions"
    assert callable(esmpy_hs.export_results) and callable(esmpy_hs.decomposition_gui)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        esmpy_hs.nonexistent  # noqa: B018
