"""The esmpy estimator: Poisson NMF ``Y ~ G W H`` with a fixed dictionary G.

Knows nothing of X-rays or HyperSpy: G is any non-negative matrix.

- :class:`EsmpyNMF` - the scikit-learn compatible estimator.
- :func:`chunk_step` - the per-chunk unit of one iteration (for chunked / dask drivers).
"""

from esmpy_hs.nmf._chunk import ChunkResult, chunk_step, w_step_from_partials
from esmpy_hs.nmf._estimator import EsmpyNMF, auto_smoothness

__all__ = ["EsmpyNMF", "ChunkResult", "auto_smoothness", "chunk_step", "w_step_from_partials"]
