"""The search settings of a sweep beyond the grid: an Optuna budget, sampler and
pruner, a Ray Tune scheduler and retries; checked against the backend at once.

- ``--backend optuna``: ``--trials N`` (required: how many configurations to
  try), ``--sampler tpe|random|cmaes`` (default ``tpe``), ``--pruner
  median|sha|hyperband|none`` (default ``median``) on the per-epoch validation
  metric; it needs ``--select`` (the objective is the validation metric).
- ``--backend ray``: ``--scheduler asha`` (Ray Tune's ASHA on the per-epoch
  validation metric; needs ``--select``), ``--retries N`` (a trial
  whose worker or node died runs again, up to N times, in a fresh Tune run).

A setting given to a backend that does not use it is refused with one sentence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..core.checks import check_choice, check_int
from ..core.errors import ConfigError
from ..runs.sweep_spec import Selection

__all__ = ["SearchOptions", "SAMPLERS", "PRUNERS", "SCHEDULERS"]

SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("median", "sha", "hyperband", "none")
SCHEDULERS = ("asha", "none")


@dataclass(frozen=True)
class SearchOptions:
    """See the module's docstring; None means "not given"."""

    trials: int | None = None
    sampler: str | None = None
    pruner: str | None = None
    scheduler: str | None = None
    retries: int | None = None

    def checked(self, backend: str, selection: Selection | None, workers: int | None = None) -> SearchOptions:
        """These options for ``backend``, defaults filled in; raises ConfigError for a
        setting the backend does not use or a missing one it needs."""
        optuna_only = {"--trials": self.trials, "--sampler": self.sampler, "--pruner": self.pruner}
        ray_only = {"--scheduler": self.scheduler, "--retries": self.retries}
        if backend != "optuna":
            for flag, value in optuna_only.items():
                if value is not None:
                    raise ConfigError(f"{flag} applies to --backend optuna (received --backend {backend})")
        if backend != "ray":
            for flag, value in ray_only.items():
                if value is not None:
                    raise ConfigError(f"{flag} applies to --backend ray (received --backend {backend})")
        if backend == "optuna":
            if self.trials is None:
                raise ConfigError("--backend optuna needs --trials N: how many configurations to try")
            check_int("trials", self.trials, low=1)
            if workers not in (None, 1):
                raise ConfigError(
                    f"--backend optuna runs one trial at a time (received --workers {workers}); "
                    "to search in parallel, start more processes on the study with reglab sweep --resume DIR"
                )
            sampler = check_choice("sampler", self.sampler or "tpe", SAMPLERS)
            pruner = check_choice("pruner", self.pruner or "median", PRUNERS)
            if selection is None:
                raise ConfigError(
                    "--backend optuna needs --select val=FRACTION or kfold=K: its objective is the validation metric"
                )
            return SearchOptions(trials=self.trials, sampler=sampler, pruner=pruner)
        if backend == "ray":
            scheduler = check_choice("scheduler", self.scheduler or "none", SCHEDULERS)
            retries = 0 if self.retries is None else check_int("retries", self.retries, low=0)
            if scheduler != "none" and selection is None:
                raise ConfigError(
                    f"--scheduler {scheduler} needs --select val=FRACTION or kfold=K: it compares validation metrics"
                )
            return SearchOptions(scheduler=None if scheduler == "none" else scheduler, retries=retries)
        return SearchOptions()

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SearchOptions:
        return cls(**(data or {}))
