"""Graphical user interfaces of esmpy-hs (optional extras).

:func:`decomposition_gui` opens a form that sets up and runs the esmpy decomposition of an
EDS spectrum image in Jupyter (``pip install "esmpy-hs[gui-jupyter]"``). The form is
registered the HyperSpy way: the toolkey ``"esmpy_hs.decomposition"`` is declared in
esmpy-hs's ``hyperspy_extension.yaml`` and its ipywidgets implementation is added to HyperSpy's
UI registry when the form is first opened (:func:`register_widgets`). It is not listed in the
yaml on purpose: a widget listed there makes HyperSpy believe an ipywidgets toolkit is
installed in every session, which breaks HyperSpy's own plots when hyperspy_gui_ipywidgets is
absent.

Importing this package imports no widget toolkit.
"""

from __future__ import annotations

from typing import Any

__all__ = ["decomposition_gui", "register_widgets", "GUI_JUPYTER_INSTALL", "WIDGETS"]

#: install command shown when ipywidgets is missing
GUI_JUPYTER_INSTALL = 'pip install "esmpy-hs[gui-jupyter]"'

#: toolkit -> toolkey -> implementation, in the format of HyperSpy's ``GUI.widgets`` yaml entry
WIDGETS = {
    "ipywidgets": {
        "esmpy_hs.decomposition": {
            "module": "esmpy_hs.gui._ipywidgets",
            "function": "decomposition_ipy",
        }
    }
}


def register_widgets() -> None:
    """Add esmpy-hs's widget implementations to HyperSpy's UI registry (idempotent).

    Only the entries of our own toolkey are written. HyperSpy's set of installed toolkits is
    left alone: when no HyperSpy GUI package provides ipywidgets, :func:`decomposition_gui`
    calls the widget function directly.
    """
    from hyperspy import ui_registry

    for toolkit, widgets in WIDGETS.items():
        for toolkey, specs in widgets.items():
            ui_registry.UI_REGISTRY.setdefault(toolkey, {}).setdefault(toolkit, dict(specs))


def _direct_gui(ui, display: bool, toolkit: Any) -> dict | None:
    """Draw the form without HyperSpy's toolkit selection (no HyperSpy GUI package present)."""
    requested = {toolkit} if isinstance(toolkit, str) else set(toolkit or ("ipywidgets",))
    unknown = requested - set(WIDGETS)
    if unknown:
        raise ValueError(
            f"toolkit {sorted(unknown)} is not available for the esmpy form; "
            "use toolkit='ipywidgets'."
        )
    from esmpy_hs.gui._ipywidgets import decomposition_ipy

    result = decomposition_ipy(ui, display=display)
    return None if display else {"ipywidgets": result}


def decomposition_gui(s, display: bool = True, toolkit: Any = None) -> dict | None:
    """Form to set up and run the esmpy decomposition of an EDS spectrum image.

    The form is pre-filled from the signal's metadata (elements, beam energy, resolution at
    Mn Kα, take-off angle, thickness, density) and from the estimator's defaults, and marks
    which values are defaults rather than metadata. It validates the input (unknown element
    symbols, missing beam energy, ...) with messages in the form; **Run** calls
    :func:`esmpy_hs.decompose` with a progress bar and shows the phase compositions,
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
    from hyperspy.ui_registry import TOOLKIT_REGISTRY

    from esmpy_hs.gui._ui_model import EsmpyDecompositionUI

    register_widgets()
    ui = EsmpyDecompositionUI(s)
    if "ipywidgets" in TOOLKIT_REGISTRY:  # a HyperSpy GUI package provides the toolkit
        return ui.gui(display=display, toolkit=toolkit)
    return _direct_gui(ui, display, toolkit)
