"""What an experiment is: a frozen config type, a run function, how to sweep it,
and the registry that holds them.

An experiment's ``run(config, ctx)`` trains or computes, writes its files
through ``ctx`` (only when ``ctx.run_dir`` is set: sweeps run experiments
without folders) and returns a :class:`Result` whose ``summary`` holds the
final numbers. It is registered with :func:`register`, which also takes its
:class:`~reglab.runs.sweep_spec.SweepSpec` (knob aliases, the metric to select
on, a stacked trainer), so that everything about one experiment is declared in
its own module.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.registry import Registry
from ..engine.callbacks import Callback, EpochTable, TaggedRows
from .run_dir import MetricsWriter, RunDir
from .sweep_spec import SweepSpec

__all__ = [
    "Experiment",
    "Result",
    "RunContext",
    "EXPERIMENTS",
    "register",
    "get_experiment",
    "list_experiments",
    "setting_help",
    "load_catalogue",
]


def setting_help(text: str) -> dict[str, str]:
    """Field metadata for a config setting: ``field(default=..., metadata=setting_help("..."))``.
    ``reglab run NAME --help`` prints the text beside the setting and its default."""
    return {"help": text}


@dataclass
class Result:
    """What an experiment returns.

    Attributes:
        summary: final numbers, JSON-ready (e.g. ``train_loss``, ``test_acc``).
        rows: per-epoch rows when the experiment has epochs, else empty.
        table: rows to print as the final table (defaults to none).
        model: the trained model, when there is one (saved as ``model.pt``).
    """

    summary: dict[str, Any]
    rows: list[dict[str, float]] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    model: torch.nn.Module | None = None


@dataclass
class RunContext:
    """How to run: device, output folder (or none), verbosity, and callbacks from outside.

    Attributes:
        device: where to train.
        run_dir: the run directory, or None (a sweep trial writes no folder).
        quiet: no per-epoch table and no progress bars.
        progress: show progress bars (None: only on a terminal).
        extra_callbacks: callbacks the caller attaches to every ``fit`` of the
            run (a logger, a sweep's per-epoch reporter, a schedule...);
            :meth:`callbacks` includes them.
    """

    device: torch.device
    run_dir: RunDir | None = None
    quiet: bool = False
    progress: bool | None = None
    extra_callbacks: list[Callback] = field(default_factory=list)
    _metrics: MetricsWriter | None = field(default=None, init=False, repr=False, compare=False)

    def callbacks(self, *, metrics: bool = True, tags: Mapping[str, Any] | None = None) -> list[Callback]:
        """The engine callbacks every epoch-based experiment passes to its training
        (``fit``, or :func:`reglab.engine.epochs.run_epochs` for a hand-written loop):
        the per-epoch table (unless quiet), ``metrics.csv`` (with a run dir) and the
        caller's :attr:`extra_callbacks`.

        Every call shares one ``metrics.csv`` writer, so a run that trains several
        models records all their epochs in one table, each row written the moment
        its epoch ends; ``tags`` (e.g. ``{"lambda": 3.0, "seed": 0}``) go in front
        of this training's rows in the table and in ``metrics.csv``. The extra
        callbacks get the rows as training makes them."""
        out: list[Callback] = []
        if not self.quiet:
            out.append(_tagged(EpochTable(), tags))
        if metrics and self.run_dir is not None:
            out.append(_tagged(self.metrics_writer(), tags))
        out.extend(self.extra_callbacks)
        return out

    def metrics_writer(self) -> MetricsWriter:
        """The run's one ``metrics.csv`` writer (a run directory is needed)."""
        if self.run_dir is None:
            raise ValueError("this run has no run directory to write metrics.csv into")
        if self._metrics is None:
            self._metrics = MetricsWriter(self.run_dir)
        return self._metrics

    @property
    def metrics_rows(self) -> int:
        """How many rows ``metrics.csv`` holds so far."""
        return len(self._metrics.rows) if self._metrics is not None else 0

    @property
    def show_progress(self) -> bool | None:
        return False if self.quiet else self.progress

    def save_figure(self, name: str, figure: Any) -> None:
        if self.run_dir is not None:
            self.run_dir.save_figure(name, figure)

    def write_csv(self, name: str, rows: list[dict[str, Any]]) -> None:
        if self.run_dir is not None:
            self.run_dir.write_csv(name, rows)

    def write_json(self, name: str, data: Any) -> None:
        if self.run_dir is not None:
            self.run_dir.write_json(name, data)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)


def _tagged(callback: Callback, tags: Mapping[str, Any] | None) -> Callback:
    return TaggedRows(callback, tags) if tags else callback


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Attributes:
        name: the command-line name, e.g. ``"dropout"``.
        summary: one line for ``reglab list``.
        config_type: a frozen dataclass whose defaults are the seeds' settings.
        run: ``run(config, ctx) -> Result``.
        quick: overrides for ``--dry-run``: the whole path on a tiny budget.
        description: a paragraph for ``reglab run NAME --help``.
        sweep: how ``reglab sweep`` treats it (the default: plain config fields
            as knobs, the loss minimised).
        diverge: overrides (on top of ``quick``) that make its training diverge,
            e.g. ``{"lr": 1e9}``: the test suite runs every epoch-based
            experiment with them and with an interrupt, and checks the status,
            the exit code and the ``metrics.csv`` rows kept.
        epoch_based: False for an experiment that does not train by epochs (it
            computes, e.g. statistics at initialisation); it then has no ``diverge``.
    """

    name: str
    summary: str
    config_type: type
    run: Callable[[Any, RunContext], Result]
    quick: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    sweep: SweepSpec = field(default_factory=SweepSpec)
    diverge: Mapping[str, Any] = field(default_factory=dict)
    epoch_based: bool = True

    def default_config(self) -> Any:
        return self.config_type()


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register(
    name: str,
    *,
    summary: str,
    config_type: type,
    quick: Mapping[str, Any] | None = None,
    description: str = "",
    sweep: SweepSpec | None = None,
    diverge: Mapping[str, Any] | None = None,
    epoch_based: bool = True,
) -> Callable[[Callable[[Any, RunContext], Result]], Callable[[Any, RunContext], Result]]:
    """Decorator registering a run function as experiment ``name``.

    Args:
        name: the command-line name; a second registration of it is an error.
        summary: one line for ``reglab list``.
        config_type: a frozen dataclass whose defaults are the experiment's settings.
        quick: overrides for ``--dry-run``.
        description: a paragraph for ``--help`` (default: the run function's docstring).
        sweep: how to sweep it; None for the default :class:`SweepSpec`.
        diverge: overrides that make training diverge (see :class:`Experiment`).
        epoch_based: False when it does not train by epochs.
    """

    def decorate(run: Callable[[Any, RunContext], Result]) -> Callable[[Any, RunContext], Result]:
        EXPERIMENTS.add(
            name,
            Experiment(
                name,
                summary,
                config_type,
                run,
                dict(quick or {}),
                description or inspect.cleandoc(run.__doc__ or ""),
                sweep or SweepSpec(),
                dict(diverge or {}),
                epoch_based,
            ),
        )
        return run

    return decorate


# The catalogues that register experiments when imported. The built-in one sits
# in a layer above this module, so it is named here, not imported: the registry
# loads it on first lookup, the way a plugin is loaded.
BUILTIN_CATALOGUE = "reglab.experiments"
_loaded: set[str] = set()


def load_catalogue(module: str = BUILTIN_CATALOGUE) -> None:
    """Import the module ``module`` (once), which registers its experiments."""
    if module not in _loaded:
        importlib.import_module(module)
        _loaded.add(module)


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name`` (the built-in catalogue is loaded first);
    an unknown name raises :class:`~reglab.core.errors.ConfigError` listing the known ones."""
    load_catalogue()
    return EXPERIMENTS.get(name)


def list_experiments() -> list[Experiment]:
    """Every registered experiment, in registration order (the built-in catalogue first)."""
    load_catalogue()
    return list(EXPERIMENTS)
