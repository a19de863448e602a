"""`python -m diffsim.pde.run`: an alias of `python -m diffsim.run` (one runner for every model)."""

import sys

if __name__ == "__main__":
    from ..run import main
    from ..runner import process_start

    sys.exit(main(started=process_start()))
