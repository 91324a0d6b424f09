"""The esmpy STEM-EDX signal class.

:class:`EsmpyEDSTEMSpectrum` is exspy's :class:`~exspy.signals.EDSTEMSpectrum` with its own
``signal_type`` (``"EDS_TEM_ESMPY"``, alias ``"esmpy"``) and one extra decomposition algorithm,
``"esmpy"``. Every exspy method keeps working on it.

Three exspy behaviours need care in a subclass (all pinned by tests):

* ``EDSTEMSpectrum._set_default_param`` writes ``signal_type = "EDS_TEM"``; HyperSpy re-runs
  ``__init__`` on every class re-assignment (unfold/fold inside ``decomposition``,
  ``as_lazy``, ``set_signal_type``), which would silently demote the class to exspy's.
* ``get_take_off_angle`` and ``_get_line_energy(..., FWHM_MnKa="auto")`` compare
  ``signal_type == "EDS_TEM"`` and fail for any other type.
* ``__init__`` runs again on each re-assignment, so the class keeps no state of its own: the
  esmpy results live in ``metadata`` and ``learning_results``.
"""

from __future__ import annotations

import inspect
from typing import Any

from exspy.signals import EDSTEMSpectrum
from exspy.utils.eds import take_off_angle as _take_off_angle

__all__ = ["EsmpyEDSTEMSpectrum", "ESMPY_SIGNAL_TYPE"]

ESMPY_SIGNAL_TYPE = "EDS_TEM_ESMPY"

_TEM = "Acquisition_instrument.TEM"
_UNSET: Any = object()


def _is_esmpy_algorithm(algorithm: object) -> bool:
    return isinstance(algorithm, str) and algorithm.strip().lower() == "esmpy"


class EsmpyEDSTEMSpectrum(EDSTEMSpectrum):
    """STEM-EDX spectrum image with the physics-guided esmpy decomposition.

    Create it like any HyperSpy signal, or convert an EDS signal with
    ``s.set_signal_type("esmpy")``; files saved from it load back as this class. Use
    ``s.decomposition(algorithm="esmpy", output_dimension=k)`` to factorise the counts as
    G·W·H, where G is simulated from the microscope metadata, W holds the element content of
    each phase and H the abundance of each phase in each pixel.

    All other decomposition algorithms, and every exspy method (``add_elements``,
    ``add_lines``, ``get_lines_intensity``, ``quantification``, ``create_model``, line
    plotting), behave exactly as on :class:`exspy.signals.EDSTEMSpectrum`.

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.load("spectrum_image.hspy", signal_type="esmpy")  # doctest: +SKIP
    >>> s.add_elements(["Fe", "O", "Si"])                       # doctest: +SKIP
    >>> s.decomposition(algorithm="esmpy", output_dimension=3)   # doctest: +SKIP
    >>> print(s.get_phase_compositions())                        # doctest: +SKIP
    """

    _signal_type = ESMPY_SIGNAL_TYPE

    # -- exspy compatibility -------------------------------------------------------------
    def _set_default_param(self) -> None:
        """Fill exspy's default microscope parameters and keep this class's signal type."""
        super()._set_default_param()
        self.metadata.Signal.signal_type = self._signal_type

    def get_take_off_angle(self) -> float:
        """Take-off angle of the X-rays towards the detector, in degrees.

        Read from ``Acquisition_instrument.TEM``: ``Stage.tilt_alpha``,
        ``Detector.EDS.azimuth_angle``, ``Detector.EDS.elevation_angle`` and
        ``Stage.tilt_beta`` (0 when absent), combined by
        :func:`exspy.utils.eds.take_off_angle`. Set them with
        :meth:`set_microscope_parameters`.

        Returns
        -------
        float
            The take-off angle in degrees.
        """
        mp = self.metadata
        return _take_off_angle(
            mp.get_item(f"{_TEM}.Stage.tilt_alpha", None),
            mp.get_item(f"{_TEM}.Detector.EDS.azimuth_angle", None),
            mp.get_item(f"{_TEM}.Detector.EDS.elevation_angle", None),
            mp.get_item(f"{_TEM}.Stage.tilt_beta", 0.0),
        )

    def _get_line_energy(self, Xray_line, FWHM_MnKa=None):  # noqa: N803 (exspy's names)
        # exspy resolves "auto" only when signal_type is literally "EDS_TEM".
        if isinstance(FWHM_MnKa, str) and FWHM_MnKa == "auto":
            FWHM_MnKa = self.metadata.get_item(  # noqa: N806
                f"{_TEM}.Detector.EDS.energy_resolution_MnKa"
            )
        return super()._get_line_energy(Xray_line, FWHM_MnKa=FWHM_MnKa)

    # -- decomposition -------------------------------------------------------------------
    def decomposition(
        self,
        normalize_poissonian_noise=_UNSET,
        navigation_mask=_UNSET,
        closing=_UNSET,
        *args,
        **kwargs,
    ):
        """Decompose the spectrum image; ``algorithm="esmpy"`` runs the esmpy NMF.

        With ``algorithm="esmpy"`` (case-insensitive) the call goes to
        :func:`esmpy_hs.decompose`: ``output_dimension`` (or ``n_components``) is the number
        of phases, and every keyword of :func:`esmpy_hs.decompose` is accepted. The esmpy
        path never applies Poisson normalisation or a vacuum mask (it models the raw
        counts); asking for them gives a warning.

        Any other algorithm is passed to :meth:`exspy.signals.EDSTEMSpectrum.decomposition`
        with exactly the arguments given, so exspy's defaults (Poisson normalisation on,
        vacuum navigation mask at 1.0) and its return value are unchanged.

        See Also
        --------
        esmpy_hs.decompose, exspy.signals.EDSTEMSpectrum.decomposition
        """
        if _is_esmpy_algorithm(kwargs.get("algorithm")) and not args:
            from esmpy_hs.decomposition import decompose

            kwargs.pop("algorithm")
            n_components = kwargs.pop("output_dimension", None)
            if n_components is not None:
                if kwargs.get("n_components") not in (None, n_components):
                    raise ValueError(
                        "output_dimension and n_components disagree "
                        f"({n_components} != {kwargs['n_components']}); give only one of them."
                    )
                kwargs["n_components"] = n_components
            for name, value in (
                ("normalize_poissonian_noise", normalize_poissonian_noise),
                ("navigation_mask", navigation_mask),
            ):
                if value is not _UNSET:
                    kwargs[name] = value
            if closing is not _UNSET:
                kwargs["closing"] = closing
            return decompose(self, **kwargs)

        given = {
            "normalize_poissonian_noise": normalize_poissonian_noise,
            "navigation_mask": navigation_mask,
            "closing": closing,
        }
        if args:
            # Positional arguments beyond ``closing``: the first three must be positional
            # too, so fill the unset ones with exspy's own defaults.
            defaults = inspect.signature(EDSTEMSpectrum.decomposition).parameters
            head = [
                value if value is not _UNSET else defaults[name].default
                for name, value in given.items()
            ]
            return super().decomposition(*head, *args, **kwargs)
        kwargs.update({name: value for name, value in given.items() if value is not _UNSET})
        return super().decomposition(**kwargs)

    # -- esmpy results -------------------------------------------------------------------
    def get_phase_compositions(self, *args, **kwargs):
        """Composition of each esmpy phase in atomic and weight percent.

        Thin wrapper of :func:`esmpy_hs.quantification.get_phase_compositions`; see there.
        """
        from esmpy_hs.quantification import get_phase_compositions

        return get_phase_compositions(self, *args, **kwargs)

    def export_results(self, *args, **kwargs):
        """Factors, loadings and W of the esmpy decomposition as standalone signals.

        Thin wrapper of :func:`esmpy_hs.results.export_results`; see there.
        """
        from esmpy_hs.results import export_results

        return export_results(self, *args, **kwargs)

    def plot_phase_spectra(self, *args, **kwargs):
        """Plot each phase's model spectrum against its mean data, with X-ray lines.

        Thin wrapper of :func:`esmpy_hs.plotting.plot_phase_spectra`; see there.
        """
        from esmpy_hs.plotting import plot_phase_spectra

        return plot_phase_spectra(self, *args, **kwargs)

    def plot_abundance_maps(self, *args, **kwargs):
        """Plot the abundance map of each phase.

        Thin wrapper of :func:`esmpy_hs.plotting.plot_abundance_maps`; see there.
        """
        from esmpy_hs.plotting import plot_abundance_maps

        return plot_abundance_maps(self, *args, **kwargs)

    def plot_phase_compositions(self, *args, **kwargs):
        """Bar chart of the composition of each phase.

        Thin wrapper of :func:`esmpy_hs.plotting.plot_phase_compositions`; see there.
        """
        from esmpy_hs.plotting import plot_phase_compositions

        return plot_phase_compositions(self, *args, **kwargs)

    # -- GUI -----------------------------------------------------------------------------
    def decomposition_gui(self, display=True, toolkit=None):
        """Form to set up and run the esmpy decomposition in Jupyter.

        Thin wrapper of :func:`esmpy_hs.gui.decomposition_gui`; see there. Needs the
        ``gui-jupyter`` extra (``pip install "esmpy-hs[gui-jupyter]"``).
        """
        from esmpy_hs.gui import decomposition_gui

        return decomposition_gui(self, display=display, toolkit=toolkit)
