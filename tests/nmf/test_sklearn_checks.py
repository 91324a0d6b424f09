"""scikit-learn's estimator checks (public API: sklearn.utils.estimator_checks)."""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from esmpy_hs.nmf import EsmpyNMF


def _expected_failed_checks(estimator):
    # All checks apply and pass; the dict documents that nothing is exempted. (Outputs have
    # the ``dtype`` parameter's precision, declared in the transformer tags.)
    return {}


@parametrize_with_checks(
    [EsmpyNMF(n_components=2, max_iter=200), EsmpyNMF(n_components=2, max_iter=200,
                                                      dtype=np.float64, simplex=None)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
