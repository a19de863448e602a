"""`write_report`: a run folder's plots, `report.md` and `report.html` from a `Result` alone."""

from pathlib import Path

from ._html import render_html
from ._interval_plots import INTERVAL_PLOTS, draw_forecast, draw_profiles
from ._markdown import render_markdown
from ._plots import PLOTS, write_plots


def write_report(result, folder: str | Path, options, *, plots: bool = True) -> dict[str, str]:
    """Write a run folder's plots, `report.md` and (optionally) `report.html`.

    Plots are drawn when `options.plots` and `plots`; `report.html` is self-contained and
    written when `options.html`.

    **Arguments:**
    - `result`: a `diffsim.inverse.Result` (its `summary` and `arrays` are all that is read).
    - `folder`: the run folder.
    - `options`: the config's `report` section.
    - `plots`: `False` to skip drawing (e.g. after Ctrl-C); figures already there are linked.

    **Returns:** `{plot name: file name}` of the figures in the report.

    **Example:** `report.md`, `report.html` and the figures of a run, written again elsewhere.

    ```python
    # slow
    import pathlib
    import tempfile

    import numpy as np

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    run = diffsim.runner.RunFolder(pathlib.Path(tempfile.mkdtemp()) / "decay")
    summary = diffsim.runner.run(config, problem, run)  # writes a whole run folder
    arrays = dict(np.load(run.path / "arrays.npz"))
    folder = pathlib.Path(tempfile.mkdtemp())
    images = diffsim.report.write_report(diffsim.inverse.Result(summary, arrays), folder,
                                         config.report)  # fmt: skip
    assert (folder / "report.md").is_file() and (folder / "report.html").is_file()
    assert all((folder / name).is_file() for name in images.values())
    ```
    """
    folder = Path(folder)
    if plots and options.plots:
        images = write_plots(folder, result.summary, result.arrays, options)

        def save(figure, name):
            figure.savefig(folder / f"{name}.png", dpi=options.dpi)
            images[name] = f"{name}.png"

        draw_profiles(result.summary, save)
        draw_forecast(result.summary, result.arrays, save)
    else:
        images = {
            n: f"{n}.png" for n in {**PLOTS, **INTERVAL_PLOTS} if (folder / f"{n}.png").is_file()
        }
    (folder / "report.md").write_text(render_markdown(result.summary, images, options))
    if options.html:
        (folder / "report.html").write_text(render_html(result.summary, images, options, folder))
    return images
