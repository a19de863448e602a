"""The Burgers identification data come from an exact solution, checked independently of diffsim."""

import numpy as np
import pytest

from experiments import burgers_cole_hopf as ch


def test_max_slope_matches_the_published_value():
    # Basdevant et al. (1986), quoted by the issue: max |u_x| at t = 1.6037/pi is 152.00516.
    assert abs(ch.max_slope(1.6037 / np.pi) - 152.00516) < 2e-5


def test_exact_solution_satisfies_burgers_equation_and_boundaries():
    t, x, h = 0.4, np.array([-0.7, -0.3, 0.2, 0.55]), 1e-4
    u = ch.exact(t, x)
    u_t = (ch.exact(t + h, x) - ch.exact(t - h, x)) / (2 * h)
    u_x = (ch.exact(t, x + h) - ch.exact(t, x - h)) / (2 * h)
    u_xx = (ch.exact(t, x + h) - 2 * u + ch.exact(t, x - h)) / h**2
    residual = u_t + u * u_x - ch.LAMBDA2 * u_xx
    assert np.max(np.abs(residual)) < 1e-5 * np.max(np.abs(u_t))  # FD error ~ h^2 * u''''
    assert np.allclose(ch.exact(0.7, np.array([-1.0, 1.0])), 0.0, atol=1e-12)
    assert np.allclose(ch.exact(0.0, x), -np.sin(np.pi * x), atol=0)
    # odd in x, as the initial condition
    assert np.allclose(ch.exact(t, -x), -u, atol=1e-12)


@pytest.mark.slow  # regenerates the data set twice (about a minute)
def test_samples_are_reproducible_and_noisy_at_the_stated_level():
    a, b = ch.samples(seed=3, n=500), ch.samples(seed=3, n=500)
    assert np.array_equal(a["u"], b["u"])
    noise = (a["u"] - a["u_exact"]) / a["sigma"]
    assert 0.9 < np.std(noise) < 1.1
    assert len(np.unique(np.stack([a["t"], a["x"]]), axis=1).T) == 500
