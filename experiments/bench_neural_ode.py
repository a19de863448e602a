"""Neural ODE training speed: diffsim against torchdiffeq's spiral example (`ode_demo.py`).

The example: dy/dt = y³ A with A = [[-0.1, 2.0], [-2.0, -0.1]], y0 = (2, 0), 1000 points on
[0, 25]; the model is an MLP 2→50→2 (tanh) applied to y³, weights normal(0, 0.1), trained with
RMSprop (lr 1e-3) on batches of 20 windows of 10 steps, dopri5 at rtol 1e-7, atol 1e-9,
the mean absolute error as loss; every `--every` iterations the whole trajectory is solved
and its mean absolute error recorded. Both run on the CPU in this one process, float32,
backpropagating through the solver steps (torchdiffeq's `odeint`, diffsim's `direct`
adjoint; `checkpoint` as well for diffsim). Both start from the same weights (drawn once
with NumPy) and see the same batches (the same window starts every iteration), so they do the
same arithmetic and differ in time only. Each run stops at `--target` (the equal-final-loss
comparison) or after `--iterations`. Printed: time per iteration, process CPU time (all
threads) and wall time (medians after compilation / warm-up), compile time (wall),
iterations and CPU time to reach `--target`, the final loss, right-hand-side evaluations of
the first batch's forward solves, and how closely each diffsim run's test losses follow
torchdiffeq's at the same checks (the same training path: the same iterations to any loss);
`--out` saves it all (with the test-loss histories) as JSON.

    pip install -e .[bench]   # torch (CPU) and torchdiffeq
    python experiments/bench_neural_ode.py [--iterations N] [--target LOSS] [--threads 2]
"""

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from diffsim import neural, nn, solve_ode
from diffsim.inverse import SolverOptions

A = np.array([[-0.1, 2.0], [-2.0, -0.1]], dtype=np.float32)
Y0 = np.array([2.0, 0.0], dtype=np.float32)
NUM, T_END, WINDOW, BATCH = 1000, 25.0, 10, 20
RTOL, ATOL = 1e-7, 1e-9


def true_trajectory():
    ts = np.linspace(0.0, T_END, NUM, dtype=np.float32)
    rhs = lambda t, y, a: (y**3) @ a
    ys = solve_ode(rhs, jnp.asarray(Y0), ts, jnp.asarray(A), solver="dopri5", rtol=RTOL, atol=ATOL)
    return ts, np.asarray(ys.ys)


def initial_weights(seed):
    """The MLP's starting weights, as in ode_demo.py (normal(0, 0.1), zero biases)."""
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(0.0, 0.1, (50, 2)).astype(np.float32), np.zeros(50, np.float32)),
        (rng.normal(0.0, 0.1, (2, 50)).astype(np.float32), np.zeros(2, np.float32)),
    ]


def window_starts(seed, iterations):
    """The first sample of every window of every iteration, `(iterations, BATCH)`."""
    rng = np.random.default_rng(seed + 1)
    return np.stack([rng.choice(NUM - WINDOW, BATCH, replace=False) for _ in range(iterations)])


class Progress:
    """Test losses every `every` iterations; training time until the test loss reaches the
    target (test evaluations excluded)."""

    def __init__(self, every, target):
        self.every, self.target = every, target
        self.history, self.reached, self.seconds_to_target, self.training = [], None, None, 0.0
        self.evaluations = None  # right-hand-side evaluations (per window) of the first batch

    def step(self, iteration, seconds, test) -> bool:
        """Count a step; returns True when the target is reached (stop)."""
        self.training += seconds
        if iteration % self.every:
            return False
        loss = float(test())
        self.history.append((iteration, loss))
        if loss <= self.target:
            self.reached, self.seconds_to_target = iteration, self.training
        return self.reached is not None


def run_diffsim(ts, ys, starts, weights, every, target, adjoint):
    """RMSprop on the given windows; returns per-iteration times, compile time, progress."""
    network = nn.MLP(2, 2, 50, 1, "tanh", key=jax.random.key(0))
    network = eqx.tree_at(
        lambda n: [leaf for layer in n.layers for leaf in (layer.weight, layer.bias)],
        network,
        [jnp.asarray(leaf) for pair in weights for leaf in pair],
    )
    rhs = lambda t, y, net: net(y**3)
    options = SolverOptions(solver="dopri5", rtol=RTOL, atol=ATOL, adjoint=adjoint)
    optimizer = optax.rmsprop(1e-3, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    ts_j, ys_j = jnp.asarray(ts), jnp.asarray(ys)
    full = neural.Windows(ts=ts_j[None], ys=ys_j[None])

    @eqx.filter_jit
    def step(net, state, first):
        index = first[:, None] + jnp.arange(WINDOW)
        batch = neural.Windows(ts=ts_j[index], ys=ys_j[index])
        loss, grads = eqx.filter_value_and_grad(
            lambda n: neural.window_loss(rhs, n, batch, options, norm="l1")
        )(net)
        updates, state = optimizer.update(grads, state, net)
        return eqx.apply_updates(net, updates), state, loss

    test = eqx.filter_jit(lambda net: neural.window_loss(rhs, net, full, options, norm="l1"))

    @eqx.filter_jit
    def evaluations(net, first):
        """Right-hand-side evaluations of the forward solves of one batch (all windows)."""
        index = first[:, None] + jnp.arange(WINDOW)
        solve = lambda y0, t: options.solve_ode(rhs, y0, t, net).stats["num_fevals"]
        return jnp.sum(jax.vmap(solve)(ys_j[index[:, 0]], ts_j[index]))

    state = optimizer.init(eqx.filter(network, eqx.is_inexact_array))
    clock = time.perf_counter()
    step(network, state, jnp.asarray(starts[0]))[2].block_until_ready()
    float(test(network))
    compile_s = time.perf_counter() - clock
    progress = Progress(every, target)
    progress.evaluations = int(evaluations(network, jnp.asarray(starts[0])))
    times = []
    for i, first in enumerate(starts, start=1):
        clock, cpu = time.perf_counter(), time.process_time()
        network, state, loss = step(network, state, jnp.asarray(first))
        loss.block_until_ready()
        times.append((time.perf_counter() - clock, time.process_time() - cpu))
        if progress.step(i, times[-1][1], lambda network=network: test(network)):
            break
    return np.asarray(times), compile_s, progress


def run_torchdiffeq(ts, ys, starts, weights, every, target, threads):
    import torch
    from torchdiffeq import odeint

    torch.set_num_threads(threads)
    t = torch.tensor(ts)
    true_y = torch.tensor(ys)[:, None, :]  # (T, 1, 2) as in ode_demo.py

    class ODEFunc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2)
            )
            linear = [m for m in self.net.modules() if isinstance(m, torch.nn.Linear)]
            with torch.no_grad():
                for layer, (weight, bias) in zip(linear, weights, strict=True):
                    layer.weight.copy_(torch.from_numpy(weight))
                    layer.bias.copy_(torch.from_numpy(bias))

        def forward(self, t, y):
            self.calls += 1
            return self.net(y**3)

    def get_batch(first):
        s = torch.from_numpy(first.astype(np.int64))
        batch_y0 = true_y[s]
        batch_t = t[:WINDOW]
        batch_y = torch.stack([true_y[s + i] for i in range(WINDOW)], dim=0)
        return batch_y0, batch_t, batch_y

    func = ODEFunc()
    func.calls = 0
    optimizer = torch.optim.RMSprop(func.parameters(), lr=1e-3)

    def test():
        with torch.no_grad():
            pred = odeint(func, true_y[0], t, rtol=RTOL, atol=ATOL, method="dopri5")
            return torch.mean(torch.abs(pred[:, 0] - true_y[:, 0]))  # both (T, 2)

    times, progress = [], Progress(every, target)
    for i, first in enumerate(starts, start=1):
        func.calls = 0
        clock, cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        batch_y0, batch_t, batch_y = get_batch(first)
        pred_y = odeint(func, batch_y0, batch_t, rtol=RTOL, atol=ATOL, method="dopri5")
        loss = torch.mean(torch.abs(pred_y - batch_y))
        loss.backward()
        optimizer.step()
        times.append((time.perf_counter() - clock, time.process_time() - cpu))
        if i == 1:  # forward solve of the first batch, every window at once (batched state)
            progress.evaluations = func.calls * BATCH
        if progress.step(i, times[-1][1], test):
            break
    return np.asarray(times), 0.0, progress


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="most training iterations")
    parser.add_argument("--every", type=int, default=20, help="iterations between test losses")
    parser.add_argument("--target", type=float, default=0.1, help="test loss to reach (stop)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="weights and batches")
    parser.add_argument("--skip-torch", action="store_true", help="time diffsim only")
    parser.add_argument("--out", type=Path, default=None, help="save the figures as JSON")
    args = parser.parse_args()
    ts, ys = true_trajectory()
    starts = window_starts(args.seed, args.iterations)
    weights = initial_weights(args.seed)
    runs = [
        (f"diffsim ({adjoint})", run_diffsim, (adjoint,)) for adjoint in ("direct", "checkpoint")
    ]
    if not args.skip_torch:
        runs.append(("torchdiffeq (odeint)", run_torchdiffeq, (args.threads,)))
    rows = [
        (name, *run(ts, ys, starts, weights, args.every, args.target, *extra))
        for name, run, extra in runs
    ]
    reference = rows[-1] if not args.skip_torch else None
    print(
        f"spiral neural ODE, at most {args.iterations} iterations, target test loss {args.target}"
    )
    print(
        f"{'':24}{'CPU ms/it':>10}{'ratio':>9}{'wall ms/it':>11}{'ratio':>9}{'compile s':>10}"
        f"{'its to target':>14}{'CPU s to target':>16}{'ratio':>8}{'final loss':>11}"
        f"{'RHS evals':>10}"
    )
    table = []
    for name, times, compile_s, progress in rows:
        wall, cpu = np.median(times[:, 0]), np.median(times[:, 1])
        ratios = ["-", "-"]
        if reference is not None:
            ratios = [f"{np.median(reference[1][:, k]) / v:.1f}x" for k, v in ((1, cpu), (0, wall))]
        to_target = progress.seconds_to_target
        reference_s = None if reference is None else reference[3].seconds_to_target
        ratio_s = f"{reference_s / to_target:.1f}x" if reference_s and to_target else "-"
        seconds = "-" if to_target is None else f"{to_target:.1f}"
        print(
            f"{name:24}{1e3 * cpu:>10.2f}{ratios[0]:>9}{1e3 * wall:>11.2f}{ratios[1]:>9}"
            f"{compile_s:>10.1f}{str(progress.reached):>14}{seconds:>16}{ratio_s:>8}"
            f"{progress.history[-1][1]:>11.4f}{progress.evaluations:>10}"
        )
        agreement = None  # the largest relative difference of the test losses at the same checks
        if reference is not None:
            ours, theirs = dict(progress.history), dict(reference[3].history)
            common = sorted(set(ours) & set(theirs))
            agreement = max(abs(ours[i] - theirs[i]) / theirs[i] for i in common)
        table.append(
            {
                "name": name,
                "test_loss_max_rel_difference_vs_reference": agreement,
                "cpu_ms_per_iteration": 1e3 * cpu,
                "wall_ms_per_iteration": 1e3 * wall,
                "compile_s": compile_s,
                "iterations": len(times),
                "iterations_to_target": progress.reached,
                "cpu_seconds_to_target": to_target,
                "history": progress.history,
                "rhs_evaluations_first_batch": progress.evaluations,
            }
        )
    print(
        "ratio: torchdiffeq's time (per iteration; to the target) / this one's (higher is faster); "
        "CPU: process CPU time (all threads; the machine is shared, so wall times are inflated); "
        "RHS evals: right-hand-side evaluations of the first batch's forward solves, summed over "
        "its windows (torchdiffeq solves the batch as one state: its calls times the batch)"
    )
    if reference is not None:
        for row in table[:-1]:
            print(
                f"{row['name']}: test losses within "
                f"{row['test_loss_max_rel_difference_vs_reference']:.1e} (relative) of "
                "torchdiffeq's at every check"
            )
    if args.out is not None:
        settings = {k: v for k, v in vars(args).items() if k != "out"}
        args.out.write_text(json.dumps({"settings": settings, "runs": table}, indent=1))


if __name__ == "__main__":
    main()
