"""What every subcommand shares: exit codes and the one-line error."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TypeAlias

from ..core.signals import Interrupted
from ..loggers import LoggerSpec, logger_spec

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "Subparsers",
    "error",
    "interrupted_exit_code",
    "add_logger_options",
    "logger_from_args",
]

#: What ``ArgumentParser.add_subparsers()`` returns, which each ``add_*_parser`` adds to
#: (argparse's class is private; a string, so that nothing private is touched at run time).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# 130 and 143 are what a shell reports for a process ended by SIGINT and SIGTERM (128 + the signal).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


def interrupted_exit_code(exc: BaseException | None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM: the exit code of an interrupted command."""
    return exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED


def error(message: str, code: int = EXIT_USAGE) -> int:
    """Print ``reglab: error: MESSAGE`` on stderr and return ``code``."""
    print(f"reglab: error: {message}", file=sys.stderr)
    return code


def add_logger_options(parser: argparse.ArgumentParser, tensorboard_where: str) -> None:
    """``--logger`` and ``--mlflow-uri`` (``reglab run`` and ``reglab sweep``)."""
    parser.add_argument(
        "--logger",
        choices=["tensorboard", "mlflow"],
        default=None,
        help=f"also log to TensorBoard ({tensorboard_where}) or MLflow (default: none)",
    )
    parser.add_argument(
        "--mlflow-uri",
        default=None,
        metavar="URI",
        help="MLflow tracking store or server (default: sqlite:///.../mlruns.db beside the --out folder)",
    )


def logger_from_args(args: argparse.Namespace, out: str | Path) -> LoggerSpec | None:
    """The logger ``--logger`` and ``--mlflow-uri`` ask for (MLflow's store beside ``out``), or None."""
    if args.logger == "mlflow":
        # The command prints its own lines; MLflow's INFO lines on opening a store are noise there.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    return logger_spec(args.logger, mlflow_uri=args.mlflow_uri, out=out)
