"""``reglab list`` and ``reglab run EXPERIMENT [key=value ...]``."""

from __future__ import annotations

import argparse
import sys
import textwrap

from ..engine.callbacks import format_table_row
from ..runs.config import describe_config
from ..runs.experiment import get_experiment, list_experiments
from ..runs.runner import RunOutcome, run_experiment
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Subparsers, interrupted_exit_code

__all__ = ["add_run_parser", "add_list_parser", "cmd_list", "cmd_run"]

USAGE = "reglab run EXPERIMENT [key=value ...] [--seed N] [--device D] [--out DIR] [--quiet] [--dry-run]"


def add_list_parser(sub: Subparsers) -> argparse.ArgumentParser:
    return sub.add_parser("list", help="list the experiments")


def add_run_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Add the ``run`` subparser; ``key=value`` settings are collected by :mod:`reglab.cli`."""
    run = sub.add_parser(
        "run",
        help="run an experiment into a new run directory",
        add_help=False,
        description="Run EXPERIMENT; `reglab run EXPERIMENT --help` lists its settings.",
    )
    run.add_argument("experiment", nargs="?", metavar="EXPERIMENT")
    run.add_argument("--seed", type=int, default=None, help="random seed (the same as seed=N)")
    run.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda, cuda:N")
    run.add_argument("--out", default="runs", help="parent of the run directories (default: runs)")
    run.add_argument("--quiet", action="store_true", help="no progress bars and no per-epoch table")
    run.add_argument("--dry-run", action="store_true", help="the whole path on a tiny budget, in seconds")
    run.add_argument("-h", "--help", action="store_true", help="show the experiment's settings and exit")
    return run


def cmd_list() -> int:
    """Print one line per experiment."""
    experiments = list_experiments()
    width = max(len(e.name) for e in experiments)
    for e in experiments:
        print(f"{e.name.ljust(width)}  {e.summary}")
    return EXIT_OK


def _experiment_help(name: str) -> int:
    experiment = get_experiment(name)
    print("usage: " + USAGE.replace("EXPERIMENT", name, 1) + "\n")
    print(textwrap.fill(experiment.summary, 88))
    if experiment.description:
        print("\n" + experiment.description)
    rows = describe_config(experiment.default_config())
    widths = [max(len(r[i]) for r in rows + [("setting", "type", "default", "")]) for i in range(3)]
    print("\nsettings (key=value):")
    for setting, kind, default, help_text in rows:
        print(f"  {setting.ljust(widths[0])}  {kind.ljust(widths[1])}  {default.ljust(widths[2])}  {help_text}")
    if experiment.quick:
        quick = " ".join(f"{k}={v!r}" for k, v in experiment.quick.items())
        print(f"\n--dry-run sets: {quick}")
    return EXIT_OK


def _print_final(outcome: RunOutcome) -> None:
    summary = outcome.summary
    keys = [k for k in ("train_loss", "train_acc", "test_loss", "test_acc") if k in summary]
    if keys:
        numbers = "  ".join(f"{k} {summary[k]:.4f}" for k in keys)
        epochs = f"{summary['epochs']} epochs, " if "epochs" in summary else ""
        print(f"final: {numbers}  ({epochs}{summary['seconds']:.1f} s)")
    table = outcome.result.table if outcome.result is not None else []
    if table:
        columns = list(table[0])
        widths = [max(len(c), 8) for c in columns]
        print(format_table_row(columns, widths))
        for row in table:
            print(format_table_row([row.get(c, "") for c in columns], widths))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the experiment (or print its settings); return the exit code."""
    if args.experiment is None:
        print("usage: " + USAGE)
        print("experiments: " + ", ".join(e.name for e in list_experiments()))
        return EXIT_OK if args.help else EXIT_USAGE
    if args.help:
        return _experiment_help(args.experiment)

    outcome = run_experiment(
        args.experiment,
        args.overrides,
        seed=args.seed,
        device=args.device,
        out=args.out,
        quiet=args.quiet,
        dry_run=args.dry_run,
        command=["reglab", *sys.argv[1:]],
        reraise_interrupt=False,
    )
    code = EXIT_OK
    if outcome.status == "complete":
        _print_final(outcome)
    elif outcome.status == "interrupted":
        how = f" ({outcome.summary['signal']})" if "signal" in outcome.summary else ""
        where = "the run directory" if outcome.run_dir is not None else "no run directory (--out was not given)"
        print(f"interrupted{how}: the finished epochs are in {where}", file=sys.stderr)
        code = interrupted_exit_code(outcome.error)
    else:
        print(f"reglab: {outcome.status}: {outcome.error}", file=sys.stderr)
        code = EXIT_FAILED
    if outcome.run_dir is not None:
        print(f"run directory: {outcome.run_dir.path}")
    return code
