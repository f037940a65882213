"""``reglab compare RUN_OR_SWEEP... [--metric M] [--out DIR]``: runs against runs, over seeds."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import EXIT_OK, Subparsers

__all__ = ["add_compare_parser", "cmd_compare"]


def add_compare_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compare",
        help="compare runs (and sweeps) by configuration over seeds: table, difference with a 95%% CI, plot",
        description=(
            "Group the runs by configuration (runs differing only in seed form one group), print the final "
            "metric per group and, for two groups, the difference of the means with a 95% confidence interval "
            "and the p-value of Welch's t-test; write compare.png, compare.json and report.html. "
            "See docs/reports.md."
        ),
    )
    p.add_argument(
        "folders",
        nargs="+",
        metavar="RUN_DIR",
        help="run folders, sweep folders, a folder of runs (runs/dropout) or a glob ('runs/dropout/*')",
    )
    p.add_argument("--metric", default="test_acc", help="the final metric to compare (default: test_acc)")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="folder for the files (default: a new compare/<timestamp>/)"
    )
    return p


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare, print the table and the difference, write the files; return the exit code."""
    from ..reports import compare, write_comparison, write_report
    from ..runs.run_dir import RunDir

    comparison = compare(args.folders, metric=args.metric)
    for line in comparison.lines():
        print(line)
    out = Path(args.out) if args.out is not None else RunDir.create(".", "compare", now=time.time()).path
    write_comparison(comparison, out)
    report = write_report(out)
    print(f"figure: {out / 'compare.png'}")
    print(f"report: {report}")
    return EXIT_OK
