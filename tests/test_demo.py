"""``esmpy-hs demo`` and the comparison helpers of :mod:`esmpy_hs.demo`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from esmpy_hs import demo
from esmpy_hs.cli import main
from esmpy_hs.datasets import PAPER_DOSES, paper_sample


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--out", "--dose", "--seed", "--size", "--no-progress", "--no-sklearn"):
        assert option in out
    assert demo.OUTPUT_ENV in out


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--dose", "medium"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--size", "8"])
    assert exc.value.code == 2
    assert "--size must be >= 16" in capsys.readouterr().err


def test_default_output_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(demo.OUTPUT_ENV, raising=False)
    assert demo.default_output_dir() == demo.Path("esmpy_demo")
    monkeypatch.setenv(demo.OUTPUT_ENV, str(tmp_path / "x"))
    assert demo.default_output_dir() == tmp_path / "x"
    monkeypatch.setenv(demo.OUTPUT_ENV, "  ")
    assert demo.default_output_dir() == demo.Path("esmpy_demo")


def test_sklearn_kl_nmf_recovers_a_noiseless_rank_two_image():
    import hyperspy.api as hs

    rng = np.random.default_rng(0)
    spectra = rng.uniform(0, 5, size=(2, 40))
    spectra[0, :20] = 0.0  # separable components
    spectra[1, 20:] = 0.0
    weights = rng.uniform(0, 1, size=(6 * 5, 2))
    s = hs.signals.Signal1D((weights @ spectra).reshape(6, 5, 40))
    res = demo.sklearn_kl_nmf(s, 2, max_iter=2000, tol=1e-10, random_state=0)
    assert res.factors.shape == (40, 2) and res.loadings.shape == (30, 2)
    assert np.all(res.factors >= 0) and np.all(res.loadings >= 0)
    model = res.loadings @ res.factors.T
    np.testing.assert_allclose(model, weights @ spectra, rtol=0, atol=1e-2 * spectra.max())
    assert res.n_iter >= 1 and res.seconds >= 0


def test_sklearn_kl_nmf_needs_an_image():
    import hyperspy.api as hs

    with pytest.raises(ValueError, match="spectrum image"):
        demo.sklearn_kl_nmf(hs.signals.Signal1D(np.ones(10)), 2)


@pytest.fixture(scope="module")
def small_comparison():
    s = paper_sample("high", seed=1, size=16)
    return demo.compare_on_signal(s, 3, esmpy_options={**demo.DEMO_ESMPY_OPTIONS, "max_iter": 60})


def test_compare_on_signal(small_comparison):
    cmp = small_comparison
    assert cmp.signal.learning_results.decomposition_algorithm == "esmpy"
    assert cmp.esmpy_n_iter == 60 and cmp.esmpy_stop_reason == "max_iter"
    for rep in (cmp.esmpy, cmp.sklearn):
        assert sorted(rep.matched_index) == [0, 1, 2]
        assert np.all(np.abs(rep.map_correlation) <= 1.0)
    # Cu is ignored in the esmpy compositions
    assert all("Cu" not in err for err in cmp.esmpy.composition_error)
    summary = cmp.summary()
    json.dumps(summary)  # plain python
    assert summary["shape"] == [16, 16, 1980]
    assert summary["esmpy"]["n_iter"] == 60
    assert summary["settings"]["esmpy"]["ignore_elements"] == ["Cu"]


def test_format_comparison_shows_the_report_numbers(small_comparison):
    cmp = small_comparison
    text = demo.format_comparison(cmp)
    for i, name in enumerate(cmp.esmpy.phase_names):
        line = next(ln for ln in text.splitlines() if ln.startswith(name))
        fields = line.split()
        assert float(fields[1]) == pytest.approx(cmp.esmpy.map_correlation[i], abs=5e-4)
        assert float(fields[2]) == pytest.approx(cmp.sklearn.map_correlation[i], abs=5e-4)
    # truth/estimate pairs of the matrix: Mg 24.5 at.% without Cu
    assert "Mg 24.5/" in text
    assert "without Cu" in text


def test_plot_figure2(small_comparison):
    fig = demo.plot_figure2(small_comparison)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 9  # truth, scikit-learn, esmpy x 3 phases
    spectra = [ax for ax in fig.axes if ax.lines]
    assert len(spectra) == 3
    for ax in spectra:
        assert len(ax.lines) == 3  # truth, esmpy, scikit-learn
        for line in ax.lines:
            assert np.sum(line.get_ydata()) == pytest.approx(1.0)


def test_demo_command_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(demo.OUTPUT_ENV, str(tmp_path / "from_env"))
    out = tmp_path / "out"
    code = main(["demo", "--size", "16", "--seed", "2", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    png = out / demo.FIGURE_NAME
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as image:
        assert image.mode == "P"  # palette PNG (compact)
        assert image.size == (720, 800)
    assert not (tmp_path / "from_env").exists()  # --out wins over the environment
    results = json.loads((out / "demo_results.json").read_text())
    assert results["shape"] == [16, 16, 1980]
    assert results["mean_counts_per_pixel"] == pytest.approx(PAPER_DOSES["low"], rel=0.1)
    assert len(results["esmpy"]["map_correlation"]) == 3
    assert len(results["sklearn"]["map_correlation"]) == 3
    for name in ("pseudo-bridgmanite", "pseudo-ferropericlase", "pseudo-Ca-perovskite"):
        assert name in captured.out
    assert "figure:" in captured.out
    assert "%|" in captured.err  # the progress bar goes to stderr


def test_demo_command_env_output_no_progress(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(demo.OUTPUT_ENV, str(tmp_path / "env_out"))
    code = main(["demo", "--size", "16", "--dose", "high", "--no-progress", "--no-sklearn"])
    assert code == 0
    captured = capsys.readouterr()
    assert (tmp_path / "env_out" / demo.FIGURE_NAME).is_file()
    results = json.loads((tmp_path / "env_out" / "demo_results.json").read_text())
    assert results["mean_counts_per_pixel"] == pytest.approx(PAPER_DOSES["high"], rel=0.05)
    assert "sklearn" not in results
    assert "%|" not in captured.err
