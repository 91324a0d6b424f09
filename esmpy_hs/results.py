"""esmpy results: where they are stored, how they are read back, and a standalone export.

:func:`esmpy_hs.decompose` stores its results in ``s.learning_results`` as plain data (so they
round-trip through ``.hspy``):

===============================  ==========================================================
``decomposition_algorithm``      ``"esmpy"``
``factors``                      G·W over the full energy axis (n_channels × k)
``loadings``                     H transposed (n_pixels × k); each row sums to one
``esmpy_W``                      W (n_G × k): element weights and continuum parameters
``esmpy_G``                      G (n_channels × n_G) over the full energy axis
``esmpy_fit_mask``               bool (n_channels,): channels used in the fit
``esmpy_params``                 dict: G labels, elements, ignored elements, estimator
                                 parameters, metadata used (value, source, key), n_iter,
                                 stop reason, esmpy-hs version
===============================  ==========================================================

HyperSpy plans to stop saving ``learning_results``; :func:`export_results` gives the same
content as standalone signals (:class:`EsmpyResults`) that can be saved and loaded on their
own and used by the quantification and plotting functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EsmpyResults", "EsmpyState", "export_results", "get_state", "RESULT_ATTRIBUTES"]

#: learning_results attributes written by esmpy (besides HyperSpy's own).
RESULT_ATTRIBUTES = ("esmpy_W", "esmpy_G", "esmpy_fit_mask", "esmpy_params")

_NO_RESULTS = (
    "No esmpy decomposition results found on this signal. Run "
    "esmpy_hs.decompose(s, n_components) (or s.decomposition(algorithm='esmpy', "
    "output_dimension=k) on an esmpy signal) first."
)


def _to_plain(value: Any) -> Any:
    """Numpy scalars, arrays of strings and tuples -> plain Python (after a .hspy load)."""
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        return [_to_plain(v) for v in value.tolist()]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and value == "_None_":
        return None
    return value


@dataclass
class EsmpyState:
    """Everything downstream code needs from an esmpy decomposition (plain arrays).

    Attributes
    ----------
    W : numpy.ndarray
        (n_G, k).
    G : numpy.ndarray
        (n_channels, n_G), full energy axis.
    loadings : numpy.ndarray
        (n_pixels, k), H transposed (NaN rows for pixels excluded by a navigation mask).
    fit_mask : numpy.ndarray
        bool (n_channels,), True where the channel was used in the fit.
    labels : tuple of str
        Column labels of G (elements, then bremsstrahlung columns).
    elements : tuple of str
        Element symbols modelled in G.
    ignored_elements : tuple of str
        Elements kept in G but excluded from quantification.
    nav_shape : tuple of int
        Navigation shape in array order (e.g. ``(ny, nx)``).
    params : dict
        The stored ``esmpy_params``.
    """

    W: np.ndarray
    G: np.ndarray
    loadings: np.ndarray
    fit_mask: np.ndarray
    labels: tuple[str, ...]
    elements: tuple[str, ...]
    ignored_elements: tuple[str, ...]
    nav_shape: tuple[int, ...]
    params: dict

    @property
    def n_components(self) -> int:
        """Number of phases k."""
        return int(self.W.shape[1])

    @property
    def factors(self) -> np.ndarray:
        """Phase spectra G·W over the full energy axis (n_channels × k)."""
        return self.G @ self.W

    @property
    def quantified_elements(self) -> tuple[str, ...]:
        """Modelled elements minus the ignored ones."""
        return tuple(e for e in self.elements if e not in self.ignored_elements)

    @property
    def energy_axis(self) -> dict:
        """Energy axis used (``offset_keV``, ``scale_keV``, ``size``, ``units``)."""
        return dict(self.params["metadata"]["energy_axis"])

    @property
    def energies_keV(self) -> np.ndarray:
        """Channel energies in keV."""
        ax = self.energy_axis
        return ax["offset_keV"] + ax["scale_keV"] * np.arange(int(ax["size"]))

    def phase_names(self) -> list[str]:
        """``["phase 0", "phase 1", ...]``."""
        return [f"phase {i}" for i in range(self.n_components)]


def _state_from_learning_results(signal) -> EsmpyState:
    lr = getattr(signal, "learning_results", None)
    if lr is None or str(getattr(lr, "decomposition_algorithm", None)) != "esmpy":
        raise ValueError(_NO_RESULTS)
    missing = [name for name in RESULT_ATTRIBUTES if getattr(lr, name, None) is None]
    if missing or lr.loadings is None:
        raise ValueError(
            f"The esmpy results on this signal are incomplete (missing {missing or 'loadings'}); "
            "run the esmpy decomposition again."
        )
    W = np.asarray(lr.esmpy_W, dtype=float)
    loadings = np.asarray(lr.loadings, dtype=float)
    if loadings.shape[1] != W.shape[1]:
        raise ValueError(
            f"learning_results.loadings has {loadings.shape[1]} components but esmpy_W has "
            f"{W.shape[1]}: the results were cropped or changed after the esmpy "
            "decomposition. Run it again."
        )
    G = np.asarray(lr.esmpy_G, dtype=float)
    factors = np.asarray(lr.factors, dtype=float)
    if factors.shape != (G.shape[0], W.shape[1]) or not np.allclose(
        factors, G @ W, rtol=1e-5, atol=1e-12 * max(1.0, float(np.abs(factors).max()))
    ):
        raise ValueError(
            "learning_results.factors no longer equal G·W: the decomposition was rescaled or "
            "changed after the esmpy fit (e.g. normalize_decomposition_components or "
            "reverse_decomposition_component), so W and the loadings do not match. Run the "
            "esmpy decomposition again."
        )
    params = _to_plain(dict(lr.esmpy_params))
    nav_shape = tuple(int(n) for n in signal.axes_manager._navigation_shape_in_array)
    return EsmpyState(
        W=W,
        G=G,
        loadings=loadings,
        fit_mask=np.asarray(lr.esmpy_fit_mask, dtype=bool),
        labels=tuple(params["G_labels"]),
        elements=tuple(params["elements"]),
        ignored_elements=tuple(params.get("ignored_elements") or ()),
        nav_shape=nav_shape,
        params=params,
    )


def get_state(obj) -> EsmpyState:
    """Read the esmpy results from a decomposed signal or an :class:`EsmpyResults`.

    Parameters
    ----------
    obj : hyperspy.signal.BaseSignal or EsmpyResults

    Returns
    -------
    EsmpyState

    Raises
    ------
    ValueError
        If ``obj`` holds no esmpy results.
    """
    if isinstance(obj, EsmpyResults):
        return obj.state()
    return _state_from_learning_results(obj)


# --- standalone export -------------------------------------------------------------------


def _axis_dict(axis, **override) -> dict:
    out = {
        "name": axis.name,
        "units": axis.units,
        "size": int(axis.size),
        "offset": float(axis.offset),
        "scale": float(axis.scale),
    }
    out.update(override)
    return out


def _phase_axis(k: int) -> dict:
    return {"name": "phase", "units": "", "size": int(k), "offset": 0.0, "scale": 1.0}


def _column_axis(n: int) -> dict:
    return {"name": "G column", "units": "", "size": int(n), "offset": 0.0, "scale": 1.0}


@dataclass
class EsmpyResults:
    """esmpy results as standalone HyperSpy signals (no ``learning_results`` needed).

    Attributes
    ----------
    factors : EsmpyEDSTEMSpectrum
        Phase spectra G·W, navigation axis ``phase``, the signal's energy axis.
    loadings : hyperspy.signals.Signal2D
        Abundance maps H, navigation axis ``phase`` (Signal1D for a line scan).
    W : hyperspy.signals.BaseSignal
        (phase | G column); ``W.metadata.Esmpy`` holds ``G_labels``, ``elements``,
        ``ignored_elements``, ``fit_mask`` and ``params``.
    G : hyperspy.signals.Signal1D
        (G column | energy): the simulated element and continuum spectra.

    Examples
    --------
    >>> res = esmpy_hs.export_results(s)          # doctest: +SKIP
    >>> res.save("run1")                           # run1_factors.hspy, ... # doctest: +SKIP
    >>> res = EsmpyResults.load("run1")            # doctest: +SKIP
    >>> print(esmpy_hs.get_phase_compositions(res))  # doctest: +SKIP
    """

    factors: Any
    loadings: Any
    W: Any
    G: Any

    _PARTS = ("factors", "loadings", "W", "G")

    def state(self) -> EsmpyState:
        """The results as plain arrays (see :class:`EsmpyState`)."""
        info = self.W.metadata.Esmpy
        k = int(self.W.data.shape[0])
        loadings = np.asarray(self.loadings.data, dtype=float)
        nav_shape = tuple(int(n) for n in loadings.shape[1:])
        params = _to_plain(info.params.as_dictionary())
        return EsmpyState(
            W=np.asarray(self.W.data, dtype=float).T,
            G=np.asarray(self.G.data, dtype=float).T,
            loadings=loadings.reshape(k, -1).T,
            fit_mask=np.asarray(info.fit_mask, dtype=bool),
            labels=tuple(_to_plain(info.G_labels)),
            elements=tuple(_to_plain(info.elements)),
            ignored_elements=tuple(_to_plain(info.ignored_elements) or ()),
            nav_shape=nav_shape,
            params=params,
        )

    def save(self, basename: str | Path, overwrite: bool | None = None) -> list[Path]:
        """Save each part to ``<basename>_<part>.hspy``.

        Parameters
        ----------
        basename : str or pathlib.Path
            Path prefix; ``_factors``, ``_loadings``, ``_W`` and ``_G`` are appended.
        overwrite : bool, optional
            Passed to HyperSpy's ``save`` (None asks before overwriting).

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        base = Path(basename)
        paths = []
        for part in self._PARTS:
            path = base.with_name(f"{base.name}_{part}.hspy")
            getattr(self, part).save(path, overwrite=overwrite)
            paths.append(path)
        return paths

    @classmethod
    def load(cls, basename: str | Path) -> EsmpyResults:
        """Load results written by :meth:`save`.

        Parameters
        ----------
        basename : str or pathlib.Path
            The prefix given to :meth:`save`.

        Returns
        -------
        EsmpyResults
        """
        import hyperspy.api as hs

        base = Path(basename)
        parts = {}
        for part in cls._PARTS:
            path = base.with_name(f"{base.name}_{part}.hspy")
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: EsmpyResults.load expects the files written by "
                    "EsmpyResults.save(basename)."
                )
            parts[part] = hs.load(path)
        return cls(**parts)

    def to_dict(self) -> dict:
        """``{"factors": ..., "loadings": ..., "W": ..., "G": ...}``."""
        return {part: getattr(self, part) for part in self._PARTS}


def export_results(s) -> EsmpyResults:
    """Export the esmpy decomposition of ``s`` as standalone signals.

    The signals are copies: they stay valid when ``s.learning_results`` changes or is not
    saved.

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal
        A signal decomposed with :func:`esmpy_hs.decompose`.

    Returns
    -------
    EsmpyResults
        ``factors`` (esmpy spectrum class), ``loadings`` (Signal2D stack), ``W`` (BaseSignal,
        labels in ``W.metadata.Esmpy.G_labels``), ``G``.

    Raises
    ------
    ValueError
        If ``s`` holds no esmpy results.
    """
    from hyperspy.signals import BaseSignal, Signal1D, Signal2D

    from esmpy_hs.signals import EsmpyEDSTEMSpectrum

    state = _state_from_learning_results(s)
    k = state.n_components
    am = s.axes_manager
    energy_axis = _axis_dict(am.signal_axes[0])
    title = s.metadata.get_item("General.title", "") or "spectrum image"

    # factors: EDS spectra, one per phase, with the microscope metadata of the source
    factors = EsmpyEDSTEMSpectrum(
        np.ascontiguousarray(state.factors.T),
        axes=[_phase_axis(k), energy_axis],
    )
    for node in ("Acquisition_instrument", "Sample"):
        if s.metadata.has_item(node):
            factors.metadata.set_item(node, s.metadata.get_item(node).deepcopy())
    factors.metadata.General.title = f"esmpy phase spectra of {title}"

    # loadings: one abundance map per phase
    nav_axes = list(am.navigation_axes)[::-1]  # array order
    maps = state.loadings.T.reshape((k, *state.nav_shape))
    axes = [_phase_axis(k)] + [_axis_dict(ax) for ax in nav_axes]
    if len(nav_axes) == 2:
        loadings = Signal2D(maps, axes=axes)
    elif len(nav_axes) == 1:
        loadings = Signal1D(maps, axes=axes)
    else:
        loadings = BaseSignal(maps, axes=axes).transpose(navigation_axes=[-1])
    loadings.metadata.General.title = f"esmpy abundance maps of {title}"

    # W: (phase | G column) with labels and everything needed to quantify
    W = BaseSignal(
        np.ascontiguousarray(state.W.T), axes=[_phase_axis(k), _column_axis(len(state.labels))]
    ).transpose(signal_axes=1)
    W.metadata.General.title = f"esmpy W of {title}"
    W.metadata.set_item("Esmpy.G_labels", list(state.labels))
    W.metadata.set_item("Esmpy.elements", list(state.elements))
    W.metadata.set_item("Esmpy.ignored_elements", list(state.ignored_elements))
    W.metadata.set_item("Esmpy.fit_mask", state.fit_mask.copy())
    W.metadata.set_item("Esmpy.params", state.params)

    G = Signal1D(
        np.ascontiguousarray(state.G.T), axes=[_column_axis(len(state.labels)), energy_axis]
    )
    G.metadata.General.title = f"esmpy G of {title}"
    G.metadata.set_item("Esmpy.G_labels", list(state.labels))
    return EsmpyResults(factors=factors, loadings=loadings, W=W, G=G)
