"""Comparing finished runs and writing self-contained HTML reports.

- :mod:`~reglab.reports.samples`: run and sweep folders read back as samples
  (one seed of one configuration), with one sentence per folder left out.
- :mod:`~reglab.reports.stats`: per-group summaries and Welch's t-test (scipy,
  the optional ``reglab[stats]`` extra).
- :mod:`~reglab.reports.comparison`: ``reglab compare``: groups, the difference
  with its interval, ``compare.json`` and ``compare.png``.
- :mod:`~reglab.reports.report`: ``reglab report``: one ``report.html`` for a
  run, a sweep or a comparison (:mod:`~reglab.reports.markup` builds the page).

This package reads the files that runs and sweeps write; it imports ``runs``
(the CSV reader, the versions) and nothing above it, so that ``sweeps`` can
write its report at the end of every sweep.
"""

from .comparison import Comparison, Group, compare, write_comparison
from .report import REPORT, build_report, report_kind, write_report
from .samples import Inputs, Sample, load_inputs
from .stats import Description, Difference, describe, welch_difference

__all__ = [
    "compare",
    "write_comparison",
    "Comparison",
    "Group",
    "write_report",
    "build_report",
    "report_kind",
    "REPORT",
    "load_inputs",
    "Inputs",
    "Sample",
    "describe",
    "welch_difference",
    "Description",
    "Difference",
]
