"""The UDE Lotka–Volterra study (experiments/ude_lotka_volterra.py): its data in the default
suite (the pipeline it runs is the config's, smoke-tested in test_ude_config.py), the full
study as slow tests."""

from pathlib import Path

import numpy as np
import pytest

from experiments import ude_lotka_volterra as study


def test_data_are_the_papers_scenario_and_the_configs_file():
    ts, noisy, sigma = study.make_data(1)
    np.testing.assert_allclose(ts, 0.1 * np.arange(31), atol=1e-15)
    clean = study.truth(ts)
    np.testing.assert_allclose(sigma, 0.05 * clean.mean(axis=0), rtol=1e-15)
    # Lotka-Volterra's first integral, delta ln x - gamma x + alpha ln y - beta y, is constant.
    x, y = clean.T
    p = study.TRUE
    invariant = p["delta"] * np.log(x) - p["gamma"] * x + p["alpha"] * np.log(y) - p["beta"] * y
    assert np.ptp(invariant) < 1e-9
    # The noise is at its stated level (31 draws per state: within 35 %).
    spread = np.std(noisy - clean, axis=0) / sigma
    assert np.all(np.abs(spread - 1.0) < 0.35), spread
    # The shipped data file is this draw (seed 1), so the config reruns the study's seed 1.
    shipped = np.loadtxt(
        Path(study.CONFIG).parent / "data" / "ude_lotka_volterra.csv", delimiter=",", skiprows=1
    )
    np.testing.assert_allclose(shipped[:, 1:], noisy, rtol=1e-9)


@pytest.mark.slow
def test_full_study_recovers_the_interactions():
    figures = study.run(verbose=False)
    # At the noise level: the RMS of residual / sigma is near 1 (0.81 measured, seed 1).
    assert 0.6 < figures["misfit_rms_sigma"] < 1.2
    # Measured 0.20 with seed 1; the target of 0.10 is NOT reached (see docs/neural.md).
    assert figures["interaction_rel_l2"] < 0.25
    # The refits to the data choose exactly x*y in both equations (the sparse regression on
    # the learned term alone keeps many terms); beta, gamma within 5 %.
    assert figures["exact_terms"]
    assert len(figures["sparse_terms"]["nn(x, y)[0]"]) > 1
    assert figures["beta_rel_error"] < 0.05 and figures["gamma_rel_error"] < 0.05
    assert figures["extrapolation_rel_l2_t20"] < 0.1  # 0.055 measured


@pytest.mark.slow
def test_clean_data_learns_the_interaction_within_ten_percent():
    figures = study.run(noise=0.0, verbose=False)
    assert figures["interaction_rel_l2"] < 0.10  # measured 0.079


@pytest.mark.slow
def test_true_structure_fit_is_the_recovered_equations_refit():
    # Seed 1 recovers exactly x*y, so its refit is this fit: the same beta, gamma and
    # extrapolation (docs/neural.md: 0.9012, 0.785, 0.0552).
    figures = study.true_structure(1)
    assert figures["success"]
    assert abs(figures["beta"] - 0.90120) < 1e-4 and abs(figures["gamma"] - 0.78506) < 1e-4
    assert abs(figures["rel_l2_t20"] - 0.0552) < 5e-4
    # Its interaction is within 10 % of the truth (the network's is not).
    assert figures["interaction_rel_l2_true_path"] < 0.02
