"""Headless tests of the esmpy decomposition form (ipywidgets, no browser, no kernel)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

import esmpy_hs.decomposition as decompose_module  # noqa: E402
from esmpy_hs.datasets import Phase, particle_maps, simulate_spectrum_image  # noqa: E402
from esmpy_hs.gui import decomposition_gui  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = 'pip install "esmpy-hs[gui-jupyter]"'
BEAM_KEY = "Acquisition_instrument.TEM.beam_energy"
RES_KEY = "Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa"


@pytest.fixture(scope="module")
def simulated():
    """16 x 16 px, 600 channels, Si-O matrix with Fe-O particles (fast to fit)."""
    phases = [Phase("matrix", {"Si": 1, "O": 2}), Phase("particles", {"Fe": 2, "O": 3})]
    maps = particle_maps(16, 2, n_particles=3, radius=(2, 4), seed=1)
    return simulate_spectrum_image(
        phases,
        maps,
        dose=300,
        seed=1,
        n_channels=600,
        energy_offset=0.2,
        energy_scale=0.015,
        beam_energy=300.0,
        resolution_mnka=128.0,
        elevation_angle=22.0,
        thickness=50.0,
        density=3.2,
    )


@pytest.fixture
def signal(simulated):
    return simulated.deepcopy()


def _form(s):
    out = decomposition_gui(s, display=False)
    assert set(out) == {"ipywidgets"}
    form = out["ipywidgets"]
    return form["ui"], form["wdict"]


def _drop_beam_energy(s):
    s.metadata.Acquisition_instrument.TEM.__delattr__("beam_energy")
    assert not s.metadata.has_item(BEAM_KEY)


def _click(button):
    button._click_handlers(button)


class _Recorder:
    """Stand-in for ``decompose``: records its arguments and fits nothing."""

    def __init__(self):
        self.calls = []

    def __call__(self, s, n_components, **kwargs):
        self.calls.append((s, n_components, kwargs))

        class _Fitted:
            n_iter_ = 3
            stop_reason_ = "max_iter"

        return _Fitted()


@pytest.fixture
def recorder(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(decompose_module, "decompose", rec)
    return rec


# -- building and metadata ----------------------------------------------------------------


def test_form_reflects_metadata(signal):
    ui, w = _form(signal)
    assert w["elements"].value == "Fe, O, Si"
    assert w["beam_energy"].value == 300.0
    assert w["energy_resolution_MnKa"].value == 128.0
    assert w["take_off_angle"].value == pytest.approx(22.0, abs=1e-9)  # tilt 0, azimuth 0
    assert w["take_off_angle"].disabled
    assert w["thickness"].value == 50.0
    assert w["density"].value == 3.2
    assert w["n_components"].value == 2
    assert w["energy_min"].value == 0.15  # decompose's low cut
    assert w["energy_max"].value == pytest.approx(0.2 + 599 * 0.015)  # the axis end
    for name in ("elements", "beam_energy", "energy_resolution_MnKa", "thickness", "density"):
        assert ui.field_note(name).kind == "metadata", name
        assert "from metadata" in w["notes"][name].value
    assert ui.errors == []
    assert not w["run_button"].disabled
    assert w["messages"].value == ""


def test_defaults_are_marked_and_missing_beam_energy_blocks_run(recorder):
    from exspy.signals import EDSTEMSpectrum

    from esmpy_hs.nmf import EsmpyNMF

    s = EDSTEMSpectrum(np.ones((4, 5, 300), dtype=np.float32))
    s.axes_manager.signal_axes[0].units = "keV"
    s.axes_manager.signal_axes[0].scale = 0.02
    s.add_elements(["Cu", "Au"])
    ui, w = _form(s)
    # exspy fills resolution and angles with its preferences: flagged as defaults
    assert w["energy_resolution_MnKa"].value == 130.0
    assert ui.field_note("energy_resolution_MnKa").kind == "default"
    assert w["take_off_angle"].value == pytest.approx(35.0)
    assert ui.field_note("take_off_angle").kind == "default"
    assert ui.field_note("density").kind == "default"
    assert w["thickness"].value == 0.0 and "no absorption" in ui.field_note("thickness").text
    # estimator options pre-filled with EsmpyNMF's own defaults and marked as such
    params = EsmpyNMF().get_params()
    assert w["max_iter"].value == params["max_iter"]
    assert (w["tol_objective"].value, w["tol_parameters"].value) == tuple(params["tol"])
    assert w["smoothness_auto"].value is (params["smoothness"] == "auto")
    assert ui.field_note("max_iter").kind == "default"
    # the beam energy is not in the metadata: marked, explained, and Run is blocked
    assert w["beam_energy"].value == 0.0
    assert ui.field_note("beam_energy").kind == "missing"
    assert any(m.startswith("Beam energy: missing") for m in ui.errors)
    assert w["run_button"].disabled
    assert "Beam energy: missing" in w["messages"].value
    _click(w["run_button"])
    assert recorder.calls == []
    w["beam_energy"].value = 200.0
    assert ui.errors == [] and not w["run_button"].disabled
    assert ui.field_note("beam_energy").kind == "edited"


def test_two_way_sync(signal):
    ui, w = _form(signal)
    w["n_components"].value = 4
    assert ui.n_components == 4
    ui.max_iter = 55
    assert w["max_iter"].value == 55
    w["smoothness_auto"].value = False
    assert not w["smoothness"].disabled
    assert ui.field_note("smoothness_auto").kind == "edited"


# -- widget values -> decompose arguments ---------------------------------------------------


def test_unedited_form_passes_only_phases_and_estimator_options(signal, recorder):
    _, w = _form(signal)
    _click(w["run_button"])
    assert len(recorder.calls) == 1
    s_used, k, kwargs = recorder.calls[0]
    assert s_used is signal  # no metadata override: the user's signal itself
    assert k == 2
    assert kwargs == {
        "max_iter": 1000,
        "tol": (1e-8, 1e-5),
        "smoothness": "auto",
        "init": "auto",
        "random_state": 0,
        "show_progressbar": False,
        "print_info": False,
        "return_info": True,
        "callback": kwargs["callback"],
    }
    assert callable(kwargs["callback"])


def test_widget_values_change_decompose_arguments(signal, recorder):
    _, w = _form(signal)
    edits = {
        "elements": "Fe O Si Ca",
        "ignore_elements": "Cu",
        "n_components": 3,
        "thickness": 80.0,
        "density": 4.5,
        "energy_resolution_MnKa": 135.0,
        "beam_energy": 200.0,
        "energy_min": 0.5,
        "smoothness_auto": False,
        "smoothness": 3.5,
        "max_iter": 77,
        "tol_objective": 1e-6,
        "tol_parameters": 1e-4,
        "init": "random",
        "random_state": 7,
    }
    for name, value in edits.items():
        w[name].value = value
    _click(w["run_button"])
    assert len(recorder.calls) == 1
    s_used, k, kwargs = recorder.calls[0]
    kwargs.pop("callback")
    assert k == 3
    assert kwargs == {
        "elements": ["Fe", "O", "Si", "Ca"],
        "ignore_elements": ["Cu"],
        "thickness": 80.0,
        "density": 4.5,
        "detector": {"resolution_mnka": 135.0},
        "energy_range": (0.5, pytest.approx(0.2 + 599 * 0.015)),
        "max_iter": 77,
        "tol": (1e-6, 1e-4),
        "smoothness": 3.5,
        "init": "random",
        "random_state": 7,
        "show_progressbar": False,
        "print_info": False,
        "return_info": True,
    }
    # decompose reads the beam energy from the metadata: a metadata copy sharing the data
    assert s_used is not signal
    assert s_used.metadata.get_item(BEAM_KEY) == 200.0
    assert np.shares_memory(s_used.data, signal.data)
    assert signal.metadata.get_item(BEAM_KEY) == 300.0  # the user's metadata is untouched
    assert signal.metadata.get_item("Sample.thickness") == 50.0


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("elements", "Fe, Qq, O, Zz", "Elements: unknown element symbol(s) 'Qq', 'Zz'"),
        ("elements", "fe, O", "Elements: unknown element symbol(s) 'fe'"),
        ("elements", "  ", "Elements: enter at least one element symbol"),
        ("ignore_elements", "Kk", "Elements to ignore: unknown element symbol(s) 'Kk'"),
        ("beam_energy", 0.0, "Beam energy: missing"),
        ("n_components", 0, "Number of phases: 0 must be at least 1"),
        ("energy_resolution_MnKa", -5.0, "Resolution at Mn Kα: -5 eV must be positive"),
        ("thickness", -1.0, "Thickness: -1 nm must be >= 0"),
        ("density", 0.0, "Density: the metadata has 3.2 g/cm³"),
        ("max_iter", 0, "Max. iterations: 0 must be at least 1"),
        ("energy_min", 9.5, "Energy range: 9.5-9.185 keV; the low end must be >= 0"),
    ],
)
def test_invalid_input_shows_message_and_does_not_run(signal, recorder, name, value, message):
    ui, w = _form(signal)
    w[name].value = value
    assert w["run_button"].disabled
    if name.endswith("elements") and value.strip():
        assert ui.field_note(name).kind == "missing"
        assert "unknown symbol(s): " in w["notes"][name].value
    assert html_unescape(w["messages"].value).count(message) == 1
    _click(w["run_button"])  # even when clicked programmatically: nothing runs
    assert recorder.calls == []
    assert "Not run" in w["status"].value
    with pytest.raises(ValueError, match=re.escape(message)):
        ui.decompose_kwargs()
    _click(w["store_button"])
    assert "Not stored" in w["status"].value


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_decompose_error_is_shown_in_the_form(signal):
    _, w = _form(signal)
    # He is a valid symbol (the form accepts it) without any X-ray line: decompose refuses it
    w["elements"].value = "He"
    assert w["messages"].value == ""
    _click(w["run_button"])
    assert w["progress"].bar_style == "danger"
    assert "ValueError" in w["messages"].value
    assert "failed" in w["status"].value
    assert w["output"].outputs == ()
    assert signal.learning_results.decomposition_algorithm is None


# -- running ---------------------------------------------------------------------------------


def test_run_matches_decompose(signal):
    from esmpy_hs.decomposition import decompose

    reference = signal.deepcopy()
    _, w = _form(signal)
    w["max_iter"].value = 30
    w["ignore_elements"].value = "Cu"
    w["energy_max"].value = 8.0
    _click(w["run_button"])
    est = decompose(
        reference,
        2,
        ignore_elements=["Cu"],
        energy_range=(0.15, 8.0),
        max_iter=30,
        tol=(1e-8, 1e-5),
        smoothness="auto",
        init="auto",
        random_state=0,
        show_progressbar=False,
        print_info=False,
    )
    assert est is None
    got, ref = signal.learning_results, reference.learning_results
    assert got.decomposition_algorithm == "esmpy"
    np.testing.assert_allclose(got.factors, ref.factors, rtol=1e-6)
    np.testing.assert_allclose(got.loadings, ref.loadings, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.esmpy_W, ref.esmpy_W, rtol=1e-6)
    assert got.esmpy_params["ignored_elements"] == ["Cu"]
    assert got.esmpy_params["metadata"]["energy_range_keV"] == [0.15, 8.0]
    # progress bar, status and results
    assert w["progress"].value == 30 and w["progress"].max == 30
    assert w["progress"].bar_style == "success"
    assert "Done: 30 iterations" in w["status"].value
    outputs = w["output"].outputs
    assert len(outputs) == 3
    table = outputs[0]["data"]["text/html"]
    assert "phase 0" in table and "phase 1" in table and ">Si<" in table
    for out in outputs[1:]:
        png = base64.b64decode(out["data"]["image/png"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # the found phases are the simulated ones: Fe-rich particles, Si-rich matrix
    from esmpy_hs.quantification import get_phase_compositions

    comp = get_phase_compositions(signal)
    fe = [comp.phase(j)["Fe"] for j in range(2)]
    si = [comp.phase(j)["Si"] for j in range(2)]
    assert max(fe) > 30 and min(fe) < 5
    assert max(si) > 25 and min(si) < 5


def test_run_with_beam_energy_entered_in_the_form(simulated):
    from esmpy_hs.decomposition import decompose

    s = simulated.deepcopy()
    _drop_beam_energy(s)
    reference = simulated.deepcopy()  # has the beam energy (300 keV) in its metadata
    _, w = _form(s)
    assert w["run_button"].disabled
    w["beam_energy"].value = 300.0
    w["max_iter"].value = 20
    _click(w["run_button"])
    decompose(reference, 2, max_iter=20, show_progressbar=False, print_info=False)
    np.testing.assert_allclose(
        s.learning_results.factors, reference.learning_results.factors, rtol=1e-6
    )
    assert s.learning_results.esmpy_params["metadata"]["beam_energy"]["value"] == 300.0
    assert not s.metadata.has_item(BEAM_KEY)  # Run does not write the metadata


# -- store -----------------------------------------------------------------------------------


def test_store_writes_edited_values(simulated):
    s = simulated.deepcopy()
    _drop_beam_energy(s)
    ui, w = _form(s)
    w["beam_energy"].value = 120.0
    w["energy_resolution_MnKa"].value = 126.5
    w["thickness"].value = 75.0
    w["elements"].value = "Si, O, Fe, Al"
    w["max_iter"].value = 12  # an estimator option: kept, not stored
    _click(w["store_button"])
    md = s.metadata
    assert md.get_item(BEAM_KEY) == 120.0
    assert md.get_item(RES_KEY) == 126.5
    assert md.get_item("Sample.thickness") == 75.0
    assert md.get_item("Sample.thickness_units") == "nm"
    assert md.get_item("Sample.elements") == ["Al", "Fe", "O", "Si"]
    assert md.get_item("Sample.density") == 3.2  # not edited: not rewritten
    assert "Stored" in w["status"].value and BEAM_KEY in w["status"].value
    for name in ("beam_energy", "energy_resolution_MnKa", "thickness", "elements"):
        assert ui.field_note(name).kind == "metadata", name
    assert w["max_iter"].value == 12
    kwargs = ui.decompose_kwargs()
    assert set(kwargs) == {"n_components", "max_iter", "tol", "smoothness", "init", "random_state"}
    w["energy_max"].value = 500.0  # above the beam energy: capped
    assert ui.decompose_kwargs()["energy_range"] == (0.15, 120.0)


# -- registration and the optional dependency --------------------------------------------------


def test_registered_in_hyperspy_gui_registry(signal):
    from hyperspy.ui_registry import UI_REGISTRY

    from esmpy_hs.gui import register_widgets
    from esmpy_hs.gui._ui_model import TOOLKEY

    assert TOOLKEY in UI_REGISTRY  # declared in hyperspy_extension.yaml
    register_widgets()
    assert UI_REGISTRY[TOOLKEY]["ipywidgets"] == {
        "module": "esmpy_hs.gui._ipywidgets",
        "function": "decomposition_ipy",
    }
    # the signal method and the function give the same form
    via_method = signal.decomposition_gui(display=False, toolkit="ipywidgets")
    assert list(via_method) == ["ipywidgets"]
    assert via_method["ipywidgets"]["wdict"]["elements"].value == "Fe, O, Si"
    assert signal.decomposition_gui() is None  # displayed (text repr outside a notebook)


def test_extension_leaves_hyperspy_toolkits_and_plots_alone(signal):
    """Our form must not make HyperSpy believe a GUI toolkit is installed."""
    code = (
        "import hyperspy.api as hs, numpy as np\n"
        "from hyperspy.ui_registry import TOOLKIT_REGISTRY\n"
        "before = set(TOOLKIT_REGISTRY)\n"
        "import esmpy_hs.gui\n"
        "esmpy_hs.gui.register_widgets()\n"
        "assert set(TOOLKIT_REGISTRY) == before, TOOLKIT_REGISTRY\n"
        "s = hs.signals.Signal1D(np.random.default_rng(0).random((4, 5, 30)))\n"
        "s.decomposition(print_info=False)\n"
        "s.plot_decomposition_results()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_missing_ipywidgets_raises_a_clear_import_error(signal, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # "import ipywidgets" fails
    monkeypatch.delitem(sys.modules, "esmpy_hs.gui._ipywidgets", raising=False)
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        decomposition_gui(signal, display=False)
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        signal.decomposition_gui()


def test_not_a_signal_is_a_type_error():
    with pytest.raises(TypeError, match="needs a HyperSpy EDS signal"):
        decomposition_gui(np.zeros((4, 4, 10)), display=False)


def test_importing_the_package_does_not_import_ipywidgets():
    code = (
        "import sys, hyperspy.api, esmpy_hs, esmpy_hs.gui, esmpy_hs.gui._ui_model, "
        "esmpy_hs.signals; print('ipywidgets' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    assert out.stdout.strip() == "False"


# -- the tutorial notebook -------------------------------------------------------------------


@pytest.mark.slow
def test_tutorial_notebook_runs_and_shows_results():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = REPO_ROOT / "tutorials" / "gui_widget.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = list(state.values())
    done = [
        m["state"]["value"]
        for m in models
        if m["model_name"] == "HTMLModel" and "Done:" in m["state"].get("value", "")
    ]
    assert len(done) == 1 and re.search(r"Done: \d+ iterations", done[0])
    outputs = [m["state"]["outputs"] for m in models if m["model_name"] == "OutputModel"]
    outputs.sort(key=len)
    assert [len(o) for o in outputs] == [0, 3]  # 2nd form: nothing; 1st: table, maps, spectra
    outputs = outputs[1:]
    assert "Ca" in outputs[0][0]["data"]["text/html"]
    # the composition cell after the form: the matrix (Si, O, Mg) is found
    (cell,) = [c for c in nb.cells if c.source == "s.get_phase_compositions()"]
    table = cell.outputs[0]["data"]["text/plain"]
    assert "Mg" in table and "Si" in table
    # the second form (missing beam energy, mistyped element) cannot run and says why
    runs = [m["state"] for m in models if m["state"].get("description") == "Run"]
    assert sorted(r.get("disabled", False) for r in runs) == [False, True]
    cannot = [
        m["state"]["value"]
        for m in models
        if m["model_name"] == "HTMLModel" and "Cannot run" in m["state"].get("value", "")
    ]
    assert len(cannot) == 1 and "Mgg" in cannot[0] and "Beam energy: missing" in cannot[0]
