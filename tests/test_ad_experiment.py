"""The ad_modes experiment: the lesson's examples in JAX (and against PyTorch), and its CLI."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy

from diffsim import Checkpoint, ad

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import experiments.ad_modes.__main__ as ad_modes_main  # noqa: E402
from experiments.ad_modes import (  # noqa: E402
    accuracy,
    crossover,
    findings,
    jit_speed,
    lesson,
    memory,
    swell,
)

experiment_main = ad_modes_main.main


def test_lesson_gradient():
    assert jax.grad(lesson.lesson_function, argnums=(0, 1))(2.0, 3.0) == (4.0, 1.0)


def test_network_gradients_match_backpropagation_by_hand():
    weights = lesson.random_weights(seed=3)
    grads = lesson.jax_gradients(weights)
    x, target = lesson.INPUT[0], lesson.TARGET[0]
    hidden = np.tanh(weights["layer1.weight"] @ x + weights["layer1.bias"])
    output = weights["layer2.weight"] @ hidden + weights["layer2.bias"]
    output_bar = 2 * (output - target)
    hidden_bar = (weights["layer2.weight"].T @ output_bar) * (1 - hidden**2)
    expected = {
        "layer1.weight": np.outer(hidden_bar, x),
        "layer1.bias": hidden_bar,
        "layer2.weight": np.outer(output_bar, hidden),
        "layer2.bias": output_bar,
    }
    shapes = {"layer1.weight": (3, 2), "layer1.bias": (3,), "layer2.weight": (1, 3)}
    for name in lesson.PARAMETER_NAMES:
        assert grads[name].shape == shapes.get(name, (1,))
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-13)


def test_network_gradients_match_pytorch():
    pytest.importorskip("torch")
    weights = lesson.random_weights(seed=1)
    ours, theirs = lesson.jax_gradients(weights), lesson.torch_gradients(weights)
    for name in lesson.PARAMETER_NAMES:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=1e-14)


def test_with_weights_sets_every_parameter():
    weights = lesson.random_weights(seed=2)
    net = lesson.with_weights(weights)
    np.testing.assert_array_equal(net.layer1.weight, weights["layer1.weight"])
    np.testing.assert_array_equal(net.layer2.bias, weights["layer2.bias"])
    assert net(jnp.ones(2)).shape == (1,)


def test_cli_refuses_a_non_empty_output_folder(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    assert experiment_main(["--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --out {tmp_path}: folder exists and is not empty"
    )
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_cli_writes_report_and_results_of_every_part(tmp_path, monkeypatch, capsys):
    def part(title):
        finding = findings.Finding(f"claim of {title}", "measured", "confirmed")
        run = lambda folder, quick: findings.Section(title, [finding], f"body of {title}", {"x": 1})
        return SimpleNamespace(run=run)

    monkeypatch.setattr(ad_modes_main, "PARTS", (part("first"), part("second")))
    out = tmp_path / "run"
    assert experiment_main(["--quick", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "python -m experiments.ad_modes --quick --out" in report and "quick run" in report
    assert "| 2 | claim of second | measured | confirmed |" in report
    assert "## second\n\nbody of second" in report
    results = json.loads((out / "results.json").read_text())
    assert results["sections"]["first"] == {"x": 1} and results["environment"]["cpus"] >= 1


def test_accuracy_reference_derivative_matches_the_hand_derived_one():
    exact = accuracy.exact_derivative()
    assert float(accuracy.squire_trapp_derivative(accuracy.X0)) == pytest.approx(exact, rel=1e-14)


def test_swell_logistic_map_derivative_grows_with_depth():
    sizes = []
    for depth in (1, 2, 3):
        (x,), (expression,) = ad.to_sympy(swell.logistic_map(depth), 0.3)
        sizes.append(sympy.count_ops(sympy.diff(expression, x)))
        value = float(expression.subs(x, 0.3))
        assert value == pytest.approx(float(swell.logistic_map(depth)(0.3)), rel=1e-14)
    assert sizes[0] < sizes[1] < sizes[2]


def test_crossover_network_jacobians_agree():
    f = crossover.network(5, 3)
    x = jnp.linspace(-1.0, 1.0, 5)
    forward, reverse = jax.jit(jax.jacfwd(f))(x), jax.jit(jax.jacrev(f))(x)
    assert forward.shape == (3, 5)
    np.testing.assert_allclose(forward, reverse, rtol=1e-13)


def test_jit_rollout_gives_the_same_value_compiled():
    loss = jit_speed.rollout(3)
    y0, forcing = jnp.linspace(-1.0, 1.0, jit_speed.STATE), jnp.asarray(0.5)
    assert float(jax.jit(loss)(y0, forcing)) == pytest.approx(float(loss(y0, forcing)), rel=1e-13)


def test_memory_strategies_compute_the_same_gradient():
    y0 = 8.0 + 0.01 * jnp.sin(jnp.arange(memory.STATE, dtype=jnp.float64))
    forcing = jnp.asarray(8.0)
    rows = [
        memory.measure(8, name, adjoint, y0, forcing)
        for name, adjoint in [("direct", "direct"), ("checkpoint(2)", Checkpoint(snapshots=2))]
    ]
    scan = jax.grad(memory.scan_loss(8), argnums=(0, 1))(y0, forcing)
    expected = np.concatenate([np.ravel(scan[0]), np.ravel(scan[1])])
    for row in rows:
        assert row["memory_bytes"] > 0 and row["seconds"] > 0
        np.testing.assert_allclose(row["gradient"], expected, rtol=1e-10)


@pytest.mark.slow
def test_quick_run_writes_the_report(tmp_path):
    assert experiment_main(["--quick", "--out", str(tmp_path / "run")]) == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Summary" in report and report.count("| confirmed |") >= 10
    for plot in ("accuracy", "swell", "forward_vs_reverse", "memory", "jit", "trace"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 5000
