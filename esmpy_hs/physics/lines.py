"""Characteristic X-ray lines: vacancy cascade and emission cross sections (xraylib data).

For an element Z and a beam energy E0, the direct ionization cross sections σ(S) of the
sub-shells S = K, L1–L3, M1–M5 (Bote–Salvat, :mod:`esmpy_hs.physics.cross_sections`) are turned
into effective vacancy numbers n(S) by following, from the most bound shell outwards, every way a
vacancy moves to a less bound shell among these nine:

* radiative transitions S→X (the hole moves to X): ω_S·RR(S→X);
* Auger transitions S→XY (holes in X and Y): a_S·Σ AugerRate(S→XY)·(number of holes in X);
* Coster–Kronig transitions within a shell (L1→L2, L1→L3, L2→L3, M_i→M_j): f_ij.

The emission cross section of line S→X is σ_line = n(S)·ω_S·RR(S→X) (cm² per atom per
electron). The outer-shell hole left by a Coster–Kronig electron is not followed (it lies in a
shell above the ones modelled, or its effect on M emission is below the data's accuracy).

Data limits (xraylib 4.3): K lines from B (Z = 5); no lines for H–Be; M lines from Cd (Z = 48),
but the M5 fluorescence yield only from Ce (Z = 58) and Mα (M5N6,7) only from Gd (Z = 64), so the
Mα of e.g. Sn, Ba, La is not modelled (their L lines are).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import xraylib

from esmpy_hs.physics.bote_salvat import SUBSHELLS
from esmpy_hs.physics.cross_sections import ionization_cross_section

__all__ = [
    "Line",
    "emission_lines",
    "family_cross_sections",
    "siegbahn_name",
    "vacancy_numbers",
]

_SHELL_INDEX = {name: i for i, name in enumerate(SUBSHELLS)}

# IUPAC line (initial + final level) -> HyperSpy/Siegbahn family name. Lines without an entry keep
# their IUPAC name (as HyperSpy does for e.g. "M2N4", "M3O4").
_SIEGBAHN: dict[str, str] = {
    "L3M5": "La", "L3M4": "La",
    "L2M4": "Lb1", "L3N5": "Lb2", "L3N4": "Lb2", "L1M3": "Lb3", "L1M2": "Lb4",
    "L3O4": "Lb5", "L3O5": "Lb5", "L3O45": "Lb5", "L3N1": "Lb6", "L2M3": "Lb17",
    "L2N4": "Lg1", "L1N2": "Lg2", "L1N3": "Lg3", "L1O2": "Lg4", "L1O3": "Lg4",
    "L2N1": "Lg5", "L2O4": "Lg6",
    "L3M1": "Ll", "L2M1": "Ln", "L3M2": "Lt", "L3M3": "Ls",
    "M5N7": "Ma", "M5N6": "Ma", "M4N6": "Mb", "M3N5": "Mg", "M5N3": "Mz", "M4N2": "Mz",
}  # fmt: skip

_LINE_RE = re.compile(r"^(K|L[1-3]|M[1-5])([K-Q]\d+)_LINE$")
_AUGER_RE = re.compile(r"^(K|L[1-3]|M[1-5])_([K-Q]\d)([K-Q]\d)_AUGER$")
# Coster–Kronig transitions (from, to) -> xraylib macro name
_CK = {
    (1, 2): "FL12_TRANS", (1, 3): "FL13_TRANS", (2, 3): "FL23_TRANS",
    (4, 5): "FM12_TRANS", (4, 6): "FM13_TRANS", (4, 7): "FM14_TRANS", (4, 8): "FM15_TRANS",
    (5, 6): "FM23_TRANS", (5, 7): "FM24_TRANS", (5, 8): "FM25_TRANS",
    (6, 7): "FM34_TRANS", (6, 8): "FM35_TRANS", (7, 8): "FM45_TRANS",
}  # fmt: skip


def siegbahn_name(iupac: str) -> str:
    """HyperSpy (Siegbahn) family name of an IUPAC line, e.g. ``"KL3"`` → ``"Ka"``.

    K lines map to ``"Ka"`` (KL*) or ``"Kb"`` (all other K lines); L and M lines to the usual
    names (``"La"``, ``"Lb1"``, …, ``"Ma"``, ``"Mb"``, ``"Mg"``, ``"Mz"``); lines without a
    common Siegbahn name keep their IUPAC name.
    """
    if iupac.startswith("KL"):
        return "Ka"
    if iupac.startswith("K"):
        return "Kb"
    return _SIEGBAHN.get(iupac, iupac)


@dataclass(frozen=True)
class Line:
    """One characteristic line of one element, as used in a model's G matrix.

    Attributes
    ----------
    element : str
        Chemical symbol.
    iupac : str
        IUPAC transition, e.g. ``"KL3"``, ``"L3M5"``.
    siegbahn : str
        HyperSpy/Siegbahn family label, e.g. ``"Ka"``, ``"La"`` (IUPAC name if none).
    energy_keV : float
        Line energy, keV.
    cross_section_cm2 : float
        Emission cross section n(S)·ω_S·RR(S→X), cm² per atom per beam electron.
    efficiency : float
        Detector efficiency at the line energy (1 before a detector is applied).
    absorption : float
        Sample absorption factor at the line energy (1 before a sample is applied).
    weight : float
        Area of the line in the element column of G before the common scale factor:
        ``cross_section_cm2 * efficiency * absorption``.
    """

    element: str
    iupac: str
    siegbahn: str
    energy_keV: float
    cross_section_cm2: float
    efficiency: float = 1.0
    absorption: float = 1.0
    weight: float = 0.0

    def with_factors(self, efficiency: float, absorption: float) -> Line:
        """Copy with detector efficiency and absorption set (and the weight updated)."""
        return replace(
            self,
            efficiency=float(efficiency),
            absorption=float(absorption),
            weight=float(self.cross_section_cm2 * efficiency * absorption),
        )


def _try(func, *args) -> float:
    try:
        return float(func(*args))
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class _AtomData:
    lines: tuple[tuple[str, int, int, float, float], ...]  # iupac, shell, final, energy, rate
    fluor: np.ndarray  # ω per shell (9,)
    transfer: np.ndarray  # (9, 9): holes moved from shell i to shell j per vacancy in i


@lru_cache(maxsize=128)
def _atom_data(Z: int) -> _AtomData:
    fluor = np.array([_try(xraylib.FluorYield, Z, s) for s in range(9)])
    auger = np.array([_try(xraylib.AugerYield, Z, s) for s in range(9)])
    transfer = np.zeros((9, 9))

    lines = []
    combined = []
    for name in dir(xraylib):
        m = _LINE_RE.match(name)
        if m is None or getattr(xraylib, name) >= 0:
            continue
        macro = getattr(xraylib, name)
        rate = _try(xraylib.RadRate, Z, macro)
        if rate <= 0:
            continue
        energy = _try(xraylib.LineEnergy, Z, macro)
        if energy <= 0:
            continue
        initial, final = m.group(1), m.group(2)
        item = (initial + final, _SHELL_INDEX[initial], _SHELL_INDEX.get(final, -1), energy, rate)
        (combined if len(final) > 2 else lines).append(item)
    names = {it[0] for it in lines}
    for it in combined:  # e.g. L3O45: keep only when L3O4/L3O5 are not given separately
        base, digits = it[0][:-2], it[0][-2:]
        if not any(base + d in names for d in digits):
            lines.append(it)
    for _name, s, f, _e, rate in lines:
        if f > s:
            transfer[s, f] += fluor[s] * rate

    for name in dir(xraylib):
        m = _AUGER_RE.match(name)
        if m is None:
            continue
        rate = _try(xraylib.AugerRate, Z, getattr(xraylib, name))
        if rate <= 0:
            continue
        s = _SHELL_INDEX[m.group(1)]
        for hole in (m.group(2), m.group(3)):
            f = _SHELL_INDEX.get(hole, -1)
            if f > s:
                transfer[s, f] += auger[s] * rate
    for (i, j), macro in _CK.items():
        transfer[i, j] += _try(xraylib.CosKronTransProb, Z, getattr(xraylib, macro))
    lines.sort(key=lambda it: (it[1], -it[4]))
    return _AtomData(lines=tuple(lines), fluor=fluor, transfer=transfer)


def vacancy_numbers(Z: int, beam_energy_keV: float, cascade: bool = True) -> np.ndarray:
    """Effective vacancy production cross sections n(S) (cm²) of K, L1–L3, M1–M5.

    Parameters
    ----------
    Z : int
        Atomic number (1–99).
    beam_energy_keV : float
        Beam energy, keV.
    cascade : bool
        Add vacancies transferred from more bound shells (radiative, Auger, Coster–Kronig).
        With False, n(S) is the direct ionization cross section.

    Returns
    -------
    ndarray
        (9,) in the order of ``SUBSHELLS``.
    """
    n = np.array([ionization_cross_section(Z, s, beam_energy_keV) for s in SUBSHELLS])
    if cascade:
        t = _atom_data(int(Z)).transfer
        for i in range(9):
            if n[i] > 0:
                n[i + 1 :] += n[i] * t[i, i + 1 :]
    return n


@lru_cache(maxsize=4096)
def _emission(Z: int, beam_energy_keV: float, cascade: bool) -> tuple[tuple, ...]:
    data = _atom_data(Z)
    n = vacancy_numbers(Z, beam_energy_keV, cascade)
    return tuple(
        (name, e, float(n[s] * data.fluor[s] * rate))
        for name, s, _f, e, rate in data.lines
        if n[s] > 0 and data.fluor[s] > 0
    )


def emission_lines(
    element: str | int, beam_energy_keV: float, *, cascade: bool = True
) -> list[Line]:
    """Every K, L and M line of an element with its emission cross section at ``beam_energy_keV``.

    Parameters
    ----------
    element : str or int
        Symbol or atomic number.
    beam_energy_keV : float
        Beam energy, keV (inside the cross-section table, 1–1000 keV).
    cascade : bool
        Include the vacancy cascade (default) or use direct ionization only.

    Returns
    -------
    list of Line
        Lines with non-zero emission cross section (efficiency = absorption = 1, weight = σ),
        ordered by initial shell then decreasing rate. Empty for elements without K/L/M lines in
        xraylib (H, He, Li, Be) or without an ionizable shell at this beam energy.
    """
    from esmpy_hs.physics.elements import atomic_number, element_symbol

    z = atomic_number(element)
    sym = element_symbol(z)
    if z > 99:
        raise ValueError(f"{sym} (Z={z}) is beyond the Bote–Salvat cross sections (Z = 1–99)")
    return [
        Line(sym, name, siegbahn_name(name), e, sigma, 1.0, 1.0, sigma)
        for name, e, sigma in _emission(z, float(beam_energy_keV), bool(cascade))
    ]


def family_cross_sections(
    element: str | int, beam_energy_keV: float, *, cascade: bool = True
) -> dict[str, float]:
    """Emission cross sections (cm²) summed per Siegbahn family (``"Ka"``, ``"La"``, …)."""
    out: dict[str, float] = {}
    for line in emission_lines(element, beam_energy_keV, cascade=cascade):
        out[line.siegbahn] = out.get(line.siegbahn, 0.0) + line.cross_section_cm2
    return out
