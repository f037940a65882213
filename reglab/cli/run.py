"""``reglab list`` and ``reglab run EXPERIMENT [key=value ...]``."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..engine.callbacks import format_table_row
from ..runs.config import describe_config
from ..runs.experiment import get_experiment, list_experiments
from ..runs.resume import resume_run, run_from_config
from ..runs.runner import RunOutcome, run_experiment
from ..runs.sources import entry_point_errors
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
    add_logger_options,
    interrupted_exit_code,
    logger_from_args,
)

__all__ = ["add_run_parser", "add_list_parser", "cmd_list", "cmd_run"]

USAGE = (
    "reglab run EXPERIMENT [key=value ...] [--seed N] [--device D] [--out DIR] [--quiet] [--dry-run] "
    "[--checkpoint-every N] [--logger tensorboard|mlflow] [--mlflow-uri URI]\n"
    "       reglab run --resume RUN_DIR [key=value ...]\n"
    "       reglab run --from RUN_DIR/config.json [key=value ...]\n"
    "EXPERIMENT is a name (reglab list), path/to/file.py:NAME or package.module:NAME"
)


def add_list_parser(sub: Subparsers) -> argparse.ArgumentParser:
    parser = sub.add_parser("list", help="list the experiments")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="FILE_OR_MODULE",
        default=None,
        help="list the experiments a file (path/to/file.py) or module (package.module) registers",
    )
    return parser


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
    run.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="save checkpoint.pt every N epochs and when training stops, so that --resume can continue the run",
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue the interrupted or diverged run in RUN_DIR (made with --checkpoint-every) in place",
    )
    run.add_argument(
        "--from",
        dest="from_config",
        metavar="CONFIG",
        default=None,
        help="run the configuration recorded in a run's config.json again (key=value on top)",
    )
    add_logger_options(run, "the run folder's tb/")
    run.add_argument("-h", "--help", action="store_true", help="show the experiment's settings and exit")
    return run


def cmd_list(args: argparse.Namespace | None = None) -> int:
    """Print one line per experiment (the source of those not built in)."""
    source = getattr(args, "source", None)
    experiments = list_experiments(source)
    for message in entry_point_errors() if source is None else []:
        print(f"reglab: skipped: {message}", file=sys.stderr)
    if not experiments:
        print(f"{source} registers no experiment")
        return EXIT_OK
    width = max(len(e.name) for e in experiments)
    for e in experiments:
        where = f"  [{e.source}]" if e.source is not None and source is None else ""
        print(f"{e.name.ljust(width)}  {e.summary}{where}")
    return EXIT_OK


def _experiment_help(name: str) -> int:
    experiment = get_experiment(name)
    print("usage: " + USAGE.splitlines()[0].replace("EXPERIMENT", name, 1) + "\n")
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


def _start(args: argparse.Namespace) -> RunOutcome:
    """A new run, a resumed one (--resume) or a recorded configuration again (--from)."""
    command = ["reglab", *sys.argv[1:]]
    sources = [
        flag
        for flag, given in (("EXPERIMENT", args.experiment), ("--resume", args.resume), ("--from", args.from_config))
        if given
    ]
    if len(sources) > 1:
        raise ConfigError(
            f"give one of EXPERIMENT, --resume RUN_DIR and --from CONFIG; received {' and '.join(sources)}"
        )
    if args.resume is not None:
        ignored = [
            flag
            for flag, given in (
                ("--seed", args.seed is not None),
                ("--out", args.out != "runs"),
                ("--dry-run", args.dry_run),
            )
            if given
        ]
        if ignored:
            raise ConfigError(
                f"--resume continues a run with its recorded settings; {' and '.join(ignored)} cannot change them (use key=value)"
            )
        return resume_run(
            args.resume,
            args.overrides,
            device=None if args.device == "auto" else args.device,
            quiet=args.quiet,
            command=command,
            reraise_interrupt=False,
            checkpoint_every=args.checkpoint_every,
            logger=logger_from_args(args, Path(args.resume).parent.parent),  # MLflow's store beside runs/
        )
    options: dict[str, Any] = dict(
        seed=args.seed,
        device=args.device,
        out=args.out,
        quiet=args.quiet,
        command=command,
        reraise_interrupt=False,
        checkpoint_every=args.checkpoint_every or 0,
        logger=logger_from_args(args, args.out),
    )
    if args.from_config is not None:
        if args.dry_run:
            raise ConfigError("--from runs a recorded configuration as it was; --dry-run cannot apply (use key=value)")
        return run_from_config(args.from_config, args.overrides, **options)
    return run_experiment(args.experiment, args.overrides, dry_run=args.dry_run, **options)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the experiment (or print its settings); return the exit code."""
    if args.experiment is not None and "=" in args.experiment and (args.resume or args.from_config):
        # `run --resume DIR lr=0.1`: the first setting landed in the EXPERIMENT slot.
        args.overrides, args.experiment = [args.experiment, *args.overrides], None
    if args.help and args.experiment is not None:
        return _experiment_help(args.experiment)
    if args.help or (args.experiment is None and args.resume is None and args.from_config is None):
        print("usage: " + USAGE)
        print("experiments: " + ", ".join(e.name for e in list_experiments()))
        return EXIT_OK if args.help else EXIT_USAGE

    outcome = _start(args)
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
