"""Plots of esmpy results: phase spectra, abundance maps and composition bars.

Each function takes a signal decomposed with :func:`esmpy_hs.decompose` (or, where no data is
needed, its :class:`~esmpy_hs.results.EsmpyResults`) and returns a matplotlib
:class:`~matplotlib.figure.Figure`; nothing is shown or saved (call ``plt.show()`` or
``fig.savefig(...)`` yourself).
"""

from __future__ import annotations

import math

import numpy as np

from esmpy_hs.results import EsmpyResults, EsmpyState, get_state

__all__ = ["plot_phase_spectra", "plot_abundance_maps", "plot_phase_compositions"]

# Lines drawn as markers: main lines of each family and strong secondary ones (weight in
# exspy's database is relative to the family's main line).
_MIN_LINE_WEIGHT = 0.25


def _phase_indices(phases, k: int) -> list[int]:
    if phases is None:
        return list(range(k))
    idx = [int(p) for p in np.atleast_1d(phases)]
    bad = [p for p in idx if not 0 <= p < k]
    if bad:
        raise ValueError(f"phases={bad} out of range: the decomposition has {k} phases.")
    return idx


def _grid(n: int, ncols: int | None) -> tuple[int, int]:
    ncols = ncols or min(n, 4)
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _element_shares(state: EsmpyState) -> np.ndarray:
    """Share of each quantified element in each phase's element counts (n_el, k)."""
    els = state.quantified_elements
    rows = [state.labels.index(e) for e in els]
    counts = state.G[state.fit_mask][:, rows].sum(axis=0)[:, None] * state.W[rows]
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / total, 0.0)


def _phase_title(state: EsmpyState, j: int, shares: np.ndarray, n_top: int = 3) -> str:
    els = state.quantified_elements
    order = np.argsort(shares[:, j])[::-1][:n_top]
    top = [els[i] for i in order if shares[i, j] >= 0.05]
    return f"phase {j}" + (f" ({', '.join(top)})" if top else "")


def _xray_lines(element: str, e_min: float, e_max: float) -> list[tuple[str, float]]:
    """(name, energy keV) of the strong lines of ``element`` in [e_min, e_max]."""
    from exspy.material import elements as element_db

    out = []
    node = element_db[element].Atomic_properties
    if "Xray_lines" not in node:
        return out
    for name, line in node.Xray_lines.as_dictionary().items():
        energy = float(line["energy (keV)"])
        if float(line["weight"]) >= _MIN_LINE_WEIGHT and e_min <= energy <= e_max:
            out.append((f"{element} {name}", energy))
    return out


def _default_energy_range(state: EsmpyState, energies: np.ndarray) -> tuple[float, float]:
    """The fitted range, cut 1 keV above the highest strong line of the modelled elements."""
    fit = np.flatnonzero(state.fit_mask)
    low, high = float(energies[fit[0]]), float(energies[fit[-1]])
    lines = [e for el in state.elements for _, e in _xray_lines(el, low, high)]
    if lines:
        high = min(high, max(lines) + 1.0)
    return low, high


def _mean_spectra(s, state: EsmpyState) -> tuple[np.ndarray, np.ndarray]:
    """Abundance-weighted mean data and mean model of each phase, (k, n_channels) each."""
    H = np.nan_to_num(state.loadings)  # (n_pix, k)
    weight = H.sum(axis=0)  # (k,)
    data = s.data.reshape(-1, s.data.shape[-1])  # energy axis is last
    weighted = H.T @ data
    if hasattr(weighted, "compute"):
        weighted = weighted.compute()
    weighted = np.asarray(weighted, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_data = weighted / weight[:, None]
        # the model of pixel p is Σ_j F_j H_j,p; weighted by H_k,p it gives F (HᵀH)_k / ΣH_k
        mean_model = (state.factors @ (H.T @ H)).T / weight[:, None]
    return mean_data, mean_model


def plot_phase_spectra(
    s,
    phases=None,
    *,
    data: bool = True,
    xray_lines: bool = True,
    energy_range: tuple[float, float] | None = None,
    log_scale: bool = False,
    ncols: int = 1,
    figsize: tuple[float, float] | None = None,
):
    """Plot each phase's model spectrum against the phase's mean data, with X-ray lines.

    For phase k, the data curve is the abundance-weighted mean spectrum
    Σ_p H_k,p Y_p / Σ_p H_k,p, the solid line the model averaged with the same weights
    (so the two agree where the model fits), and the dashed line the pure phase spectrum
    G·W_k (the spectrum of a pixel made of phase k only), scaled to the same peak height when
    the data are drawn (the factor is in the legend).

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal or esmpy_hs.results.EsmpyResults
        A decomposed signal (the data curves need it) or exported results (model only).
    phases : list of int, optional
        Phases to plot (default: all).
    data : bool
        Draw the mean data (ignored for EsmpyResults).
    xray_lines : bool
        Mark and label the lines of the elements that make up at least 5 % of the phase's
        element counts.
    energy_range : (float, float), optional
        keV; default: the energy range used in the fit, up to 1 keV above the highest strong
        line of the modelled elements.
    log_scale : bool
        Logarithmic intensity axis.
    ncols : int
        Columns of the panel grid.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    state = get_state(s)
    idx = _phase_indices(phases, state.n_components)
    energies = state.energies_keV
    if energy_range is None:
        energy_range = _default_energy_range(state, energies)
    e_min, e_max = (float(v) for v in energy_range)
    window = (energies >= e_min) & (energies <= e_max)
    shares = _element_shares(state)
    with_data = data and not isinstance(s, EsmpyResults)
    if with_data:
        mean_data, mean_model = _mean_spectra(s, state)
    pure = state.factors.T  # (k, n_channels)

    nrows, ncols = _grid(len(idx), ncols)
    if figsize is None:
        figsize = (7.0 * ncols, 2.6 * nrows + 0.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, sharex=True)
    x = energies[window]
    for n, j in enumerate(idx):
        ax = axes.flat[n]
        if with_data:
            ax.step(
                x,
                mean_data[j, window],
                where="mid",
                color="0.55",
                lw=0.8,
                label="mean data (abundance-weighted)",
            )
            ax.plot(x, mean_model[j, window], color="C0", lw=1.2, label="model, same weighting")
        curve, label = pure[j, window], "pure phase G·W"
        if with_data and curve.max() > 0 and np.isfinite(mean_model[j, window]).all():
            # same peak height as the weighted model, so the shapes compare on one scale
            factor = float(mean_model[j, window].max() / curve.max())
            curve, label = curve * factor, f"pure phase G·W (×{factor:.2g})"
        ax.plot(x, curve, color="C3", lw=1.0, ls="--", label=label)
        if xray_lines:
            top = max(float(np.nanmax(line.get_ydata())) for line in ax.lines)
            for el in state.quantified_elements + state.ignored_elements:
                if (
                    el in state.quantified_elements
                    and shares[state.quantified_elements.index(el), j] < 0.05
                ):
                    continue
                if el in state.ignored_elements:
                    row = state.labels.index(el)
                    if state.W[row, j] <= 0:
                        continue
                for name, energy in _xray_lines(el, e_min, e_max):
                    ax.axvline(energy, color="0.3", lw=0.5, ls=":")
                    ax.annotate(
                        name,
                        (energy, top),
                        xytext=(2, -2),
                        textcoords="offset points",
                        rotation=90,
                        fontsize=7,
                        va="top",
                        color="0.2",
                    )
        if log_scale:
            ax.set_yscale("log")
            # zero-count channels would stretch the axis over tens of decades
            top = max(np.nanmax(line.get_ydata()) for line in ax.lines)
            ax.set_ylim(bottom=1e-4 * top)
        ax.set_title(_phase_title(state, j, shares), fontsize=10)
        ax.set_ylabel("counts / channel")
        ax.set_xlim(e_min, e_max)
    for ax in axes.flat[len(idx) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("Energy (keV)")
    axes.flat[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def plot_abundance_maps(
    s,
    phases=None,
    *,
    cmap: str = "viridis",
    ncols: int | None = None,
    vmin: float = 0.0,
    vmax: float | None = None,
    figsize: tuple[float, float] | None = None,
):
    """Plot the abundance map of each phase (H, between 0 and 1; pixels sum to one).

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal or esmpy_hs.results.EsmpyResults
    phases : list of int, optional
        Phases to plot (default: all).
    cmap : str
        Matplotlib colormap.
    ncols : int, optional
        Columns of the panel grid (default up to 4).
    vmin : float
        Lower colour limit.
    vmax : float, optional
        Upper colour limit; default: each map's own maximum (abundances are fractions, so
        ``vmax=1`` puts all maps on one scale).
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    state = get_state(s)
    idx = _phase_indices(phases, state.n_components)
    shares = _element_shares(state)
    nrows, ncols = _grid(len(idx), ncols)
    if figsize is None:
        figsize = (3.4 * ncols, 3.1 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    maps = state.loadings.T.reshape((state.n_components, *state.nav_shape))
    for n, j in enumerate(idx):
        ax = axes.flat[n]
        m = maps[j]
        top = vmax if vmax is not None else max(float(np.nanmax(m)), vmin + 1e-6)
        if m.ndim == 1:
            ax.plot(m)
            ax.set_ylim(vmin, top)
            ax.set_xlabel("position (pixel)")
            ax.set_ylabel("abundance")
        else:
            image = m.reshape(m.shape[-2], -1) if m.ndim > 2 else m
            im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=top, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        ax.set_title(_phase_title(state, j, shares), fontsize=10)
    for ax in axes.flat[len(idx) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_phase_compositions(
    s,
    phases=None,
    *,
    units: str = "atomic",
    errorbars: bool = True,
    figsize: tuple[float, float] | None = None,
):
    """Bar chart of each phase's composition (one group of bars per element).

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal or esmpy_hs.results.EsmpyResults
    phases : list of int, optional
        Phases to show (default: all).
    units : {"atomic", "weight"}
    errorbars : bool
        Draw the 1σ Poisson uncertainties.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from esmpy_hs.quantification import get_phase_compositions

    if units not in ("atomic", "weight"):
        raise ValueError(f"units={units!r}: use 'atomic' or 'weight'.")
    comp = get_phase_compositions(s, phases=phases)
    values = comp.atomic_percent if units == "atomic" else comp.weight_percent
    stds = comp.atomic_percent_std if units == "atomic" else comp.weight_percent_std
    n_el, k = values.shape
    if figsize is None:
        figsize = (max(4.0, 0.9 * n_el * max(1, k) ** 0.5 + 2), 3.6)
    fig, ax = plt.subplots(figsize=figsize)
    width = 0.8 / k
    x = np.arange(n_el)
    for j in range(k):
        ax.bar(
            x + (j - (k - 1) / 2) * width,
            np.nan_to_num(values[:, j]),
            width,
            yerr=np.nan_to_num(stds[:, j]) if errorbars else None,
            capsize=2,
            label=comp.phases[j],
        )
    ax.set_xticks(x, comp.elements)
    ax.set_ylabel("atomic %" if units == "atomic" else "weight %")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    title = "esmpy phase compositions"
    if comp.ignored_elements:
        title += f" (not quantified: {', '.join(comp.ignored_elements)})"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
