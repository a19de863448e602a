"""Drawing an evaluation trace as a graph with matplotlib (boxes and arrows, no graphviz)."""

from ._notation import format_number

_COLOURS = {"input": "#d6e9f8", "intermediate": "#eeeeee", "output": "#fde2c4"}
_FONT_SIZE = 9
_CHAR_WIDTH = 0.6 * _FONT_SIZE / 72  # inches per monospace character
_LINE_HEIGHT = 1.25 * _FONT_SIZE / 72  # inches per line of text
_LONGEST_DEFINITION = 40


def draw_trace(trace, ax=None):
    """Draw `trace` (an `EvaluationTrace`) left to right: inputs, intermediates, outputs.

    A variable's column is its depth in the graph (inputs at depth 0); boxes show the value,
    tangent and adjoint; arrows point from operands to results.

    **Arguments:**

    - `trace`: the `EvaluationTrace`.
    - `ax`: a matplotlib `Axes`; by default a new `Figure` (not attached to pyplot) is made,
      sized so that the boxes do not overlap.

    **Returns:** the `Axes`.
    """
    from matplotlib.figure import Figure

    depth: dict[str, int] = {}
    for row in trace.rows:
        depth[row.name] = 1 + max((depth[name] for name in row.operands), default=-1)
    readers = {name for row in trace.rows for name in row.operands}
    labels = {row.name: _label(row) for row in trace.rows}
    columns: list[list] = [[] for _ in range(max(depth.values()) + 1)]
    for row in trace.rows:
        columns[depth[row.name]].append(row)

    # Positions in inches: a column is as wide as its widest label, a box as tall as its text;
    # a box sits level with the mean of its operands, pushed down just enough not to overlap.
    widths = [
        max(len(line) for row in rows for line in labels[row.name].splitlines()) * _CHAR_WIDTH + 0.6
        for rows in columns
    ]
    centres: dict[str, tuple[float, float]] = {}
    left = 0.0
    for rows, width in zip(columns, widths, strict=True):
        wanted = {
            row.name: sum(centres[name][1] for name in row.operands) / len(row.operands)
            if row.operands
            else -i
            for i, row in enumerate(rows)
        }
        bottom = float("inf")
        for row in sorted(rows, key=lambda row: -wanted[row.name]):
            half = _box_height(labels[row.name]) / 2
            y = min(wanted[row.name], bottom - half)
            centres[row.name] = (left + width / 2, y)
            bottom = y - half
        left += width
    tops = [y + _box_height(labels[name]) / 2 for name, (_, y) in centres.items()]
    bottoms = [y - _box_height(labels[name]) / 2 for name, (_, y) in centres.items()]
    total_width, total_height = left, max(tops) - min(bottoms) + 0.4
    if ax is None:
        figure = Figure(figsize=(total_width, total_height + 0.4))
        ax = figure.add_axes((0, 0, 1, total_height / (total_height + 0.4)))

    boxes = {}
    for row in trace.rows:
        if row.definition == "input":
            kind = "input"
        elif row.name not in readers:
            kind = "output"
        else:
            kind = "intermediate"
        boxes[row.name] = ax.text(
            *centres[row.name],
            labels[row.name],
            ha="center",
            va="center",
            fontsize=_FONT_SIZE,
            family="monospace",
            bbox=dict(boxstyle="round,pad=0.4", fc=_COLOURS[kind], ec="#555555"),
        )
    for row in trace.rows:
        for name in row.operands:
            ax.annotate(
                "",
                xy=boxes[row.name].get_position(),
                xytext=boxes[name].get_position(),
                arrowprops=dict(
                    arrowstyle="-|>",
                    color="#333333",
                    patchA=boxes[name].get_bbox_patch(),
                    patchB=boxes[row.name].get_bbox_patch(),
                    shrinkA=2,
                    shrinkB=2,
                ),
            )
    ax.set_xlim(0, total_width)
    ax.set_ylim(min(bottoms) - 0.2, max(tops) + 0.2)
    ax.set_axis_off()
    ax.set_title(
        f"forward seed: {trace.tangent_seed}    reverse seed: {trace.adjoint_seed}",
        fontsize=_FONT_SIZE + 1,
    )
    return ax


def _box_height(label: str) -> float:
    """Height in inches of a box holding `label`, with its padding and a gap below."""
    return (label.count("\n") + 2) * _LINE_HEIGHT + 0.25


def _label(row) -> str:
    if row.definition == "input":
        head = row.name
    else:
        definition = row.definition
        if len(definition) > _LONGEST_DEFINITION:
            definition = definition[: _LONGEST_DEFINITION - 3] + "..."
        head = f"{row.name} = {definition}"
    lines = [head, f"value   {format_number(row.value)}"]
    if row.tangent is not None:
        lines.append(f"tangent {format_number(row.tangent)}")
    if row.adjoint is not None:
        lines.append(f"adjoint {format_number(row.adjoint)}")
    return "\n".join(lines)
