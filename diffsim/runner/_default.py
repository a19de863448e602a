"""The built-in config `python -m diffsim.run` uses when no config file is given."""

DEFAULT_CONFIG = """\
# Lotka-Volterra predator-prey fit to synthetic data with 1 % noise (diffsim's default run).
name: lotka_volterra
description: >-
  Recover the four rates of the Lotka-Volterra model from noisy prey and predator counts.
seed: 0
model: lotka_volterra
parameters:
  alpha: {init: 1.8, true: 1.5, transform: log}
  beta: {init: 1.2, true: 1.0, transform: log}
  gamma: {init: 3.6, true: 3.0, transform: log}
  delta: {init: 1.2, true: 1.0, transform: log}
initial_state: {x: 10.0, y: 5.0}
observations:
  x: {sigma_relative: 0.01}
  y: {sigma_relative: 0.01}
data:
  synthetic:
    times: {start: 0.0, stop: 10.0, num: 50}
    seed: 0
solver: {name: tsit5, rtol: 1.0e-8, atol: 1.0e-10}
fit:
  method: levenberg_marquardt
  max_steps: 100
"""
"""The built-in Lotka-Volterra config that `python -m diffsim.run` runs without a file.

**Example:** YAML text; written out, it is a starting point for one's own config.

```python
import diffsim

config = diffsim.config.validate_config(diffsim.config.load_yaml(diffsim.runner.DEFAULT_CONFIG))
assert config.name == "lotka_volterra" and config.fit.method == "levenberg_marquardt"
```
"""
