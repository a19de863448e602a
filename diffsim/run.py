"""Command line: fit an ODE or PDE model to data as a YAML config says, and write a report.

    python -m diffsim.run [CONFIG] [--out DIR] [--set key.path=value ...] [--validate] [--quiet]

Exit status: 0 the fit converged; 1 it ran but did not converge (or was interrupted; the
report is still written); 2 bad config, data or arguments (one line on stderr, no traceback).
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

_EPILOG = """\
examples:
  python -m diffsim.run                                  # built-in Lotka-Volterra fit
  python -m diffsim.run configs/sir_boarding_school.yaml
  python -m diffsim.run configs/lorenz.yaml --set fit.max_steps=50 --out runs/try1
  python -m diffsim.run configs/burgers_identification.yaml   # a PDE: Burgers' coefficients
  python -m diffsim.run my.yaml --validate               # check config and data only
  python -m diffsim.run Boehm.yaml --evaluate            # a PEtab problem: log L and gradient

--set takes a dotted key path and a YAML value, e.g. --set parameters.alpha.init=0.8,
--set solver.name=dopri5, --set fit.multistart.count=16. Keys are documented in docs/config.md.

exit status: 0 converged, 1 did not converge or interrupted (report written),
2 bad config, data or arguments.
environment: DIFFSIM_CACHE_DIR sets the compilation cache folder (default ~/.cache/diffsim/jax).
multi-process runs (docs/scale.md): DIFFSIM_COORDINATOR=host:port, DIFFSIM_NUM_PROCESSES,
DIFFSIM_PROCESS_ID, DIFFSIM_JOIN_TIMEOUT (seconds), or srun under SLURM.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (exit status 2) like bad configs."""

    def error(self, message):
        self.exit(2, f"error: {message} (see python -m diffsim.run --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m diffsim.run",
        description="Estimate the unknowns of an ODE or PDE model from data as a YAML config "
        "describes, and write a run folder with result.json, plots, report.md and report.html.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config", nargs="?", help="YAML config file (default: built-in Lotka-Volterra fit)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="run folder; must not exist or be empty (default: runs/<name>/<timestamp>/)",
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a config key (repeatable)",
    )
    parser.add_argument(
        "--validate", action="store_true", help="check the config and data, then exit"
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="PEtab problem files only: write result.json with the log-likelihood at the "
        "nominal parameters and its gradient, without fitting",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--no-cache", action="store_true", help="do not use the persistent compilation cache"
    )
    return parser


def _fail(message: str) -> int:
    """Print `message` as one line (parts of a multi-line message joined) and return 2."""
    parts = [line.strip() for line in message.splitlines() if line.strip()]
    print(f"error: {' '.join(parts)}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None, *, started: float | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring).

    **Arguments:**
    - `argv`: the arguments (default: `sys.argv[1:]`).
    - `started`: the `time.perf_counter()` value that the reported total time counts from;
      `python -m diffsim.run` passes the process start, a call from Python defaults to now.
    """
    if started is None:
        started = time.perf_counter()
    args = _parser().parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)

    from .runner import DistributedError, join_processes, sigterm_interrupts

    try:
        process = join_processes()
    except DistributedError as error:
        return _fail(str(error))
    if process != 0:  # process 0 reports and writes the run folder
        args.quiet = True
    with sigterm_interrupts():
        return _main(args, argv, started, process)


def _run_petab(args) -> int:
    """A PEtab problem file: `diffsim.petab` validates, evaluates or fits it."""
    try:
        from .petab._cli import main as run_command
    except ImportError as error:
        return _fail(f"{args.config}: PEtab needs: pip install 'diffsim[petab]' ({error})")
    return run_command(
        args.config,
        out=args.out,
        overrides=args.overrides,
        evaluate_only=args.evaluate,
        validate=args.validate,
        quiet=args.quiet,
    )


def _main(args, argv, started: float, process: int = 0) -> int:
    from .config import ConfigError, build_problem, load_yaml, read_config_data, validate_config
    from .inverse import DataError
    from .runner import (
        DEFAULT_CONFIG,
        Progress,
        RunFolder,
        RunFolderError,
        check_before_build,
        check_fit_settings,
        check_problem,
        enable_compilation_cache,
        interruption,
        run,
    )

    progress = Progress(enabled=False if args.quiet else None)
    try:
        if args.out is not None and not args.out.strip():
            raise RunFolderError("--out: the folder name is empty")
        if args.config is None:
            base_dir, data = Path.cwd(), load_yaml(DEFAULT_CONFIG)
        else:
            base_dir, data = Path(args.config).resolve().parent, read_config_data(args.config)
            petab_config = isinstance(data.get("model"), dict) and "petab" in data["model"]
            if ("format_version" in data and "problems" in data) or petab_config:  # PEtab
                return _run_petab(args)
        if args.evaluate:
            raise ConfigError("--evaluate: only for PEtab problem files")
        config = validate_config(data, args.overrides)
        check_before_build(config)
        if not args.no_cache:
            enable_compilation_cache()
        if config.data is None or config.data.synthetic is not None:
            progress.message("simulating the synthetic data...")
        problem = build_problem(config, base_dir)
        check_problem(config, problem)
        check_fit_settings(config, problem)
        if args.validate:
            model = problem.describe()["model"]["name"]
            print(
                f"config OK: model {model}, {problem.space.size} free parameters, "
                f"{problem.num_points} data values"
            )
            return 0
        if process == 0:
            folder = RunFolder(args.out or RunFolder.default_path(config.name))
        else:  # the other processes of a multi-process run compute alike, into a scratch folder
            folder = RunFolder(tempfile.mkdtemp(prefix=f"diffsim-process-{process}-"))
    except (ConfigError, DataError, RunFolderError, ValueError, TypeError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail(f"{interruption()} before the fit started; nothing was written")

    progress.message(f"run folder: {folder.path}")
    try:
        report = run(
            config,
            problem,
            folder,
            base_dir=base_dir,
            progress=progress,
            started=started,
            argv=sys.argv if argv is None else ["python", "-m", "diffsim.run", *argv],
        )
    except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM) while the report was written
        print(f"{interruption()}; files written so far are in {folder.path}", file=sys.stderr)
        return 1
    except OSError as error:  # the disk filled up, the folder was removed, ...
        reason = error.strerror or str(error)
        print(f"error: {error.filename or folder.path}: cannot write ({reason})", file=sys.stderr)
        return 1
    finally:
        if process != 0:
            shutil.rmtree(folder.path, ignore_errors=True)
    if not args.quiet:
        verdict = "converged" if report["success"] else "NOT converged"
        print(f"{verdict}: {report['message']}\nreport: {folder.path / 'report.md'}")
    return 0 if report["success"] else 1


if __name__ == "__main__":
    from .runner import process_start

    sys.exit(main(started=process_start()))
