"""HyperSpy signal classes of esmpy-hs."""

from esmpy_hs.signals.eds_tem import EsmpyEDSTEMSpectrum
from esmpy_hs.signals.lazy_eds_tem import LazyEsmpyEDSTEMSpectrum

__all__ = ["EsmpyEDSTEMSpectrum", "LazyEsmpyEDSTEMSpectrum"]
