"""The d2l dropout MLP on Fashion-MNIST: reglab's engine against the seed notes' pipeline.

Reference (the seeds' way): a Dataset converting each uint8 image to a float
tensor in ``__getitem__``, ``DataLoader(batch_size=256, shuffle=True,
num_workers=4)`` for training and test, torch's ``nn.Dropout``, and d2l's
``train_epoch_ch3`` loop (``float(l.sum())`` every batch) plus
``evaluate_accuracy``.

reglab: preloaded tensors, :class:`reglab.data.BatchIterator`, :func:`reglab.fit`
(metrics on the device, one sync per epoch), once with torch's ``nn.Dropout``,
once with ``reglab.Dropout``, and once with the dropout layers replaced by the
identity: the bound that no dropout implementation can beat in this engine.

Epochs of the three pipelines are interleaved, so drift in the machine's speed
hits all of them alike. Each epoch is training plus evaluation of the test set.

    python benchmarks/bench_pipeline.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reglab import Dropout, fit, load_fashion_mnist, seed_everything
from reglab.experiments.common import dropout_mlp, fashion_batches, init_normal_


class SeedStyleFashion(Dataset):
    """Converts one image per ``__getitem__``, as ToTensor does in the seeds."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i].to(torch.float32).div(255.0).unsqueeze(0), int(self.labels[i])


class SeedPipeline:
    def __init__(self) -> None:
        data = load_fashion_mnist()
        self.train = DataLoader(
            SeedStyleFashion(data.train_images, data.train_labels), batch_size=256, shuffle=True, num_workers=4
        )
        self.test = DataLoader(
            SeedStyleFashion(data.test_images, data.test_labels), batch_size=256, shuffle=False, num_workers=4
        )
        self.net = init_normal_(dropout_mlp((784, 256, 256, 10), (0.2, 0.5), nn.Dropout), 0.01)
        self.loss = nn.CrossEntropyLoss(reduction="none")
        self.trainer = torch.optim.SGD(self.net.parameters(), lr=0.5)
        self.test_acc = float("nan")

    def epoch(self) -> float:
        start = time.perf_counter()
        self.net.train()
        metric = [0.0, 0.0, 0.0]
        for X, y in self.train:
            y_hat = self.net(X)
            l = self.loss(y_hat, y)
            self.trainer.zero_grad()
            l.mean().backward()
            self.trainer.step()
            metric[0] += float(l.sum())
            metric[1] += float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())
            metric[2] += y.numel()
        self.net.eval()
        correct = total = 0.0
        with torch.no_grad():
            for X, y in self.test:
                correct += float((self.net(X).argmax(axis=1) == y).sum())
                total += y.numel()
        self.test_acc = correct / total
        return time.perf_counter() - start


class ReglabPipeline:
    def __init__(self, make_dropout) -> None:
        self.batches = fashion_batches(torch.device("cpu"), batch_size=256, seed=0)
        self.net = init_normal_(dropout_mlp((784, 256, 256, 10), (0.2, 0.5), make_dropout), 0.01)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=0.5)
        self.test_acc = float("nan")

    def epoch(self) -> float:
        start = time.perf_counter()
        history = fit(
            self.net,
            self.batches.train,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=self.optimizer,
            epochs=1,
            eval_sets={"test": self.batches.test},
            device="cpu",
            progress=False,
        )
        self.test_acc = history.last["test_acc"]
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="measured epochs per pipeline (after one warm-up)")
    args = parser.parse_args()
    seed_everything(0)
    pipelines = {
        "seed-style DataLoader pipeline": SeedPipeline(),
        "reglab engine + torch nn.Dropout": ReglabPipeline(nn.Dropout),
        "reglab engine + reglab.Dropout": ReglabPipeline(Dropout),
        "reglab engine, no dropout (bound)": ReglabPipeline(lambda p: nn.Identity()),
    }
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    for epoch in range(args.epochs + 1):
        for name, pipeline in pipelines.items():
            seconds = pipeline.epoch()
            if epoch > 0:  # the first epoch warms up workers, allocator and caches
                times[name].append(seconds)
    reference = statistics.median(times["seed-style DataLoader pipeline"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} measured epochs each\n")
    print(f"{'pipeline':34s} {'epoch min':>10s} {'median':>8s} {'speed-up':>9s} {'test acc':>9s}")
    for name, pipeline in pipelines.items():
        med = statistics.median(times[name])
        print(f"{name:34s} {min(times[name]):9.2f}s {med:7.2f}s {reference / med:8.2f}x {pipeline.test_acc:9.3f}")
    print("\nspeed-up: median seed-pipeline epoch / median epoch (train + test evaluation)")


if __name__ == "__main__":
    main()
