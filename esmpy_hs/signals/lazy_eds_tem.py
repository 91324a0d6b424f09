"""Lazy (dask-backed) variant of :class:`~esmpy_hs.signals.EsmpyEDSTEMSpectrum`."""

from __future__ import annotations

from exspy.signals import LazyEDSTEMSpectrum

from esmpy_hs.signals.eds_tem import EsmpyEDSTEMSpectrum

__all__ = ["LazyEsmpyEDSTEMSpectrum"]


class LazyEsmpyEDSTEMSpectrum(EsmpyEDSTEMSpectrum, LazyEDSTEMSpectrum):
    """Lazy STEM-EDX spectrum image with the esmpy decomposition.

    Everything documented for :class:`~esmpy_hs.signals.EsmpyEDSTEMSpectrum` applies; the
    data stay in a dask array until computed. The method resolution order places this
    class's eager parent before exspy's lazy EDS classes, so ``decomposition`` for any
    algorithm other than ``"esmpy"`` reaches HyperSpy's lazy decomposition.
    """
