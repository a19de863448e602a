"""The modes of differentiation, from the lesson that started diffsim.

`jacobian` asks for a derivative by any mode (manual, symbolic, numerical, forward, reverse,
auto); `trace` writes out the computational graph of a function with its forward tangents and
reverse adjoints; `taylor_test` checks a gradient by the convergence rates of Taylor
remainders.
"""

from ._jacobian import jacobian as jacobian
from ._modes import ModeChoice as ModeChoice
from ._modes import choose_mode as choose_mode
from ._modes import mode_for_sizes as mode_for_sizes
from ._symbolic import to_sympy as to_sympy
from ._taylor import TaylorTest as TaylorTest
from ._taylor import taylor_test as taylor_test
from ._trace import EvaluationTrace as EvaluationTrace
from ._trace import TraceRow as TraceRow
from ._trace import trace as trace
