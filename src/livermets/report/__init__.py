"""The HTML report: sections contributed by pipeline stages, tables, figures."""

from livermets.report.cohort import add_cohort_sections
from livermets.report.document import Report, Section, figure_png
from livermets.report.table_one import Variable, table_one

__all__ = ["Report", "Section", "Variable", "add_cohort_sections", "figure_png", "table_one"]
