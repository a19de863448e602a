"""What each part of the experiment hands to the report: claims, measurements, verdicts."""

import time
from dataclasses import dataclass, field

import jax


@dataclass(frozen=True)
class Finding:
    """One claim of the lesson next to the figure measured for it."""

    claim: str
    measured: str
    verdict: str  # "confirmed", "qualified" or "not measured"


@dataclass
class Section:
    """One numbered part of the report: its findings, Markdown body and raw numbers."""

    title: str
    findings: list[Finding]
    body: str
    data: dict = field(default_factory=dict)


def best_time(function, *args, budget: float = 0.3, most: int = 20) -> float:
    """Best wall time in seconds of `function(*args)` after one warm-up call.

    Repeats until `budget` seconds are spent or `most` calls are made; the minimum is the
    least disturbed by other work on the machine.
    """
    jax.block_until_ready(function(*args))
    times: list[float] = []
    while len(times) < most and sum(times) < budget:
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
