"""Batch processing for the ``esmpy-hs`` command line.

``esmpy-hs decompose`` runs the esmpy decomposition over many spectrum images and writes, per
input, the results (``.hspy``), the phase compositions (``.csv``) and a summary figure
(``.png``); ``esmpy-hs info`` shows which metadata a file has and what esmpy still needs.

Modules: :mod:`~esmpy_hs.batch.config` (TOML configuration, option precedence with
provenance), :mod:`~esmpy_hs.batch.io` (inputs, picking the EDS spectrum image),
:mod:`~esmpy_hs.batch.pipeline` (one file), :mod:`~esmpy_hs.batch.report` (CSV, PNG, text),
and the two command modules. Nothing here is imported by ``import esmpy_hs``.
"""
