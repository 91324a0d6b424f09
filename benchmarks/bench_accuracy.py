"""Accuracy of esmpy vs scikit-learn KL-NMF on the paper's sample, full size, both doses.

For each dose (~293 and ~18 counts/pixel) and each variant (data made by the model itself, and
with ``Mismatch.realistic()``), the 128 × 128 paper sample (seed 0) is decomposed

- by esmpy through ``s.decomposition(algorithm="esmpy", output_dimension=3,
  ignore_elements=["Cu"])`` with the documented settings per dose (or the defaults), and
- by scikit-learn's ``NMF(beta_loss="kullback-leibler", solver="mu")`` (its defaults, sparse
  input),

and the per-phase map correlations, spectral angles, composition errors, iterations and run
times are printed side by side.

``--diagnose`` adds, per dose, a fit started from the true W and H: if it ends at a *higher*
regularised objective than the default fit while being much closer to the truth, the error is
in the objective (the model prefers a wrong solution), not in the optimisation. The KL part and
the Laplacian energy ``sum_edges |h_i - h_j|^2`` of both solutions are printed.

Usage::

    python benchmarks/bench_accuracy.py [--size 128] [--seed 0] [--diagnose]
        [--settings documented|defaults] [--esmpy-option key=value ...]

``--settings documented`` (the default) uses :func:`esmpy_hs.demo.paper_options` per dose
(sparsity on the particle phases at high dose, smoothness 200 at low dose); ``defaults`` the
package defaults.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def _laplacian_energy(H: np.ndarray, shape: tuple[int, int]) -> float:
    m = np.asarray(H, dtype=float).reshape(H.shape[0], *shape)
    return float(((m[:, 1:] - m[:, :-1]) ** 2).sum() + ((m[:, :, 1:] - m[:, :, :-1]) ** 2).sum())


def _fmt(values, spec=".3f") -> str:
    return " ".join(format(float(v), spec) for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument(
        "--settings",
        choices=("documented", "defaults"),
        default="documented",
        help="esmpy settings: the documented ones per dose (esmpy_hs.demo.PAPER_SETTINGS, "
        "default) or the package defaults",
    )
    parser.add_argument(
        "--esmpy-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra esmpy option (value parsed as JSON), e.g. sparsity=0.1",
    )
    args = parser.parse_args()

    import hyperspy.api as hs

    from esmpy_hs.datasets import Mismatch, get_ground_truth, paper_sample
    from esmpy_hs.demo import DEMO_ESMPY_OPTIONS, MATCH_ON, compare_on_signal, paper_options
    from esmpy_hs.metrics import evaluation_report

    hs.preferences.General.show_progressbar = False
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    extra = {}
    for item in args.esmpy_option:
        key, _, value = item.partition("=")
        extra[key] = json.loads(value)

    def options_for(dose: str) -> dict:
        base = paper_options(dose) if args.settings == "documented" else DEMO_ESMPY_OPTIONS
        return {**base, **extra}

    print(
        f"paper sample {args.size}x{args.size}, seed {args.seed}; esmpy options: "
        f"high dose {options_for('high')}, low dose {options_for('low')}"
    )
    header = (
        f"{'dose':>5s} {'variant':>9s} {'method':>8s} | {'map r (matrix, fp, CaPv)':>26s} | "
        f"{'angle deg':>17s} | {'|dc| at.%':>9s} | {'iter':>5s} {'time s':>7s}"
    )
    print(header)
    print("-" * len(header))
    for dose in ("high", "low"):
        for variant in ("exact", "mismatch"):
            mismatch = Mismatch.realistic() if variant == "mismatch" else None
            s = paper_sample(dose, seed=args.seed, size=args.size, mismatch=mismatch)
            cmp = compare_on_signal(s, 3, esmpy_options=options_for(dose), seed=args.seed)
            for method, rep, n_iter, secs in (
                ("esmpy", cmp.esmpy, cmp.esmpy_n_iter, cmp.esmpy_seconds),
                ("sklearn", cmp.sklearn, cmp.sklearn_result.n_iter, cmp.sklearn_result.seconds),
            ):
                comp = (
                    f"{rep.overall_composition_error:9.2f}"
                    if len(rep.mean_abs_composition_error)
                    else f"{'-':>9s}"
                )
                print(
                    f"{dose:>5s} {variant:>9s} {method:>8s} | {_fmt(rep.map_correlation):>26s} | "
                    f"{_fmt(rep.spectral_angle, '5.1f'):>17s} | {comp} | {n_iter:5d} {secs:7.1f}",
                    flush=True,
                )

    if not args.diagnose:
        return
    print("\nobjective at the default fit vs a fit started from the truth (exact data)")
    for dose in ("high", "low"):
        s = paper_sample(dose, seed=args.seed, size=args.size)
        truth = get_ground_truth(s)
        shape = (args.size, args.size)
        for start in ("default", "truth"):
            start_opts = {}
            if start == "truth":
                start_opts = {"W_init": truth.W, "H_init": truth.maps.reshape(3, -1)}
            t0 = time.perf_counter()
            s2 = s.deepcopy()
            est = s2.decomposition(
                algorithm="esmpy",
                output_dimension=3,
                return_info=True,
                print_info=False,
                **options_for(dose),
                **start_opts,
            )
            cmp_rep = evaluation_report(s2, truth, match_on=MATCH_ON)
            print(
                f"{dose:>5s} start={start:<7s} objective {est.objective_:.7g}  "
                f"KL {est.reconstruction_err_:.7g}  lambda {est.smoothness_:.1f}  "
                f"Laplacian energy {_laplacian_energy(est.H_, shape):.1f} "
                f"(truth {_laplacian_energy(truth.maps.reshape(3, -1), shape):.1f})  "
                f"map r {_fmt(cmp_rep.map_correlation)}  angles "
                f"{_fmt(cmp_rep.spectral_angle, '.1f')}  {est.n_iter_} it "
                f"({est.stop_reason_}, {time.perf_counter() - t0:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
