"""Running a configured fit into a run folder (what `python -m diffsim.run` does).

Named `runner` so that it is not confused with the top-level `experiments/` (studies).
"""

from ._cache import (
    default_cache_dir as default_cache_dir,
)
from ._cache import (
    enable_compilation_cache as enable_compilation_cache,
)
from ._clock import process_start as process_start
from ._default import DEFAULT_CONFIG as DEFAULT_CONFIG
from ._distributed import DistributedError as DistributedError
from ._distributed import join_processes as join_processes
from ._environment import environment_info as environment_info
from ._limits import MAX_STEPS as MAX_STEPS
from ._limits import LimitError as LimitError
from ._limits import check_before_build as check_before_build
from ._limits import check_problem as check_problem
from ._limits import memory_limit as memory_limit
from ._progress import Progress as Progress
from ._run import check_fit_settings as check_fit_settings
from ._run import run as run
from ._run_folder import RunFolder as RunFolder
from ._run_folder import RunFolderError as RunFolderError
from ._signals import Terminated as Terminated
from ._signals import interruption as interruption
from ._signals import sigterm_interrupts as sigterm_interrupts
