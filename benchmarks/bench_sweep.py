"""Sweeps: the vectorized backend against training the variants one after another.

dropout: 16 settings of the 784-256-256-10 dropout MLP (p1 x p2 in
{0, 0.2, 0.5, 0.8}^2, seeds 4..19), one epoch of Fashion-MNIST each, plus the
test-set evaluation. Sequential = the `dropout` experiment's own run function
16 times in this process (the path of `reglab run dropout` and of the local
backend with one worker); vectorized = one stacked model of 16 variants
(:class:`reglab.sweeps.vectorized_mlp.DropoutMLPVectorized`). Both sides
produce the same numbers (tests/test_sweeps_vectorized.py); the script checks
the test accuracies agree. Target: at least 1.25x.

    python benchmarks/bench_sweep.py [--subset N] [--variants 16] [--repeats 1]
"""

from __future__ import annotations

import argparse
import itertools
import statistics

import torch

from _timing import fmt_seconds, interleaved
from reglab.experiments import RunContext, get_experiment
from reglab.runner import make_config
from reglab.sweeps.vectorized_mlp import DropoutMLPVectorized


def bench_dropout(subset: int, variants: int, repeats: int) -> float:
    grid = list(itertools.product((0.0, 0.2, 0.5, 0.8), repeat=2))[:variants]
    configs = [make_config("dropout", {"p1": p1, "p2": p2, "epochs": 1, "train_subset": subset, "seed": 4 + i})
               for i, (p1, p2) in enumerate(grid)]
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
    print(f"dropout MLP 784-256-256-10, {len(configs)} settings, 1 epoch of {data}, "
          f"{torch.get_num_threads()} thread(s), median of {repeats}:")
    print(f"  sequential  {fmt_seconds(seq)}")
    print(f"  vectorized  {fmt_seconds(vec)}   speed-up {seq / vec:.2f}x (target >= 1.25x)")
    print(f"  largest test-accuracy difference between the two: {worst:.2e}")
    return seq / vec


# ---------------------------------------------------------------------------
# HOOK (lead): weight-decay, 16 lambdas, 100 epochs, vectorized vs sequential
# (target >= 10x). When the weight-decay experiment and its vectorized trainer
# exist, build 16 configs (lambda=log-spaced, one per trial) and time
# `spec.vectorized.train(configs, device)` against the experiment's run
# function 16 times, exactly as bench_dropout does.
# ---------------------------------------------------------------------------
def bench_weight_decay() -> float | None:
    from reglab.sweeps import get_spec

    spec = get_spec("weight-decay")
    if spec.vectorized is None:
        print("weight-decay: no vectorized trainer yet (hook in benchmarks/bench_sweep.py)")
        return None
    raise NotImplementedError("fill in the weight-decay benchmark here")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=0, help="training samples (0: all 60000)")
    parser.add_argument("--variants", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    bench_dropout(args.subset, args.variants, args.repeats)
    bench_weight_decay()


if __name__ == "__main__":
    main()
