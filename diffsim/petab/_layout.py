"""A PEtab problem's tables as index arrays: which value every model quantity takes in every
condition, and where every measurement comes from.

A value is a reference `(index, constant)`: the PEtab parameter `theta[index]` when
`index >= 0`, else `constant`. All of it is host data, fixed when the problem is built.
"""

import dataclasses
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:
    import sympy as sp


@dataclasses.dataclass(frozen=True, eq=False)
class Observable:
    """One row of the observables table, as expressions."""

    id: str
    formula: "sp.Expr"
    noise: "sp.Expr"
    scale: str
    laplace: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """The tables of a PEtab problem (compared by identity, so it can be a static field).

    **Fields:**
    - `source`: the problem's YAML file.
    - `parameter_ids`, `scales`, `nominal`, `lower`, `upper`: the parameters table (values
      and bounds on the linear scale).
    - `estimated`: indices of the estimated parameters.
    - `condition_ids`: the simulation conditions.
    - `parameter_index`, `parameter_const`: `(C, P)` values of the model's parameters.
    - `species_set`, `species_index`, `species_const`: `(C, X)` initial values that a
      condition sets (`species_set` true where it does).
    - `experiments`: `(E, 2)` pairs `(pre-equilibration condition or -1, condition)`.
    - `times`: the output grid (from 0) shared by all experiments.
    - `observables`: one `Observable` per observable id.
    - `experiment`, `time_index`, `observable`: `(N,)` per measurement.
    - `measurement`: `(N,)` measured values.
    - `observable_index`, `observable_const`, `noise_index`, `noise_const`: `(N, K)` values
      of the placeholders `observableParameter{k}_{id}` and `noiseParameter{k}_{id}`.
    - `rows`: the measurement table row of each measurement (for messages).
    """

    source: str
    parameter_ids: tuple[str, ...]
    scales: tuple[str, ...]
    nominal: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    estimated: np.ndarray
    condition_ids: tuple[str, ...]
    parameter_index: np.ndarray
    parameter_const: np.ndarray
    species_set: np.ndarray
    species_index: np.ndarray
    species_const: np.ndarray
    experiments: np.ndarray
    times: np.ndarray
    observables: tuple[Observable, ...]
    experiment: np.ndarray
    time_index: np.ndarray
    observable: np.ndarray
    measurement: np.ndarray
    observable_index: np.ndarray
    observable_const: np.ndarray
    noise_index: np.ndarray
    noise_const: np.ndarray

    @property
    def preequilibrated(self) -> bool:
        return bool((self.experiments[:, 0] >= 0).any())


def resolve(theta, index: np.ndarray, const: np.ndarray):
    """Values of references: `theta[index]` where `index >= 0`, else `const`."""
    theta = jnp.asarray(theta)
    picked = theta[np.maximum(index, 0)] if theta.size else jnp.zeros(index.shape)
    return jnp.where(index >= 0, picked, const)


def to_scale(values, scales):
    """Linear values on their PEtab scales (`lin`, `log`, `log10`)."""
    out = [
        jnp.log(v) if s == "log" else jnp.log10(v) if s == "log10" else v
        for v, s in zip(jnp.asarray(values), scales, strict=True)
    ]
    return jnp.stack(out) if out else jnp.zeros(0)


def from_scale(values, scales):
    """Values on PEtab scales back to linear values."""
    out = [
        jnp.exp(v) if s == "log" else 10.0**v if s == "log10" else v
        for v, s in zip(jnp.asarray(values), scales, strict=True)
    ]
    return jnp.stack(out) if out else jnp.zeros(0)
