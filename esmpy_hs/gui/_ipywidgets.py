"""ipywidgets form of the esmpy decomposition (toolkey ``"esmpy_hs.decomposition"``).

HyperSpy imports this module through the GUI registry of esmpy-hs's
``hyperspy_extension.yaml`` when :meth:`EsmpyDecompositionUI.gui` is called. It draws the
traits of :class:`~esmpy_hs.gui._ui_model.EsmpyDecompositionUI` as a form kept in sync both
ways, shows where each value comes from, the validation messages, a progress bar, and the
results (composition table, abundance maps, phase spectra) in an ``Output`` widget.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import time
import warnings
from typing import Any

try:
    import ipywidgets as ipw
except ImportError as err:  # pragma: no cover - exercised by simulating the missing module
    from esmpy_hs.gui import GUI_JUPYTER_INSTALL

    raise ImportError(
        "The esmpy decomposition widget needs ipywidgets, which is not installed. Install "
        f"the Jupyter GUI extra: {GUI_JUPYTER_INSTALL}"
    ) from err

from esmpy_hs.gui._ui_model import FIELDS, EsmpyDecompositionUI

__all__ = ["decomposition_ipy"]

_logger = logging.getLogger(__name__)

_NOTE_COLOURS = {
    "metadata": "#4d4d4d",
    "default": "#b35900",
    "edited": "#1f5fbf",
    "missing": "#c00000",
    "info": "#7f7f7f",
}
_SECTIONS = {
    "elements": "Sample",
    "beam_energy": "Microscope",
    "energy_min": "Fit",
}
_TEXT_FIELDS = ("elements", "ignore_elements")
_INT_FIELDS = ("n_components", "max_iter", "random_state")
_LABEL_WIDTH = "190px"
_INPUT_WIDTH = "200px"
#: number of progress-bar updates per run (updating on every iteration floods the front end)
_PROGRESS_UPDATES = 100


def _input_widget(ui: EsmpyDecompositionUI, name: str) -> ipw.ValueWidget:
    layout = ipw.Layout(width=_INPUT_WIDTH)
    value = getattr(ui, name)
    tooltip = ui.trait(name).desc or ""
    if name in _TEXT_FIELDS:
        placeholder = "e.g. Fe, O, Si" if name == "elements" else "e.g. Cu"
        return ipw.Text(value=value, placeholder=placeholder, layout=layout, tooltip=tooltip)
    if name in _INT_FIELDS:
        return ipw.IntText(value=value, layout=layout, tooltip=tooltip)
    if name == "smoothness_auto":
        return ipw.Checkbox(value=value, indent=False, layout=layout, tooltip=tooltip)
    if name == "init":
        return ipw.Dropdown(
            options=list(ui.trait("init").trait_type.values), value=value, layout=layout
        )
    widget = ipw.FloatText(value=value, layout=layout, tooltip=tooltip)
    if name == "take_off_angle":
        widget.disabled = True
    return widget


def _note_html(kind: str, text: str) -> str:
    colour = _NOTE_COLOURS.get(kind, "#4d4d4d")
    weight = "bold" if kind in ("missing", "edited") else "normal"
    return (
        f'<span style="color:{colour}; font-size:90%; font-weight:{weight}">'
        f"{html.escape(text)}</span>"
    )


def _messages_html(errors: list[str], warnings_: list[str]) -> str:
    parts = []
    if errors:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
        parts.append(f'<div style="color:#c00000"><b>Cannot run:</b><ul>{items}</ul></div>')
    if warnings_:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings_)
        parts.append(f'<div style="color:#b35900"><b>Notes:</b><ul>{items}</ul></div>')
    return "".join(parts)


def _figure_output(fig) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "text/plain": f"<Figure: {fig.get_suptitle() or 'esmpy results'}>",
        },
        "metadata": {},
    }


def _results_outputs(signal) -> tuple[dict[str, Any], ...]:
    """Composition table and result figures as notebook outputs (no kernel needed)."""
    from esmpy_hs.plotting import plot_abundance_maps, plot_phase_spectra
    from esmpy_hs.quantification import get_phase_compositions

    table = get_phase_compositions(signal)
    outputs = [
        {
            "output_type": "display_data",
            "data": {"text/html": table._repr_html_(), "text/plain": str(table)},
            "metadata": {},
        }
    ]
    outputs += [_figure_output(plot(signal)) for plot in (plot_abundance_maps, plot_phase_spectra)]
    return tuple(outputs)


def decomposition_ipy(obj: EsmpyDecompositionUI, display: bool = True, **kwargs) -> dict | None:
    """Build (and display) the ipywidgets form of an :class:`EsmpyDecompositionUI`.

    Parameters
    ----------
    obj : EsmpyDecompositionUI
        The form model.
    display : bool
        Display the form and return None, or return the widgets.
    **kwargs
        Ignored (HyperSpy's GUI registry may pass toolkit options).

    Returns
    -------
    dict or None
        ``{"widget": VBox, "wdict": dict, "ui": obj}`` when ``display`` is False.
    """
    ui = obj
    wdict: dict[str, Any] = {}
    notes: dict[str, ipw.HTML] = {}
    rows: list[ipw.Widget] = []

    title = ui.signal.metadata.get_item("General.title", "") or "EDS spectrum image"
    shape = ui.signal.axes_manager._get_dimension_str()
    rows.append(
        ipw.HTML(
            f"<h3 style='margin:4px 0'>esmpy decomposition</h3>"
            f"<span style='color:#4d4d4d'>{html.escape(str(title))} {html.escape(shape)}</span>"
        )
    )

    syncing = {"active": False}

    def make_widget_handler(name: str):
        def handler(change):
            if syncing["active"]:
                return
            try:
                setattr(ui, name, change["new"])
            except Exception as err:  # a TraitError: show it, keep the model value
                messages.value = _messages_html([f"{name}: {err}"], [])

        return handler

    def make_trait_handler(name: str):
        def handler(event):
            widget = wdict[name]
            if widget.value != event.new:
                syncing["active"] = True
                try:
                    widget.value = event.new
                finally:
                    syncing["active"] = False

        return handler

    for name, label in FIELDS:
        if name in _SECTIONS:
            rows.append(ipw.HTML(f"<b>{_SECTIONS[name]}</b>"))
        widget = _input_widget(ui, name)
        wdict[name] = widget
        notes[name] = ipw.HTML()
        widget.observe(make_widget_handler(name), names="value")
        ui.observe(make_trait_handler(name), name)
        rows.append(
            ipw.HBox([ipw.Label(label, layout=ipw.Layout(width=_LABEL_WIDTH)), widget, notes[name]])
        )

    messages = ipw.HTML()
    run_button = ipw.Button(
        description="Run", button_style="primary", tooltip="Run the decomposition"
    )
    store_button = ipw.Button(
        description="Store",
        tooltip="Write the edited sample and microscope values into the signal's metadata",
    )
    progress = ipw.IntProgress(
        value=0, min=0, max=max(ui.max_iter, 1), description="Iterations", bar_style=""
    )
    status = ipw.HTML()
    output = ipw.Output()
    wdict.update(
        run_button=run_button,
        store_button=store_button,
        progress=progress,
        messages=messages,
        status=status,
        output=output,
        notes=notes,
    )

    run_warnings: list[str] = []

    def refresh(event=None) -> None:
        for name, _ in FIELDS:
            note = ui.field_note(name)
            notes[name].value = _note_html(note.kind, note.text)
        wdict["smoothness"].disabled = bool(ui.smoothness_auto)
        wdict["random_state"].disabled = ui.init == "auto"
        run_button.disabled = bool(ui.errors)
        messages.value = _messages_html(list(ui.errors), run_warnings)

    ui.observe(refresh, [name for name, _ in FIELDS] + ["errors"])

    def on_run(_button=None) -> None:
        run_warnings.clear()
        errors = ui.validate()
        if errors:
            ui.errors = errors
            messages.value = _messages_html(errors, [])
            status.value = _note_html("missing", "Not run: fix the form first.")
            return
        run_button.disabled = store_button.disabled = True
        output.outputs = ()
        progress.max = max(int(ui.max_iter), 1)
        progress.value = 0
        progress.bar_style = ""
        step = max(1, progress.max // _PROGRESS_UPDATES)
        status.value = _note_html("info", "Building the model and initialising...")

        def callback(n_iter, W, H, loss):
            if n_iter % step == 0 or n_iter == progress.max:
                progress.value = n_iter
                status.value = _note_html("info", f"Iteration {n_iter} / {progress.max}")

        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                estimator = ui.run(callback=callback)
        except Exception as err:  # shown in the form: a widget callback has no caller
            if not isinstance(err, (ValueError, TypeError)):
                _logger.exception("esmpy decomposition failed")
            progress.bar_style = "danger"
            status.value = _note_html("missing", "The decomposition failed.")
            messages.value = _messages_html([f"{type(err).__name__}: {err}"], [])
            return
        finally:
            run_button.disabled = bool(ui.errors)
            store_button.disabled = False
        elapsed = time.perf_counter() - start
        for w in caught:
            text = f"{w.category.__name__}: {w.message}"
            if text not in run_warnings:
                run_warnings.append(text)
                _logger.warning("%s", text)
        progress.value = (
            progress.max if estimator.stop_reason_ == "converged" else int(estimator.n_iter_)
        )
        progress.bar_style = "success"
        status.value = _note_html(
            "metadata",
            f"Done: {estimator.n_iter_} iterations ({estimator.stop_reason_}) in "
            f"{elapsed:.1f} s. Results are in s.learning_results.",
        )
        try:
            output.outputs = _results_outputs(ui.signal)
        except Exception as err:  # the fit is stored; only the display failed
            _logger.exception("could not show the esmpy results")
            run_warnings.append(f"The results could not be shown: {type(err).__name__}: {err}")
        messages.value = _messages_html(list(ui.errors), run_warnings)

    def on_store(_button=None) -> None:
        errors = ui.validate()
        if errors:
            messages.value = _messages_html(errors, [])
            status.value = _note_html("missing", "Not stored: fix the form first.")
            return
        keys = ui.store()
        text = "Stored " + ", ".join(keys) if keys else "Nothing to store: no value was edited."
        status.value = _note_html("metadata", text)
        refresh()

    run_button.on_click(on_run)
    store_button.on_click(on_store)
    refresh()

    box = ipw.VBox(
        [
            *rows,
            messages,
            ipw.HBox([run_button, store_button, progress]),
            status,
            output,
        ]
    )
    if display:
        from IPython.display import display as ipy_display

        ipy_display(box)
        return None
    return {"widget": box, "wdict": wdict, "ui": ui}
