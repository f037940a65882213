"""Sweeps: the vectorized backend against training the variants one after another.

dropout: 16 settings of the 784-256-256-10 dropout MLP (p1 x p2 in
{0, 0.2, 0.5, 0.8}^2, seeds 4..19), one epoch of Fashion-MNIST each, plus the
test-set evaluation. Sequential = the `dropout` experiment's own run function
16 times in this process (the path of `reglab run dropout` and of the local
backend with one worker); vectorized = one stacked model of 16 variants
(:class:`reglab.experiments.dropout_mlp_stacked.DropoutMLPVectorized`). Both sides
produce the same numbers (tests/sweeps/backends/test_vectorized.py); the script checks
the test accuracies agree. Target: at least 1.25x.

weight-decay: 16 lambdas of the seed-004 regression, 100 epochs each, sequential
trials (``run_trial``, the local backend's per-trial function, in this process)
against the vectorized backend (``run_vectorized``: one stack of 16 linear
models, closed-form SGD steps). Target: at least 10x.

    python benchmarks/bench_sweep.py [--subset N] [--variants 16] [--repeats 1] [--only weight-decay]
"""

from __future__ import annotations

import argparse
import itertools
import statistics

import torch
from _timing import fmt_seconds, interleaved

from reglab.experiments import RunContext, get_experiment
from reglab.experiments.dropout_mlp_stacked import DropoutMLPVectorized
from reglab.runs.runner import make_config


def bench_dropout(subset: int, variants: int, repeats: int) -> float:
    grid = list(itertools.product((0.0, 0.2, 0.5, 0.8), repeat=2))[:variants]
    configs = [
        make_config("dropout", {"p1": p1, "p2": p2, "epochs": 1, "train_subset": subset, "seed": 4 + i})
        for i, (p1, p2) in enumerate(grid)
    ]
    device = torch.device("cpu")
    experiment = get_experiment("dropout")
    results: dict[str, list[float]] = {}

    def sequential() -> None:
        ctx = RunContext(device=device, quiet=True, progress=False)
        results["sequential"] = [experiment.run(c, ctx).summary["test_acc"] for c in configs]

    def vectorized() -> None:
        results["vectorized"] = [o["summary"]["test_acc"] for o in DropoutMLPVectorized().train(configs, device)]

    times = interleaved({"sequential": sequential, "vectorized": vectorized}, repeats=repeats, warmup=0)
    worst = max(abs(a - b) for a, b in zip(results["sequential"], results["vectorized"]))
    seq, vec = statistics.median(times["sequential"]), statistics.median(times["vectorized"])
    data = f"{subset} samples" if subset else "all 60000 samples"
    print(
        f"dropout MLP 784-256-256-10, {len(configs)} settings, 1 epoch of {data}, "
        f"{torch.get_num_threads()} thread(s), median of {repeats}:"
    )
    print(f"  sequential  {fmt_seconds(seq)}")
    print(f"  vectorized  {fmt_seconds(vec)}   speed-up {seq / vec:.2f}x (target >= 1.25x)")
    print(f"  largest test-accuracy difference between the two: {worst:.2e}")
    return seq / vec


def bench_weight_decay(variants: int, repeats: int) -> float:
    """weight-decay: ``variants`` lambdas (log-spaced 1e-3..10, seed 0, the experiment's defaults:
    100 epochs of 4 minibatches) through the two paths a sweep takes. Sequential = ``run_trial``
    in this process one trial after another (what the local backend runs per trial: the
    experiment's own run function, its training, loss curve and figure); vectorized =
    ``run_vectorized`` (the vectorized backend: one stack). Also timed: the bare training
    (``train_one`` per lambda, no figure), to show how much of the ratio is the trial's overhead."""
    from reglab.experiments.weight_decay import train_one
    from reglab.sweeps import get_spec, make_trials, parse_grid
    from reglab.sweeps.backends.vectorized import run_vectorized
    from reglab.sweeps.trial import run_trial

    spec = get_spec("weight-decay")
    cfg_type = get_experiment("weight-decay").config_type
    grid = parse_grid([f"lambda=log:0.001:10:{variants}"], cfg_type, spec)
    trials = make_trials("weight-decay", grid, spec, [0], None)
    configs = [make_config("weight-decay", t.overrides) for t in trials]
    device = torch.device("cpu")
    results: dict[str, list[float]] = {}

    def sequential() -> None:
        results["sequential"] = [run_trial("weight-decay", t)["test_loss"] for t in trials]

    def bare() -> None:
        results["bare"] = [train_one(c, c.lambdas[0], "optimizer", c.seed, device)["test_loss"] for c in configs]

    def vectorized() -> None:
        rows: list[dict] = []
        run_vectorized("weight-decay", trials, rows.append, spec)
        results["vectorized"] = [r["test_loss"] for r in sorted(rows, key=lambda r: r["trial"])]

    times = interleaved({"sequential": sequential, "bare": bare, "vectorized": vectorized}, repeats=repeats, warmup=1)
    worst = max(abs(a - b) / abs(a) for a, b in zip(results["sequential"], results["vectorized"]))
    seq, bare_t, vec = (statistics.median(times[k]) for k in ("sequential", "bare", "vectorized"))
    print(
        f"weight-decay, {len(trials)} lambdas (log 1e-3..10), 100 epochs each, "
        f"{torch.get_num_threads()} thread(s), median of {repeats}:"
    )
    print(f"  sequential trials (run_trial)  {fmt_seconds(seq)}")
    print(f"  sequential train_one only      {fmt_seconds(bare_t)}")
    print(
        f"  vectorized (run_vectorized)    {fmt_seconds(vec)}   speed-up {seq / vec:.1f}x vs trials "
        f"(target >= 10x), {bare_t / vec:.1f}x vs bare training"
    )
    print(f"  largest relative test-loss difference between the two: {worst:.1e}")
    return seq / vec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=0, help="training samples (0: all 60000)")
    parser.add_argument("--variants", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", choices=("dropout", "weight-decay"), default=None, help="run one benchmark")
    args = parser.parse_args()
    if args.only != "weight-decay":
        bench_dropout(args.subset, args.variants, args.repeats)
    if args.only != "dropout":
        bench_weight_decay(args.variants, max(args.repeats, 3))


if __name__ == "__main__":
    main()
