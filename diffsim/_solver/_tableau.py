"""Butcher tableaux: the data that defines a Runge–Kutta method."""

import equinox as eqx
import numpy as np
from numpy.polynomial import polynomial as P

from ._base import AbstractSolver


class ButcherTableau(eqx.Module):
    """Coefficients of an s-stage Runge–Kutta method.

    **Fields:**
    - `c`: stage times (length s); `a`: strictly lower rows, `a[i]` has length i;
    - `b`: weights of the solution; `e`: weights of the error estimate (`b - b_embedded`),
      or `None` for a method without an embedded estimate;
    - `gamma`: the diagonal coefficient of an ESDIRK method (stages 2..s), 0 for explicit.
    - `order`, `error_order`: orders of the solution and of the embedded method.
    - `dense`: the method's own dense output, `y(t + θh) = y + h Σ_i B_i(θ) k_i` with
      `B_i(θ) = Σ_m dense[i][m] θ^(m+1)`; `None` for the cubic Hermite interpolant.

    **Example:** Ralston's second-order method, written as a tableau, converges at order 2.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)

    ralston = diffsim.ButcherTableau(
        c=(0.0, 2 / 3), a=((), (2 / 3,)), b=(1 / 4, 3 / 4), e=None, order=2, error_order=2
    )
    solver = diffsim.ExplicitRK(ralston)


    def rhs(t, y, params):
        return -y


    def error(dt):
        ts = jnp.array([0.0, 1.0])
        y1 = diffsim.solve_ode(rhs, jnp.array([1.0]), ts, None, solver=solver, dt=dt).ys[-1, 0]
        return abs(y1 - jnp.exp(-1.0))


    assert 3.5 < error(0.1) / error(0.05) < 4.5  # halving the step divides the error by 2**2
    ```
    """

    c: tuple[float, ...] = eqx.field(static=True)
    a: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    b: tuple[float, ...] = eqx.field(static=True)
    e: tuple[float, ...] | None = eqx.field(static=True)
    order: int = eqx.field(static=True)
    error_order: int = eqx.field(static=True)
    gamma: float = eqx.field(static=True, default=0.0)
    dense: tuple[tuple[float, ...], ...] | None = eqx.field(static=True, default=None)

    @property
    def fsal(self) -> bool:
        """First same as last: the last stage is `f(t + h, y1)`, the next step's first stage."""
        return self.c[-1] == 1.0 and self.a[-1] == self.b[:-1] and self.b[-1] == 0.0

    def __check_init__(self):
        stages = len(self.c)
        if len(self.a) != stages or any(len(row) != i for i, row in enumerate(self.a)):
            raise ValueError("Butcher tableau: `a` must hold rows of length 0, 1, ..., s-1.")
        if len(self.b) != stages or (self.e is not None and len(self.e) != stages):
            raise ValueError("Butcher tableau: `b` and `e` must have one weight per stage.")
        if self.dense is not None and len(self.dense) != stages:
            raise ValueError("Butcher tableau: `dense` must hold one polynomial per stage.")


def _polynomials(rows) -> tuple[tuple[float, ...], ...]:
    """Dense-output polynomials as tuples of coefficients of θ, θ², ... (no constant term)."""
    return tuple(tuple(float(x) for x in np.asarray(row)[1:]) for row in rows)


EULER = ButcherTableau(c=(0.0,), a=((),), b=(1.0,), e=None, order=1, error_order=1)

HEUN = ButcherTableau(
    c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5), e=(-0.5, 0.5), order=2, error_order=1
)

RK4 = ButcherTableau(
    c=(0.0, 0.5, 0.5, 1.0),
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    e=None,
    order=4,
    error_order=4,
)

# Bogacki–Shampine 3(2), FSAL.
BOSH3 = ButcherTableau(
    c=(0.0, 0.5, 0.75, 1.0),
    a=((), (0.5,), (0.0, 0.75), (2 / 9, 1 / 3, 4 / 9)),
    b=(2 / 9, 1 / 3, 4 / 9, 0.0),
    e=(-5 / 72, 1 / 12, 1 / 9, -1 / 8),
    order=3,
    error_order=2,
)

# Dormand–Prince 5(4), FSAL: the last stage is evaluated at the solution.
_DOPRI5_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)


def _dopri5_dense():
    """Shampine's fourth-order dense output of Dormand–Prince (through y at θ = 1/2), as
    polynomials in θ: `y(θ) = y0 + k0 θ + c θ² + b θ³ + a θ⁴` with `a, b, c` linear in the
    increments `k_i = h f_i` (Hairer, Nørsett & Wanner I, Sec. II.6)."""
    mid = (
        np.array(
            [
                6025192743 / 30085553152,
                0.0,
                51252292925 / 65400821598,
                -2691868925 / 45128329728,
                187940372067 / 1594534317056,
                -1776094331 / 19743644256,
                11237099 / 235043384,
            ]
        )
        / 2
    )  # y(1/2) = y0 + Σ mid_i k_i
    b = np.array(_DOPRI5_B + (0.0,))
    first, last = np.eye(7)[0], np.eye(7)[-1]
    c2 = last - 4 * first - 5 * b + 16 * mid
    c3 = 5 * first - 3 * last + 14 * b - 32 * mid
    c4 = 2 * (last - first) - 8 * b + 16 * mid
    return _polynomials(np.stack([np.zeros(7), first, c2, c3, c4], axis=1))


DOPRI5 = ButcherTableau(
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    a=(
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        _DOPRI5_B,
    ),
    b=_DOPRI5_B + (0.0,),
    e=(
        35 / 384 - 5179 / 57600,
        0.0,
        500 / 1113 - 7571 / 16695,
        125 / 192 - 393 / 640,
        -2187 / 6784 + 92097 / 339200,
        11 / 84 - 187 / 2100,
        -1 / 40,
    ),
    order=5,
    error_order=4,
    dense=_dopri5_dense(),
)

# Tsitouras 5(4), FSAL (Ch. Tsitouras, Comput. Math. Appl. 62 (2011) 770–775).
_TSIT5_B = (
    0.09646076681806523,
    0.01,
    0.4798896504144996,
    1.379008574103742,
    -3.290069515436081,
    2.324710524099774,
)
TSIT5 = ButcherTableau(
    c=(0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0),
    a=(
        (),
        (0.161,),
        (-0.008480655492356989, 0.335480655492357),
        (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
        (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
        (
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
        ),
        _TSIT5_B,
    ),
    b=_TSIT5_B + (0.0,),
    e=(
        0.0017800110522257773,
        0.0008164344596567463,
        -0.007880878010261994,
        0.1447110071732629,
        -0.5823571654525552,
        0.45808210592918686,
        -0.015151515151515152,
    ),
    order=5,
    error_order=4,
    dense=_polynomials(
        [
            -1.0530884977290216
            * P.polymul(
                P.polyfromroots([0.0, 1.3299890189751412]),
                [0.7139816917074209, -1.4364028541716351, 1.0],
            ),
            0.1017 * P.polymul([0.0, 0.0, 1.0], [1.2949852507374631, -2.1966568338249754, 1.0]),
            2.490627285651252793
            * P.polymul([0.0, 0.0, 1.0], [1.57803468208092486, -2.38535645472061657, 1.0]),
            -16.54810288924490272
            * P.polyfromroots([0.0, 0.0, 1.21712927295533244, 0.61620406037800089]),
            47.37952196281928122
            * P.polyfromroots([0.0, 0.0, 1.203071208372362603, 0.658047292653547382]),
            -34.87065786149660974 * P.polyfromroots([0.0, 0.0, 1.2, 0.666666666666666667]),
            2.5 * P.polyfromroots([0.0, 0.0, 1.0, 0.6]),
        ]
    ),
)

# Kværnø's ESDIRK 5(4): L-stable, stiffly accurate (b is the last row), 7 stages, diagonal
# 0.26 (A. Kværnø, BIT 44 (2004) 489–502).
_KVAERNO5_B = (
    0.13659751177640292,
    0.0,
    -0.05496908796538376,
    -0.04118626728321046,
    0.629933048990164,
    0.06962479448202728,
)
KVAERNO5 = ButcherTableau(
    c=(0.0, 0.52, 1.230333209967908, 0.8957659843500759, 0.43639360985864756, 1.0, 1.0),
    a=(
        (),
        (0.26,),
        (0.13, 0.8403332099679081),
        (0.22371961478320504, 0.476755323197997, -0.06470895363112615),
        (0.16648564323248322, 0.1045001884159172, 0.03631482272098715, -0.13090704451073998),
        (
            0.13855640231268224,
            0.0,
            -0.04245337201752043,
            0.02446657898003141,
            0.6194303907248068,
        ),
        _KVAERNO5_B,
    ),
    b=_KVAERNO5_B + (0.26,),
    e=(
        -0.0019588905362793174,
        0.0,
        -0.012515715947863326,
        -0.06565284626324187,
        0.010502658265357234,
        -0.1903752055179727,
        0.26,
    ),
    order=5,
    error_order=4,
    gamma=0.26,
)


class AbstractRungeKutta(AbstractSolver):
    """A Runge–Kutta solver: its orders are those of its Butcher `tableau`."""

    tableau: eqx.AbstractVar[ButcherTableau]

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def error_order(self) -> int | None:
        return None if self.tableau.e is None else self.tableau.error_order
