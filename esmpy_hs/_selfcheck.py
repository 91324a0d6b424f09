"""``esmpy-hs selfcheck``: verify that HyperSpy finds the esmpy signal classes."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Check the installation: import HyperSpy, confirm that the esmpy signal type and its alias are
registered, and convert a small signal to the esmpy class.

example:
  esmpy-hs selfcheck
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Run the check and report on standard output; non-zero exit code on failure."""
    import hyperspy.api as hs
    import numpy as np

    from esmpy_hs import __version__
    from esmpy_hs.signals.eds_tem import ESMPY_SIGNAL_TYPE

    s = hs.signals.Signal1D(np.zeros((2, 4)))
    s.set_signal_type("esmpy")
    name = type(s).__name__
    ok = name == "EsmpyEDSTEMSpectrum" and s.metadata.Signal.signal_type == ESMPY_SIGNAL_TYPE
    status = "ok" if ok else f"FAILED (got {name})"
    sys.stdout.write(
        f"esmpy-hs {__version__}: signal type {ESMPY_SIGNAL_TYPE!r} (alias 'esmpy') -> {status}\n"
    )
    return 0 if ok else 1
