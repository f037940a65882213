"""The Ray backend: the sweep's trials as Ray Tune trials (``pip install reglab[ray]``).

Ray is imported here only. Without ``address`` a local Ray instance is started
(``ray.init(num_cpus=workers, include_dashboard=False)``) and shut down at the
end; with ``address`` (``--ray-address``) the trials run on that cluster,
whose workers must have reglab installed. Each Tune trial runs
:func:`~reglab.sweeps.trial.run_trial` on one CPU and reports the row; a Tune
callback in this process stores every row as its trial finishes, so
``results.csv`` is the same as with the other backends.

Trials run in Ray's worker processes, which start with an empty registry: the
experiment travels as its reference (``NAME`` or ``SOURCE:NAME``), and each
worker loads the source before looking the name up, a user's file by its
absolute path (so on a cluster of several machines the file must be at the
same path on every node, or be a module installed there). An experiment
registered at run time in the driver without a source (e.g. in a test) is not
found there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..trial import Trial, run_trial, trial_row
from .local import default_workers

__all__ = ["run_ray"]


def _import_ray() -> Any:
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ImportError("the ray backend needs Ray Tune: pip install 'reglab[ray]'") from None
    return ray, tune


def _trainable(config: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    row = run_trial(config["experiment"], Trial(**config["trial"]), config["device"])
    return {"row": row}


def run_ray(
    experiment: str,
    trials: Sequence[Trial],
    on_result: Callable[[dict[str, Any]], None],
    *,
    workers: int | None = None,
    address: str | None = None,
    device: str = "cpu",
    storage: str | Path = "ray",
    progress: Any = None,
) -> None:
    """Run ``trials`` as Ray Tune trials; call ``on_result(row)`` as each finishes.

    Args:
        experiment: the experiment's reference (``Experiment.ref``: ``NAME`` or ``SOURCE:NAME``).
        trials: the trials to run.
        on_result: receives each finished row (in this process).
        workers: CPUs of the local Ray instance (None: one per core); ignored with ``address``.
        address: a Ray cluster address; None starts a local instance.
        device: where each trial trains.
        storage: Tune's folder for its own files (made absolute).
        progress: a tqdm bar (or None) advanced per finished trial.
    """
    if not trials:
        return
    ray, tune = _import_ray()
    from ray.tune import Callback

    seen: set[int] = set()

    class _Store(Callback):
        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            row = result.get("row")
            if row is not None and row["trial"] not in seen:
                seen.add(row["trial"])
                on_result(row)
                if progress is not None:
                    progress.update(1)

    started = False
    if not ray.is_initialized():
        if address is None:
            ray.init(
                num_cpus=workers or default_workers(),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        space = {
            "experiment": experiment,
            "device": device,
            "trial": tune.grid_search(
                [
                    {"index": t.index, "point": t.point, "seed": t.seed, "fold": t.fold, "overrides": t.overrides}
                    for t in trials
                ]
            ),
        }
        tuner = tune.Tuner(
            tune.with_resources(_trainable, {"cpu": 1}),
            param_space=space,
            tune_config=tune.TuneConfig(reuse_actors=True),
            run_config=tune.RunConfig(
                storage_path=str(Path(storage).resolve()), name="tune", callbacks=[_Store()], verbose=0
            ),
        )
        results = tuner.fit()
        # A trial that died without reporting (e.g. a killed worker) is recorded as failed.
        by_index = {t.index: t for t in trials}
        for result in results:
            index = result.config["trial"]["index"]
            if index not in seen and index in by_index:
                seen.add(index)
                on_result(trial_row(by_index[index], {}, 0.0, "failed", f"ray: {result.error}"))
    finally:
        if started:
            ray.shutdown()
