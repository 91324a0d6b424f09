"""The ``esmpy-hs`` command line.

Sub-commands live in their own modules and are imported only when run, so ``esmpy-hs --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from esmpy_hs._version import __version__

# sub-command -> (module, one-line help); each module defines ``add_arguments(parser)`` and
# ``run(args) -> int``.
_COMMANDS = {
    "selfcheck": (
        "esmpy_hs._selfcheck",
        "check that the installation works (HyperSpy registration)",
    ),
    "decompose": (
        "esmpy_hs.batch.decompose_command",
        "decompose many spectrum images (files, folders, globs) and write results, CSV, PNG",
    ),
    "info": (
        "esmpy_hs.batch.info_command",
        "show a file's signals and which metadata esmpy would use or is missing",
    ),
    "demo": (
        "esmpy_hs.demo",
        "esmpy vs scikit-learn KL-NMF on the paper's simulated sample, with a Figure-2 PNG",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``esmpy-hs`` command."""
    parser = argparse.ArgumentParser(
        prog="esmpy-hs",
        description="Physics-guided decomposition of STEM-EDX spectrum images (esmpy).",
    )
    parser.add_argument("--version", action="version", version=f"esmpy-hs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(
            name,
            help=help_text,
            description=getattr(module, "DESCRIPTION", help_text),
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``esmpy-hs`` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
