"""esmpy_hs.metadata: every key, its default, units and provenance."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("exspy")

import exspy  # noqa: E402

from esmpy_hs import metadata as md  # noqa: E402


def _signal(units="keV", offset=-0.1, scale=0.01, size=50, elements=("Fe", "O")):
    s = exspy.signals.EDSTEMSpectrum(np.zeros((2, 3, size), dtype=np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.offset, ax.scale = units, offset, scale
    if elements:
        s.add_elements(list(elements))
    return s


def test_beam_energy_read_through_exspy_trailing_space_key():
    s = _signal()
    s.set_microscope_parameters(beam_energy=300)  # exspy writes "beam_energy " (sic)
    mv = md.read_beam_energy(s)
    assert mv.value == 300.0
    assert mv.source == "metadata"
    assert mv.key == "Acquisition_instrument.TEM.beam_energy"


def test_missing_beam_energy_names_key_and_fix():
    s = _signal()
    with pytest.raises(ValueError) as err:
        md.read_beam_energy(s)
    msg = str(err.value)
    assert "Acquisition_instrument.TEM.beam_energy" in msg
    assert "s.set_microscope_parameters(beam_energy=...)" in msg


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_non_positive_beam_energy_refused(bad):
    s = _signal()
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", bad)
    with pytest.raises(ValueError, match="not a valid beam energy"):
        md.read_beam_energy(s)


def test_resolution_default_is_noted():
    s = _signal()
    del s.metadata.Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa
    mv = md.read_energy_resolution(s)
    assert mv.value == 130.0 and mv.source == "default"
    assert "default" in mv.note
    s.set_microscope_parameters(energy_resolution_MnKa=125.5)
    mv = md.read_energy_resolution(s)
    assert mv.value == 125.5 and mv.source == "metadata" and mv.note == ""
    s.set_microscope_parameters(energy_resolution_MnKa=130.0)
    assert "probably not measured" in md.read_energy_resolution(s).note


@pytest.mark.parametrize(
    "tilt, azimuth, elevation, expected",
    [(0.0, 45.0, 18.0, 18.0), (10.0, 0.0, 22.0, 32.0), (0.0, 0.0, 35.0, 35.0)],
)
def test_take_off_angle_from_tilt_azimuth_elevation(tilt, azimuth, elevation, expected):
    s = _signal()
    s.set_microscope_parameters(tilt_stage=tilt, azimuth_angle=azimuth, elevation_angle=elevation)
    toa, angles = md.read_take_off_angle(s)
    assert toa.value == pytest.approx(expected, abs=1e-6)
    assert angles["tilt_alpha"].value == tilt
    assert angles["tilt_beta"].source == "default"
    assert toa.source == "metadata"


def test_take_off_angle_uses_tilt_beta():
    from exspy.utils.eds import take_off_angle

    s = _signal()
    s.set_microscope_parameters(tilt_stage=5.0, azimuth_angle=45.0, elevation_angle=20.0)
    s.metadata.set_item("Acquisition_instrument.TEM.Stage.tilt_beta", 8.0)
    toa, _ = md.read_take_off_angle(s)
    assert toa.value == pytest.approx(take_off_angle(5.0, 45.0, 20.0, 8.0))
    assert toa.value != pytest.approx(take_off_angle(5.0, 45.0, 20.0, 0.0))


def test_take_off_angle_all_defaults():
    from hyperspy.signals import Signal1D

    s = Signal1D(np.zeros((2, 10)))
    toa, angles = md.read_take_off_angle(s)
    assert toa.value == pytest.approx(35.0)  # exspy default elevation, no tilt
    assert toa.source == "default"
    assert all(mv.source == "default" for mv in angles.values())


def test_elements_from_metadata_argument_and_added():
    s = _signal(elements=("O", "Fe"))
    assert md.read_elements(s).value == ("Fe", "O")  # exspy sorts them
    mv = md.read_elements(s, elements=["Si", "O", "Si"])
    assert mv.value == ("Si", "O") and mv.source == "argument"
    mv = md.read_elements(s, add_elements=["Cu"])
    assert mv.value == ("Fe", "O", "Cu") and mv.source == "metadata+argument"


def test_no_elements_error_lists_both_fixes():
    s = _signal(elements=())
    with pytest.raises(ValueError) as err:
        md.read_elements(s)
    msg = str(err.value)
    assert "s.add_elements([" in msg and "elements=[" in msg


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (["Fe", "Qq"], ValueError, "Unknown element 'Qq'"),
        (["fe"], ValueError, "Unknown element 'fe'"),
        ("Fe", TypeError, r"elements=\['Fe'\]"),
        (3, TypeError, "list of element symbols"),
    ],
)
def test_bad_elements(bad, error, match):
    with pytest.raises(error, match=match):
        md.validate_elements(bad)


@pytest.mark.parametrize(
    "value, units, expected",
    [
        (80.0, None, 80.0),
        (80.0, "nm", 80.0),
        (1e-7, "m", 100.0),
        (0.05, "um", 50.0),
        (0.05, "µm", 50.0),
        (1e-5, "cm", 100.0),
        (500.0, "Å", 50.0),
    ],
)
def test_thickness_units(value, units, expected):
    s = _signal()
    s.metadata.set_item("Sample.thickness", value)
    if units is not None:
        s.metadata.set_item("Sample.thickness_units", units)
    mv = md.read_thickness(s)
    assert mv.value == pytest.approx(expected)
    assert mv.source == "metadata"


def test_thickness_absent_zero_argument_and_bad_units():
    s = _signal()
    mv = md.read_thickness(s)
    assert mv.value is None and mv.source == "default" and "no absorption" in mv.note
    assert md.read_thickness(s, thickness=0).value is None
    mv = md.read_thickness(s, thickness=42)
    assert mv.value == 42.0 and mv.source == "argument"
    s.metadata.set_item("Sample.thickness", 3.0)
    s.metadata.set_item("Sample.thickness_units", "furlong")
    with pytest.raises(ValueError, match="'furlong' is not a length unit"):
        md.read_thickness(s)
    with pytest.raises(ValueError, match="must be >= 0"):
        md.read_thickness(s, thickness=-1)


def test_density():
    s = _signal()
    assert md.read_density(s).value is None
    s.metadata.set_item("Sample.density", 2.65)
    mv = md.read_density(s)
    assert mv.value == 2.65 and mv.source == "metadata"
    assert md.read_density(s, density=3.0).value == 3.0
    with pytest.raises(ValueError, match="must be > 0"):
        md.read_density(s, density=0)
    s.metadata.set_item("Sample.density", "dense")
    with pytest.raises(TypeError, match="'Sample.density' = 'dense' is not a number"):
        md.read_density(s)


def test_energy_axis_ev_and_kev():
    kev = md.read_energy_axis(_signal(units="keV", offset=-0.1, scale=0.01, size=50))
    ev = md.read_energy_axis(_signal(units="eV", offset=-100.0, scale=10.0, size=50))
    for info in (kev, ev):
        assert info.offset == pytest.approx(-0.1)
        assert info.scale == pytest.approx(0.01)
        assert info.size == 50
        assert info.end == pytest.approx(-0.1 + 0.49)
    assert ev.units == "eV"


def test_energy_axis_errors():
    s = _signal(units="<undefined>")
    with pytest.raises(ValueError, match=r"units are '<undefined>'.*units = 'keV'"):
        md.read_energy_axis(s)
    s = _signal()
    s.axes_manager.signal_axes[0].convert_to_non_uniform_axis()
    with pytest.raises(ValueError, match="non-uniform"):
        md.read_energy_axis(s)
    s = _signal()
    with pytest.raises(ValueError, match="one energy axis"):
        md.read_energy_axis(s.as_signal2D((0, 1)))


def test_read_parameters_sem_node_and_warning():
    sem = exspy.signals.EDSSEMSpectrum(np.zeros((2, 2, 30)))
    sem.axes_manager.signal_axes[0].units = "keV"
    sem.set_microscope_parameters(beam_energy=15.0)
    sem.add_elements(["Al"])
    with pytest.warns(md.SEMSignalWarning, match="thin films"):
        params = md.read_parameters(sem)
    assert params.microscope == "SEM"
    assert params.beam_energy.value == 15.0
    assert params.beam_energy.key == "Acquisition_instrument.SEM.beam_energy"


def test_parameters_to_dict_is_plain():
    s = _signal()
    s.set_microscope_parameters(beam_energy=200.0)
    d = md.read_parameters(s, thickness=50, density=3.0).to_dict()
    assert d["beam_energy"]["value"] == 200.0
    assert d["elements"]["value"] == ["Fe", "O"]
    assert d["thickness"] == {
        "value": 50.0,
        "source": "argument",
        "key": "Sample.thickness",
        "note": "nm",
    }
    assert d["energy_axis"] == {"offset_keV": -0.1, "scale_keV": 0.01, "size": 50, "units": "keV"}

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, (str, int, float, bool))

    assert plain(d)


def test_signal_type_checks():
    from hyperspy.signals import Signal1D

    s = Signal1D(np.zeros((2, 2, 20)))
    s.axes_manager.signal_axes[0].units = "keV"
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 200.0)
    s.metadata.set_item("Sample.elements", ["Fe"])
    with pytest.warns(UserWarning, match="not an EDS type.*set_signal_type"):
        params = md.read_parameters(s)
    assert params.microscope == "TEM"
    s.set_signal_type("EELS")
    with pytest.raises(ValueError, match="This is an EELS signal"):
        md.read_parameters(s)
