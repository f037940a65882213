"""Seed 000's concise dropout MLP: one epoch with reglab.d2l against the real d2l's pipeline.

Both sides run the same program body (d2l's ``train_epoch_ch3`` +
``evaluate_accuracy`` from reglab.d2l, SGD lr 0.5, batch 256, the 784-256-256-10
MLP with nn.Dropout(0.2/0.5)); only the batches differ:

- d2l style: what ``d2l.load_data_fashion_mnist(256)`` builds, a Dataset that
  converts each image in ``__getitem__`` (as ToTensor) and ``DataLoader(...,
  num_workers=4)`` (d2l's ``get_dataloader_workers()``);
- reglab.d2l: ``reglab.d2l.load_data_fashion_mnist(256)`` (in-memory batches).

Epochs are interleaved; the ratio is of medians (one warm-up epoch each).

    python benchmarks/bench_d2l.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))
from bench_pipeline import SeedStyleFashion

from reglab import d2l, load_fashion_mnist


def make_net() -> nn.Module:
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 10),
    )
    net.apply(lambda m: nn.init.normal_(m.weight, std=0.01) if type(m) == nn.Linear else None)  # noqa: E721 (the book's line)
    return net


class Program:
    def __init__(self, train_iter, test_iter) -> None:
        self.train_iter, self.test_iter = train_iter, test_iter
        self.net = make_net()
        self.loss = nn.CrossEntropyLoss(reduction="none")
        self.trainer = torch.optim.SGD(self.net.parameters(), lr=0.5)
        self.test_acc = float("nan")

    def epoch(self) -> float:
        start = time.perf_counter()
        d2l.train_epoch_ch3(self.net, self.train_iter, self.loss, self.trainer)
        self.test_acc = d2l.evaluate_accuracy(self.net, self.test_iter)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="measured epochs per side (after one warm-up)")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_fashion_mnist()
    workers = d2l.get_dataloader_workers()
    seed_style = Program(
        DataLoader(SeedStyleFashion(data.train_images, data.train_labels), 256, shuffle=True, num_workers=workers),
        DataLoader(SeedStyleFashion(data.test_images, data.test_labels), 256, shuffle=False, num_workers=workers),
    )
    ours = Program(*d2l.load_data_fashion_mnist(256))
    sides = {"d2l-style DataLoader (4 workers)": seed_style, "reglab.d2l in-memory batches": ours}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for epoch in range(args.epochs + 1):
        for name, program in sides.items():
            seconds = program.epoch()
            if epoch > 0:
                times[name].append(seconds)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} measured epochs each\n")
    reference = statistics.median(times["d2l-style DataLoader (4 workers)"])
    for name, program in sides.items():
        med = statistics.median(times[name])
        print(
            f"{name:34s} min {min(times[name]):6.2f}s  median {med:6.2f}s  "
            f"speed-up {reference / med:5.2f}x  test acc {program.test_acc:.3f}"
        )


if __name__ == "__main__":
    main()
