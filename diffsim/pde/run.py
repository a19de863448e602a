"""Command line: run a PDE inverse problem from a YAML config and write a report.

    python -m diffsim.pde.run CONFIG [--out DIR] [--set key.path=value ...] [--validate] [--quiet]

Exit status: 0 the fit converged; 1 it did not; 2 bad config or arguments (one line on stderr).
"""

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m diffsim.pde.run",
        description="Recover PDE parameters or fields from synthetic sensor data as a YAML "
        "config (configs/pde_*.yaml) describes; writes result.json, plots and report.md.",
    )
    parser.add_argument("config", help="YAML config file")
    parser.add_argument("--out", metavar="DIR", help="run folder (default runs/<name>/<time>/)")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a config key (repeatable)",
    )
    parser.add_argument("--validate", action="store_true", help="check the config, then exit")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import pydantic
    import yaml

    from ..experiment import RunFolder, RunFolderError
    from ..inverse import ConfigError, read_config_data
    from ..inverse._config_io import apply_override, format_validation_error, parse_override
    from ._inverse_config import PDEInverseConfig
    from ._inverse_report import run_inverse

    try:
        data = yaml.safe_load(yaml.safe_dump(read_config_data(args.config)))
        for text in args.overrides:
            apply_override(data, *parse_override(text))
        try:
            config = PDEInverseConfig.model_validate(data)
        except pydantic.ValidationError as error:
            raise ConfigError(f"{args.config}: {format_validation_error(error)}") from None
        if args.validate:
            print(f"config OK: problem {config.problem}, {config.grid.cells} cells")
            return 0
        folder = RunFolder(args.out or RunFolder.default_path(config.name))
        result = run_inverse(
            config,
            folder,
            quiet=args.quiet,
            argv=["python", "-m", "diffsim.pde.run", *(argv or sys.argv[1:])],
        )
    except (ConfigError, RunFolderError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        errors = ", ".join(f"{k} {v['relative_error']:.3g}" for k, v in result["unknowns"].items())
        print(f"{'converged' if result['success'] else 'NOT converged'}: {result['message']}")
        print(f"relative errors: {errors}")
        print(f"report: {folder.path / 'report.md'}")
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
