"""GPRS's stretch function σ against direct numerical integration of its definition."""

import numpy as np
import pytest
from scipy import integrate, stats

import rectools
from rectools.coders.gprs import CategoricalTails, GaussianTails1D, ratio_tails


def _gaussian_gap(q, p, eta):
    """``w_Q(η) - η w_P(η)`` from the interval where ``log q - log p >= log η`` (solved here
    as a quadratic, independently of the tables)."""
    (mq,), (sq,), (mp,), (sp,) = q.mean, q.std, p.mean, p.std
    # log q(x) - log p(x) - log η = A x^2 + B x + C
    a = -0.5 / sq**2 + 0.5 / sp**2
    b = mq / sq**2 - mp / sp**2
    c = -0.5 * mq**2 / sq**2 + 0.5 * mp**2 / sp**2 + np.log(sp / sq) - np.log(eta)
    root = np.sqrt(b * b - 4 * a * c)
    lo, hi = sorted(((-b + root) / (2 * a), (-b - root) / (2 * a)))
    mass_q = stats.norm.cdf(hi, mq, sq) - stats.norm.cdf(lo, mq, sq)
    return mass_q - eta * (stats.norm.cdf(hi, mp, sp) - stats.norm.cdf(lo, mp, sp))


@pytest.mark.parametrize(("mean", "std"), [(0.7, 0.3), (-1.0, 0.05)])
@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9])
def test_gaussian_stretch_matches_quadrature(mean, std, fraction):
    q = rectools.DiagonalGaussian(np.array([mean]), np.array([std]))
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    tails = GaussianTails1D(q, p)
    h = fraction * tails.r_max
    reference = integrate.quad(
        lambda eta: 1.0 / _gaussian_gap(q, p, eta), 0.0, h, limit=200, epsrel=1e-10
    )[0]
    assert float(tails.stretch(np.array(h))) == pytest.approx(reference, rel=2e-5)


def test_categorical_stretch_is_the_closed_form_integral():
    q, p = np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.5, 0.3])
    tails = CategoricalTails(rectools.Categorical(q), rectools.Categorical(p))
    ratios = q / p

    def gap(eta):
        keep = ratios >= eta
        return q[keep].sum() - eta * p[keep].sum()

    for h in (0.2, ratios[2], 0.5, ratios[1], 2.0):
        reference = integrate.quad(lambda eta: 1.0 / gap(eta), 0.0, h, points=sorted(ratios))[0]
        assert float(tails.stretch(np.array(h))) == pytest.approx(reference, rel=1e-9)
    assert np.isinf(tails.stretch(np.array(tails.r_max)))


def test_unsupported_pairs_are_refused():
    wide = rectools.DiagonalGaussian(np.zeros(1), np.full(1, 2.0))
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    with pytest.raises(ValueError, match="narrower"):
        ratio_tails(wide, p)
    two = rectools.DiagonalGaussian(np.zeros(2), np.full(2, 0.5))
    with pytest.raises(ValueError, match="1-D Gaussians"):
        rectools.get_coder("gprs").encode(
            two, rectools.DiagonalGaussian(np.zeros(2), np.ones(2)), 0
        )
