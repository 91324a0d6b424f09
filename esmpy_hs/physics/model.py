"""The EDX forward model: microscope + detector + sample + energy axis → G with column labels."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import DTypeLike, NDArray

from esmpy_hs.physics.axis import EnergyAxis
from esmpy_hs.physics.bremsstrahlung import bremsstrahlung_basis
from esmpy_hs.physics.cross_sections import cross_section_table
from esmpy_hs.physics.detector import Detector, gaussian_channel_integrals
from esmpy_hs.physics.elements import element_symbol
from esmpy_hs.physics.lines import Line, emission_lines
from esmpy_hs.physics.sample import Sample

__all__ = ["BREMSSTRAHLUNG_LABELS", "EDXSModel"]

#: Labels of the two bremsstrahlung columns.
BREMSSTRAHLUNG_LABELS = ("bremsstrahlung_0", "bremsstrahlung_1")


def _check_line_factors(
    factors: Mapping[str, float] | None, elements: list[str]
) -> dict[str, float]:
    """Validate ``line_factors`` keys (``"Fe_La"``, ``"Fe_L"``, ``"Fe_L3M5"``) and values."""
    if not factors:
        return {}
    out: dict[str, float] = {}
    for key, value in factors.items():
        sym, sep, name = str(key).partition("_")
        if not sep or not name:
            raise ValueError(
                f"line_factors key {key!r} must look like 'Fe_La', 'Fe_L' or 'Fe_L3M5'"
            )
        sym = element_symbol(sym)
        if sym not in elements:
            raise ValueError(f"line_factors key {key!r}: {sym} is not among the elements")
        v = float(value)
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"line_factors[{key!r}] must be finite and >= 0, got {value!r}")
        out[f"{sym}_{name}"] = v
    return out


def _apply_factors(lines: list[Line], factors: dict[str, float]) -> list[Line]:
    """Scale the emission cross sections of the lines matched by ``factors``."""
    if not factors:
        return lines
    out = []
    for ln in lines:
        f = 1.0
        for name in {ln.siegbahn, ln.iupac, ln.iupac[0]}:
            f *= factors.get(f"{ln.element}_{name}", 1.0)
        if f != 1.0:
            sigma = ln.cross_section_cm2 * f
            ln = replace(ln, cross_section_cm2=sigma, weight=sigma * ln.efficiency * ln.absorption)
        out.append(ln)
    return out


class EDXSModel:
    """Simulated pure-element EDX spectra and bremsstrahlung basis: the G matrix of esmpy.

    Column ``j`` of G for element X is Σ_lines σ_line·ε(E_line)·A(E_line)·g(E; E_line) with g a
    unit-area Gaussian integrated over each channel (σ_line from Bote–Salvat ionization and the
    vacancy cascade, ε the detector efficiency, A the thin-film absorption in the sample's
    composition), times one scale factor common to all element columns, so that the element
    rows of W stay proportional to numbers of atoms. The two bremsstrahlung columns
    (:mod:`~esmpy_hs.physics.bremsstrahlung`) carry the same ε·A and are scaled on their own.

    Parameters
    ----------
    beam_energy : float
        Beam energy E0, keV (> 0, inside the cross-section table, 1–1000 keV).
    energy_axis : EnergyAxis
        Spectrum energy axis (eV or keV).
    elements : sequence of str or int
        Elements (symbols in any case, or atomic numbers), one column each, order kept.
    detector : Detector, optional
        Detector model (default ``Detector()``: 130 eV at Mn Kα, windowless SDD).
    sample : Sample, optional
        Sample model (default ``Sample()``: no absorption). Without ``sample.composition``
        the absorbing matrix has equal atomic fractions of all requested elements (dropped
        ones included: they are in the sample even if they have no line on the axis).
    low_cut : float
        Channels with E ≤ ``low_cut`` (keV) are excluded: their rows of G are 0 and
        ``fit_mask`` is False there. Also the lowest energy at which a line is kept.
    bremsstrahlung : bool
        Append the two bremsstrahlung columns.
    line_threshold : float
        Lines whose emission cross section is below ``line_threshold`` times the element's
        strongest line are neglected.
    cascade : bool
        Include the vacancy cascade (Coster–Kronig, radiative and Auger transfer).
    line_factors : mapping, optional
        Multiplicative corrections of emission cross sections, e.g. from measured k-factors:
        keys ``"<element>_<family>"`` with a HyperSpy family name (``"Fe_La"``, ``"Fe_Ka"``) or
        an IUPAC line (``"Fe_L3M5"``), or ``"<element>_<series>"`` for a whole series
        (``"Fe_L"``, ``"Au_M"``). A line matched by several keys gets the product of their
        factors. The factors are applied to :attr:`Line.cross_section_cm2`.

    Attributes
    ----------
    elements : list of str
        Symbols of the element columns, in column order (dropped elements removed).
    dropped_elements : list of str
        Requested elements without any line between ``low_cut`` and min(axis end, E0) (their
        column is dropped with a warning).
    lines : dict of str to list of Line
        Lines of each element column, with efficiency, absorption and weight (area before the
        common scale factor).
    labels : list of str
        Column labels: element symbols, then ``"bremsstrahlung_0"``, ``"bremsstrahlung_1"``.

    Raises
    ------
    ValueError
        Unknown element, element given twice, beam energy ≤ 0 or outside the table, empty
        axis, no element left after dropping.
    """

    def __init__(
        self,
        beam_energy: float,
        energy_axis: EnergyAxis,
        elements: Sequence[str | int],
        detector: Detector | None = None,
        sample: Sample | None = None,
        low_cut: float = 0.15,
        bremsstrahlung: bool = True,
        line_threshold: float = 1e-4,
        cascade: bool = True,
        line_factors: Mapping[str, float] | None = None,
    ) -> None:
        e0 = float(beam_energy)
        if not np.isfinite(e0) or e0 <= 0:
            raise ValueError(f"beam_energy must be > 0 keV, got {beam_energy!r}")
        lo, hi = cross_section_table().energy_range_keV
        if not lo <= e0 <= hi:
            raise ValueError(
                f"beam_energy={e0} keV is outside the cross-section table ({lo:g}–{hi:g} keV)"
            )
        if not isinstance(energy_axis, EnergyAxis):
            raise TypeError(
                f"energy_axis must be an EnergyAxis(offset, scale, size, units), got "
                f"{type(energy_axis).__name__}"
            )
        if isinstance(elements, (str, int)):
            elements = [elements]
        requested = [element_symbol(e) for e in elements]
        if not requested:
            raise ValueError("no elements given; pass e.g. elements=['Fe', 'O']")
        dupes = sorted({s for s in requested if requested.count(s) > 1})
        if dupes:
            raise ValueError(f"element(s) given more than once: {', '.join(dupes)}")
        detector = Detector() if detector is None else detector
        sample = Sample() if sample is None else sample
        if not isinstance(detector, Detector):
            raise TypeError(f"detector must be a Detector, got {type(detector).__name__}")
        if not isinstance(sample, Sample):
            raise TypeError(f"sample must be a Sample, got {type(sample).__name__}")
        low_cut = float(low_cut)
        if not np.isfinite(low_cut) or low_cut < 0:
            raise ValueError(f"low_cut must be >= 0 keV, got {low_cut!r}")
        if not 0 <= line_threshold < 1:
            raise ValueError(f"line_threshold must be in [0, 1), got {line_threshold!r}")

        self.beam_energy = e0
        self.energy_axis = energy_axis
        self.detector = detector
        self.sample = sample
        self.low_cut = low_cut
        self.bremsstrahlung = bool(bremsstrahlung)
        self.line_threshold = float(line_threshold)
        self.cascade = bool(cascade)
        self.line_factors = _check_line_factors(line_factors, requested)
        self.requested_elements = requested

        energies = energy_axis.energies
        edges = energy_axis.edges
        self.energies: NDArray[np.float64] = energies
        self.fit_mask: NDArray[np.bool_] = (energies > low_cut) & (energies < e0)
        e_min = max(float(edges[0]), low_cut)
        e_max = min(float(edges[-1]), e0)

        self.lines: dict[str, list[Line]] = {}
        self.dropped_elements: list[str] = []
        candidate: dict[str, list[Line]] = {}
        for sym in requested:
            all_lines = _apply_factors(
                emission_lines(sym, e0, cascade=self.cascade), self.line_factors
            )
            strongest = max((ln.cross_section_cm2 for ln in all_lines), default=0.0)
            keep = [
                ln
                for ln in all_lines
                if e_min <= ln.energy_keV <= e_max
                and ln.cross_section_cm2 > self.line_threshold * strongest
            ]
            if keep:
                candidate[sym] = keep
            else:
                self.dropped_elements.append(sym)
        if self.dropped_elements:
            warnings.warn(
                f"no X-ray line of {', '.join(self.dropped_elements)} between {e_min:g} and "
                f"{e_max:g} keV (energy axis above low_cut={low_cut:g} keV, below the beam "
                f"energy {e0:g} keV): column(s) dropped from G",
                UserWarning,
                stacklevel=2,
            )
        if not candidate:
            raise ValueError(
                f"none of the elements {requested} has an X-ray line between {e_min:g} and "
                f"{e_max:g} keV; check the energy axis, low_cut and beam energy"
            )
        self.elements: list[str] = list(candidate)
        # absorbing matrix: the user's composition, else equal fractions of all requested
        # elements (dropped ones are still in the sample)
        for sym, keep in candidate.items():
            e_lines = np.array([ln.energy_keV for ln in keep])
            eff = detector.efficiency(e_lines)
            absorb = sample.absorption(e_lines, requested)
            self.lines[sym] = [
                ln.with_factors(float(f), float(a))
                for ln, f, a in zip(keep, eff, absorb, strict=True)
            ]
        self.labels: list[str] = list(self.elements) + (
            list(BREMSSTRAHLUNG_LABELS) if self.bremsstrahlung else []
        )
        self._raw: NDArray[np.float64] | None = None
        self._scale: dict[str, float] | None = None

    # ------------------------------------------------------------------------------------------
    @property
    def n_elements(self) -> int:
        """Number of element columns."""
        return len(self.elements)

    @property
    def n_columns(self) -> int:
        """Number of columns of G."""
        return len(self.labels)

    @property
    def n_channels(self) -> int:
        """Number of channels (rows of G)."""
        return self.energy_axis.size

    def _compute(self) -> None:
        """Raw (unscaled) columns and scale factors; computed once."""
        if self._raw is not None:
            return
        axis = self.energy_axis
        n_ch = axis.size
        raw = np.zeros((n_ch, self.n_columns))
        all_lines = [ln for sym in self.elements for ln in self.lines[sym]]
        centers = np.array([ln.energy_keV for ln in all_lines])
        weights = np.array([ln.weight for ln in all_lines])
        col = np.repeat(np.arange(self.n_elements), [len(self.lines[s]) for s in self.elements])
        peaks = gaussian_channel_integrals(centers, self.detector.fwhm(centers), axis.edges)
        assign = np.zeros((len(all_lines), self.n_elements))
        assign[np.arange(len(all_lines)), col] = weights
        raw[:, : self.n_elements] = peaks.T @ assign
        mask = self.fit_mask
        if self.bremsstrahlung and np.any(mask):
            e = self.energies[mask]
            factor = self.detector.efficiency(e) * self.sample.absorption(
                e, self.requested_elements
            )
            basis = bremsstrahlung_basis(e, self.beam_energy)
            raw[mask, self.n_elements :] = (basis * factor).T
        raw[~mask] = 0.0
        scale = {}
        sums = raw.sum(axis=0)
        el_mean = float(np.mean(sums[: self.n_elements]))
        scale["elements"] = 1.0 / el_mean if el_mean > 0 else 1.0
        if self.bremsstrahlung:
            for j, label in enumerate(BREMSSTRAHLUNG_LABELS):
                s = float(sums[self.n_elements + j])
                scale[label] = 1.0 / s if s > 0 else 1.0
        self._raw = raw
        self._scale = scale

    @property
    def scale_factors(self) -> dict[str, float]:
        """Factors applied to the raw columns to form G.

        ``"elements"``: one factor for all element columns (1 / mean of their sums over the
        channels); ``"bremsstrahlung_0"``, ``"bremsstrahlung_1"``: 1 / the column's sum. The raw
        element columns are in cm² per atom per electron per channel (detector efficiency and
        absorption included), so ``G[:, j] / scale_factors["elements"]`` is physical.
        """
        self._compute()
        return dict(self._scale)

    def _column_scales(self) -> NDArray[np.float64]:
        s = self.scale_factors
        return np.array(
            [s["elements"]] * self.n_elements
            + ([s[k] for k in BREMSSTRAHLUNG_LABELS] if self.bremsstrahlung else [])
        )

    def build_G(self, dtype: DTypeLike = np.float64) -> NDArray:
        """The G matrix.

        Parameters
        ----------
        dtype : dtype
            Floating dtype of the result (float32 or float64).

        Returns
        -------
        ndarray
            (n_channels, n_columns), columns in the order of :attr:`labels`; rows of channels
            outside :attr:`fit_mask` (E ≤ low_cut or E ≥ E0) are 0. A new array on each call.
        """
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"dtype must be a floating type, got {dt}")
        self._compute()
        return (self._raw * self._column_scales()).astype(dt)

    def column(self, label: str, *, scaled: bool = True) -> NDArray[np.float64]:
        """One column of G by label (float64); ``scaled=False`` gives the raw column."""
        if label not in self.labels:
            raise ValueError(f"no column {label!r}; columns are {self.labels}")
        self._compute()
        j = self.labels.index(label)
        col = self._raw[:, j].copy()
        return col * self._column_scales()[j] if scaled else col

    def element_column(self, element: str | int, *, scaled: bool = True) -> NDArray[np.float64]:
        """The column of one element (n_channels,), float64.

        Parameters
        ----------
        element : str or int
            Symbol or atomic number of a modelled element.
        scaled : bool
            True (default): exactly the column of :meth:`build_G` (common scale applied).
            False: raw column in cm² per atom per electron per channel (σ·ε·A·peak shape).
        """
        sym = element_symbol(element)
        if sym not in self.elements:
            raise ValueError(f"{sym} is not an element column of this model ({self.elements})")
        return self.column(sym, scaled=scaled)

    def as_dict(self) -> dict:
        """The model's parameters as plain Python values (for metadata / saved results)."""
        return {
            "beam_energy": self.beam_energy,
            "energy_axis": self.energy_axis.as_dict(),
            "elements": list(self.elements),
            "requested_elements": list(self.requested_elements),
            "dropped_elements": list(self.dropped_elements),
            "detector": self.detector.as_dict(),
            "sample": self.sample.as_dict(self.requested_elements),
            "low_cut": self.low_cut,
            "bremsstrahlung": self.bremsstrahlung,
            "line_threshold": self.line_threshold,
            "cascade": self.cascade,
            "line_factors": dict(self.line_factors),
            "labels": list(self.labels),
            "scale_factors": self.scale_factors,
        }

    def __repr__(self) -> str:
        return (
            f"EDXSModel(beam_energy={self.beam_energy:g} keV, elements={self.elements}, "
            f"channels={self.n_channels}, columns={self.n_columns})"
        )
