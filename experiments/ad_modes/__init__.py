"""Experiment: each claim of the automatic-differentiation lesson as a measured figure.

Run `python -m experiments.ad_modes [--out DIR] [--quick]` from the repository root; it writes
`report.md`, `results.json` and PNG plots into DIR (default: a fresh `runs/ad_modes/<time>/`).
`docs/figures/ad_modes/` keeps the plots of one full run for `docs/tutorial-ad.md`; refresh them
by copying the PNGs of a new full run there.
"""
