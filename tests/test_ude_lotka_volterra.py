"""The UDE Lotka–Volterra study (experiments/ude_lotka_volterra.py): a smoke run in the
default suite, the full study as a slow test."""

import numpy as np
import pytest

from experiments import ude_lotka_volterra as study


def test_smoke_ude_fits_the_data_and_runs_the_pipeline():
    # The choice of terms by refits to the data (select_terms) is the slow test's.
    figures = study.run(adam_steps=0, lbfgs_steps=150, degree=2, select=False, verbose=False)
    # Trained to about the noise level in 150 L-BFGS steps (weighted RMS residual in sigma).
    assert figures["misfit_rms_sigma"] < 1.5
    assert figures["interaction_rel_l2"] < 0.5
    assert set(figures["terms"]) == {"x", "y"}
    assert all(np.isfinite(v) for v in figures["refit"].values())


@pytest.mark.slow
def test_full_study_recovers_the_interactions():
    figures = study.run(verbose=False)
    # At the noise level: the RMS of residual / sigma is near 1 (0.81 measured, seed 1).
    assert 0.6 < figures["misfit_rms_sigma"] < 1.2
    # Measured 0.20 with seed 1; the target of 0.10 is NOT reached (see docs/neural.md).
    assert figures["interaction_rel_l2"] < 0.25
    # The refits to the data choose exactly x*y in both equations (the sparse regression on
    # the learned term alone keeps many terms); beta, gamma within 5 % (0.13 %, 1.9 %).
    assert figures["exact_terms"]
    assert len(figures["sparse_terms"]["x"]) > 1
    assert figures["beta_rel_error"] < 0.05 and figures["gamma_rel_error"] < 0.05
    assert figures["extrapolation_rel_l2_t20"] < 0.1  # 0.055 measured


@pytest.mark.slow
def test_clean_data_learns_the_interaction_within_ten_percent():
    figures = study.run(noise=0.0, verbose=False)
    assert figures["interaction_rel_l2"] < 0.10  # measured 0.079
