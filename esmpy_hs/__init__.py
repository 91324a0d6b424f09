"""esmpy-hs: physics-guided Poisson NMF for STEM-EDX spectrum images in HyperSpy.

Importing this package is cheap: the physics, the estimator and the HyperSpy glue are
loaded on first use of the names listed in ``__all__``.
"""

from __future__ import annotations

import importlib
from typing import Any

from esmpy_hs._version import __version__

# public name -> module that defines it (imported on first access)
_LAZY = {
    "EsmpyEDSTEMSpectrum": "esmpy_hs.signals",
    "LazyEsmpyEDSTEMSpectrum": "esmpy_hs.signals",
    "EsmpyNMF": "esmpy_hs.nmf",
    "EDXSModel": "esmpy_hs.physics",
    "decompose": "esmpy_hs.decomposition",
    "get_phase_compositions": "esmpy_hs.quantification",
    "export_results": "esmpy_hs.results",
    "decomposition_gui": "esmpy_hs.gui",
    "lazy_options": "esmpy_hs.lazy_decompose",
    "datasets": "esmpy_hs.datasets",
    "metrics": "esmpy_hs.metrics",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'esmpy_hs' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
