"""Phase compositions from the esmpy W matrix.

All element columns of G share one scale factor and each is the spectrum of one atom of the
element, so in each phase k the element rows of W are proportional to the number of atoms:

    atomic fraction   x_e,k = W_e,k / Σ_e' W_e',k
    weight fraction   w_e,k = A_e W_e,k / Σ_e' A_e' W_e',k      (A: atomic weight)

over the quantified elements (bremsstrahlung columns and ignored elements such as a Cu grid are
left out).

Uncertainties are Poisson: the counts element e explains in phase k are

    N_e,k = (Σ_pixels H_k,p) · (Σ_fit channels G_c,e) · W_e,k

and W_e,k is taken with relative standard error 1/√N_e,k (at least one count's worth, so an
element absent from a phase gets an upper-limit uncertainty instead of zero). The errors of
the W_e,k are propagated to the fractions to first order, treating them as independent.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from esmpy_hs.results import get_state

__all__ = ["PhaseCompositions", "compositions_from_W", "get_phase_compositions"]


def _fraction_and_std(
    values: np.ndarray, sigma: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fractions f_e = a_e v_e / Σ a_j v_j per column and their first-order std.

    values, sigma: (n_e, k); weights a: (n_e,).
    """
    av = weights[:, None] * values
    total = av.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = av / total
        # d f_e / d v_j = a_e (δ_ej T - v_e a_j) / T²
        # Var f_e = Σ_j (d f_e/d v_j)² σ_j²
        #         = [a_e² σ_e² T² - 2 a_e² v_e a_e σ_e² T + a_e² v_e² Σ_j a_j² σ_j²] / T⁴
        s2 = (weights[:, None] * sigma) ** 2
        var = (s2 * (total**2 - 2 * av * total) + av**2 * s2.sum(axis=0)) / total**4
    std = np.sqrt(np.clip(var, 0.0, None))
    bad = ~(total > 0)
    frac[:, bad] = np.nan
    std[:, bad] = np.nan
    return frac, std


def compositions_from_W(
    W_elements: np.ndarray,
    atomic_weights: np.ndarray,
    counts_per_unit: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Atomic and weight fractions (and Poisson std) from element rows of W.

    Parameters
    ----------
    W_elements : numpy.ndarray
        (n_elements, k) non-negative element weights of each phase.
    atomic_weights : numpy.ndarray
        (n_elements,) g/mol.
    counts_per_unit : numpy.ndarray, optional
        (n_elements, k): counts explained per unit of W_e,k, i.e.
        (Σ_p H_k,p)·(Σ_c G_c,e). Without it the uncertainties are NaN.

    Returns
    -------
    dict
        ``atomic``, ``atomic_std``, ``weight``, ``weight_std`` (fractions, (n_elements, k)),
        ``counts`` ((n_elements, k) or None).
    """
    W = np.clip(np.asarray(W_elements, dtype=float), 0.0, None)
    A = np.asarray(atomic_weights, dtype=float)
    if counts_per_unit is None:
        sigma = np.full_like(W, np.nan)
        counts = None
    else:
        unit = np.asarray(counts_per_unit, dtype=float)
        counts = W * unit
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt(np.maximum(counts, 1.0)) / unit
        sigma[~np.isfinite(sigma)] = 0.0
    atomic, atomic_std = _fraction_and_std(W, sigma, np.ones_like(A))
    weight, weight_std = _fraction_and_std(W, sigma, A)
    return {
        "atomic": atomic,
        "atomic_std": atomic_std,
        "weight": weight,
        "weight_std": weight_std,
        "counts": counts,
    }


def _format_row(cells: list[str], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join([first, *rest])


@dataclass
class PhaseCompositions:
    """Composition of each esmpy phase, in atomic and weight percent.

    Attributes
    ----------
    elements : tuple of str
        Quantified elements (rows).
    phases : tuple of str
        Phase names (columns).
    atomic_percent, atomic_percent_std : numpy.ndarray
        (n_elements, n_phases); NaN for a phase without element signal.
    weight_percent, weight_percent_std : numpy.ndarray
        (n_elements, n_phases).
    counts : numpy.ndarray
        (n_elements, n_phases): X-ray counts each element explains in each phase.
    ignored_elements : tuple of str
        Modelled but not quantified (e.g. the grid).
    negligible : float
        Percentages below this are shown as ``~0``.
    """

    elements: tuple[str, ...]
    phases: tuple[str, ...]
    atomic_percent: np.ndarray
    atomic_percent_std: np.ndarray
    weight_percent: np.ndarray
    weight_percent_std: np.ndarray
    counts: np.ndarray
    ignored_elements: tuple[str, ...] = ()
    negligible: float = 0.1

    # -- access ---------------------------------------------------------------------------
    def phase(self, phase: int | str, units: str = "atomic") -> dict[str, float]:
        """Composition of one phase as ``{element: percent}``.

        Parameters
        ----------
        phase : int or str
            Index or name.
        units : {"atomic", "weight"}

        Returns
        -------
        dict
        """
        j = self._phase_index(phase)
        table = self._table(units)
        return {el: float(table[i, j]) for i, el in enumerate(self.elements)}

    def _phase_index(self, phase: int | str) -> int:
        if isinstance(phase, str):
            if phase not in self.phases:
                raise KeyError(f"Unknown phase {phase!r}; the phases are {list(self.phases)}.")
            return self.phases.index(phase)
        index = int(phase)
        if not -len(self.phases) <= index < len(self.phases):
            raise IndexError(f"phase {phase} out of range for {len(self.phases)} phases.")
        return index % len(self.phases)

    def _table(self, units: str) -> np.ndarray:
        if units == "atomic":
            return self.atomic_percent
        if units == "weight":
            return self.weight_percent
        raise ValueError(f"units={units!r}: use 'atomic' or 'weight'.")

    # -- conversions ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dictionary.

        Returns
        -------
        dict
            ``{"elements", "phases", "ignored_elements", "atomic_percent",
            "atomic_percent_std", "weight_percent", "weight_percent_std", "counts"}``; the
            tables are ``{phase: {element: value}}``.
        """

        def nested(table: np.ndarray) -> dict[str, dict[str, float]]:
            return {
                ph: {el: float(table[i, j]) for i, el in enumerate(self.elements)}
                for j, ph in enumerate(self.phases)
            }

        return {
            "elements": list(self.elements),
            "phases": list(self.phases),
            "ignored_elements": list(self.ignored_elements),
            "atomic_percent": nested(self.atomic_percent),
            "atomic_percent_std": nested(self.atomic_percent_std),
            "weight_percent": nested(self.weight_percent),
            "weight_percent_std": nested(self.weight_percent_std),
            "counts": nested(self.counts),
        }

    def to_dataframe(self):
        """A pandas DataFrame: rows are elements, columns (phase, quantity).

        The quantities are ``"at.%"``, ``"at.% std"``, ``"wt.%"``, ``"wt.% std"`` and
        ``"counts"``. Requires pandas.

        Returns
        -------
        pandas.DataFrame
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_dataframe() needs pandas: pip install pandas (or use to_dict())."
            ) from None
        quantities = {
            "at.%": self.atomic_percent,
            "at.% std": self.atomic_percent_std,
            "wt.%": self.weight_percent,
            "wt.% std": self.weight_percent_std,
            "counts": self.counts,
        }
        columns = pd.MultiIndex.from_product(
            [list(self.phases), list(quantities)], names=["phase", "quantity"]
        )
        data = np.stack(list(quantities.values()), axis=-1).reshape(len(self.elements), -1)
        return pd.DataFrame(
            data, index=pd.Index(list(self.elements), name="element"), columns=columns
        )

    # -- display --------------------------------------------------------------------------
    def _cell(self, value: float, std: float) -> str:
        if not np.isfinite(value):
            return "—"
        if value < self.negligible:
            return "~0"
        if not np.isfinite(std):
            return f"{value:.1f}"
        std = min(std, 100.0)
        if std < 0.005:
            return f"{value:.2f} ± <0.01"
        digits = 1 if std >= 0.095 else 2
        return f"{value:.{digits}f} ± {std:.{digits}f}"

    def _rows(self, units: str) -> list[list[str]]:
        table = self._table(units)
        std = self.atomic_percent_std if units == "atomic" else self.weight_percent_std
        return [
            [el] + [self._cell(table[i, j], std[i, j]) for j in range(len(self.phases))]
            for i, el in enumerate(self.elements)
        ]

    def _footer(self) -> list[str]:
        lines = ["± 1σ Poisson uncertainty from the counts each element explains."]
        empty = [
            ph
            for j, ph in enumerate(self.phases)
            if not np.isfinite(self.atomic_percent[:, j]).any()
        ]
        if empty:
            lines.append(
                "— : no element signal in "
                + ", ".join(empty)
                + " (continuum or ignored elements only)."
            )
        if self.ignored_elements:
            lines.append("Not quantified (ignored): " + ", ".join(self.ignored_elements) + ".")
        return lines

    def __str__(self) -> str:
        out = []
        for units, title in (("atomic", "Atomic %"), ("weight", "Weight %")):
            header = [title, *self.phases]
            rows = self._rows(units)
            widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
            lines = [_format_row(r, widths) for r in [header, *rows]]
            out += [lines[0], "-" * len(lines[0]), *lines[1:], ""]
        out.extend(self._footer())
        return "\n".join(out)

    def __repr__(self) -> str:
        return (
            f"<PhaseCompositions: {len(self.phases)} phases, elements "
            f"{', '.join(self.elements)}>\n{self}"
        )

    def _repr_html_(self) -> str:
        parts = []
        for units, title in (("atomic", "Atomic %"), ("weight", "Weight %")):
            head = "".join(f"<th>{html.escape(p)}</th>" for p in self.phases)
            body = "".join(
                "<tr><th>"
                + html.escape(r[0])
                + "</th>"
                + "".join(f"<td>{html.escape(c)}</td>" for c in r[1:])
                + "</tr>"
                for r in self._rows(units)
            )
            parts.append(
                f"<table><caption>{title}</caption><thead><tr><th></th>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>"
            )
        foot = "<br>".join(html.escape(line) for line in self._footer())
        return "<div>" + "".join(parts) + f"<p><small>{foot}</small></p></div>"


def get_phase_compositions(
    s,
    *,
    phases=None,
    ignore_elements=None,
    negligible: float = 0.1,
) -> PhaseCompositions:
    """Composition of each esmpy phase in atomic and weight percent with uncertainties.

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal or esmpy_hs.results.EsmpyResults
        A signal decomposed with :func:`esmpy_hs.decompose`, or its exported results.
    phases : list of int, optional
        Phases to report (default: all).
    ignore_elements : list of str, optional
        Elements to leave out in addition to those ignored at decomposition time.
    negligible : float
        Percentages below this value are printed as ``~0`` (the numbers are kept).

    Returns
    -------
    PhaseCompositions
        Prints as a table; ``to_dataframe()`` and ``to_dict()`` convert it.

    Raises
    ------
    ValueError
        If ``s`` holds no esmpy results, or every modelled element is ignored.

    Examples
    --------
    >>> comp = esmpy_hs.get_phase_compositions(s)     # doctest: +SKIP
    >>> print(comp)                                     # doctest: +SKIP
    >>> comp.to_dataframe()["phase 0"]["at.%"]          # doctest: +SKIP
    """
    from esmpy_hs.physics import atomic_weight

    state = get_state(s)
    ignored = list(state.ignored_elements)
    if ignore_elements is not None:
        if isinstance(ignore_elements, str):
            ignore_elements = [ignore_elements]
        unknown = [e for e in ignore_elements if e not in state.elements]
        if unknown:
            raise ValueError(
                f"ignore_elements={unknown} are not modelled in this decomposition; the "
                f"modelled elements are {list(state.elements)}."
            )
        ignored += [e for e in ignore_elements if e not in ignored]
    elements = [e for e in state.elements if e not in ignored]
    if not elements:
        raise ValueError(
            "Every modelled element is ignored, so there is nothing to quantify; remove some "
            "from ignore_elements."
        )
    k_all = state.n_components
    if phases is None:
        phase_idx = list(range(k_all))
    else:
        phase_idx = [int(p) for p in np.atleast_1d(phases)]
        bad = [p for p in phase_idx if not 0 <= p < k_all]
        if bad:
            raise ValueError(f"phases={bad} out of range: this decomposition has {k_all} phases.")
    rows = [state.labels.index(e) for e in elements]
    W_el = state.W[np.ix_(rows, phase_idx)]
    G_sum = state.G[state.fit_mask][:, rows].sum(axis=0)  # (n_e,)
    H_sum = np.nansum(state.loadings[:, phase_idx], axis=0)  # (k,)
    unit = G_sum[:, None] * H_sum[None, :]
    A = np.array([atomic_weight(e) for e in elements], dtype=float)
    comp = compositions_from_W(W_el, A, unit)
    names = state.phase_names()
    return PhaseCompositions(
        elements=tuple(elements),
        phases=tuple(names[p] for p in phase_idx),
        atomic_percent=100.0 * comp["atomic"],
        atomic_percent_std=100.0 * comp["atomic_std"],
        weight_percent=100.0 * comp["weight"],
        weight_percent_std=100.0 * comp["weight_std"],
        counts=comp["counts"],
        ignored_elements=tuple(ignored),
        negligible=float(negligible),
    )
