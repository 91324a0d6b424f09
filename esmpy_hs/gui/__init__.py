"""Graphical user interfaces of esmpy-hs (optional extras).

:func:`decomposition_gui` opens a form that sets up and runs the esmpy decomposition of an
EDS spectrum image in Jupyter (``pip install "esmpy-hs[gui-jupyter]"``). The form is
registered the HyperSpy way: the toolkey ``"esmpy_hs.decomposition"`` and its ipywidgets
implementation are declared in esmpy-hs's ``hyperspy_extension.yaml``.

Importing this package imports no widget toolkit.
"""

from __future__ import annotations

from typing import Any

__all__ = ["decomposition_gui", "GUI_JUPYTER_INSTALL"]

#: install command shown when ipywidgets is missing
GUI_JUPYTER_INSTALL = 'pip install "esmpy-hs[gui-jupyter]"'


def decomposition_gui(s, display: bool = True, toolkit: Any = None) -> dict | None:
    """Form to set up and run the esmpy decomposition of an EDS spectrum image.

    The form is pre-filled from the signal's metadata (elements, beam energy, resolution at
    Mn Kα, take-off angle, thickness, density) and from the estimator's defaults, and marks
    which values are defaults rather than metadata. It validates the input (unknown element
    symbols, missing beam energy, ...) with messages in the form; **Run** calls
    :func:`esmpy_hs.decompose.decompose` with a progress bar and shows the phase compositions,
    the abundance maps and the phase spectra; **Store** writes the edited sample and
    microscope values into the metadata.

    Works for any EDS signal (exspy's ``EDSTEMSpectrum`` or
    :class:`~esmpy_hs.signals.EsmpyEDSTEMSpectrum`, whose ``s.decomposition_gui()`` calls
    this function).

    Parameters
    ----------
    s : hyperspy.signal.BaseSignal
        EDS spectrum image.
    display : bool
        If True, display the form (in a notebook) and return None. If False, return the
        widgets instead (for customisation or tests).
    toolkit : str, iterable of str or None
        HyperSpy GUI toolkit(s); only ``"ipywidgets"`` is implemented. None: the toolkits
        enabled in ``hs.preferences.GUIs``.

    Returns
    -------
    dict or None
        With ``display=False``, ``{"ipywidgets": {"widget": <VBox>, "wdict": {...},
        "ui": <EsmpyDecompositionUI>}}`` (HyperSpy's convention); ``wdict`` holds the field
        widgets by trait name and ``"run_button"``, ``"store_button"``, ``"progress"``,
        ``"messages"``, ``"status"`` and ``"output"``.

    Raises
    ------
    ImportError
        If ipywidgets is not installed (install it with
        ``pip install "esmpy-hs[gui-jupyter]"``).
    TypeError
        If ``s`` is not a HyperSpy signal.

    Examples
    --------
    >>> import esmpy_hs.gui
    >>> esmpy_hs.gui.decomposition_gui(s)                  # doctest: +SKIP
    >>> s.decomposition_gui()                              # doctest: +SKIP
    """
    from esmpy_hs.gui._ui_model import EsmpyDecompositionUI

    ui = EsmpyDecompositionUI(s)
    return ui.gui(display=display, toolkit=toolkit)
