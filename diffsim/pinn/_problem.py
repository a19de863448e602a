"""`PINNProblem`: a PDE model, its domain, initial/boundary/data conditions and unknowns,
as loss terms of a network."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..inverse._transforms import AbstractTransform, make_transform
from ..nn import AbstractNetwork
from ..pde._boundary import Dirichlet, Neumann, Periodic
from ..pde._local import AbstractLocalPDE
from ._ansatz import HARD_CONSTRAINTS, Ansatz, dirichlet_ends
from ._sampling import AbstractSampler, LatinHypercube


class Unknown(eqx.Module):
    """A PDE coefficient trained with the network, through a transform.

    The transforms are those of the solver-based fits (`diffsim.inverse`'s `make_transform`):
    `"none"`, `"log"`, `"positive"`, with optional bounds.

    **Arguments:** `initial` (the starting value), `transform`, `lower`, `upper`.

    ```python
    import math
    from diffsim import pinn

    nu = pinn.Unknown(0.003, "log")  # trained as z = log ν: ν stays positive
    assert math.isclose(float(nu.transform.inverse(0.003)), math.log(0.003))
    assert float(nu.transform.forward(-50.0)) > 0
    ```
    """

    initial: float
    transform: AbstractTransform

    def __init__(self, initial, transform="none", lower=None, upper=None, *, where="unknown"):
        self.transform = make_transform(transform, lower, upper, where=where)
        self.initial = float(initial)
        if not np.isfinite(float(self.transform.inverse(self.initial))):
            raise ValueError(f"{where}.initial: {initial} is outside the transform's range")


class Observations(eqx.Module):
    """Measurements `u(t_i, x_i) = u_i` with noise standard deviation `sigma`.

    `x` is `(n, ndim)`; `sigma` scales the uncertainty of identified coefficients;
    `component` (`(n,)` integers, for a state of several fields) says which component each
    value measures (default: the state is one field).

    ```python
    import jax.numpy as jnp
    from diffsim import pinn

    data = pinn.Observations(jnp.array([0.0, 0.5]), jnp.array([[0.1], [0.2]]), jnp.zeros(2))
    u = lambda t, x: t + x[0]
    assert jnp.allclose(data.predicted(u), jnp.array([0.1, 0.7]))
    ```
    """

    t: Array
    x: Array
    u: Array
    sigma: float = 1.0
    component: Array | None = None

    def predicted(self, fn: Callable) -> Array:
        """`fn(t, x)` at the measured points (the measured component of each)."""
        values = jax.vmap(fn)(self.t, self.x)
        if self.component is None:
            return values
        return jnp.take_along_axis(values, jnp.asarray(self.component)[:, None], axis=1)[:, 0]


class Trainable(eqx.Module):
    """What is trained: the network and the unconstrained variables of the unknowns.

    `PINNProblem.init` makes one; `Trained.trainable` is the trained one.

    ```python
    import jax
    from diffsim import nn, pde, pinn

    model = pde.Heat(pde.uniform_grid(8, 0.0, 1.0))
    unknowns = {"diffusivity": pinn.Unknown(0.5, "log")}
    problem = pinn.PINNProblem(model, (0.0, 1.0), unknowns=unknowns)
    net = nn.MLP(2, "scalar", 4, 1, dtype="float64", key=jax.random.key(0))
    trainable = problem.init(net)
    assert isinstance(trainable, pinn.Trainable) and trainable.network is net
    assert float(problem.parameters(trainable)["diffusivity"]) == 0.5
    ```
    """

    network: eqx.Module
    unknowns: dict[str, Array]


class Points(eqx.Module):
    """Fixed point sets of the initial and boundary terms (drawn once)."""

    initial: Array  # (n, ndim) positions at t0
    boundary: tuple  # per (axis, side): (n, 1 + ndim) points


def _boundary_conditions(model):
    """`(axis, side, bc)` for every end; `ValueError` for a kind a PINN cannot enforce."""
    ends = []
    for axis, pair in enumerate(model.bcs.sides):
        for side, bc in zip(("lower", "upper"), pair, strict=True):
            if not isinstance(bc, (Dirichlet, Neumann, Periodic)):
                raise ValueError(
                    f"boundary: {type(bc).__name__} ({side} end of axis {axis}) is not accepted "
                    "by a PINN; use Dirichlet, Neumann or Periodic"
                )
            ends.append((axis, side, bc))
    return tuple(ends)


class PINNProblem(eqx.Module):
    """A PDE to be solved (or identified) by a physics-informed network.

    The physics comes from the model alone: its `residual` (the same `equation` its grid
    solver steps), its box (`model.grid.lower/upper`; the grid's resolution is not used) and
    its boundary conditions (`model.bcs`: Dirichlet, Neumann and periodic ends become loss
    terms, or hard constraints).

    **Arguments:**
    - `model`: an `AbstractLocalPDE` (e.g. `pde.Burgers(grid, pde.Dirichlet(0.0))`).
    - `t_span`: `(t0, t1)`.
    - `params`: known parameters (scalars, or functions of `x` for field parameters).
    - `unknowns`: `{name: Unknown(...)}`, coefficients trained with the network.
    - `initial`: `u0(x)` (one-field state: a scalar; else one entry per component), or `None`.
    - `data`: optional `Observations`.
    - `n_initial`, `n_boundary`: points of the initial term and per boundary end.
    - `hard`: a subset of `("initial", "boundary")` imposed exactly by the ansatz.
    - `sampler`: how the initial/boundary points are drawn (default `LatinHypercube()`).
    - `coefficients`: optional `values -> params`: the model's parameters from the unknowns'
      values (`{name: value}`), e.g. expressions of them; the unknowns may then have any
      names. Default: each unknown is the model parameter of its name.

    **Example:** the heat equation with soft initial and Dirichlet conditions: the loss
    terms of a network.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn, pde, pinn

    model = pde.Heat(pde.uniform_grid(8, -1.0, 1.0), pde.Dirichlet(0.0))
    u0 = lambda x: jnp.sin(jnp.pi * x[0])
    problem = pinn.PINNProblem(model, (0.0, 1.0), {"diffusivity": 0.1}, initial=u0)
    trainable = problem.init(nn.MLP(2, "scalar", 4, 1, dtype="float64", key=jax.random.key(0)))
    tx = jnp.array([[0.5, 0.0], [0.2, 0.3]])  # collocation points (t, x)
    terms = problem.loss_terms(trainable, tx, problem.points(seed=0))
    assert set(terms) == {"residual", "initial", "boundary"}
    assert problem.residuals(trainable, tx).shape == (2,)
    ```
    """

    model: AbstractLocalPDE
    t_span: tuple[float, float] = eqx.field(static=True)
    params: dict
    unknowns: dict[str, Unknown]
    initial: Callable | None
    data: Observations | None
    n_initial: int = eqx.field(static=True)
    n_boundary: int = eqx.field(static=True)
    ansatz: Ansatz
    boundary: tuple
    sampler: AbstractSampler
    coefficients: Callable | None

    def __init__(
        self,
        model,
        t_span,
        params=None,
        unknowns=None,
        *,
        initial=None,
        data=None,
        n_initial=100,
        n_boundary=50,
        hard=(),
        sampler=None,
        coefficients=None,
    ):
        if not isinstance(model, AbstractLocalPDE):
            raise ValueError(
                f"model: {type(model).__name__} has no pointwise equation (a PINN needs an "
                "AbstractLocalPDE such as Heat, Burgers, AdvectionDiffusion, FisherKPP, "
                "AllenCahn, GrayScott or Wave)"
            )
        t0, t1 = (float(v) for v in t_span)
        if not t1 > t0:
            raise ValueError(f"t_span: the time interval has zero width ([{t0}, {t1}])")
        params, unknowns = dict(params or {}), dict(unknowns or {})
        given = dict(params)
        if coefficients is None:
            given.update(unknowns)
        else:
            given.update(coefficients({k: u.initial for k, u in unknowns.items()}))
        for name in given:
            if name not in model.parameters:
                raise ValueError(
                    f"params.{name}: unknown parameter of {type(model).__name__} "
                    f"(parameters: {', '.join(model.parameters)})"
                )
        for name in model.parameters:
            if name not in given and name not in model.optional:
                raise ValueError(f"params.{name}: missing (give a value or make it unknown)")
        for name, value in params.items():
            if not callable(value) and np.ndim(value) != 0:
                raise ValueError(f"params.{name}: a PINN takes scalars or functions of x")
        bad = [h for h in hard if h not in HARD_CONSTRAINTS]
        if bad:
            raise ValueError(f"hard: unknown constraint {bad[0]!r} (use {HARD_CONSTRAINTS})")
        if "initial" in hard and initial is None:
            raise ValueError("hard: 'initial' needs an initial condition")
        for key, n in (("n_initial", n_initial), ("n_boundary", n_boundary)):
            if int(n) < 1:
                raise ValueError(f"{key}: needs at least 1 point, got {n}")
        self.boundary = _boundary_conditions(model)
        grid = model.grid
        lower, upper = (t0, *grid.lower), (t1, *grid.upper)
        ends = dirichlet_ends(model.bcs) if "boundary" in hard else (None,) * grid.ndim
        self.ansatz = Ansatz(lower, upper, initial, tuple(hard), ends)
        if "initial" in hard and "boundary" in hard:
            self._check_compatible(initial, ends, lower, upper)
        self.model, self.t_span = model, (t0, t1)
        self.params, self.unknowns = params, unknowns
        self.initial, self.data = initial, data
        self.n_initial, self.n_boundary = int(n_initial), int(n_boundary)
        self.sampler = LatinHypercube() if sampler is None else sampler
        self.coefficients = coefficients

    @staticmethod
    def _check_compatible(initial, ends, lower, upper):
        for axis, pair in enumerate(ends):
            if pair is None:
                continue
            for side, value in zip((lower, upper), pair, strict=True):
                x = np.asarray(lower[1:], float)
                x[axis] = side[axis + 1]
                if abs(float(initial(jnp.asarray(x))) - value) > 1e-6 * (1 + abs(value)):
                    raise ValueError(
                        "hard: 'initial' with 'boundary' needs u0 to take the boundary values "
                        f"(axis {axis}: u0 = {float(initial(jnp.asarray(x))):.6g}, bc {value})"
                    )

    # ----------------------------------------------------------------------------------------
    @property
    def lower(self) -> tuple[float, ...]:
        return self.ansatz.lower

    @property
    def upper(self) -> tuple[float, ...]:
        return self.ansatz.upper

    @property
    def ndim(self) -> int:
        return self.model.grid.ndim

    def init(self, network) -> Trainable:
        """The trainable pytree: `network` and the unknowns' initial (transformed) values,
        in the network's dtype."""
        dtype = jax.tree_util.tree_leaves(eqx.filter(network, eqx.is_inexact_array))[0].dtype
        z = {
            k: jnp.asarray(u.transform.inverse(u.initial), dtype) for k, u in self.unknowns.items()
        }
        return Trainable(network, z)

    def parameters(self, trainable: Trainable) -> dict:
        """Known and current unknown parameter values."""
        values = {k: u.transform.forward(trainable.unknowns[k]) for k, u in self.unknowns.items()}
        return {
            **self.params,
            **(values if self.coefficients is None else self.coefficients(values)),
        }

    def field(self, trainable: Trainable) -> Callable:
        """`u(t, x)` of the trained network (hard constraints applied)."""
        return lambda t, x: self.ansatz(trainable.network, t, x)

    def points(self, seed: int) -> Points:
        """Draw the initial and boundary point sets."""
        box_lo, box_hi = self.lower[1:], self.upper[1:]
        initial = self.sampler.sample(self.n_initial, box_lo, box_hi, seed)
        boundary = []
        for i, (axis, side, _) in enumerate(self.boundary):
            pts = self.sampler.sample(self.n_boundary, self.lower, self.upper, seed + 1 + i)
            pts[:, axis + 1] = (self.lower if side == "lower" else self.upper)[axis + 1]
            boundary.append(jnp.asarray(pts))
        return Points(jnp.asarray(initial), tuple(boundary))

    # ---------------------------------------------------------------- loss terms
    def residuals(self, trainable: Trainable, tx: Array) -> Array:
        """PDE residuals at the points `tx` (`(n, 1 + ndim)`): `(n,)` or `(n, components)`.

        For a `diffsim.nn` network the derivatives come from one Taylor-mode pass over the
        batch (`Ansatz.jet`); the model's residual then differentiates, at each point, the
        quadratic `u + u_t δt + Σ_i (∂_i u δx_i + ½ ∂_i²u δx_i²)`, whose derivatives there are
        the network's own: exact, as with nested `jax.jvp` of the network (the path for any
        other network), and with the sliced gradient of `pinn.train` 3 times cheaper on
        Raissi's Burgers set-up (`experiments/pinn_step.py`). The operators a model's
        equation may use (`AbstractOperators`) need no mixed or third derivatives.
        """
        params = self.parameters(trainable)
        if not isinstance(trainable.network, AbstractNetwork):
            fn = self.field(trainable)
            return jax.vmap(lambda p: self.model.residual(fn, p[0], p[1:], params))(tx)
        jet = self.ansatz.jet(trainable.network, tx, self.ndim)

        def at(p, value, first, second):
            t0, x0 = p[0], p[1:]

            def local(t, x):
                dx = x - x0
                u = value + first[-1] * (t - t0)
                for i in range(self.ndim):
                    u = u + (first[i] + second[i] * dx[i] / 2) * dx[i]
                return u

            return self.model.residual(local, t0, x0, params)

        return jax.vmap(at, in_axes=(0, 0, 1, 1))(tx, jet.value, jet.first, jet.second)

    def loss_terms(self, trainable: Trainable, tx: Array, points: Points, causal=None) -> dict:
        """The unweighted loss terms: `residual` (mean squared PDE residual at the collocation
        points `tx`, causally weighted by `causal` if given), and those of `initial`,
        `boundary` and `data` that apply (mean squared misfits; hard constraints have none)."""
        squared = squared_norms(self.residuals(trainable, tx))
        if causal is None:
            residual = jnp.mean(squared)
        else:
            residual = causal.loss(squared, tx[:, 0], *self.t_span)[0]
        return {"residual": residual, **self.condition_terms(trainable, points)}

    def condition_terms(self, trainable: Trainable, points: Points) -> dict:
        """The loss terms other than the residual: `initial`, `boundary`, `data`, those
        that apply."""
        out = {}
        for name, value in (
            ("initial", self.initial_loss(trainable, points)),
            ("boundary", self.boundary_loss(trainable, points)),
            ("data", self.data_loss(trainable)),
        ):
            if value is not None:
                out[name] = value
        return out

    def initial_loss(self, trainable, points: Points):
        if self.initial is None or "initial" in self.ansatz.hard:
            return None
        fn, t0 = self.field(trainable), self.t_span[0]
        x = points.initial
        diff = jax.vmap(lambda xi: fn(jnp.asarray(t0, xi.dtype), xi) - self.initial(xi))(x)
        return jnp.mean(diff**2)

    def boundary_loss(self, trainable, points: Points):
        fn = self.field(trainable)
        terms = []
        for (axis, side, bc), pts in zip(self.boundary, points.boundary, strict=True):
            skip = (isinstance(bc, Dirichlet) and "boundary" in self.ansatz.hard) or (
                isinstance(bc, Periodic) and side == "upper"  # the lower end's term pairs both
            )
            if not skip:
                misfit = _boundary_misfit(fn, bc, axis, side, self.upper[axis + 1])
                terms.append(jnp.mean(jax.vmap(misfit)(pts) ** 2))
        return None if not terms else sum(terms) / len(terms)

    def data_loss(self, trainable):
        if self.data is None:
            return None
        d = self.data
        return jnp.mean((d.predicted(self.field(trainable)) - d.u) ** 2)


def squared_norms(residuals: Array) -> Array:
    """`|r_i|²` per point of residuals `(n,)` or `(n, components)`."""
    return residuals**2 if residuals.ndim == 1 else jnp.sum(residuals**2, axis=1)


def _boundary_misfit(fn, bc, axis, side, upper_end):
    """The boundary condition's misfit at a point `p = (t, x...)` on the end."""
    if isinstance(bc, Dirichlet):
        return lambda p: fn(p[0], p[1:]) - bc.value
    if isinstance(bc, Neumann):  # outward normal derivative
        sign = -1.0 if side == "lower" else 1.0
        return lambda p: sign * _gradient(fn, p, axis) - bc.flux

    def periodic(p):  # value and slope match at the other end
        q = p.at[axis + 1].set(upper_end)
        return jnp.stack(
            [fn(p[0], p[1:]) - fn(q[0], q[1:]), _gradient(fn, p, axis) - _gradient(fn, q, axis)]
        )

    return periodic


def _gradient(fn, p, axis):
    """`∂fn/∂x_axis` at the point `p = (t, x...)` (forward mode)."""
    t, x = p[0], p[1:]
    e = jnp.zeros_like(x).at[axis].set(1)
    return jax.jvp(lambda y: fn(t, y), (x,), (e,))[1]
