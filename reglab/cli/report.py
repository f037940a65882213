"""``reglab report DIR``: a self-contained report.html for a run, a sweep or a comparison."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, Subparsers

__all__ = ["add_report_parser", "cmd_report"]


def add_report_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="write DIR/report.html for a run, a sweep or a comparison (one file, images inline)",
        description="Write DIR/report.html: one self-contained file (no network). See docs/reports.md.",
    )
    p.add_argument("folders", nargs="+", metavar="DIR", help="run, sweep or comparison folders")
    return p


def cmd_report(args: argparse.Namespace) -> int:
    """Write each folder's report and print its path; return the exit code."""
    from ..reports import write_report

    for folder in args.folders:
        print(f"report: {write_report(folder)}")
    return EXIT_OK
