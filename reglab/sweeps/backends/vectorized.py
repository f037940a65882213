"""The vectorized backend: all variants of one architecture trained as one stacked model.

An experiment opts in by giving its :class:`~reglab.runs.sweep_spec.SweepSpec` a
:class:`~reglab.runs.sweep_spec.VectorizedTrainer`: ``group_key(config)`` says which configs can share
one stacked model (same architecture, data size, epochs...), and
``train(configs, device)`` trains such a group at once and returns, per
variant, the summary the experiment itself would have returned (or a
divergence). Each variant keeps its own hyperparameters, initialisation,
random masks and data order, so its numbers equal a solo run's to float
tolerance (``tests/sweeps/backends/test_vectorized.py`` checks this).

Trials whose configs fall into different groups are trained group by group;
``max_variants`` bounds the size of one stack (memory).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ...engine.devices import resolve_device
from ...runs.runner import make_config
from ...runs.sweep_spec import SweepSpec, VariantOutcome, VectorizedTrainer
from ..trial import Trial, metrics_of, trial_row

__all__ = ["run_vectorized", "vectorizable"]


def vectorizable(spec: SweepSpec, experiment: str, trials: Sequence[Trial]) -> bool:
    """True when ``spec`` has a vectorized trainer and all trials share one architecture
    (they may still form several stacks, e.g. one per K-fold fold)."""
    trainer = spec.vectorized_trainer()
    if trainer is None or not trials:
        return False
    try:
        keys = {trainer.architecture_key(make_config(experiment, t.overrides)) for t in trials}
    except Exception:  # a bad config is reported by the trial that uses it
        return False
    return len(keys) == 1


def run_vectorized(
    experiment: str,
    trials: Sequence[Trial],
    on_result: Callable[[dict[str, Any]], None],
    spec: SweepSpec,
    *,
    device: str = "cpu",
    max_variants: int = 64,
    progress: Any = None,
    on_results: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Train ``trials`` stack by stack and call ``on_result(row)`` for each trial.

    A stack that raises marks all of its trials failed with the error; each
    trial's ``seconds`` is its stack's time divided by the stack size. With
    ``on_results``, the rows of one stack (which finish together) go to it in one
    call instead (one ``results.csv`` rewrite per stack rather than per row).
    """
    trainer: VectorizedTrainer | None = spec.vectorized_trainer()
    if trainer is None:
        raise ValueError(f"experiment {experiment!r} has no vectorized trainer")
    torch_device = resolve_device(device)
    groups: dict[Hashable, list[tuple[Trial, Any]]] = {}
    failed: list[tuple[Trial, str]] = []
    for trial in trials:
        try:
            config = make_config(experiment, trial.overrides)
        except Exception as exc:
            failed.append((trial, f"{type(exc).__name__}: {exc}"))
            continue
        groups.setdefault(trainer.group_key(config), []).append((trial, config))
    for trial, error in failed:
        on_result(trial_row(trial, {}, 0.0, "failed", error))
    for members in groups.values():
        for start in range(0, len(members), max_variants):
            chunk = members[start : start + max_variants]
            began = time.perf_counter()
            try:
                outcomes = trainer.train([c for _, c in chunk], torch_device)
            except Exception as exc:
                outcomes = [VariantOutcome(summary={}, status="failed", error=f"{type(exc).__name__}: {exc}")] * len(
                    chunk
                )
            seconds = (time.perf_counter() - began) / len(chunk)
            rows = [
                trial_row(trial, metrics_of(out["summary"]), seconds, out["status"], out.get("error", ""))
                for (trial, _), out in zip(chunk, outcomes)
            ]
            if on_results is not None:
                on_results(rows)
            else:
                for row in rows:
                    on_result(row)
            if progress is not None:
                progress.update(len(rows))
