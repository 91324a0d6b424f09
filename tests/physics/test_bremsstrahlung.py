"""Bremsstrahlung basis: Lifshin identity and non-negativity."""

from __future__ import annotations

import numpy as np
import pytest

from esmpy_hs.physics import bremsstrahlung_basis, lifshin


@pytest.mark.parametrize("e0", [30.0, 200.0, 300.0])
@pytest.mark.parametrize(("b0", "b1"), [(1.0, 0.0), (0.0, 1.0), (2.5, 0.7), (0.3, 4.0)])
def test_lifshin_identity(e0, b0, b1):
    e = np.linspace(0.05, e0 * 0.999, 997)
    basis = bremsstrahlung_basis(e, e0)
    a, b = b0 / e0, (b1 - b0) / e0**2
    np.testing.assert_allclose(b0 * basis[0] + b1 * basis[1], lifshin(e, e0, a, b), rtol=1e-12)


def test_columns_non_negative_and_zero_outside():
    e = np.linspace(-1.0, 250.0, 5001)
    basis = bremsstrahlung_basis(e, 200.0)
    assert np.all(basis >= 0)
    outside = (e <= 0) | (e >= 200.0)
    assert np.all(basis[:, outside] == 0)
    assert np.all(basis[:, ~outside] > 0)
    assert basis[0][e == 1.0] == pytest.approx(199.0 / 200.0**2)
    assert basis[1][e == 1.0] == pytest.approx(199.0**2 / 200.0**2)


def test_bad_beam_energy():
    with pytest.raises(ValueError, match="beam energy"):
        bremsstrahlung_basis([1.0], 0.0)
