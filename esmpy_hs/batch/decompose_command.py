"""``esmpy-hs decompose``: the esmpy decomposition of many spectrum images, without Python."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from esmpy_hs.batch.common import (
    add_metadata_arguments,
    metadata_options,
    quiet_environment,
    read_config,
)
from esmpy_hs.batch.config import (
    METADATA_KEYS,
    RUN_KEYS,
    ConfigError,
    Setting,
    check_estimator_options,
    resolve_run_settings,
)
from esmpy_hs.batch.io import expand_inputs
from esmpy_hs.batch.pipeline import FileJob, FileResult, process_file
from esmpy_hs.batch.report import format_setting, format_table

DESCRIPTION = """\
Decompose EDS spectrum images into K phases with esmpy (physics-guided Poisson NMF), file by
file, and write for each input FILE into the output folder:

  FILE_esmpy.hspy         the spectrum image with the esmpy results (learning_results) and the
                          metadata used; load it with hs.load() and call
                          esmpy_hs.get_phase_compositions(s) or s.plot_decomposition_results()
  FILE_compositions.csv   composition of each phase: at.% and wt.% with 1-sigma uncertainty,
                          counts, mean abundance (one row per phase and element)
  FILE_summary.png        abundance maps, phase spectra with X-ray lines, composition bars

Every format HyperSpy reads is accepted (.hspy, .emd, .bcf, .pts, ...); when a file holds
several signals the EDS spectrum image is used. Input files are only read, never modified.

Metadata (beam energy, elements, thickness, ...) is taken from each file. Missing values are
filled from the options or a TOML configuration file; where each value came from is printed
for every file ([file], [option], [config], [default]):
  - an explicit option (e.g. --beam-energy) is used even when the file has a value, and the
    report says that it overrides the file's value;
  - otherwise the file's value is used: a configuration value never replaces it (the report
    says when the configuration value was not used);
  - otherwise the configuration value, otherwise the default (exspy's detector defaults, no
    absorption correction). Files without a beam energy or without elements fail.
Run settings (--components, --max-iter, --out, ...): option > configuration > default.

A file that fails (unreadable, no spectrum image, no beam energy, no elements) is reported
with the reason and the batch goes on. Exit code: 0 when every file succeeded (or was
skipped because its outputs exist), 1 when any file failed, 2 for a usage or configuration
error. Existing outputs are kept (the file is skipped) unless --overwrite is given.

Use `esmpy-hs info FILE` first to see which metadata a file has and what is missing.
"""

EPILOG = """\
examples:
  # three phases in every .bcf file of a folder (elements and beam energy from the files)
  esmpy-hs decompose session1/*.bcf --components 3 --out results/

  # SiO2 particles on a carbon film on a Cu grid: model Cu, leave it out of the compositions
  esmpy-hs decompose particles.hspy -k 2 --elements Si O C --ignore Cu

  # the file's element list misses Si: add it to the list
  esmpy-hs decompose test_TEM.bcf -k 3 --add-elements Si

  # files without beam energy in their metadata; 50 nm thick sample (absorption correction)
  esmpy-hs decompose "raw/**/*.emd" -k 4 --beam-energy 200 --thickness 50

  # a whole folder, two worker processes, settings from a file, replace earlier results
  esmpy-hs decompose data/ --config session.toml --jobs 2 --overwrite

  # quick look: fewer iterations, a fixed seed, fit 0.3-12 keV only
  esmpy-hs decompose a.hspy -k 2 --max-iter 200 --seed 0 --energy-range 0.3 12

configuration file (TOML; every key is optional, options on the command line win):
  components = 3
  elements = ["Si", "O", "C", "Cu"]     # used where a file has no Sample.elements
  ignore = ["Cu"]
  beam_energy = 200                      # keV, used where a file has none
  thickness = 50                         # nm
  energy_resolution = 128                # eV at Mn Ka, used where a file has none
  max_iter = 1000
  out = "results"                        # relative to the configuration file
  jobs = 2
  [estimator]                            # further options of esmpy_hs.nmf.EsmpyNMF
  tol = 1e-5
{keys}
(--overwrite is accepted on the command line only.)

Put the files before --elements/--add-elements/--ignore, or end the element list with --.
"""


EPILOG = EPILOG.format(keys=textwrap.fill(
    ", ".join([*(k for k in RUN_KEYS if k != "estimator"), *METADATA_KEYS])
    + "; and the [estimator] table.",
    width=92, initial_indent="keys: ", subsequent_indent="  ",
))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``esmpy-hs decompose``."""
    parser.add_argument(
        "inputs", nargs="*", metavar="FILE_OR_GLOB",
        help="spectrum image files, folders (every readable file inside) or glob patterns "
        "('**' for sub-folders)",
    )
    run = parser.add_argument_group("decomposition")
    run.add_argument("-k", "--components", type=int, metavar="K",
                     help="number of phases (required here or in the configuration)")
    run.add_argument("--ignore", nargs="+", metavar="EL",
                     help="elements modelled but left out of the compositions, e.g. the Cu "
                     "grid (added to the model if absent)")
    run.add_argument("--add-elements", nargs="+", metavar="EL",
                     help="elements added to each file's (or the configured) element list")
    run.add_argument("--energy-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                     help="energy range fitted, in keV (default: 0.15 keV to the end of the "
                     "axis or the beam energy)")
    run.add_argument("--max-iter", type=int, metavar="N",
                     help="maximum number of iterations (default: the estimator's)")
    run.add_argument("--tol", type=float, metavar="TOL",
                     help="convergence tolerance (default: the estimator's)")
    run.add_argument("--seed", type=int, metavar="N", help="random seed, for reproducible runs")
    add_metadata_arguments(parser)
    out = parser.add_argument_group("input and output")
    out.add_argument("-o", "--out", metavar="DIR",
                     help="output folder, created if needed (default: ./esmpy_results)")
    out.add_argument("--overwrite", action="store_true", default=None,
                     help="replace existing outputs (default: skip files whose outputs exist)")
    out.add_argument("--lazy", action="store_true", default=None,
                     help="load files lazily (large files; the fit itself needs the data in "
                     "memory)")
    out.add_argument("-j", "--jobs", type=int, metavar="N",
                     help="process N files at a time in worker processes (default 1)")
    out.add_argument("--config", metavar="FILE.toml",
                     help="TOML file with default settings (see below)")
    out.add_argument("--no-progress", action="store_true",
                     help="no progress bar (per-file lines and the summary are still printed)")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="print all warnings and the traceback of failures")


# --- helpers ------------------------------------------------------------------------------


def _output_stems(files: list[Path]) -> list[str]:
    """Output name prefixes: the file stem, made unique by the parent folder (then a number)."""
    stems = [f.stem for f in files]
    counts = {s: stems.count(s) for s in stems}
    out = []
    for f, stem in zip(files, stems, strict=True):
        out.append(f"{f.parent.name}_{stem}" if counts[stem] > 1 and f.parent.name else stem)
    seen: dict[str, int] = {}
    unique = []
    for stem in out:
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        unique.append(stem if n == 0 else f"{stem}_{n + 1}")
    return unique


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    estimator = {}
    return {
        "components": args.components,
        "max_iter": args.max_iter,
        "tol": args.tol,
        "seed": args.seed,
        "energy_range": tuple(args.energy_range) if args.energy_range else None,
        "ignore": args.ignore,
        "add_elements": args.add_elements,
        "out": args.out,
        "jobs": args.jobs,
        "lazy": args.lazy,
        "estimator": estimator,
    }


def _estimator_options(run: dict[str, Setting]) -> dict[str, Any]:
    options = dict(run["estimator"].value)
    if run["max_iter"].value is not None:
        options["max_iter"] = run["max_iter"].value
    if run["tol"].value is not None:
        options["tol"] = run["tol"].value
    if run["seed"].value is not None:
        options["random_state"] = run["seed"].value
    return options


_ALWAYS_SHOWN = ("beam_energy", "elements", "thickness", "energy_resolution")


def _settings_line(result: FileResult, verbose: bool) -> str:
    parts = []
    for name, setting in result.settings.items():
        if (name in _ALWAYS_SHOWN or verbose or setting.source in ("option", "config")
                or (setting.note and setting.source == "file")):
            parts.append(format_setting(setting))
    return "; ".join(parts)


def _file_lines(result: FileResult, verbose: bool) -> list[str]:
    name = Path(result.path).name
    if result.status == "ok":
        phases = " | ".join(result.phases)
        iters = f"{result.n_iter} iterations" if result.n_iter is not None else ""
        lines = [f"ok      {name}: {len(result.phases)} phases [{phases}] {iters}, "
                 f"{result.seconds:.1f} s -> {Path(result.outputs[0]).parent}"]
    elif result.status == "skipped":
        lines = [f"skipped {name}: {result.reason}"]
    else:
        lines = [f"FAILED  {name}: {result.reason}"]
    if result.settings and result.status != "skipped":
        lines.append("        " + _settings_line(result, verbose))
    for note in result.notes:
        lines.append("        note: " + note)
    if verbose and result.detail:
        lines.extend("        " + line for line in result.detail.rstrip().splitlines())
    return lines


def _summary(results: list[FileResult], problems: list[tuple[str, str]]) -> str:
    rows = []
    for r in results:
        detail = r.reason if r.status != "ok" else ", ".join(Path(p).name for p in r.outputs[:1])
        rows.append([
            Path(r.path).name,
            r.status,
            len(r.phases) if r.status == "ok" else "",
            r.n_iter if r.n_iter is not None else "",
            f"{r.seconds:.1f}",
            detail if len(detail) <= 100 else detail[:97] + "...",
        ])
    for pattern, reason in problems:
        rows.append([pattern, "failed", "", "", "", reason])
    n_ok = sum(r.status == "ok" for r in results)
    n_skip = sum(r.status == "skipped" for r in results)
    n_fail = len(results) - n_ok - n_skip + len(problems)
    table = format_table(["file", "status", "phases", "iterations", "time (s)", "details"], rows)
    return f"{table}\n\n{n_ok} succeeded, {n_skip} skipped, {n_fail} failed"


def _command_line(args: argparse.Namespace) -> str:
    """The options of this run as a command line (stored with the results)."""
    parts = ["esmpy-hs", "decompose", *args.inputs]
    for name, value in sorted(vars(args).items()):
        if name in ("inputs", "command", "_run") or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts.extend([flag, *(str(v) for v in value)])
        else:
            parts.extend([flag, str(value)])
    return shlex.join(parts)


def _init_worker(threads: int) -> None:
    """Worker process: limit the threads of each worker and keep it quiet."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    quiet_environment(verbose=False)


def _progress(total: int, disable: bool | None):
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="esmpy", disable=disable, file=sys.stderr,
                dynamic_ncols=True)


def _check_element_tokens(args: argparse.Namespace) -> None:
    """An element list that swallowed file names -> a clear usage error."""
    for option in ("elements", "add_elements", "ignore"):
        for token in getattr(args, option, None) or ():
            if any(c in token for c in "./\\*?") or Path(token).exists():
                raise ConfigError(
                    f"{token!r} was read as an element of --{option.replace('_', '-')}: put the "
                    "files before the element options, or end the element list with --."
                )


# --- entry point --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run the batch; returns the exit code (0 ok, 1 a file failed, 2 usage error)."""
    quiet_environment(verbose=args.verbose)
    try:
        _check_element_tokens(args)
        if not args.inputs:
            raise ConfigError("no input files: give files, folders or glob patterns, e.g. "
                              "esmpy-hs decompose data/*.hspy -k 3")
        config = read_config(args.config)
        run_settings = resolve_run_settings(_run_options(args), config)
        check_estimator_options(run_settings["estimator"].value)
        meta_options = metadata_options(args)
    except ConfigError as exc:
        sys.stderr.write(f"esmpy-hs decompose: error: {exc}\n")
        return 2
    if run_settings["components"].value is None:
        sys.stderr.write("esmpy-hs decompose: error: the number of phases is not set: give "
                         "--components K (or components = K in the configuration file).\n")
        return 2

    files, problems = expand_inputs(args.inputs)
    out_dir = Path(run_settings["out"].value).expanduser().resolve()
    meta_config = {k: v for k, v in config.items() if k not in run_settings}
    command = _command_line(args)
    jobs = [
        FileJob(
            path=str(f),
            stem=stem,
            out_dir=str(out_dir),
            n_components=int(run_settings["components"].value),
            metadata_options=meta_options,
            metadata_config=meta_config,
            add_elements=tuple(run_settings["add_elements"].value or ()),
            add_elements_source=run_settings["add_elements"].source,
            ignore=tuple(run_settings["ignore"].value or ()),
            energy_range=run_settings["energy_range"].value,
            estimator=_estimator_options(run_settings),
            lazy=bool(run_settings["lazy"].value),
            overwrite=bool(args.overwrite),
            command=command,
        )
        for f, stem in zip(files, _output_stems(files), strict=True)
    ]

    shown = [n for n in ("components", "max_iter", "tol", "seed", "energy_range", "ignore",
                         "add_elements", "lazy", "jobs")
             if run_settings[n].source != "default"]
    print(f"esmpy-hs decompose: {len(jobs)} file(s) -> {out_dir}")
    if shown:
        print("  " + "; ".join(format_setting(run_settings[n]) for n in shown))
    for pattern, reason in problems:
        print(f"FAILED  {pattern}: {reason}")
    sys.stdout.flush()

    n_jobs = min(int(run_settings["jobs"].value or 1), max(1, len(jobs)))
    results: dict[int, FileResult] = {}
    try:
        _run_jobs(jobs, n_jobs, results, args)
    except KeyboardInterrupt:
        print("\ninterrupted: files not processed yet are left out of the summary")
        ordered = [results[i] for i in sorted(results)]
        print(_summary(ordered, problems))
        return 130
    ordered = [results[i] for i in range(len(jobs))]
    print()
    print(_summary(ordered, problems))
    failed = problems or any(r.status == "failed" for r in ordered)
    return 1 if failed else 0


def _run_jobs(jobs: list[FileJob], n_jobs: int, results: dict[int, FileResult],
              args: argparse.Namespace) -> None:
    """Process the files (in worker processes when ``n_jobs > 1``), reporting each as it ends."""
    # no bar with --no-progress; tqdm's own choice (none unless a terminal) otherwise
    with _progress(len(jobs), disable=True if args.no_progress or not jobs else None) as bar:
        def report(i: int, result: FileResult) -> None:
            results[i] = result
            for line in _file_lines(result, args.verbose):
                bar.write(line, file=sys.stdout)
            sys.stdout.flush()
            bar.update(1)

        if n_jobs <= 1:
            for i, job in enumerate(jobs):
                bar.set_postfix_str(Path(job.path).name, refresh=True)
                report(i, process_file(job))
        else:
            import multiprocessing

            threads = max(1, (os.cpu_count() or 1) // n_jobs)
            with ProcessPoolExecutor(
                max_workers=n_jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(threads,),
            ) as pool:
                futures = {pool.submit(process_file, job): i for i, job in enumerate(jobs)}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # noqa: BLE001 - a crashed worker
                        result = FileResult(path=jobs[i].path, status="failed",
                                            reason=f"worker process failed: {exc}")
                    report(i, result)
