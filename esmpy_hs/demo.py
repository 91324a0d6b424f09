"""``esmpy-hs demo``: esmpy against scikit-learn KL-NMF on the method paper's sample.

The command simulates the paper's Figure-2 sample (:func:`esmpy_hs.datasets.paper_sample`),
decomposes it with esmpy through HyperSpy (``s.decomposition(algorithm="esmpy", ...)`` with
the documented settings for that dose, :data:`PAPER_SETTINGS`) and
with scikit-learn's Poisson (Kullback-Leibler) NMF on the same counts, prints the phase
compositions next to the truth and the map correlations of both methods, and saves a
Figure-2-like PNG.

The building blocks are public so that the tutorials and the accuracy tests use the same code:

- :func:`sklearn_kl_nmf`: scikit-learn's ``NMF(beta_loss="kullback-leibler", solver="mu")``
  on a spectrum image (sparse input, so that low-dose data cost little);
- :func:`compare_on_signal`: both decompositions of one simulated signal and their
  :class:`~esmpy_hs.metrics.EvaluationReport`;
- :func:`plot_figure2`: truth / scikit-learn / esmpy maps and the phase spectra;
- :func:`format_comparison`: the text summary printed by the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEMO_ESMPY_OPTIONS",
    "DEMO_SKLEARN_OPTIONS",
    "PAPER_SETTINGS",
    "Comparison",
    "SklearnResult",
    "compare_on_signal",
    "default_output_dir",
    "format_comparison",
    "paper_options",
    "plot_figure2",
    "save_png",
    "sklearn_kl_nmf",
]

#: Environment variable naming the default output folder of ``esmpy-hs demo``.
OUTPUT_ENV = "ESMPY_HS_DEMO_OUTPUT"
#: Output folder when neither ``--out`` nor :data:`OUTPUT_ENV` is given.
DEFAULT_OUTPUT = "esmpy_demo"
#: Name of the figure written by the command.
FIGURE_NAME = "demo_figure2.png"
#: Number of phases of the paper's sample.
N_PHASES = 3

#: esmpy options used by the demo, the tutorial and the accuracy tests (besides the number
#: of phases): the package defaults, with the grid's Cu modelled but left out of the
#: compositions.
DEMO_ESMPY_OPTIONS: dict[str, Any] = {"ignore_elements": ["Cu"]}

#: The documented esmpy settings for the paper's sample (particles embedded in a matrix), per
#: dose, added to :data:`DEMO_ESMPY_OPTIONS` (see :func:`paper_options`):
#:
#: - ``"high"`` (~293 counts/pixel): a sparsity term on the particle phases only
#:   (``sparsity_exclude="matrix"``). Pure matrix pixels are rewarded, which stops the
#:   likelihood from pushing the matrix spectrum outward, and particle spectra are not
#:   rewarded for shrinking until their centres look pure. A small offset
#:   (``sparsity_eps=1e-3``) concentrates the reward on exact zeros (the pure matrix pixels)
#:   rather than on small particle abundances, which would push the particle spectra past
#:   the truth; ``regularize_counts=True`` keeps a particle phase from trading brightness
#:   for tiny abundances (it matters on small images, where particles span few pixels);
#:   ``max_iter=3000`` lets the fit converge (about 1 400 iterations); ``refine_iter=500``
#:   then refits the particle phases without the sparsity term, the matrix W pinned (about
#:   150 more iterations), which removes the slight push of the sparsity term past the truth.
#: - ``"low"`` (~18 counts/pixel): a stronger smoothness, ``lambda = 200``, a smoothing length
#:   of about ``sqrt(lambda / counts per pixel)`` = 3 pixels. The automatic value
#:   (``3 * sqrt(18)`` = 13) leaves the per-pixel abundances too noisy, and the sparsity term
#:   is left out: at this dose it can empty a particle phase.
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "high": {"sparsity": 0.5, "sparsity_eps": 1e-3, "sparsity_exclude": "matrix",
             "regularize_counts": True, "max_iter": 3000, "refine_iter": 500},
    "low": {"smoothness": 200.0},
}


def paper_options(dose: str) -> dict[str, Any]:
    """esmpy options for the paper's sample at ``dose`` ("high" or "low").

    :data:`DEMO_ESMPY_OPTIONS` plus :data:`PAPER_SETTINGS` for that dose.
    """
    if dose not in PAPER_SETTINGS:
        raise ValueError(f"dose={dose!r} must be one of {sorted(PAPER_SETTINGS)}")
    return {**DEMO_ESMPY_OPTIONS, **PAPER_SETTINGS[dose]}

#: scikit-learn options of the comparison: its own defaults for ``max_iter`` and ``tol``,
#: the deterministic ``"nndsvda"`` start.
DEMO_SKLEARN_OPTIONS: dict[str, Any] = {"max_iter": 200, "tol": 1e-4, "init": "nndsvda"}

#: How phases are matched to the truth (see :func:`esmpy_hs.metrics.match_phases`): on the
#: spectra and the maps together, the same for both methods.
MATCH_ON = "both"


# --------------------------------------------------------------------------- computations


@dataclass
class SklearnResult:
    """scikit-learn KL-NMF of a spectrum image.

    Attributes
    ----------
    factors : numpy.ndarray
        ``(n_channels, k)`` spectra (arbitrary scale).
    loadings : numpy.ndarray
        ``(n_pixels, k)`` weights in HyperSpy's layout (arbitrary scale).
    n_iter : int
        Iterations run.
    seconds : float
        Wall time of the fit.
    """

    factors: np.ndarray
    loadings: np.ndarray
    n_iter: int
    seconds: float


def sklearn_kl_nmf(
    s: Any,
    n_components: int,
    *,
    max_iter: int = 200,
    tol: float = 1e-4,
    init: str = "nndsvda",
    random_state: int | None = 0,
) -> SklearnResult:
    """scikit-learn's Poisson NMF (``beta_loss="kullback-leibler"``, ``solver="mu"``).

    The counts are passed as a sparse CSR matrix (pixels × channels): scikit-learn's
    multiplicative updates then only evaluate the model where counts are non-zero, which is
    the same fit as on the dense array and many times faster at low dose.

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal
        Spectrum image (eager), navigation axes first, one signal axis.
    n_components : int
        Number of components.
    max_iter, tol, init, random_state
        Passed to :class:`sklearn.decomposition.NMF`.

    Returns
    -------
    SklearnResult
    """
    import scipy.sparse as sp
    from sklearn.decomposition import NMF

    data = np.asarray(s.data)
    if data.ndim < 2:
        raise ValueError(f"sklearn_kl_nmf needs a spectrum image, got data of shape {data.shape}")
    X = sp.csr_matrix(data.reshape(-1, data.shape[-1]).astype(np.float64))
    model = NMF(
        n_components=int(n_components),
        beta_loss="kullback-leibler",
        solver="mu",
        init=init,
        max_iter=int(max_iter),
        tol=float(tol),
        random_state=random_state,
    )
    t0 = time.perf_counter()
    loadings = model.fit_transform(X)
    seconds = time.perf_counter() - t0
    return SklearnResult(
        factors=np.asarray(model.components_.T),
        loadings=np.asarray(loadings),
        n_iter=int(model.n_iter_),
        seconds=seconds,
    )


@dataclass
class Comparison:
    """esmpy and scikit-learn KL-NMF on one simulated signal, with their accuracy.

    Attributes
    ----------
    signal : EsmpyEDSTEMSpectrum
        The simulated signal, decomposed by esmpy (results in ``learning_results``).
    truth : esmpy_hs.datasets.GroundTruth
    esmpy : esmpy_hs.metrics.EvaluationReport
    sklearn : esmpy_hs.metrics.EvaluationReport or None
        None when scikit-learn was not run.
    sklearn_result : SklearnResult or None
    esmpy_seconds : float
        Wall time of ``s.decomposition(algorithm="esmpy", ...)``.
    esmpy_n_iter : int
    esmpy_stop_reason : str
    settings : dict
        The esmpy and scikit-learn options used.
    """

    signal: Any
    truth: Any
    esmpy: Any
    sklearn: Any
    sklearn_result: SklearnResult
    esmpy_seconds: float
    esmpy_n_iter: int
    esmpy_stop_reason: str
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Plain-python numbers (JSON-serialisable)."""
        out: dict[str, Any] = {
            "title": str(self.signal.metadata.General.title),
            "shape": [int(n) for n in self.signal.data.shape],
            "mean_counts_per_pixel": float(np.asarray(self.signal.data).sum(-1).mean()),
            "settings": json.loads(json.dumps(self.settings, default=str)),
            "esmpy": {
                **self.esmpy.to_dict(),
                "seconds": self.esmpy_seconds,
                "n_iter": self.esmpy_n_iter,
                "stop_reason": self.esmpy_stop_reason,
            },
        }
        if self.sklearn is not None:
            out["sklearn"] = {
                **self.sklearn.to_dict(),
                "seconds": self.sklearn_result.seconds,
                "n_iter": self.sklearn_result.n_iter,
            }
        return out


def compare_on_signal(
    s: Any,
    n_components: int = N_PHASES,
    *,
    esmpy_options: Mapping[str, Any] | None = None,
    sklearn_options: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    callback: Callable | None = None,
    on_stage: Callable[[str], None] | None = None,
    run_sklearn: bool = True,
) -> Comparison:
    """Decompose a simulated signal with esmpy and scikit-learn KL-NMF and score both.

    Parameters
    ----------
    s : EsmpyEDSTEMSpectrum
        Simulated signal carrying its ground truth (e.g. from
        :func:`esmpy_hs.datasets.paper_sample`). Its ``learning_results`` receive the esmpy
        decomposition.
    n_components : int
        Number of phases.
    esmpy_options : mapping, optional
        Keyword arguments of ``s.decomposition(algorithm="esmpy", ...)``; default
        :data:`DEMO_ESMPY_OPTIONS`.
    sklearn_options : mapping, optional
        Keyword arguments of :func:`sklearn_kl_nmf`; default :data:`DEMO_SKLEARN_OPTIONS`.
    seed : int or None
        ``random_state`` of scikit-learn (esmpy's default start is deterministic).
    callback : callable, optional
        esmpy's per-iteration callback ``callback(n_iter, W, H, loss)`` (e.g. a progress bar).
    on_stage : callable, optional
        Called with ``"scikit-learn"`` when esmpy has finished (progress reporting).
    run_sklearn : bool
        False skips scikit-learn (its report and result are then None).

    Returns
    -------
    Comparison
    """
    from esmpy_hs.datasets import get_ground_truth
    from esmpy_hs.metrics import evaluation_report

    truth = get_ground_truth(s)
    e_opts = dict(DEMO_ESMPY_OPTIONS if esmpy_options is None else esmpy_options)
    if callback is not None:
        e_opts["callback"] = callback
    e_opts.setdefault("show_progressbar", False)
    e_opts.setdefault("print_info", False)
    k_opts = dict(DEMO_SKLEARN_OPTIONS if sklearn_options is None else sklearn_options)
    k_opts.setdefault("random_state", seed)

    t0 = time.perf_counter()
    info = s.decomposition(
        algorithm="esmpy", output_dimension=int(n_components), return_info=True, **e_opts
    )
    esmpy_seconds = time.perf_counter() - t0
    esmpy_report = evaluation_report(s, truth, match_on=MATCH_ON)

    sk_result = sk_report = None
    if on_stage is not None:
        on_stage("scikit-learn")
    if run_sklearn:
        sk_result = sklearn_kl_nmf(s, n_components, **k_opts)
        sk_report = evaluation_report(
            None,
            truth,
            factors=sk_result.factors,
            loadings=sk_result.loadings,
            match_on=MATCH_ON,
        )
    e_opts.pop("callback", None)
    return Comparison(
        signal=s,
        truth=truth,
        esmpy=esmpy_report,
        sklearn=sk_report,
        sklearn_result=sk_result,
        esmpy_seconds=esmpy_seconds,
        esmpy_n_iter=int(getattr(info, "n_iter_", -1)),
        esmpy_stop_reason=str(getattr(info, "stop_reason_", "")),
        settings={
            "esmpy": e_opts,
            "sklearn": k_opts if run_sklearn else None,
            "match_on": MATCH_ON,
        },
    )


# --------------------------------------------------------------------------- reporting


def _renormalised(comp: Mapping[str, float], drop: tuple[str, ...]) -> dict[str, float]:
    kept = {el: v for el, v in comp.items() if el not in drop}
    total = sum(kept.values())
    return {el: 100.0 * v / total for el, v in kept.items()} if total > 0 else {}


def format_comparison(cmp: Comparison) -> str:
    """Text summary: map correlations and spectral angles of both methods, compositions.

    Parameters
    ----------
    cmp : Comparison

    Returns
    -------
    str
    """
    s = cmp.signal
    mean_counts = float(np.asarray(s.data).sum(-1).mean())
    ny, nx = s.data.shape[:2]
    lines = [
        f"{s.metadata.General.title}: {ny}x{nx} pixels, {s.data.shape[-1]} channels, "
        f"{mean_counts:.1f} counts/pixel",
        f"esmpy: {cmp.esmpy_seconds:.1f} s, {cmp.esmpy_n_iter} iterations "
        f"({cmp.esmpy_stop_reason})"
        + (
            f"; scikit-learn KL-NMF: {cmp.sklearn_result.seconds:.1f} s, "
            f"{cmp.sklearn_result.n_iter} iterations"
            if cmp.sklearn_result is not None
            else ""
        ),
        "",
        f"{'phase':<24s}{'map r esmpy':>12s}{'sklearn':>9s}{'angle° esmpy':>14s}{'sklearn':>9s}",
    ]
    for i, name in enumerate(cmp.esmpy.phase_names):
        sk_r = cmp.sklearn.map_correlation[i] if cmp.sklearn is not None else np.nan
        sk_a = cmp.sklearn.spectral_angle[i] if cmp.sklearn is not None else np.nan
        lines.append(
            f"{name[:23]:<24s}{cmp.esmpy.map_correlation[i]:>12.3f}{sk_r:>9.3f}"
            f"{cmp.esmpy.spectral_angle[i]:>14.1f}{sk_a:>9.1f}"
        )
    ignored = tuple(cmp.settings.get("esmpy", {}).get("ignore_elements", ()) or ())
    lines += [
        "",
        "compositions (at.%"
        + (f", without {', '.join(ignored)}" if ignored else "")
        + "): truth vs esmpy",
    ]
    for i, name in enumerate(cmp.esmpy.phase_names):
        truth = _renormalised(cmp.esmpy.true_compositions[i], ignored)
        est = (
            _renormalised(cmp.esmpy.estimated_compositions[i], ignored)
            if cmp.esmpy.estimated_compositions
            else {}
        )
        elements = [el for el in truth if truth[el] > 0] + [
            el for el in est if el not in truth and est[el] >= 0.5
        ]
        cells = [f"{el} {truth.get(el, 0.0):.1f}/{est.get(el, 0.0):.1f}" for el in elements]
        lines.append(f"  {name}: " + ", ".join(cells))
    if len(cmp.esmpy.mean_abs_composition_error):
        lines.append(
            f"mean |error| of elements > {cmp.esmpy.major_threshold:g} at.%: "
            f"{cmp.esmpy.overall_composition_error:.2f} at.%"
        )
    return "\n".join(lines)


def _matched_maps(report: Any, loadings: np.ndarray, shape: tuple[int, int]) -> list:
    maps = []
    for j in report.matched_index:
        maps.append(None if j < 0 else np.asarray(loadings)[:, j].reshape(shape))
    return maps


def plot_figure2(
    cmp: Comparison,
    *,
    energy_range: tuple[float, float] = (0.3, 10.0),
    figsize: tuple[float, float] = (9.0, 10.0),
):
    """Figure-2-like panel: truth, scikit-learn and esmpy maps, and the phase spectra.

    Rows 1–3: abundance maps of the true phases, of the matched scikit-learn components and
    of the matched esmpy phases (each titled with its correlation with the truth). Row 4:
    the phase spectra normalised to unit area (truth, esmpy, scikit-learn) over
    ``energy_range``.

    Parameters
    ----------
    cmp : Comparison
        From :func:`compare_on_signal`.
    energy_range : (float, float)
        keV range of the spectra.
    figsize : (float, float)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    s = cmp.signal
    truth = cmp.truth
    k = truth.n_phases
    shape = tuple(truth.maps.shape[1:])
    energies = np.asarray(s.axes_manager.signal_axes[0].axis, dtype=float)
    if s.axes_manager.signal_axes[0].units == "eV":
        energies = energies / 1000.0
    sel = (energies >= energy_range[0]) & (energies <= energy_range[1])

    lr = s.learning_results
    rows = [("truth", [truth.maps[i] for i in range(k)], None)]
    if cmp.sklearn is not None:
        rows.append(
            (
                "scikit-learn KL-NMF",
                _matched_maps(cmp.sklearn, cmp.sklearn_result.loadings, shape),
                cmp.sklearn,
            )
        )
    rows.append(("esmpy", _matched_maps(cmp.esmpy, lr.loadings, shape), cmp.esmpy))

    fig = Figure(figsize=figsize, layout="constrained")
    grid = fig.add_gridspec(len(rows) + 1, k, height_ratios=[1.0] * len(rows) + [0.9])
    for r, (label, maps, report) in enumerate(rows):
        for i in range(k):
            ax = fig.add_subplot(grid[r, i])
            ax.set_xticks([])
            ax.set_yticks([])
            if maps[i] is not None:
                im = ax.imshow(maps[i], cmap="viridis", interpolation="nearest")
                fig.colorbar(im, ax=ax, shrink=0.8)
            title = truth.phase_names[i] if r == 0 else ""
            if report is not None:
                title += f"r = {report.map_correlation[i]:.2f}"
            ax.set_title(title, fontsize=9)
            if i == 0:
                ax.set_ylabel(label, fontsize=10)

    def unit(v: np.ndarray) -> np.ndarray:
        v = np.clip(np.asarray(v, dtype=float)[sel], 0, None)
        total = v.sum()
        return v / total if total > 0 else v

    for i in range(k):
        ax = fig.add_subplot(grid[len(rows), i])
        ax.plot(energies[sel], unit(truth.spectra[:, i]), color="k", lw=1.6, label="truth")
        j = cmp.esmpy.matched_index[i]
        if j >= 0:
            ax.plot(
                energies[sel],
                unit(np.asarray(lr.factors)[:, j]),
                color="tab:red",
                lw=0.9,
                label=f"esmpy ({cmp.esmpy.spectral_angle[i]:.1f}°)",
            )
        if cmp.sklearn is not None and cmp.sklearn.matched_index[i] >= 0:
            jj = cmp.sklearn.matched_index[i]
            ax.plot(
                energies[sel],
                unit(cmp.sklearn_result.factors[:, jj]),
                color="tab:blue",
                lw=0.7,
                alpha=0.8,
                label=f"sklearn ({cmp.sklearn.spectral_angle[i]:.1f}°)",
            )
        ax.set_xlabel("energy (keV)")
        if i == 0:
            ax.set_ylabel("spectrum (unit area)")
        ax.set_title(truth.phase_names[i], fontsize=9)
        ax.legend(fontsize=7)
    mean_counts = float(np.asarray(s.data).sum(-1).mean())
    fig.suptitle(
        f"{s.metadata.General.title}: {shape[0]}×{shape[1]} px, {mean_counts:.0f} counts/pixel",
        fontsize=11,
    )
    return fig


def save_png(fig, path: str | Path, *, dpi: int = 80, colors: int = 256) -> Path:
    """Save a figure as a compact PNG (palette of ``colors`` colours, ~3× smaller).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
    dpi : int
        Resolution (the default figure of :func:`plot_figure2` becomes 720 × 800 px).
    colors : int
        Size of the adaptive palette (Pillow); 0 keeps full RGBA colour.

    Returns
    -------
    Path
    """
    import io

    path = Path(path)
    if colors <= 0:
        fig.savefig(path, dpi=dpi)
        return path
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=int(colors)).save(path, optimize=True)
    return path


# --------------------------------------------------------------------------- command line

DESCRIPTION = """\
Simulate the esmpy paper's sample (pseudo-bridgmanite matrix with pseudo-ferropericlase and
pseudo-Ca-perovskite particles, 128x128 pixels, 1980 channels), decompose it with esmpy
(through HyperSpy) and with scikit-learn's Kullback-Leibler NMF, print the phase compositions
next to the truth and the map correlations of both methods, and save a Figure-2-like PNG.

Low dose (default) is the paper's "high noise" case, ~18 counts per pixel; high dose ~293.
"""

EPILOG = f"""\
examples:
  esmpy-hs demo
  esmpy-hs demo --dose high --out results/ --seed 3
  esmpy-hs demo --size 64 --no-progress

The output folder is --out, else ${OUTPUT_ENV}, else ./{DEFAULT_OUTPUT}. It receives
{FIGURE_NAME} and demo_results.json (all numbers).
"""


def default_output_dir() -> Path:
    """``$ESMPY_HS_DEMO_OUTPUT`` if set and not empty, else ``./esmpy_demo``."""
    env = os.environ.get(OUTPUT_ENV, "").strip()
    return Path(env) if env else Path(DEFAULT_OUTPUT)


def _image_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 16:
        raise argparse.ArgumentTypeError(f"--size must be >= 16 pixels, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``esmpy-hs demo``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default: ${OUTPUT_ENV} or ./{DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--dose",
        choices=("low", "high"),
        default="low",
        help="low: ~18 counts/pixel (default); high: ~293 counts/pixel",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and noise")
    parser.add_argument(
        "--size",
        type=_image_size,
        default=128,
        help="image side in pixels (default 128, the paper's size; the dose per pixel is kept)",
    )
    parser.add_argument(
        "--no-sklearn", action="store_true", help="skip the scikit-learn comparison"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class _Progress:
    """One tqdm bar on stderr over simulate / esmpy iterations / scikit-learn / figure."""

    def __init__(self, max_iter: int, enabled: bool):
        self.max_iter = max_iter
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=max_iter + 3, file=sys.stderr, desc="simulate", unit="step", leave=True
            )
        self.done = 0

    def step(self, desc: str, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_description(desc)

    def esmpy_callback(self, n_iter: int, W, H, loss) -> None:
        if self.bar is not None and n_iter <= self.max_iter:
            target = 1 + n_iter
            if target > self.bar.n:
                self.bar.update(target - self.bar.n)
        return None

    def finish_esmpy(self, desc: str) -> None:
        if self.bar is not None:
            self.bar.update(max(0, 1 + self.max_iter - self.bar.n))
            self.bar.set_description(desc)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    """Run the demo; write the figure and the numbers; return 0 on success."""
    import warnings

    with warnings.catch_warnings():
        # HyperSpy's notices about its own internal import paths (emitted when it first
        # resolves signal classes) are noise for the user of a demo
        warnings.filterwarnings("ignore", message="Importing `")
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import hyperspy.api as hs

    from esmpy_hs.datasets import paper_sample
    from esmpy_hs.nmf import EsmpyNMF

    out = Path(args.out) if args.out is not None else default_output_dir()
    out.mkdir(parents=True, exist_ok=True)
    hs.preferences.General.show_progressbar = False
    max_iter = int(paper_options(args.dose).get("max_iter", EsmpyNMF().max_iter))
    progress = _Progress(max_iter, enabled=not args.no_progress)
    try:
        t0 = time.perf_counter()
        s = paper_sample(args.dose, seed=args.seed, size=args.size)
        progress.step("esmpy")
        cmp = compare_on_signal(
            s,
            N_PHASES,
            esmpy_options=paper_options(args.dose),
            seed=args.seed,
            callback=progress.esmpy_callback,
            on_stage=lambda name: progress.finish_esmpy(name),
            run_sklearn=not args.no_sklearn,
        )
        progress.step("figure")
        fig = plot_figure2(cmp)
        figure_path = out / FIGURE_NAME
        save_png(fig, figure_path)
        summary = cmp.summary()
        summary["total_seconds"] = time.perf_counter() - t0
        (out / "demo_results.json").write_text(json.dumps(summary, indent=1))
        progress.step("done")
    finally:
        progress.close()
    text = format_comparison(cmp)
    sys.stdout.write(text + "\n\n")
    sys.stdout.write(
        f"figure: {figure_path}\nnumbers: {out / 'demo_results.json'}\n"
        f"total time: {summary['total_seconds']:.1f} s\n"
    )
    return 0
