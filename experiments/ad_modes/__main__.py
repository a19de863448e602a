"""Command line: `python -m experiments.ad_modes [--out DIR] [--quick]`."""

import argparse
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from diffsim.runner import RunFolder, RunFolderError, environment_info  # noqa: E402

from . import accuracy, crossover, jit_speed, lesson, memory, swell  # noqa: E402
from .findings import markdown_table  # noqa: E402

PARTS = (accuracy, swell, crossover, memory, jit_speed, lesson)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.ad_modes",
        description="Measure each claim of the automatic-differentiation lesson and write a "
        "report (report.md, results.json, PNG plots).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the report (must be new or empty); default runs/ad_modes/<time>/",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller grids and shorter rollouts (a smoke test)"
    )
    args = parser.parse_args(argv)
    try:
        folder = RunFolder(args.out or RunFolder.default_path("ad_modes"))
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    start = time.perf_counter()
    sections = []
    for part in PARTS:
        began = time.perf_counter()
        section = part.run(folder.path, args.quick)
        print(f"{section.title}: {time.perf_counter() - began:.1f} s", flush=True)
        sections.append(section)
    total = time.perf_counter() - start
    command = ["python", "-m", "experiments.ad_modes", *(sys.argv[1:] if argv is None else argv)]
    environment = environment_info(seed=0, argv=command)
    report = _report(sections, " ".join(command), total, args.quick, environment)
    folder.write_text("report.md", report)
    results = {
        "environment": environment,
        "quick": args.quick,
        "seconds": total,
        "sections": {s.title: s.data for s in sections},
    }
    folder.write_json("results.json", results)
    print(_summary(sections))
    print(f"report: {folder.path / 'report.md'} ({total:.0f} s)")
    return 0


def _summary(sections) -> str:
    rows = [
        [str(i), finding.claim, finding.measured, finding.verdict]
        for i, section in enumerate(sections, start=1)
        for finding in section.findings
    ]
    return markdown_table(["part", "the lesson says", "measured here", "verdict"], rows)


def _report(sections, command: str, seconds: float, quick: bool, environment: dict) -> str:
    parts = [
        "# Modes of differentiation: the lesson's claims, measured",
        "",
        f"Command: `{command}` ({'quick' if quick else 'full'} run, {seconds:.0f} s). "
        f"JAX {environment['packages']['jax']} on {environment['backend']} "
        f"({', '.join(environment['devices'])}), {environment['cpus']} CPUs, float64. "
        "Times are the best of several calls after compilation; on a shared machine their "
        "ratios are more reliable than their absolute values. The lesson is "
        "`shared/lesson-automatic-differentiation.md`; the library is `diffsim.ad`.",
        "",
        "## Summary",
        "",
        _summary(sections),
    ]
    for section in sections:
        parts += ["", f"## {section.title}", "", section.body]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
