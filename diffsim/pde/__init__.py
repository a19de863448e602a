"""Differentiable PDEs by the method of lines: grids, operators, models and `solve`.

Inverse problems on PDEs are `diffsim.inverse.PdeProblem`s, configured like any run.
"""

from ._advection_diffusion import AdvectionDiffusion as AdvectionDiffusion
from ._boundary import Boundaries as Boundaries
from ._boundary import Dirichlet as Dirichlet
from ._boundary import Neumann as Neumann
from ._boundary import Periodic as Periodic
from ._boundary import boundaries as boundaries
from ._burgers import Burgers as Burgers
from ._burgers_spectral import SpectralBurgers as SpectralBurgers
from ._etd import ETDRK4 as ETDRK4
from ._etd import AbstractSemilinear as AbstractSemilinear
from ._etd import phi_functions as phi_functions
from ._finite_volume import advection as advection
from ._finite_volume import conservation_law as conservation_law
from ._finite_volume import gradient as gradient
from ._finite_volume import laplacian as laplacian
from ._grid import Grid as Grid
from ._grid import interpolate as interpolate
from ._grid import uniform_grid as uniform_grid
from ._heat import Heat as Heat
from ._limiter import LIMITERS as LIMITERS
from ._local import AbstractLocalPDE as AbstractLocalPDE
from ._model import AbstractPDE as AbstractPDE
from ._navier_stokes import NavierStokes2D as NavierStokes2D
from ._operators import AbstractOperators as AbstractOperators
from ._operators import GridOperators as GridOperators
from ._pointwise import PointOperators as PointOperators
from ._reaction_diffusion import AllenCahn as AllenCahn
from ._reaction_diffusion import FisherKPP as FisherKPP
from ._reaction_diffusion import GrayScott as GrayScott
from ._solve import make_solver as make_solver
from ._solve import solve as solve
from ._solve import stable_step as stable_step
from ._spectral import FourierMultiplier as FourierMultiplier
from ._spectral import dealias_mask as dealias_mask
from ._spectral import spectral_derivative as spectral_derivative
from ._spectral import spectral_laplacian as spectral_laplacian
from ._spectral import wavenumbers as wavenumbers
from ._user_model import UserPDE as UserPDE
from ._wave import Absorbing as Absorbing
from ._wave import Wave as Wave
