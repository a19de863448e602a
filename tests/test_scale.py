"""Scale: batches sharded over several devices and processes give the one-device results.

The test process has one CPU device; several devices are forced in subprocesses with
`XLA_FLAGS=--xla_force_host_platform_device_count=N`, several processes are joined through
`DIFFSIM_COORDINATOR` on 127.0.0.1. The model is a small decay `y' = -k y` with unknowns `k`
and `y0` (fixed-step RK4), so that compiling and solving cost little and the subprocesses'
time is mostly JAX's start-up. The batch sizes (6 starts, 3 refits) do not divide the device
counts, so padding is exercised; so do those of the sweep (5 fits) and the ensemble (42
simulations) that the two processes run after the multistart.

Results are compared with a relative tolerance of 1e-8 rather than bit for bit: XLA vectorizes
a vmapped batch differently for different batch sizes, which moves a fit by round-off
(~1e-12 here, ~1e-9 for Lotka-Volterra). Only converged starts are compared so: a start that
runs out of steps in a flat region can amplify that round-off along its path. A wrong shard (a
start fitted from another start's point, a padded copy reported) differs by far more.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from diffsim.config import build_problem, validate_config
from diffsim.inverse import fit, multistart_points, refit_batch
from diffsim.inverse._sharding import in_chunks, padded_size, shard_batch, to_host
from diffsim.run import main
from diffsim.runner import DistributedError, join_processes

ROOT = Path(__file__).resolve().parents[1]
DECAY = {
    "name": "decay_multistart",
    "model": {"equations": {"y": "-k * y"}},
    "parameters": {
        "k": {"init": 0.3, "true": 0.8, "transform": "log"},
        "y0": {"init": 1.0, "true": 2.0},
    },
    "initial_state": {"y": "y0"},
    "observations": {"y": {"sigma": 0.02}},
    "data": {"synthetic": {"times": {"start": 0.0, "stop": 4.0, "num": 12}, "seed": 1}},
    "solver": {"name": "rk4", "dt": 0.05},
    "fit": {"max_steps": 60, "multistart": {"count": 6, "spread": 0.6, "seed": 1}},
    "report": {"plots": False, "taylor_test": False, "points": 21},
    "uncertainty": {"profile": False},
}
SWEEP = DECAY | {  # 5 fits (padded to 8 on 4 devices) and 42 simulations (to 44)
    "name": "decay_sweep",
    "fit": {"max_steps": 60},
    "sweep": {"run": "fit", "parameters": {"k": {"low": 0.6, "high": 1.0, "num": 5}}},
    "ensemble": {"members": 42, "parameters": {"k": {"lognormal": [-0.2, 0.1]}}},
}
RTOL = 1e-8


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    """The multistart and the sweep config as files (for the command line and subprocesses)."""
    folder = tmp_path_factory.mktemp("configs")
    paths = {}
    for config in (DECAY, SWEEP):
        paths[config["name"]] = folder / f"{config['name']}.yaml"
        paths[config["name"]].write_text(yaml.safe_dump(config))
    return paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(devices: int, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", **extra)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def batches() -> dict:
    """A multistart fit (6 starts) and 3 shifted-data refits of the decay config."""
    problem = build_problem(validate_config(DECAY), ROOT)
    starts = multistart_points(problem.space, 6, spread=0.6, seed=1)
    result = fit(problem, starts=starts, max_steps=60)
    shifts = np.outer([-1.0, 0.5, 1.0], np.ones(problem.num_residuals))
    z, loss, code = refit_batch(problem, result.z, shifts=shifts)
    return {
        "starts_x": result.starts_x.tolist(),
        "starts_loss": result.starts_loss.tolist(),
        "starts_code": result.starts_code.tolist(),
        "best": result.best_start,
        "path": result.x_history[:3].tolist(),
        "refit_z": z.tolist(),
        "refit_loss": loss.tolist(),
        "refit_code": code.tolist(),
    }


def pinn_losses() -> dict:
    """Three Adam steps of a small heat-equation PINN (64 collocation points, which split
    over 4 devices), logged every step; and over how many devices `pinn.train` laid its
    collocation points."""
    from unittest import mock

    import jax
    import jax.numpy as jnp

    from diffsim import nn, pde, pinn
    from diffsim.pinn import _train

    model = pde.Heat(pde.uniform_grid(8, -1.0, 1.0), pde.Dirichlet(0.0))
    problem = pinn.PINNProblem(
        model, (0.0, 0.5), {"diffusivity": 0.1}, initial=lambda x: jnp.sin(jnp.pi * x[0])
    )
    net = nn.MLP(2, "scalar", 8, 1, dtype="float64", key=jax.random.key(0))
    laid, original = [], _train.shard_points

    def spy(points):
        points = original(points)
        laid.append(len(points.sharding.device_set))
        return points

    with mock.patch.object(_train, "shard_points", spy):
        trained = pinn.train(
            problem, net, collocation=pinn.Collocation(64), adam_steps=3, log_every=1
        )
    return {"loss": trained.history["loss"], "devices": laid}


def _main(config: Path, out: Path) -> int:
    return main([str(config), "--out", str(out), "--quiet", "--no-cache"])


@pytest.fixture(scope="module")
def one_process(configs, tmp_path_factory) -> dict:
    """`python -m diffsim.run` in this process (one CPU device): the reference run."""
    out = tmp_path_factory.mktemp("scale") / "one"
    assert _main(configs["decay_multistart"], out) == 0
    return json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def one_process_sweep(configs, tmp_path_factory) -> Path:
    """The sweep config run in this process (one CPU device): the reference run."""
    out = tmp_path_factory.mktemp("scale") / "sweep"
    assert _main(configs["decay_sweep"], out) == 0
    return out


def _tables(folder: Path) -> dict:
    return {name: np.loadtxt(folder / name, delimiter=",", skiprows=1)
            for name in ("sweep.csv", "ensemble.csv")}  # fmt: skip


@pytest.mark.parametrize("size, most", [(10, 4), (8, 4), (3, 4), (7, 1)])
def test_in_chunks_gives_the_unchunked_results(size, most):
    """A batched function over chunks of at most `most` members (the last one filled with
    repeats): every member's result, of every leaf, as in one batch."""
    function = lambda x, y: {"a": x**2, "b": y.sum(axis=1) + x}  # noqa: E731
    x, y = np.arange(size, dtype=float), np.arange(3.0 * size).reshape(size, 3)
    calls = []
    counted = lambda x, y: calls.append(len(x)) or function(x, y)  # noqa: E731
    out = to_host(in_chunks(counted, most)(x, y))
    for key, value in function(x, y).items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)
    # traced once, on equal chunks of at most `most` members: 10 by 4 -> 3 chunks of 4
    count = -(-size // most)
    assert calls == [-(-size // count)] and calls[0] <= most


def test_one_device_is_unsharded():
    assert padded_size(6) == 6
    batch = shard_batch({"z": np.arange(6.0)})
    assert batch["z"].shape == (6,)
    np.testing.assert_array_equal(to_host(batch)["z"], np.arange(6.0))


def test_four_devices_equal_one_device(one_process):
    """Starts and refits sharded over 4 devices (6 -> 8 and 3 -> 4 padded), each device's
    share in chunks of one member (as large shares run on CPU devices), and a PINN's loss
    with its collocation points over 4 devices, equal one device."""
    script = "import sys, json, jax; jax.config.update('jax_enable_x64', True); "
    script += "import diffsim.inverse._sharding as sharding; sharding.CPU_CHUNK = 1; "
    script += "sys.path.insert(0, 'tests'); import test_scale; "
    script += "print(json.dumps([test_scale.batches(), test_scale.pinn_losses()]))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_environment(4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sharded, pinn = json.loads(done.stdout.strip().splitlines()[-1])
    here, pinn_here = batches(), pinn_losses()  # one device
    # a PINN's collocation points over 4 devices: the partitioned loss equals one device's
    assert pinn["devices"] == [4] and pinn_here["devices"] == [1] and len(pinn["loss"]) == 3
    np.testing.assert_allclose(pinn["loss"], pinn_here["loss"], rtol=1e-12)
    assert sharded["best"] == here["best"] == one_process["multistart"]["best"]
    assert sharded["starts_code"] == here["starts_code"] == one_process["multistart"]["codes"]
    assert sharded["refit_code"] == here["refit_code"] and min(here["refit_code"]) > 0
    done = np.asarray(here["starts_code"]) > 0
    assert done.sum() >= 4
    # every start's first steps are its own (the estimates of converged starts coincide)
    np.testing.assert_allclose(sharded["path"], here["path"], rtol=RTOL)
    assert len({round(x, 6) for x in np.asarray(here["path"])[1, :, 0]}) == 6
    for key in ("starts_x", "starts_loss"):
        np.testing.assert_allclose(
            np.asarray(sharded[key])[done], np.asarray(here[key])[done], rtol=RTOL, err_msg=key
        )
    for key in ("refit_z", "refit_loss"):
        np.testing.assert_allclose(sharded[key], here[key], rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(
        np.asarray(sharded["starts_x"])[done],
        np.asarray(one_process["multistart"]["estimates"])[done],
        rtol=RTOL,
    )


def test_two_processes_equal_one_process(configs, one_process, one_process_sweep, tmp_path):
    """`diffsim.run` as 2 processes x 2 CPU devices, a multistart fit then a sweep and an
    ensemble: process 0 writes the run folders, and they equal the one-process runs."""
    out, sweep_out = tmp_path / "two", tmp_path / "two-sweep"
    runs = [[str(configs["decay_multistart"]), "--out", str(out)]]
    runs.append([str(configs["decay_sweep"]), "--out", str(sweep_out)])
    script = (
        f"import sys; from diffsim.run import main; sys.exit(main({runs[0]}) or main({runs[1]}))"
    )
    coordinator = f"127.0.0.1:{_free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=_environment(
                2,
                DIFFSIM_COORDINATOR=coordinator,
                DIFFSIM_NUM_PROCESSES="2",
                DIFFSIM_PROCESS_ID=str(index),
                DIFFSIM_JOIN_TIMEOUT="60",
                DIFFSIM_CACHE_DIR=str(tmp_path / f"cache{index}"),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (0, 1)
    ]
    outputs = [process.communicate(timeout=400) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert outputs[0][0].count("report:") == 2 and "report:" not in outputs[1][0]
    result = json.loads((out / "result.json").read_text())
    environment = json.loads((out / "env.json").read_text())
    assert environment["processes"] == 2 and len(environment["devices"]) == 4
    mine, reference = result["multistart"], one_process["multistart"]
    assert mine["best"] == reference["best"] and mine["codes"] == reference["codes"]
    done = np.asarray(reference["codes"]) > 0  # see the module docstring
    for key in ("estimates", "chi_square"):
        np.testing.assert_allclose(
            np.asarray(mine[key])[done], np.asarray(reference[key])[done], rtol=RTOL
        )
    sweep = json.loads((sweep_out / "result.json").read_text())
    assert sweep["success"] and (sweep["devices"], sweep["processes"]) == (4, 2)
    tables, reference = _tables(sweep_out), _tables(one_process_sweep)
    assert tables["sweep.csv"].shape == (5, 5) and tables["ensemble.csv"].shape == (21, 4)
    for name, table in tables.items():
        np.testing.assert_allclose(table, reference[name], rtol=RTOL, err_msg=name)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DIFFSIM_COORDINATOR": "127.0.0.1:1"}, "DIFFSIM_NUM_PROCESSES: not set"),
        (
            {"DIFFSIM_NUM_PROCESSES": "2", "DIFFSIM_PROCESS_ID": "two"},
            "DIFFSIM_PROCESS_ID: 'two' is not a whole number",
        ),
        (
            {"DIFFSIM_NUM_PROCESSES": "2", "DIFFSIM_PROCESS_ID": "2"},
            "DIFFSIM_PROCESS_ID: 2 is not in 0..1",
        ),
        (
            {"DIFFSIM_NUM_PROCESSES": "0", "DIFFSIM_PROCESS_ID": "0"},
            "DIFFSIM_NUM_PROCESSES: must be at least 1",
        ),
        (
            {"DIFFSIM_NUM_PROCESSES": "2", "DIFFSIM_PROCESS_ID": "1"},
            "the coordinator (process 0) did not answer within 1 s",
        ),
        ({"DIFFSIM_DISTRIBUTED": "yes"}, "DIFFSIM_DISTRIBUTED: 'yes' is not 'auto'"),
    ],
)
def test_bad_process_settings(environ, message):
    """Malformed settings and an unreachable coordinator: one line, before JAX is touched."""
    environ = {"DIFFSIM_COORDINATOR": f"127.0.0.1:{_free_port()}", **environ}
    environ["DIFFSIM_JOIN_TIMEOUT"] = "1"
    with pytest.raises(DistributedError, match=None) as error:
        join_processes(environ)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unreachable_coordinator_exits_2(configs):
    """The command line: an unreachable coordinator is one line on stderr and exit status 2."""
    done = subprocess.run(
        [sys.executable, "-m", "diffsim.run", str(configs["decay_multistart"]), "--validate"],
        cwd=ROOT,
        env=_environment(
            1,
            DIFFSIM_COORDINATOR=f"127.0.0.1:{_free_port()}",
            DIFFSIM_NUM_PROCESSES="2",
            DIFFSIM_PROCESS_ID="1",
            DIFFSIM_JOIN_TIMEOUT="1",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: DIFFSIM_COORDINATOR=127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "did not answer within 1 s" in done.stderr


def test_processes_that_disagree_on_their_number_exit_2(configs):
    """Process 0 says 2 processes, process 1 says 3: both meet at the coordinator, compare
    their counts and stop with one line naming the variable, exit status 2."""
    coordinator = f"127.0.0.1:{_free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "diffsim.run", str(configs["decay_multistart"]), "--validate"],
            cwd=ROOT,
            env=_environment(
                1,
                DIFFSIM_COORDINATOR=coordinator,
                DIFFSIM_NUM_PROCESSES=str(count),
                DIFFSIM_PROCESS_ID=str(index),
                DIFFSIM_JOIN_TIMEOUT="20",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, count in ((0, 2), (1, 3))
    ]
    outputs = [process.communicate(timeout=240) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 2, err[-2000:]
        assert len(err.strip().splitlines()) == 1, err[-2000:]
        assert err.startswith("error: DIFFSIM_NUM_PROCESSES: the processes disagree on their")
        assert "(they say 2, 3; 2 joined)" in err
