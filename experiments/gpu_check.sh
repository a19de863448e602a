#!/usr/bin/env bash
# One device run: the ODE tests on the GPU, then the ODE benchmark on the GPU and on the host CPU.
# Usage from the repository root (wheels of missing packages in .whl/): bash experiments/gpu_check.sh OUT
set -u
out=${1:-/tmp/gpu_out}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.
fi
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$out/device.txt"
python3 -c "import jax; print(jax.__version__, jax.devices())" | tee -a "$out/device.txt"
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_ode_solvers.py \
  tests/test_failures.py tests/test_gradients.py -k "not stiff and not vmap" 2>&1 | tail -5 \
  | tee "$out/tests_gpu.txt"
timeout 150 python3 experiments/bench_ode.py --quick --large --repeats 9 2>&1 | tee "$out/bench_gpu_f64.txt"
JAX_PLATFORMS=cpu timeout 110 python3 experiments/bench_ode.py --quick --repeats 9 2>&1 \
  | tee "$out/bench_cpu_f64.txt"
