"""Reports of a `Result`: PNG figures, Markdown and self-contained HTML."""

from ._html import render_html as render_html
from ._markdown import render_markdown as render_markdown
from ._plots import PLOTS as PLOTS
from ._plots import write_plots as write_plots
from ._sections import report_sections as report_sections
from ._sweep import write_study_report as write_study_report
from ._write import write_report as write_report
