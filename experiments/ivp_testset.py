"""Six stiff problems of the Test Set for IVP Solvers (Mazzia, Magherini et al., Bari), with
the reference end values published in its Fortran problem files.

Each problem file's `feval` gives the right-hand side and its `solut` the reference solution at
the end time, "computed using double precision RADAU" at rtol = atol = 1.1e-18 (files at
http://www.dm.uniba.it/~testset/src/problems/: hires.f, orego.f, vdpolm.f, rober.f, pollu.f,
e5.f, revision 2006; VDPOL is the test set's `vdpolm`, Van der Pol with μ = 1e3 on [0, 2000]).
Used by `experiments/bench_stiff.py` and `tests/test_stiff_testset.py`.

The error of a solution is the test set's mixed error `max_i |y_i − ref_i| / (a + |ref_i|)`,
with `a = atol / rtol` the problem's absolute-tolerance scale (so components far below `a`,
such as E5's y1 ≈ 1e-290, are measured absolutely).
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class TestProblem:
    """An autonomous test problem: `rhs(t, y)`, `y0` at `t0 = 0`, the end time and value."""

    __test__ = False  # not a pytest class

    name: str
    rhs: Callable
    y0: np.ndarray
    t1: float
    reference: np.ndarray
    atol_scale: float  # atol = atol_scale * rtol

    def error(self, y) -> float:
        """The mixed error of an end value against the reference."""
        y = np.asarray(y, np.float64)
        return float(
            np.max(np.abs(y - self.reference) / (self.atol_scale + np.abs(self.reference)))
        )


def hires(t, y):
    y1, y2, y3, y4, y5, y6, y7, y8 = (y[i] for i in range(8))
    r = 280.0 * y6 * y8
    return jnp.stack(
        [
            -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
            1.71 * y1 - 8.75 * y2,
            -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
            8.32 * y2 + 1.71 * y3 - 1.12 * y4,
            -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
            -r + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
            r - 1.81 * y7,
            -r + 1.81 * y7,
        ]
    )


def orego(t, y):
    y1, y2, y3 = y[0], y[1], y[2]
    return jnp.stack(
        [
            77.27 * (y2 + y1 * (1.0 - 8.375e-6 * y1 - y2)),
            (y3 - (1.0 + y1) * y2) / 77.27,
            0.161 * (y1 - y3),
        ]
    )


def vdpol(t, y):
    return jnp.stack([y[1], 1e3 * (1.0 - y[0] ** 2) * y[1] - y[0]])


def rober(t, y):
    y1, y2, y3 = y[0], y[1], y[2]
    f1 = -0.04 * y1 + 1e4 * y2 * y3
    f3 = 3e7 * y2**2
    return jnp.stack([f1, -f1 - f3, f3])


_POLLU_K = np.array(
    [.35, .266e2, .123e5, .86e-3, .82e-3, .15e5, .13e-3, .24e5, .165e5, .9e4, .22e-1, .12e5,
     .188e1, .163e5, .48e7, .35e-3, .175e-1, .1e9, .444e12, .124e4, .21e1, .578e1, .474e-1,
     .178e4, .312e1]
)  # fmt: skip
# Reactions r_j = k_j * y[a_j] (* y[b_j]); 0-based species indices, -1 for a first-order one.
_POLLU_REACTANTS = np.array(
    [(0, -1), (1, 3), (4, 1), (6, -1), (6, -1), (6, 5), (8, -1), (8, 5), (10, 1), (10, 0),
     (12, -1), (9, 1), (13, -1), (0, 5), (2, -1), (3, -1), (3, -1), (15, -1), (15, -1), (16, 5),
     (18, -1), (18, -1), (0, 3), (18, 0), (19, -1)]
)  # fmt: skip
# f_i = Σ_j S[i, j] r_j: the stoichiometry of pollu.f's feval.
_POLLU_TERMS = {
    0: "-1 -10 -14 -23 -24 +2 +3 +9 +11 +12 +22 +25",
    1: "-2 -3 -9 -12 +1 +21",
    2: "-15 +1 +17 +19 +22",
    3: "-2 -16 -17 -23 +15",
    4: "-3 +4 +4 +6 +7 +13 +20",
    5: "-6 -8 -14 -20 +3 +18 +18",
    6: "-4 -5 -6 +13",
    7: "+4 +5 +6 +7",
    8: "-7 -8",
    9: "-12 +7 +9",
    10: "-9 -10 +8 +11",
    11: "+9",
    12: "-11 +10",
    13: "-13 +12",
    14: "+14",
    15: "-18 -19 +16",
    16: "-20",
    17: "+20",
    18: "-21 -22 -24 +23 +25",
    19: "-25 +24",
}
_POLLU_S = np.zeros((20, 25))
for _i, _terms in _POLLU_TERMS.items():
    for _term in _terms.split():
        _POLLU_S[_i, abs(int(_term)) - 1] += 1.0 if _term[0] == "+" else -1.0


def pollu(t, y):
    a, b = _POLLU_REACTANTS[:, 0], _POLLU_REACTANTS[:, 1]
    second = jnp.where(b >= 0, y[np.maximum(b, 0)], jnp.ones_like(y[b]))
    r = _POLLU_K * y[a] * second
    return jnp.asarray(_POLLU_S, y.dtype) @ r


def e5(t, y):
    prod1 = 7.89e-10 * y[0]
    prod2 = 1.1e7 * y[0] * y[2]
    prod3 = 1.13e9 * y[1] * y[2]
    prod4 = 1.13e3 * y[3]
    f2 = prod1 - prod3
    f4 = prod2 - prod4
    return jnp.stack([-prod1 - prod2, f2, f2 - f4, f4])


_POLLU_Y0 = np.zeros(20)
_POLLU_Y0[[1, 3, 6, 7, 8, 16]] = [0.2, 0.04, 0.1, 0.3, 0.01, 0.007]

PROBLEMS = {
    p.name: p
    for p in (
        TestProblem(
            "HIRES",
            hires,
            np.array([1.0, 0, 0, 0, 0, 0, 0, 0.0057]),
            321.8122,
            np.array(
                [
                    0.7371312573325668e-3,
                    0.1442485726316185e-3,
                    0.5888729740967575e-4,
                    0.1175651343283149e-2,
                    0.2386356198831331e-2,
                    0.6238968252742796e-2,
                    0.2849998395185769e-2,
                    0.2850001604814231e-2,
                ]
            ),
            1e-4,
        ),
        TestProblem(
            "OREGO",
            orego,
            np.array([1.0, 2.0, 3.0]),
            360.0,
            np.array([0.1000814870318523e1, 0.1228178521549917e4, 0.1320554942846706e3]),
            1e-2,
        ),
        TestProblem(
            "VDPOL",
            vdpol,
            np.array([2.0, 0.0]),
            2000.0,
            np.array([0.1706167732170469e1, -0.8928097010248125e-3]),
            1e-2,
        ),
        TestProblem(
            "ROBER",
            rober,
            np.array([1.0, 0.0, 0.0]),
            1e11,
            np.array([0.2083340149701255e-7, 0.8333360770334713e-13, 0.9999999791665050]),
            1e-14,
        ),
        TestProblem(
            "POLLU",
            pollu,
            _POLLU_Y0,
            60.0,
            np.array(
                [
                    0.5646255480022769e-1,
                    0.1342484130422339,
                    0.4139734331099427e-8,
                    0.5523140207484359e-2,
                    0.2018977262302196e-6,
                    0.1464541863493966e-6,
                    0.7784249118997964e-1,
                    0.3245075353396018,
                    0.7494013383880406e-2,
                    0.1622293157301561e-7,
                    0.1135863833257075e-7,
                    0.2230505975721359e-2,
                    0.2087162882798630e-3,
                    0.1396921016840158e-4,
                    0.8964884856898295e-2,
                    0.4352846369330103e-17,
                    0.6899219696263405e-2,
                    0.1007803037365946e-3,
                    0.1772146513969984e-5,
                    0.5682943292316392e-4,
                ]
            ),
            1e-6,
        ),
        TestProblem(
            "E5",
            e5,
            np.array([1.76e-3, 0.0, 0.0, 0.0]),
            1e13,
            np.array(
                [0.1152903278711829e-290, 0.8867655517642120e-22, 0.8854814626268838e-22, 0.0]
            ),
            1e-20,
        ),
    )
}
