"""Accuracy measures for decompositions with a known ground truth.

Phase matching (Hungarian assignment), spectral angle, abundance-map MSE and Pearson correlation,
composition error in at.%, and :func:`evaluation_report`, which gathers everything for one
decomposition. The core functions need only numpy and scipy.

Array conventions (those of HyperSpy's ``learning_results``):

- spectra: ``(n_channels, k)``, one phase spectrum per column (``factors``);
- maps: ``(k, ...)``, one abundance map per phase, any spatial shape (``loadings.T``);
- compositions: ``{element: atomic fraction}`` mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "spectral_angle",
    "map_mse",
    "map_correlation",
    "match_phases",
    "composition_error",
    "compositions_from_W",
    "EvaluationReport",
    "evaluation_report",
]

BREMSSTRAHLUNG_PREFIX = "bremsstrahlung"


def _as_columns(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or (n_channels, k), got shape {arr.shape}")
    return arr


def _as_maps(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    return arr.reshape(arr.shape[0], -1)


def spectral_angle(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Angle in degrees between spectra, column by column.

    ``angle = arccos(a·b / (|a| |b|))``: 0° for proportional spectra, 90° for spectra with no
    common non-zero channel. It ignores the overall scale.

    Parameters
    ----------
    a, b : array_like
        Spectra of the same shape: ``(n_channels,)`` or ``(n_channels, k)``.

    Returns
    -------
    float or numpy.ndarray
        The angle (degrees), one per column for 2-D input. NaN where a spectrum is all zero.
    """
    a2, b2 = _as_columns(a, "a"), _as_columns(b, "b")
    if a2.shape != b2.shape:
        raise ValueError(f"spectra must have the same shape, got {a2.shape} and {b2.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (a2 * b2).sum(axis=0) / (np.linalg.norm(a2, axis=0) * np.linalg.norm(b2, axis=0))
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return float(angle[0]) if np.ndim(a) == 1 else angle


def _angle_matrix(true: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Pairwise spectral angles (degrees), ``(k_true, k_est)``."""
    tn = true / np.linalg.norm(true, axis=0, keepdims=True)
    en = est / np.linalg.norm(est, axis=0, keepdims=True)
    return np.degrees(np.arccos(np.clip(tn.T @ en, -1.0, 1.0)))


def _correlation_matrix(true: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Pairwise Pearson correlations of rows, ``(k_true, k_est)``."""
    tc = true - true.mean(axis=1, keepdims=True)
    ec = est - est.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        tc = tc / np.linalg.norm(tc, axis=1, keepdims=True)
        ec = ec / np.linalg.norm(ec, axis=1, keepdims=True)
    return tc @ ec.T


def map_mse(true: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Mean squared error of abundance maps, one value per phase.

    Parameters
    ----------
    true, est : array_like
        Maps of the same shape ``(k, ...)`` (a single map is also accepted).

    Returns
    -------
    numpy.ndarray
        ``(k,)`` mean over pixels of ``(est − true)²``.
    """
    t, e = _as_maps(true, "true"), _as_maps(est, "est")
    if t.shape != e.shape:
        raise ValueError(f"maps must have the same shape, got {t.shape} and {e.shape}")
    return ((e - t) ** 2).mean(axis=1)


def map_correlation(true: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Pearson correlation of abundance maps, one value per phase.

    Parameters
    ----------
    true, est : array_like
        Maps of the same shape ``(k, ...)``.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` correlations in ``[-1, 1]``; NaN for a constant map.
    """
    t, e = _as_maps(true, "true"), _as_maps(est, "est")
    if t.shape != e.shape:
        raise ValueError(f"maps must have the same shape, got {t.shape} and {e.shape}")
    return np.einsum("ij,ij->i", *_normalised_rows(t, e))


def _normalised_rows(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tc = t - t.mean(axis=1, keepdims=True)
    ec = e - e.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (
            tc / np.linalg.norm(tc, axis=1, keepdims=True),
            ec / np.linalg.norm(ec, axis=1, keepdims=True),
        )


def match_phases(
    true_spectra: np.ndarray | None = None,
    est_spectra: np.ndarray | None = None,
    *,
    true_maps: np.ndarray | None = None,
    est_maps: np.ndarray | None = None,
    on: str = "spectra",
) -> np.ndarray:
    """Match estimated phases to true phases (Hungarian assignment).

    Minimises the total spectral angle (``on="spectra"``), the total ``1 − correlation`` of the
    maps (``on="maps"``), or the sum of both normalised costs (``on="both"``: angle/90° plus
    ``(1 − r)/2``).

    Parameters
    ----------
    true_spectra, est_spectra : array_like, optional
        ``(n_channels, k_true)`` and ``(n_channels, k_est)``; needed for ``"spectra"``/``"both"``.
    true_maps, est_maps : array_like, optional
        ``(k_true, ...)`` and ``(k_est, ...)``; needed for ``"maps"``/``"both"``.
    on : {"spectra", "maps", "both"}
        What to match on.

    Returns
    -------
    numpy.ndarray
        ``(k_true,)`` integers: ``index[i]`` is the estimated phase matched to true phase ``i``,
        or ``-1`` when there are fewer estimated than true phases and ``i`` is left unmatched.
    """
    if on not in ("spectra", "maps", "both"):
        raise ValueError(f"on must be 'spectra', 'maps' or 'both', got {on!r}")
    costs = []
    if on in ("spectra", "both"):
        if true_spectra is None or est_spectra is None:
            raise ValueError(f"on={on!r} needs true_spectra and est_spectra")
        t, e = _as_columns(true_spectra, "true_spectra"), _as_columns(est_spectra, "est_spectra")
        if t.shape[0] != e.shape[0]:
            raise ValueError(
                f"spectra must have the same number of channels, got {t.shape[0]} and {e.shape[0]}"
            )
        costs.append(np.nan_to_num(_angle_matrix(t, e), nan=90.0) / 90.0)
    if on in ("maps", "both"):
        if true_maps is None or est_maps is None:
            raise ValueError(f"on={on!r} needs true_maps and est_maps")
        t, e = _as_maps(true_maps, "true_maps"), _as_maps(est_maps, "est_maps")
        if t.shape[1] != e.shape[1]:
            raise ValueError(
                f"maps must have the same number of pixels, got {t.shape[1]} and {e.shape[1]}"
            )
        costs.append((1.0 - np.nan_to_num(_correlation_matrix(t, e), nan=0.0)) / 2.0)
    cost = np.sum(costs, axis=0)
    rows, cols = linear_sum_assignment(cost)
    index = np.full(cost.shape[0], -1, dtype=int)
    index[rows] = cols
    return index


def _normalise_composition(comp: Mapping[str, float], name: str) -> dict[str, float]:
    if not isinstance(comp, Mapping):
        raise TypeError(f"{name} must be a mapping element -> fraction, got {type(comp).__name__}")
    values = {str(k): float(v) for k, v in comp.items()}
    if any(v < 0 or not np.isfinite(v) for v in values.values()):
        raise ValueError(f"{name} has negative or non-finite fractions: {values}")
    total = sum(values.values())
    if total <= 0:
        raise ValueError(f"{name} sums to {total}; it needs at least one positive fraction")
    return {k: v / total for k, v in values.items()}


def composition_error(
    true: Mapping[str, float],
    estimated: Mapping[str, float],
    *,
    exclude: Sequence[str] = (),
) -> dict[str, float]:
    """Signed composition error in at.% per element (estimated − true).

    Both compositions are renormalised to 100 at.% over the union of their elements minus
    ``exclude`` (an element missing on one side counts as 0 there).

    Parameters
    ----------
    true, estimated : mapping
        ``{element: fraction}``; any positive scale (fractions or percentages).
    exclude : sequence of str
        Elements to leave out before renormalising (e.g. ``["Cu"]`` for a grid signal).

    Returns
    -------
    dict
        ``{element: estimated_at% − true_at%}`` over the union of elements.
    """
    drop = set(exclude)
    t = {k: v for k, v in _normalise_composition(true, "true").items() if k not in drop}
    e = {k: v for k, v in _normalise_composition(estimated, "estimated").items() if k not in drop}
    t = _normalise_composition(t, "true (after exclude)")
    e = _normalise_composition(e, "estimated (after exclude)")
    elements = list(t) + [k for k in e if k not in t]
    return {el: 100.0 * (e.get(el, 0.0) - t.get(el, 0.0)) for el in elements}


def compositions_from_W(
    W: np.ndarray,
    labels: Sequence[str],
) -> list[dict[str, float]]:
    """Atomic fractions of each phase from esmpy's W.

    The element columns of G share one scale factor, so each column of W's element rows is
    proportional to the phase's atomic fractions. Rows whose label starts with
    ``"bremsstrahlung"`` are ignored.

    Parameters
    ----------
    W : array_like
        ``(n_G, k)`` weights.
    labels : sequence of str
        ``n_G`` row labels (element symbols and bremsstrahlung labels).

    Returns
    -------
    list of dict
        One ``{element: atomic fraction}`` per phase (fractions sum to one; all zero if the
        phase has no element weight).
    """
    W = np.asarray(W, dtype=float)
    if W.ndim == 1:
        W = W[:, None]
    labels = [str(x) for x in labels]
    if W.shape[0] != len(labels):
        raise ValueError(f"W has {W.shape[0]} rows but {len(labels)} labels were given")
    rows = [i for i, lab in enumerate(labels) if not lab.startswith(BREMSSTRAHLUNG_PREFIX)]
    out = []
    for j in range(W.shape[1]):
        w = np.clip(W[rows, j], 0.0, None)
        total = w.sum()
        frac = w / total if total > 0 else np.zeros_like(w)
        out.append({labels[i]: float(f) for i, f in zip(rows, frac, strict=True)})
    return out


@dataclass
class EvaluationReport:
    """Accuracy of one decomposition against a ground truth.

    Attributes
    ----------
    phase_names : list of str
        True phases, in ground-truth order.
    matched_index : numpy.ndarray
        Estimated component matched to each true phase (``-1`` if unmatched).
    spectral_angle : numpy.ndarray
        Degrees, per true phase.
    map_correlation, map_mse : numpy.ndarray
        Pearson correlation and MSE of the matched abundance maps, per true phase.
    true_compositions, estimated_compositions : list of dict
        Atomic fractions per phase (estimated ones only when W was available).
    composition_error : list of dict
        Signed error in at.% per element, per phase (empty without W).
    mean_abs_composition_error : numpy.ndarray
        Per phase, mean |error| (at.%) over elements above ``major_threshold`` in the truth.
    major_threshold : float
        Threshold in at.% (default 5).
    """

    phase_names: list[str]
    matched_index: np.ndarray
    spectral_angle: np.ndarray
    map_correlation: np.ndarray
    map_mse: np.ndarray
    true_compositions: list[dict[str, float]]
    estimated_compositions: list[dict[str, float]] = field(default_factory=list)
    composition_error: list[dict[str, float]] = field(default_factory=list)
    mean_abs_composition_error: np.ndarray = field(default_factory=lambda: np.array([]))
    major_threshold: float = 5.0

    @property
    def overall_composition_error(self) -> float:
        """Mean |error| (at.%) over all phases' major elements (NaN without W)."""
        errs = [
            abs(err[el])
            for truth, err in zip(self.true_compositions, self.composition_error, strict=False)
            for el in err
            if 100.0 * truth.get(el, 0.0) > self.major_threshold
        ]
        return float(np.mean(errs)) if errs else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dictionary (lists and floats), e.g. for JSON."""
        return {
            "phase_names": list(self.phase_names),
            "matched_index": [int(i) for i in self.matched_index],
            "spectral_angle_deg": [float(x) for x in self.spectral_angle],
            "map_correlation": [float(x) for x in self.map_correlation],
            "map_mse": [float(x) for x in self.map_mse],
            "true_compositions": [dict(c) for c in self.true_compositions],
            "estimated_compositions": [dict(c) for c in self.estimated_compositions],
            "composition_error_at_percent": [dict(c) for c in self.composition_error],
            "mean_abs_composition_error_at_percent": [
                float(x) for x in self.mean_abs_composition_error
            ],
            "overall_composition_error_at_percent": self.overall_composition_error,
            "major_threshold_at_percent": float(self.major_threshold),
        }

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, name in enumerate(self.phase_names):
            row: dict[str, Any] = {
                "phase": name,
                "component": int(self.matched_index[i]),
                "spectral_angle_deg": float(self.spectral_angle[i]),
                "map_correlation": float(self.map_correlation[i]),
                "map_mse": float(self.map_mse[i]),
            }
            if len(self.mean_abs_composition_error):
                row["mean_abs_comp_error_at%"] = float(self.mean_abs_composition_error[i])
            rows.append(row)
        return rows

    def to_dataframe(self):
        """Per-phase table as a :class:`pandas.DataFrame` (needs pandas).

        Returns
        -------
        pandas.DataFrame
            One row per true phase, indexed by phase name.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is a test dependency
            raise ImportError(
                "to_dataframe needs pandas (pip install pandas); use to_dict() instead"
            ) from exc
        return pd.DataFrame(self._rows()).set_index("phase")

    def composition_table(self) -> str:
        """Text table of true and estimated at.% per phase and element."""
        if not self.estimated_compositions:
            return "(no estimated compositions: W was not given)"
        lines = []
        for name, truth, est, err in zip(
            self.phase_names,
            self.true_compositions,
            self.estimated_compositions,
            self.composition_error,
            strict=True,
        ):
            lines.append(f"{name}:  element   true at.%   est. at.%   error")
            for el in err:
                if truth.get(el, 0.0) == 0 and est.get(el, 0.0) < 5e-5:
                    continue  # absent on both sides
                lines.append(
                    f"    {el:>8s} {100 * truth.get(el, 0.0):11.2f} "
                    f"{100 * est.get(el, 0.0):11.2f} {err[el]:+7.2f}"
                )
        return "\n".join(lines)

    def __str__(self) -> str:
        header = f"{'phase':<22s}{'comp':>5s}{'angle(°)':>10s}{'map r':>8s}{'map MSE':>11s}"
        has_comp = len(self.mean_abs_composition_error) > 0
        if has_comp:
            header += f"{'|Δc| at.%':>11s}"
        lines = [header, "-" * len(header)]
        for row in self._rows():
            line = (
                f"{row['phase'][:21]:<22s}{row['component']:>5d}"
                f"{row['spectral_angle_deg']:>10.2f}{row['map_correlation']:>8.3f}"
                f"{row['map_mse']:>11.2e}"
            )
            if has_comp:
                line += f"{row['mean_abs_comp_error_at%']:>11.2f}"
            lines.append(line)
        if has_comp:
            lines.append(
                f"mean |composition error| of elements > {self.major_threshold:g} at.%: "
                f"{self.overall_composition_error:.2f} at.%"
            )
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython
        p.text(str(self))


def _truth_field(truth: Any, name: str) -> Any:
    if isinstance(truth, Mapping):
        if name not in truth:
            raise ValueError(f"ground_truth has no {name!r} entry")
        return truth[name]
    if not hasattr(truth, name):
        raise TypeError(
            f"ground_truth must be a GroundTruth (esmpy_hs.datasets.get_ground_truth) or a dict "
            f"with {name!r}; got {type(truth).__name__}"
        )
    return getattr(truth, name)


def _from_results(
    obj: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str] | None, tuple[str, ...]]:
    """factors, loadings, W, W labels and ignored elements of a decomposition result.

    Accepts an esmpy state (``W``, ``labels``, ``factors``, ``loadings`` attributes), an
    :class:`esmpy_hs.results.EsmpyResults`, or a decomposed HyperSpy signal (esmpy results are
    read through :func:`esmpy_hs.results.get_state`; other algorithms from
    ``learning_results.factors``/``loadings``).
    """
    if all(hasattr(obj, name) for name in ("W", "labels", "factors", "loadings")):
        return (
            np.asarray(obj.factors),
            np.asarray(obj.loadings),
            np.asarray(obj.W),
            list(obj.labels),
            tuple(getattr(obj, "ignored_elements", ()) or ()),
        )
    lr = getattr(obj, "learning_results", None)
    is_esmpy = lr is not None and str(getattr(lr, "decomposition_algorithm", None)) == "esmpy"
    if hasattr(obj, "state") or is_esmpy:
        from esmpy_hs.results import get_state

        st = get_state(obj)
        return (
            np.asarray(st.factors),
            np.asarray(st.loadings),
            np.asarray(st.W),
            list(st.labels),
            tuple(st.ignored_elements),
        )
    if lr is None or getattr(lr, "factors", None) is None or getattr(lr, "loadings", None) is None:
        raise ValueError(
            "no decomposition results found; run s.decomposition(...) first or pass "
            "factors= and loadings= explicitly"
        )
    W = getattr(lr, "esmpy_W", None)
    labels = None
    params = getattr(lr, "esmpy_params", None)
    if W is not None and isinstance(params, Mapping):
        labels = params.get("G_labels")
    if W is not None and labels is None:
        W = None
    return (
        np.asarray(lr.factors),
        np.asarray(lr.loadings),
        None if W is None else np.asarray(W),
        None if labels is None else list(labels),
        (),
    )


def evaluation_report(
    s_or_results: Any = None,
    ground_truth: Any = None,
    *,
    factors: np.ndarray | None = None,
    loadings: np.ndarray | None = None,
    W: np.ndarray | None = None,
    W_labels: Sequence[str] | None = None,
    match_on: str = "spectra",
    rescale_maps: bool | str = "auto",
    major_threshold: float = 5.0,
    exclude: Sequence[str] = (),
) -> EvaluationReport:
    """Full accuracy report of a decomposition against a ground truth.

    Parameters
    ----------
    s_or_results : HyperSpy signal, EsmpyResults or EsmpyState, optional
        A decomposed signal (any algorithm: ``learning_results.factors``/``loadings``; for
        esmpy also W, its labels and the ignored elements, which are then excluded from the
        composition errors), or exported esmpy results. Explicit ``factors``/``loadings``/``W``
        arguments take precedence. If ``ground_truth`` is None, it is read from the signal's
        simulation metadata.
    ground_truth : GroundTruth or dict
        Needs ``spectra`` ``(n_channels, k)``, ``maps`` ``(k, ...)``, ``compositions`` (list of
        dicts, atomic fractions) and optionally ``phase_names``.
    factors : array_like, optional
        ``(n_channels, k_est)`` estimated phase spectra.
    loadings : array_like, optional
        ``(n_pixels, k_est)`` (HyperSpy layout) or ``(k_est, ...)`` maps; a 2-D array of shape
        ``(n_pixels, k_est)`` is always read as HyperSpy layout.
    W : array_like, optional
        ``(n_G, k_est)`` esmpy weights, to compute compositions.
    W_labels : sequence of str, optional
        Row labels of W (element symbols and ``bremsstrahlung_*``).
    match_on : {"spectra", "maps", "both"}
        Matching criterion (see :func:`match_phases`).
    rescale_maps : bool or "auto"
        Compare maps in abundance units: each estimated map is multiplied by the ratio of its
        spectrum's total counts to the matched true spectrum's total counts (so that
        ``factor × loading`` and ``true spectrum × true map`` are both counts). This makes MSE
        meaningful for estimators whose loadings are not abundances (e.g. plain NMF).
        ``"auto"`` (default) rescales only when the loadings do not already sum to one in every
        pixel (esmpy's H does, and is compared as it is). Correlations do not depend on it.
    major_threshold : float
        Elements above this content (at.%, in the truth) enter the mean absolute error.
    exclude : sequence of str
        Elements excluded from composition errors (renormalised without them).

    Returns
    -------
    EvaluationReport
        Prints as a table; ``to_dict()`` and ``to_dataframe()`` convert it.
    """
    exclude = tuple(exclude)
    if s_or_results is not None:
        f_s, l_s, w_s, lab_s, ignored = _from_results(s_or_results)
        factors = f_s if factors is None else factors
        loadings = l_s if loadings is None else loadings
        if W is None and w_s is not None:
            W, W_labels = w_s, lab_s
            exclude = exclude + tuple(e for e in ignored if e not in exclude)
        if ground_truth is None:
            if not hasattr(s_or_results, "metadata"):
                raise ValueError("ground_truth is required unless a simulated signal is given")
            from esmpy_hs.datasets import get_ground_truth

            ground_truth = get_ground_truth(s_or_results)
    if ground_truth is None:
        raise ValueError("ground_truth is required (or a simulated signal that carries it)")
    if factors is None or loadings is None:
        raise ValueError("factors and loadings are required (or a decomposed signal)")

    true_spectra = _as_columns(_truth_field(ground_truth, "spectra"), "ground_truth.spectra")
    true_maps_full = np.asarray(_truth_field(ground_truth, "maps"), dtype=float)
    true_maps = true_maps_full.reshape(true_maps_full.shape[0], -1)
    true_comps = [
        _normalise_composition(c, "ground_truth.compositions")
        for c in _truth_field(ground_truth, "compositions")
    ]
    k_true, n_pix = true_maps.shape
    if true_spectra.shape[1] != k_true:
        raise ValueError(f"ground truth has {true_spectra.shape[1]} spectra but {k_true} maps")
    names = None
    if isinstance(ground_truth, Mapping):
        names = ground_truth.get("phase_names")
    else:
        names = getattr(ground_truth, "phase_names", None)
    names = list(names) if names is not None else [f"phase {i}" for i in range(k_true)]

    est_spectra = _as_columns(factors, "factors")
    if est_spectra.shape[0] != true_spectra.shape[0]:
        raise ValueError(
            f"factors have {est_spectra.shape[0]} channels, the truth {true_spectra.shape[0]}"
        )
    k_est = est_spectra.shape[1]
    L = np.asarray(loadings, dtype=float)
    if L.ndim == 2 and L.shape == (n_pix, k_est):
        est_maps = L.T.copy()
    else:
        est_maps = L.reshape(L.shape[0], -1).copy()
    if est_maps.shape != (k_est, n_pix):
        raise ValueError(
            f"loadings of shape {L.shape} do not match {k_est} components × {n_pix} pixels"
        )

    valid = np.all(np.isfinite(est_maps), axis=0)
    if not np.all(valid):  # pixels excluded from the fit (navigation mask): left out
        est_maps, true_maps = est_maps[:, valid], true_maps[:, valid]
    if rescale_maps == "auto":
        rescale_maps = not np.allclose(est_maps.sum(axis=0), 1.0, rtol=0, atol=1e-3)
    elif not isinstance(rescale_maps, (bool, np.bool_)):
        raise ValueError(f"rescale_maps must be True, False or 'auto', got {rescale_maps!r}")
    index = match_phases(
        true_spectra, est_spectra, true_maps=true_maps, est_maps=est_maps, on=match_on
    )
    angle = np.full(k_true, np.nan)
    corr = np.full(k_true, np.nan)
    mse = np.full(k_true, np.nan)
    for i, j in enumerate(index):
        if j < 0:
            continue
        angle[i] = spectral_angle(true_spectra[:, i], est_spectra[:, j])
        m = est_maps[j]
        if rescale_maps:
            t_sum = true_spectra[:, i].sum()
            if t_sum > 0:
                m = m * (est_spectra[:, j].sum() / t_sum)
        corr[i] = map_correlation(true_maps[i], m)[0]
        mse[i] = map_mse(true_maps[i], m)[0]

    est_comps: list[dict[str, float]] = []
    errors: list[dict[str, float]] = []
    mean_abs = np.array([])
    if W is not None:
        if W_labels is None:
            raise ValueError("W_labels are required with W (element symbols per row)")
        all_comps = compositions_from_W(W, W_labels)
        mean_abs = np.full(k_true, np.nan)
        for i, j in enumerate(index):
            if j < 0:
                est_comps.append({})
                errors.append({})
                continue
            est_comps.append(all_comps[j])
            drop = set(exclude)
            if sum(v for el, v in all_comps[j].items() if el not in drop) > 0:
                err = composition_error(true_comps[i], all_comps[j], exclude=exclude)
            else:
                # a phase without any element content (e.g. bremsstrahlung only): every
                # element of the truth is missing
                t = {el: v for el, v in true_comps[i].items() if el not in drop}
                total = sum(t.values())
                err = {el: -100.0 * v / total for el, v in t.items()}
            errors.append(err)
            major = [
                abs(v) for el, v in err.items() if 100 * true_comps[i].get(el, 0) > major_threshold
            ]
            mean_abs[i] = float(np.mean(major)) if major else np.nan
    return EvaluationReport(
        phase_names=names,
        matched_index=index,
        spectral_angle=angle,
        map_correlation=corr,
        map_mse=mse,
        true_compositions=true_comps,
        estimated_compositions=est_comps,
        composition_error=errors,
        mean_abs_composition_error=mean_abs,
        major_threshold=major_threshold,
    )
