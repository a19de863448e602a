"""The UDE Lotka–Volterra study (experiments/ude_lotka_volterra.py): a smoke run in the
default suite, the full study as a slow test."""

import numpy as np
import pytest

from experiments import ude_lotka_volterra as study


def test_smoke_ude_fits_the_data_and_runs_the_pipeline():
    figures = study.run(adam_steps=0, lbfgs_steps=150, degree=2, verbose=False)
    # Trained to about the noise level in 150 L-BFGS steps (weighted RMS residual in sigma).
    assert figures["misfit_rms_sigma"] < 1.5
    assert figures["interaction_rel_l2"] < 0.5
    assert set(figures["terms"]) == {"x", "y"}
    assert all(np.isfinite(v) for v in figures["refit"].values())


@pytest.mark.slow
def test_full_study_reaches_the_noise_level():
    figures = study.run(verbose=False)
    # At the noise level: the RMS of residual / sigma is near 1 (0.80 measured, seed 1).
    assert 0.6 < figures["misfit_rms_sigma"] < 1.2
    # Measured 0.195 with seed 1; the target of 0.10 is NOT reached (see docs/neural.md).
    assert figures["interaction_rel_l2"] < 0.25


@pytest.mark.slow
def test_clean_data_learns_the_interaction_within_ten_percent():
    figures = study.run(noise=0.0, verbose=False)
    assert figures["interaction_rel_l2"] < 0.10  # measured 0.079
