"""Abundance-map builders: simplex, shapes, seeds, geometry."""

from __future__ import annotations

import numpy as np
import pytest

from esmpy_hs.datasets import gradient_maps, layer_maps, maps_from_array, particle_maps


def _assert_simplex(maps: np.ndarray, shape: tuple[int, ...]) -> None:
    assert maps.shape == shape
    assert maps.dtype == np.float64
    assert maps.min() >= 0.0
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, atol=1e-12)


def test_particle_maps_simplex_and_seed():
    m1 = particle_maps((40, 50), 3, n_particles=(3, 2), radius=(3, 6), seed=7)
    _assert_simplex(m1, (3, 40, 50))
    m2 = particle_maps((40, 50), 3, n_particles=(3, 2), radius=(3, 6), seed=7)
    np.testing.assert_array_equal(m1, m2)
    m3 = particle_maps((40, 50), 3, n_particles=(3, 2), radius=(3, 6), seed=8)
    assert not np.array_equal(m1, m3)


def test_particle_profile_is_projected_sphere():
    # one particle: inside the disc (p/fill)^2 = 1 - ((y-cy)^2 + (x-cx)^2)/r^2 exactly,
    # i.e. linear in (y^2+x^2, y, x, 1); the fit must give r = 10 with zero residual
    fill = 0.8
    m = particle_maps(41, 2, n_particles=1, radius=10.0, seed=0, fill=fill)
    p = m[1]
    yy, xx = np.mgrid[0:41, 0:41].astype(float)
    inside = p > 0
    A = np.column_stack(
        [yy[inside] ** 2 + xx[inside] ** 2, yy[inside], xx[inside], np.ones(inside.sum())]
    )
    coef, *_ = np.linalg.lstsq(A, (p[inside] / fill) ** 2, rcond=None)
    np.testing.assert_allclose(A @ coef, (p[inside] / fill) ** 2, atol=1e-10)
    r = 1 / np.sqrt(-coef[0])
    assert r == pytest.approx(10.0, rel=1e-9)
    cy, cx = coef[1] * r**2 / 2, coef[2] * r**2 / 2
    assert 10 <= cy <= 30 and 10 <= cx <= 30
    assert p.max() <= fill + 1e-12
    # integral of fill*sqrt(1-(d/r)^2) over the disc = fill * 2/3 pi r^2
    assert p.sum() == pytest.approx(fill * 2 / 3 * np.pi * 100, rel=0.02)
    np.testing.assert_allclose(m[0], 1 - p, atol=1e-12)


def test_particles_do_not_overlap_and_stay_inside():
    m = particle_maps(60, 3, n_particles=6, radius=(4, 7), min_gap=2.0, seed=3)
    particles = m[1:]
    # no pixel belongs to two particle phases at once
    assert np.count_nonzero((particles > 0).sum(axis=0) > 1) == 0
    # particles are inside the image: border rows/cols are pure matrix
    for edge in (m[0, 0, :], m[0, -1, :], m[0, :, 0], m[0, :, -1]):
        np.testing.assert_allclose(edge, 1.0)
    # the requested number of particles per phase (connected regions)
    from scipy import ndimage

    for phase in (1, 2):
        _, n = ndimage.label(m[phase] > 0)
        assert n == 6


def test_particle_maps_errors():
    with pytest.raises(ValueError, match="could not place"):
        particle_maps(20, 2, n_particles=50, radius=5, seed=0, max_tries=50)
    with pytest.raises(ValueError, match="n_particles"):
        particle_maps(20, 3, n_particles=(1, 2, 3))
    with pytest.raises(ValueError, match="fill"):
        particle_maps(20, 2, fill=1.5)
    with pytest.raises(ValueError, match="do not fit"):
        particle_maps(10, 2, radius=8)
    with pytest.raises(TypeError, match="shape"):
        particle_maps("big", 2)


def test_layer_maps_sharp_and_diffuse():
    m = layer_maps((30, 8), 3, axis=0)
    _assert_simplex(m, (3, 30, 8))
    # equal thicknesses of 10 rows, pure layers
    np.testing.assert_array_equal(m[:, :, 0].argmax(axis=0), np.repeat([0, 1, 2], 10))
    assert set(np.unique(m)) == {0.0, 1.0}
    d = layer_maps((8, 30), 2, axis=1, boundaries=[14.5], interface_width=2.0)
    _assert_simplex(d, (2, 8, 30))
    # at the boundary the two phases mix 50/50 (midpoint between pixels 14 and 15)
    np.testing.assert_allclose(d[0, 0, 14] + d[0, 0, 15], 1.0, atol=1e-12)
    assert d[1, 0, 14] == pytest.approx(0.5 * (1 + __import__("math").erf(-0.5 / (2 * 2**0.5))))
    assert np.all(np.diff(d[1, 0]) >= 0)
    with pytest.raises(ValueError, match="increasing"):
        layer_maps(10, 3, boundaries=[5, 2])


def test_gradient_maps():
    g = gradient_maps((5, 11), 2, angle=0)
    _assert_simplex(g, (2, 5, 11))
    np.testing.assert_allclose(g[1, 0], np.linspace(0, 1, 11))
    g3 = gradient_maps((11, 4), 3, angle=90)
    _assert_simplex(g3, (3, 11, 4))
    np.testing.assert_allclose(g3[:, 0, 0], [1, 0, 0])
    np.testing.assert_allclose(g3[:, 5, 0], [0, 1, 0])
    np.testing.assert_allclose(g3[:, 10, 3], [0, 0, 1])
    np.testing.assert_allclose(g3[:, 2, 0], [0.6, 0.4, 0], atol=1e-12)


def test_maps_from_array():
    raw = np.array([[[1.0, 2.0]], [[3.0, 2.0]]])
    m = maps_from_array(raw)
    np.testing.assert_allclose(m, [[[0.25, 0.5]], [[0.75, 0.5]]])
    assert raw[0, 0, 0] == 1.0  # input untouched
    assert maps_from_array(np.ones((2, 6)) / 2, normalize=False).shape == (2, 1, 6)
    with pytest.raises(ValueError, match="sum to one"):
        maps_from_array(raw, normalize=False)
    with pytest.raises(ValueError, match="non-negative"):
        maps_from_array(-raw)
    with pytest.raises(ValueError, match="zero abundance"):
        maps_from_array(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        maps_from_array(np.full((2, 3, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        maps_from_array(np.ones(4))


@pytest.mark.parametrize("size", [16, 32, 128])
def test_paper_maps_layout(size):
    from esmpy_hs.datasets import paper_maps

    for seed in range(3):
        m = paper_maps(size, seed=seed)
        _assert_simplex(m, (3, size, size))
        # the matrix dominates; both particle phases are present and reach 50 % at the centre
        fractions = m.reshape(3, -1).mean(axis=1)
        assert 0.8 < fractions[0] < 0.97
        assert fractions[1] > 0.015 and fractions[2] > 0.015
        assert 0.45 < m[1].max() <= 0.5 and 0.45 < m[2].max() <= 0.5
        assert m[0].min() >= 0.5
    with pytest.raises(ValueError, match="size"):
        paper_maps(8)
