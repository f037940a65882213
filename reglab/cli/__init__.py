"""The ``reglab`` command line: one module per subcommand.

    reglab list [--from FILE_OR_MODULE]
    reglab run EXPERIMENT [key=value ...] [--seed N] [--device D] [--out DIR] [--quiet] [--dry-run]
               [--checkpoint-every N] [--logger L]   (EXPERIMENT: NAME, path/to/file.py:NAME or package.module:NAME)
    reglab run EXPERIMENT --help        (the experiment's settings and defaults)
    reglab run --resume RUN_DIR [key=value ...]
    reglab run --from RUN_DIR/config.json [key=value ...]
    reglab sweep EXPERIMENT key=v1,v2,... [--seeds N] [--select val=F|kfold=K] [--backend B] [--logger L] ...
    reglab sweep EXPERIMENT --help      (its knobs, types, defaults, aliases and metric)
    reglab data {where,verify,download}
    reglab check MODULE:CALLABLE [--kind dropout|penalty] [--device D] [--seed N]
    reglab compare RUN_DIR... [--metric test_acc] [--out DIR]
    reglab report DIR...

This is the top layer: it may import every package, and nothing imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..core.errors import ConfigError, DataError, InvalidArgumentError, MissingExtraError, OutputError
from ..core.signals import handle_signals, ignore_signals
from .check import add_check_parser, cmd_check
from .common import EXIT_FAILED, EXIT_USAGE, error, interrupted_exit_code
from .compare import add_compare_parser, cmd_compare
from .data import add_data_parser, cmd_data
from .report import add_report_parser, cmd_report
from .run import add_list_parser, add_run_parser, cmd_list, cmd_run
from .sweep import add_sweep_parser, cmd_sweep

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reglab",
        description="reglab: a regularization laboratory for PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_list_parser(sub)
    add_run_parser(sub)
    add_sweep_parser(sub)
    add_data_parser(sub)
    add_check_parser(sub)
    add_compare_parser(sub)
    add_report_parser(sub)
    return parser


def _split_overrides(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    # key=value settings may stand anywhere after `run EXPERIMENT`, also after options.
    args, extra = parser.parse_known_args(argv)
    if args.command not in ("run", "sweep"):
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args
    bad = [e for e in extra if e.startswith("-") or "=" not in e]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (settings are given as key=value)")
    args.overrides = extra
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Ctrl-C and SIGTERM end every command the same way; once one came, the rest
        # of a burst is held until the command has written what it finished.
        with handle_signals() as signals:
            code = _dispatch(argv)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        if signals.received:
            ignore_signals()  # the process is about to exit: the rest of a burst changes nothing
        return code
    except BrokenPipeError:
        # The reader went away (`reglab run NAME --help | head`): stop quietly, as
        # Unix tools do, and keep Python from failing again on its final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = _split_overrides(parser, argv)
    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "data":
            return cmd_data(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "report":
            return cmd_report(args)
        parser.print_help()
        return EXIT_USAGE
    except (ConfigError, InvalidArgumentError, MissingExtraError) as exc:
        return error(str(exc))
    except (DataError, OutputError) as exc:
        return error(str(exc), EXIT_FAILED)
    except KeyboardInterrupt as exc:
        return interrupted_exit_code(exc)
