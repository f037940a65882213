"""``reglab sweep EXPERIMENT key=v1,v2,... [options]``: the sweep subcommand."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from ..core.signals import signal_name
from .common import EXIT_INTERRUPTED, EXIT_OK, Subparsers, add_logger_options, logger_from_args

__all__ = ["add_sweep_parser", "cmd_sweep"]

USAGE = (
    "reglab sweep EXPERIMENT key=v1,v2,... [key=log:A:B:N ...] [--seeds N] [--select val=F|kfold=K] "
    "[--backend auto|local|vectorized|ray|optuna] [--workers N] [--ray-address ADDR] [--out DIR] "
    "[--max-trials N] [--resume DIR] [--quiet] [--scheduler asha] [--retries N] [--trials N] [--sampler NAME] "
    "[--pruner NAME] [--logger tensorboard|mlflow] [--mlflow-uri URI]"
)


def add_sweep_parser(sub: Subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` subparser; ``key=values`` axes are collected by :mod:`reglab.cli`."""
    p = sub.add_parser(
        "sweep",
        help="run a grid of settings x seeds, select on validation data",
        usage=USAGE,
        description="Sweep EXPERIMENT over a grid; `reglab sweep EXPERIMENT --help` lists what it can sweep. "
        "See docs/sweeps.md.",
        add_help=False,
    )
    p.add_argument("experiment", nargs="?", metavar="EXPERIMENT")
    p.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default: 1)")
    p.add_argument("--select", default=None, help="val=FRACTION or kfold=K (default: no selection)")
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "local", "vectorized", "ray", "optuna"],
        help="auto (default): vectorized when the variants share an architecture, else local; "
        "optuna: search the ranges (key=log:A:B is continuous)",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes / Ray CPUs (default: one per core)")
    p.add_argument("--ray-address", default=None, help="a Ray cluster (default: a local Ray instance)")
    p.add_argument("--device", default=None, help="where trials train (default: cpu)")
    p.add_argument("--out", default=None, help="parent of the sweep folders (default: sweeps)")
    p.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help="refuse a sweep of more trials than this, before building any (default: 10000)",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="finish the unfinished trials of this sweep (its settings come from DIR/sweep.json)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_search_options(p)
    add_logger_options(p, "the sweep folder's tb/, a folder per trial")
    p.add_argument("-h", "--help", action="store_true", help="show this help (and the experiment's knobs) and exit")
    p.set_defaults(print_sweep_help=p.print_help)
    return p


def _add_search_options(p: argparse.ArgumentParser) -> None:
    ray = p.add_argument_group("ray backend")
    ray.add_argument("--scheduler", default=None, help="asha: stop trials that fall behind (needs --select)")
    ray.add_argument(
        "--retries", type=int, default=None, help="reruns of a trial whose worker or node died (default: 0)"
    )
    search = p.add_argument_group("optuna backend")
    search.add_argument("--trials", type=int, default=None, help="configurations to try (required)")
    search.add_argument("--sampler", default=None, help="tpe (default), random or cmaes")
    search.add_argument("--pruner", default=None, help="median (default), sha, hyperband or none")


def _fmt(item: dict[str, Any] | None, knobs: list[str], metric_keys: list[str]) -> str:
    if item is None:
        return "-"
    point = ", ".join(f"{k}={item[k]}" for k in knobs) or "(defaults)"
    # (no val_* number without --select: a NaN there says nothing)
    numbers = "  ".join(
        f"{k} {item[k]:.4f}" for k in metric_keys if isinstance(item.get(k), float) and math.isfinite(item[k])
    )
    return f"{point}  {numbers}"


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) the sweep; print the selection and the folder. Returns the exit code."""
    from ..sweeps import run_sweep

    if args.experiment is not None and "=" in args.experiment:  # `--resume DIR lr=0.1`: an axis, not a name
        args.overrides = [args.experiment, *args.overrides]
        args.experiment = None
    if args.help:
        args.print_sweep_help()
        if args.experiment is not None:
            from ..runs.experiment import get_experiment
            from .sweep_help import sweep_help

            print("\n" + sweep_help(get_experiment(args.experiment)))
        return EXIT_OK
    if args.experiment is None and args.resume is None:
        print("usage: " + USAGE, file=sys.stderr)
        return 2
    result = run_sweep(
        args.experiment,
        args.overrides,
        seeds=args.seeds,
        select=args.select,
        backend=args.backend,
        workers=args.workers,
        ray_address=args.ray_address,
        device=args.device,
        out=args.out,
        resume=args.resume,
        quiet=args.quiet,
        command=["reglab", *sys.argv[1:]],
        trials=args.trials,
        sampler=args.sampler,
        pruner=args.pruner,
        scheduler=args.scheduler,
        retries=args.retries,
        logger=logger_from_args(args, args.out if args.out is not None else "sweeps"),
        max_trials=args.max_trials,
        reraise_interrupt=False,
    )
    if result.status == "interrupted":
        how = f" ({signal_name(result.signum)})" if result.signum is not None else ""
        finished = sum(r.get("status") in ("complete", "diverged", "stopped") for r in result.rows)
        print(f"interrupted{how}: {finished} finished trials are kept in {result.path}", file=sys.stderr)
        print(f"resume with: reglab sweep --resume {result.path}", file=sys.stderr)
        print(f"sweep directory: {result.path}")
        return EXIT_INTERRUPTED if result.signum is None else 128 + result.signum
    report = result.report
    knobs = result.knobs
    keys = [f"val_{report['metric']}", f"test_{report['metric']}"]
    counts = {s: sum(r.get("status") == s for r in result.rows) for s in ("complete", "diverged", "failed", "stopped")}
    print(
        f"{len(result.rows)} trials on the {result.backend} backend: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    )
    print(f"selected:     {_fmt(report.get('selected'), knobs, keys)}")
    print(f"  why:        {report['reason']}")
    print(f"test-optimal: {_fmt(report.get('test_optimal'), knobs, keys)}")
    stops = result.search.get("scheduler")
    if stops and stops.get("name"):
        saved = (
            "" if stops["epochs_saved"] is None else f": {stops['epochs_saved']} of {stops['epochs_full']} epochs saved"
        )
        print(f"early stops:  {stops['name']} stopped {stops['stopped']} trial(s){saved}")
    print(f"sweep directory: {result.path}")
    return 0 if counts["complete"] else 1
