"""The ``reglab`` command line.

    reglab list
    reglab run EXPERIMENT [key=value ...] [--seed N] [--device D] [--out DIR] [--quiet] [--dry-run]
    reglab run EXPERIMENT --help        (the experiment's settings and defaults)
    reglab sweep EXPERIMENT key=v1,v2,... [--seeds N] [--select val=F|kfold=K] [--backend B] ...
    reglab data {where,verify,download}
    reglab check MODULE:CALLABLE [--kind dropout|penalty] [--device D] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence

from .callbacks import format_table_row
from .config import describe_config
from .errors import ConfigError, DataError, InvalidArgumentError
from .experiments import get_experiment, list_experiments

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _error(message: str, code: int = EXIT_USAGE) -> int:
    print(f"reglab: error: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reglab",
        description="reglab: a regularization laboratory for PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the experiments")

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

    from .sweeps.cli import add_sweep_parser

    add_sweep_parser(sub)

    data = sub.add_parser("data", help="find, verify or download Fashion-MNIST")
    data.add_argument("action", choices=["where", "verify", "download"])
    data.add_argument("--root", default=None, help="a folder to look in first")

    check = sub.add_parser("check", help="put a dropout or penalty implementation through reglab's contract",
                           description="Exit status: 0 all properties pass, 1 some fail, 2 usage or import error.")
    check.add_argument("target", metavar="MODULE:CALLABLE", help="e.g. torch.nn.functional:dropout, mine.py:Dropout")
    check.add_argument("--kind", default="dropout", choices=["dropout", "penalty", "l2", "l1"],
                       help="dropout (default); penalty or l2 for λ/2·Σw²; l1 for λ·Σ|w|")
    check.add_argument("--device", default="cpu", help="device of the test inputs (default: cpu)")
    check.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def _cmd_list() -> int:
    experiments = list_experiments()
    width = max(len(e.name) for e in experiments)
    for e in experiments:
        print(f"{e.name.ljust(width)}  {e.summary}")
    return EXIT_OK


def _experiment_help(name: str) -> int:
    experiment = get_experiment(name)
    print(f"usage: reglab run {name} [key=value ...] [--seed N] [--device D] [--out DIR] [--quiet] [--dry-run]\n")
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


def _print_final(outcome) -> None:  # noqa: ANN001 - a RunOutcome
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


def _cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.experiment is None:
        print("usage: reglab run EXPERIMENT [key=value ...] [--seed N] [--device D] [--out DIR] [--quiet] [--dry-run]")
        print("experiments: " + ", ".join(e.name for e in list_experiments()))
        return EXIT_OK if args.help else EXIT_USAGE
    if args.help:
        return _experiment_help(args.experiment)
    from .runner import run_experiment

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
        print("interrupted: the finished epochs are in the run directory", file=sys.stderr)
        code = EXIT_INTERRUPTED
    else:
        print(f"reglab: {outcome.status}: {outcome.error}", file=sys.stderr)
        code = EXIT_FAILED
    if outcome.run_dir is not None:
        print(f"run directory: {outcome.run_dir.path}")
    return code


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import fashion_mnist as fm

    if args.action == "where":
        files = fm.find_fashion_mnist(args.root)
        if files is None:
            return _error(fm._not_found_message(args.root, None), EXIT_FAILED)
        print(files["train_images"].parent)
        return EXIT_OK
    if args.action == "download":
        paths = fm.download_fashion_mnist(progress=True)
        print(paths["train_images"].parent)
        return EXIT_OK
    data = fm.load_fashion_mnist(args.root)
    print(
        f"Fashion-MNIST OK in {data.source}: {len(data.train_labels)} training and "
        f"{len(data.test_labels)} test images, SHA-256 verified"
    )
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from .conformance import TargetImportError, check_dropout, check_penalty, load_target
    from .runtime import resolve_device

    kinds = {"dropout": None, "penalty": "l2", "l2": "l2", "l1": "l1"}
    try:
        target = load_target(args.target)
    except TargetImportError as exc:
        return _error(str(exc))
    device = resolve_device(args.device)
    if kinds[args.kind] is None:
        report = check_dropout(target, seed=args.seed, device=device, name=args.target)
    else:
        report = check_penalty(target, kind=kinds[args.kind], seed=args.seed, device=device, name=args.target)
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


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
        code = _dispatch(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
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
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args, parser)
        if args.command == "data":
            return _cmd_data(args)
        if args.command == "check":
            return _cmd_check(args)
        if args.command == "sweep":
            from .sweeps.cli import cmd_sweep

            return cmd_sweep(args)
        parser.print_help()
        return EXIT_USAGE
    except (ConfigError, InvalidArgumentError) as exc:
        return _error(str(exc))
    except DataError as exc:
        return _error(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
