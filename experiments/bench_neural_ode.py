"""Neural ODE training speed: diffsim against torchdiffeq's spiral example (`ode_demo.py`).

The example: dy/dt = y³ A with A = [[-0.1, 2.0], [-2.0, -0.1]], y0 = (2, 0), 1000 points on
[0, 25]; the model is an MLP 2→50→2 (tanh) applied to y³, weights normal(0, 0.1), trained with
RMSprop (lr 1e-3) on batches of 20 windows of 10 steps, dopri5 at rtol 1e-7, atol 1e-9,
the mean absolute error as loss; every `--every` iterations the whole trajectory is solved
and its mean absolute error recorded. Both run on the CPU in this one process, float32,
backpropagating through the solver steps (torchdiffeq's `odeint`, diffsim's `direct`
adjoint; `checkpoint` as well for diffsim). Printed: time per iteration (median after
compilation / warm-up), compile time, iterations to reach `--target` and the final loss.

    pip install -e .[bench]   # torch (CPU) and torchdiffeq
    python experiments/bench_neural_ode.py [--iterations N] [--target LOSS] [--threads 2]
"""

import argparse
import time

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


def _record(history, iteration, loss, target, reached):
    history.append((iteration, loss))
    return reached if reached is not None or loss > target else iteration


def run_diffsim(ts, ys, iterations, every, target, adjoint, seed=0):
    """RMSprop on random windows; returns per-iteration times, compile time, test history."""
    network = nn.MLP(2, 2, 50, 1, "tanh", key=jax.random.key(seed))
    keys = jax.random.split(jax.random.key(seed + 1), len(network.layers))
    network = eqx.tree_at(
        lambda n: [layer.weight for layer in n.layers],
        network,
        [
            0.1 * jax.random.normal(k, layer.weight.shape)
            for k, layer in zip(keys, network.layers, strict=True)
        ],
    )
    rhs = lambda t, y, net: net(y**3)
    options = SolverOptions(solver="dopri5", rtol=RTOL, atol=ATOL, adjoint=adjoint)
    optimizer = optax.rmsprop(1e-3, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    ts_j, ys_j = jnp.asarray(ts), jnp.asarray(ys)
    full = neural.Windows(ts=ts_j[None], ys=ys_j[None])

    @eqx.filter_jit
    def step(net, state, key):
        batch = neural.sample_windows(ts_j, ys_j, WINDOW, BATCH, key=key)
        loss, grads = eqx.filter_value_and_grad(
            lambda n: neural.window_loss(rhs, n, batch, options, norm="l1")
        )(net)
        updates, state = optimizer.update(grads, state, net)
        return eqx.apply_updates(net, updates), state, loss

    test = eqx.filter_jit(lambda net: neural.window_loss(rhs, net, full, options, norm="l1"))
    state = optimizer.init(eqx.filter(network, eqx.is_inexact_array))
    key = jax.random.key(seed + 2)
    clock = time.perf_counter()
    step(network, state, key)[2].block_until_ready()
    float(test(network))
    compile_s = time.perf_counter() - clock
    times, history, reached = [], [], None
    for i in range(1, iterations + 1):
        key, sub = jax.random.split(key)
        clock = time.perf_counter()
        network, state, loss = step(network, state, sub)
        loss.block_until_ready()
        times.append(time.perf_counter() - clock)
        if i % every == 0:
            reached = _record(history, i, float(test(network)), target, reached)
    return np.asarray(times), compile_s, history, reached


def run_torchdiffeq(ts, ys, iterations, every, target, threads, seed=0):
    import torch
    from torchdiffeq import odeint

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t = torch.tensor(ts)
    true_y = torch.tensor(ys)[:, None, :]  # (T, 1, 2) as in ode_demo.py

    class ODEFunc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2)
            )
            for m in self.net.modules():
                if isinstance(m, torch.nn.Linear):
                    torch.nn.init.normal_(m.weight, mean=0, std=0.1)
                    torch.nn.init.constant_(m.bias, val=0)

        def forward(self, t, y):
            return self.net(y**3)

    def get_batch():
        s = torch.from_numpy(
            rng.choice(np.arange(NUM - WINDOW, dtype=np.int64), BATCH, replace=False)
        )
        batch_y0 = true_y[s]
        batch_t = t[:WINDOW]
        batch_y = torch.stack([true_y[s + i] for i in range(WINDOW)], dim=0)
        return batch_y0, batch_t, batch_y

    rng = np.random.default_rng(seed)
    func = ODEFunc()
    optimizer = torch.optim.RMSprop(func.parameters(), lr=1e-3)
    times, history, reached = [], [], None
    for i in range(1, iterations + 1):
        clock = time.perf_counter()
        optimizer.zero_grad()
        batch_y0, batch_t, batch_y = get_batch()
        pred_y = odeint(func, batch_y0, batch_t, rtol=RTOL, atol=ATOL, method="dopri5")
        loss = torch.mean(torch.abs(pred_y - batch_y))
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - clock)
        if i % every == 0:
            with torch.no_grad():
                pred = odeint(func, true_y[0], t, rtol=RTOL, atol=ATOL, method="dopri5")
                reached = _record(
                    history, i, float(torch.mean(torch.abs(pred - true_y[:, 0]))), target, reached
                )
    return np.asarray(times), 0.0, history, reached


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="training iterations")
    parser.add_argument("--every", type=int, default=20, help="iterations between test losses")
    parser.add_argument("--target", type=float, default=0.1, help="test loss to reach")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--skip-torch", action="store_true", help="time diffsim only")
    args = parser.parse_args()
    ts, ys = true_trajectory()
    rows = []
    for adjoint in ("direct", "checkpoint"):
        rows.append(
            (
                f"diffsim ({adjoint})",
                *run_diffsim(ts, ys, args.iterations, args.every, args.target, adjoint),
            )
        )
    if not args.skip_torch:
        rows.append(
            (
                "torchdiffeq (odeint)",
                *run_torchdiffeq(ts, ys, args.iterations, args.every, args.target, args.threads),
            )
        )
    reference = np.median(rows[-1][1]) if not args.skip_torch else None
    print(f"spiral neural ODE, {args.iterations} iterations, target test loss {args.target}")
    print(
        f"{'':24}{'ms/iter':>9}{'ratio':>8}{'compile s':>11}{'iters to target':>17}"
        f"{'final loss':>12}"
    )
    for name, times, compile_s, history, reached in rows:
        median = np.median(times)
        ratio = f"{reference / median:.1f}x" if reference is not None else "-"
        print(
            f"{name:24}{1e3 * median:>9.2f}{ratio:>8}{compile_s:>11.1f}"
            f"{str(reached):>17}{history[-1][1]:>12.4f}"
        )
    print("ratio: torchdiffeq's median time per iteration / this one's (higher is faster)")


if __name__ == "__main__":
    main()
