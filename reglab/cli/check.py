"""``reglab check MODULE:CALLABLE``: put anyone's dropout, DropPath, DropBlock or penalty through reglab's contract."""

from __future__ import annotations

import argparse

from .common import EXIT_FAILED, EXIT_OK, Subparsers, error

__all__ = ["add_check_parser", "cmd_check"]


def add_check_parser(sub: Subparsers) -> argparse.ArgumentParser:
    check = sub.add_parser(
        "check",
        help="put a dropout, DropPath, DropBlock or penalty implementation through reglab's contract",
        description=(
            "Exit status: 0 all properties pass, 1 some fail (or the target ends the program), "
            "2 usage or import error. The target's module is imported, which runs its top-level "
            "code; a module name is looked for in the current directory first, then on sys.path."
        ),
    )
    check.add_argument(
        "target",
        metavar="MODULE:CALLABLE",
        help="e.g. torch.nn.functional:dropout, timm.layers:DropPath, mine.py:Dropout",
    )
    check.add_argument(
        "--kind",
        default="dropout",
        choices=["dropout", "droppath", "dropblock", "penalty", "l2", "l1"],
        help="dropout (default); droppath (stochastic depth); dropblock; penalty or l2 for λ/2·Σw²; l1 for λ·Σ|w|",
    )
    check.add_argument(
        "--block-size",
        type=int,
        default=3,
        help="with --kind dropblock: the block side, passed as block_size= when the target takes it (default: 3)",
    )
    check.add_argument("--device", default="cpu", help="device of the test inputs (default: cpu)")
    check.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return check


def cmd_check(args: argparse.Namespace) -> int:
    """Load the target, run the contract, print the report; return the exit code."""
    from ..conformance import (
        TargetExitError,
        TargetImportError,
        check_dropblock,
        check_dropout,
        check_droppath,
        check_penalty,
        load_target,
    )
    from ..engine.devices import resolve_device

    penalties = {"penalty": "l2", "l2": "l2", "l1": "l1"}
    device = resolve_device(args.device)
    try:
        target = load_target(args.target)
    except TargetImportError as exc:
        return error(str(exc))
    common = {"seed": args.seed, "device": device, "name": args.target}
    try:
        if args.kind == "dropout":
            report = check_dropout(target, **common)
        elif args.kind == "droppath":
            report = check_droppath(target, **common)
        elif args.kind == "dropblock":
            report = check_dropblock(target, block_size=args.block_size, **common)
        else:
            report = check_penalty(target, kind=penalties[args.kind], **common)
    except TargetExitError as exc:
        return error(str(exc), EXIT_FAILED)
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED
