"""The ad_modes experiment: the lesson's examples in JAX (and against PyTorch), and its CLI."""

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments.ad_modes import lesson  # noqa: E402


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


def test_cli_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    run = subprocess.run(
        [sys.executable, "-m", "experiments.ad_modes", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: --out {tmp_path}: exists and is not an empty folder"
    )
    assert "Traceback" not in run.stderr
    assert (tmp_path / "old.txt").read_text() == "keep me"


@pytest.mark.slow
def test_quick_run_writes_the_report(tmp_path):
    from experiments.ad_modes.__main__ import main

    assert main(["--quick", "--out", str(tmp_path / "run")]) == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Summary" in report and report.count("| confirmed |") >= 10
    for plot in ("accuracy", "swell", "forward_vs_reverse", "memory", "jit", "trace"):
        assert (tmp_path / "run" / f"{plot}.png").stat().st_size > 5000
