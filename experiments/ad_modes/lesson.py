"""6. The lesson's two PyTorch examples in JAX, and the evaluation trace of y = x1^2 + x2.

Only JAX and Equinox are needed here; `torch_gradients` imports PyTorch when it is called,
so that a test (or the report) can compare both frameworks with identical weights.
"""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from diffsim import ad

from .findings import Finding, Section, markdown_table

INPUT = np.array([[1.0, 2.0]])
TARGET = np.array([[0.5]])
PARAMETER_NAMES = ("layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias")


def lesson_function(x1, x2):
    """y = x1^2 + x2, the lesson's first example."""
    return x1**2 + x2


class SimpleNet(eqx.Module):
    """The lesson's 2-3-1 network: `layer2(tanh(layer1(x)))`, weights laid out as in PyTorch."""

    layer1: eqx.nn.Linear
    layer2: eqx.nn.Linear

    def __init__(self, key):
        key1, key2 = jax.random.split(key)
        self.layer1 = eqx.nn.Linear(2, 3, key=key1)
        self.layer2 = eqx.nn.Linear(3, 1, key=key2)

    def __call__(self, x):
        return self.layer2(jnp.tanh(self.layer1(x)))


def with_weights(weights: dict) -> SimpleNet:
    """A `SimpleNet` holding the given arrays, keyed by PyTorch's parameter names."""
    net = SimpleNet(jax.random.key(0))
    return eqx.tree_at(
        lambda n: (n.layer1.weight, n.layer1.bias, n.layer2.weight, n.layer2.bias),
        net,
        tuple(jnp.asarray(weights[name]) for name in PARAMETER_NAMES),
    )


def squared_loss(net: SimpleNet, x, target):
    """`((net(x) - target)**2).mean()` over a batch, as in the lesson."""
    return jnp.mean((jax.vmap(net)(jnp.asarray(x)) - target) ** 2)


def jax_gradients(weights: dict) -> dict:
    """Gradients of the lesson's loss for the given weights, keyed by PyTorch's names."""
    grads = eqx.filter_grad(squared_loss)(with_weights(weights), INPUT, TARGET)
    leaves = (grads.layer1.weight, grads.layer1.bias, grads.layer2.weight, grads.layer2.bias)
    return {name: np.asarray(leaf) for name, leaf in zip(PARAMETER_NAMES, leaves, strict=True)}


def torch_gradients(weights: dict) -> dict:
    """The lesson's PyTorch code, run with the given weights (needs PyTorch)."""
    import torch

    layer1, layer2 = torch.nn.Linear(2, 3).double(), torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        for layer, prefix in ((layer1, "layer1"), (layer2, "layer2")):
            layer.weight.copy_(torch.tensor(weights[f"{prefix}.weight"]))
            layer.bias.copy_(torch.tensor(weights[f"{prefix}.bias"]))
    x = torch.tensor(INPUT, requires_grad=True)
    output = layer2(torch.tanh(layer1(x)))
    loss = ((output - torch.tensor(TARGET)) ** 2).mean()
    loss.backward()
    parameters = {
        "layer1.weight": layer1.weight,
        "layer1.bias": layer1.bias,
        "layer2.weight": layer2.weight,
        "layer2.bias": layer2.bias,
    }
    return {name: p.grad.numpy() for name, p in parameters.items()}


def random_weights(seed: int = 0) -> dict:
    """Weights drawn like PyTorch's default `nn.Linear` initialisation (uniform +-1/sqrt(in))."""
    rng = np.random.default_rng(seed)
    shapes = {
        "layer1.weight": (3, 2),
        "layer1.bias": (3,),
        "layer2.weight": (1, 3),
        "layer2.bias": (1,),
    }
    fan_in = {"layer1": 2, "layer2": 3}
    return {
        name: rng.uniform(-1, 1, shape) / np.sqrt(fan_in[name.split(".")[0]])
        for name, shape in shapes.items()
    }


def run(folder: Path, quick: bool) -> Section:
    gradient = jax.grad(lesson_function, argnums=(0, 1))(2.0, 3.0)
    lesson_trace = ad.trace(lesson_function, 2.0, 3.0)
    by_x2 = ad.trace(lesson_function, 2.0, 3.0, tangent=(0.0, 1.0))
    lesson_trace.draw().figure.savefig(folder / "trace.png", dpi=120)

    weights = random_weights()
    grads = jax_gradients(weights)
    shapes = {name: tuple(g.shape) for name, g in grads.items()}
    try:
        reference = torch_gradients(weights)
        difference = max(float(np.max(np.abs(grads[n] - reference[n]))) for n in PARAMETER_NAMES)
        torch_note = f"PyTorch with the same weights: largest difference {difference:.1e}."
    except ImportError:
        torch_note = (
            "PyTorch is not installed here; `tests/test_ad_experiment.py` compares both "
            "frameworks with identical weights where it is."
        )
    findings = [
        Finding(
            "For y = x1^2 + x2 at (2, 3): dy/dx1 = 2 x1 = 4 and dy/dx2 = 1.",
            f"`jax.grad`: ({float(gradient[0])}, {float(gradient[1])}); the trace's forward "
            f"passes give dy/dx1 = {float(lesson_trace.row('y').tangent)} (seed x1) and dy/dx2 = "
            f"{float(by_x2.row('y').tangent)} (seed x2), its one reverse pass gives both: "
            f"({float(lesson_trace.row('x1').adjoint)}, {float(lesson_trace.row('x2').adjoint)}).",
            "confirmed",
        ),
        Finding(
            "Forward mode needs one pass per input; reverse mode all partial derivatives in one "
            "backward pass.",
            "Two forward traces (seeds (1, 0) and (0, 1)) against one reverse sweep "
            "(ybar = 1), in the tables below.",
            "confirmed",
        ),
        Finding(
            "The 2-3-1 tanh network's gradients have shapes (3, 2), (3,), (1, 3), (1,).",
            "JAX (Equinox `SimpleNet`): "
            + ", ".join(f"{n} {s}" for n, s in shapes.items())
            + ". "
            + torch_note,
            "confirmed",
        ),
    ]
    gradient_table = markdown_table(
        ["parameter", "shape", "gradient"],
        [
            [name, str(shapes[name]), np.array2string(grads[name].ravel(), precision=4)]
            for name in PARAMETER_NAMES
        ],
    )
    body = (
        "The computational graph of y = x1^2 + x2 at (2, 3) written out by "
        "`diffsim.ad.trace` (forward seed on x1, reverse seed ybar = 1):\n\n```\n"
        f"{lesson_trace.table()}\n```\n\nWith the forward seed on x2:\n\n```\n"
        f"{by_x2.table()}\n```\n\n![trace](trace.png)\n\n"
        "The network example with weights drawn like PyTorch's default initialisation "
        "(seed 0), input [[1, 2]], target [[0.5]], loss ((output - target)^2).mean():\n\n"
        + gradient_table
    )
    data = {
        "gradient": [float(g) for g in gradient],
        "network_gradients": {name: g.tolist() for name, g in grads.items()},
        "weights": {name: w.tolist() for name, w in weights.items()},
    }
    return Section("6. The lesson's examples", findings, body, data)
