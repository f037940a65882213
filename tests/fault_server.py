"""A fork server for the fault-injection tests: ``python -m tests.fault_server``.

Starting a Python process that imports torch takes seconds; forking one that
already has takes milliseconds. This server imports reglab once, registers the
``faulty`` experiment below, then for each request read from stdin (one JSON
object a line: ``{"args": [...], "out": PATH, "err": PATH}``) forks a child
that runs ``reglab ARGS`` (``reglab.cli.main``) with its output in those files,
writes ``{"pid": N}``, waits for the child and writes ``{"pid": N, "code": C}``
(the exit status, or minus the signal that ended it). The tests send the
signals to the child themselves. The server is single-threaded, so its forks
are safe; it ends when stdin closes.

``faulty`` is a small synthetic experiment: a linear classifier trained for
``epochs`` epochs of ``pause`` seconds each, through ``reglab.fit`` with the
context's callbacks. With ``$REGLAB_FAULT_LOG`` set, each epoch whose row has
reached ``metrics.csv`` is then appended (fsynced) to that file: the record of
what had finished when the process was killed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import torch
from torch import nn

from reglab.engine.callbacks import Callback


@dataclasses.dataclass(frozen=True)
class FaultyConfig:
    epochs: int = 6
    lr: float = 0.05
    pause: float = 0.03
    seed: int = 0


def faulty_run(config: FaultyConfig, ctx):
    from reglab import BatchIterator, LambdaCallback, fit, seed_everything
    from reglab.experiments import Result

    seed_everything(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    X = torch.randn(64, 4, generator=g)
    y = (X[:, 0] > 0).long()
    model = nn.Linear(4, 2)
    log = os.environ.get("REGLAB_FAULT_LOG")

    def finished(state, row):
        if log and ctx.run_dir is not None:
            with open(log, "a") as f:
                f.write(f"{state.epoch}\n")
                f.flush()
                os.fsync(f.fileno())

    history = fit(
        model,
        BatchIterator(X, y, batch_size=16, seed=config.seed),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=config.lr),
        epochs=config.epochs,
        eval_sets={"test": BatchIterator(X, y, batch_size=64, shuffle=False)},
        device=ctx.device,
        callbacks=[
            *ctx.callbacks(),
            LambdaCallback(on_epoch_end=finished),
            _Pause(config.pause),
        ],
        progress=False,
    )
    return Result(summary=dict(history.last), rows=history.rows, model=model)


class _Pause(Callback):
    """Sleep at the start of every epoch, so that kill points land inside training."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_start(self, state) -> None:
        time.sleep(self.seconds)


def register_faulty() -> None:
    """Register ``faulty`` (once) in this process's experiment registry."""
    from reglab.runs.experiment import EXPERIMENTS, Experiment

    if "faulty" not in EXPERIMENTS._entries:
        EXPERIMENTS._entries["faulty"] = Experiment(
            "faulty", "a slow tiny experiment for fault injection", FaultyConfig, faulty_run, {}, diverge={"lr": 1e30}
        )


def _child(request: dict) -> None:
    """In the forked child: output to files, then ``reglab ARGS``; never returns."""
    code = 1
    try:
        with open(request["out"], "w") as out, open(request["err"], "w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.environ.update(request.get("env", {}))
        from reglab.cli import main

        code = main(request["args"])
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException as exc:  # the test reads the file; the exit status says it failed
        print(f"fault server child: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        code = 99
    finally:
        os._exit(code)


def serve() -> None:
    torch.set_num_threads(1)
    import reglab.cli
    import reglab.sweeps  # noqa: F401
    from reglab.runs.experiment import list_experiments

    list_experiments()  # the catalogue, imported once
    register_faulty()
    # Building an optimizer imports torch._dynamo: once here, not in every child.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"pid": pid, "code": code}), flush=True)


if __name__ == "__main__":
    serve()
