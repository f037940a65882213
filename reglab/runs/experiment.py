"""What an experiment is: a frozen config type, a run function, how to sweep it,
and the registry that holds them.

An experiment's ``run(config, ctx)`` trains or computes, writes its files
through ``ctx`` (only when ``ctx.run_dir`` is set: sweeps run experiments
without folders) and returns a :class:`Result` whose ``summary`` holds the
final numbers. It is registered with :func:`register`, which also takes its
:class:`~reglab.runs.sweep_spec.SweepSpec` (knob aliases, the metric to select
on, a stacked trainer), so that everything about one experiment is declared in
its own module.

Experiments come from reglab's catalogue, a user's file or module, or an
installed package's entry point (see :mod:`reglab.runs.sources`):
:func:`get_experiment` takes a reference, ``NAME`` or ``SOURCE:NAME``, and loads
what it needs. The registry refuses a second experiment of the same name, with
a sentence naming both sources.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.errors import ConfigError
from ..core.registry import Registry
from ..engine.callbacks import Callback, EpochTable, TaggedRows
from .run_dir import MetricsWriter, RunDir
from .sources import (
    BUILTIN_CATALOGUE,
    entry_point_errors,
    load_entry_points,
    load_source,
    make_ref,
    source_of_module,
    split_ref,
)
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

    def callbacks(
        self, *, metrics: bool = True, tags: Mapping[str, Any] | None = None, table: bool = True
    ) -> list[Callback]:
        """The engine callbacks every epoch-based experiment passes to its training
        (``fit``, or :func:`reglab.engine.epochs.run_epochs` for a hand-written loop):
        the per-epoch table (unless quiet), ``metrics.csv`` (with a run dir) and the
        caller's :attr:`extra_callbacks`.

        Every call shares one ``metrics.csv`` writer, so a run that trains several
        models records all their epochs in one table, each row written the moment
        its epoch ends; ``tags`` (e.g. ``{"lambda": 3.0, "seed": 0}``) go in front
        of this training's rows in the table and in ``metrics.csv``. The extra
        callbacks get the rows as training makes them. ``table=False`` leaves the
        per-epoch table out (a run of many short trainings logs a line per training)."""
        out: list[Callback] = []
        if table and not self.quiet:
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
        source: where it was registered: a file's absolute path, a module's
            name, or None for the built-in catalogue.
        cannot_resume: why ``--checkpoint-every``/``--resume`` cannot serve it
            (one sentence), or empty when it can: its training runs through one
            ``fit`` with :meth:`RunContext.callbacks`.
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
    source: str | None = None
    cannot_resume: str = ""
    diverge: Mapping[str, Any] = field(default_factory=dict)
    epoch_based: bool = True

    def default_config(self) -> Any:
        return self.config_type()

    @property
    def ref(self) -> str:
        """The reference that finds this experiment from any process: ``NAME`` or ``SOURCE:NAME``."""
        return make_ref(self.name, self.source)

    @property
    def origin(self) -> str:
        """Where it comes from, in words."""
        if self.source is None:
            return "the built-in catalogue"
        return f"{'file' if self.source.endswith('.py') else 'module'} {self.source}"


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register(
    name: str,
    *,
    summary: str,
    config_type: type,
    quick: Mapping[str, Any] | None = None,
    description: str = "",
    sweep: SweepSpec | None = None,
    cannot_resume: str = "",
    diverge: Mapping[str, Any] | None = None,
    epoch_based: bool = True,
) -> Callable[[Callable[[Any, RunContext], Result]], Callable[[Any, RunContext], Result]]:
    """Decorator registering a run function as experiment ``name``.

    The same decorator serves reglab's catalogue and a user's file or module
    (``reglab run path/to/file.py:NAME``); the experiment records where it was
    registered (:attr:`Experiment.source`).

    Args:
        name: the command-line name (no ``:``); a second registration of it is
            an error naming both sources.
        summary: one line for ``reglab list``.
        config_type: a frozen dataclass whose defaults are the experiment's settings.
        quick: overrides for ``--dry-run``.
        description: a paragraph for ``--help`` (default: the run function's docstring).
        sweep: how to sweep it; None for the default :class:`SweepSpec`.
        cannot_resume: one sentence saying why it cannot be checkpointed and
            resumed, if it cannot (its training is not one ``fit`` with
            ``ctx.callbacks()``); empty when it can.
        diverge: overrides that make training diverge (see :class:`Experiment`).
        epoch_based: False when it does not train by epochs.
    """
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise ConfigError(
            f"an experiment name is a non-empty word without ':' or surrounding spaces; received {name!r}"
        )

    def decorate(run: Callable[[Any, RunContext], Result]) -> Callable[[Any, RunContext], Result]:
        experiment = Experiment(
            name=name,
            summary=summary,
            config_type=config_type,
            run=run,
            quick=dict(quick or {}),
            description=description or inspect.cleandoc(run.__doc__ or ""),
            sweep=sweep or SweepSpec(),
            source=source_of_module(getattr(run, "__module__", "__main__")),
            cannot_resume=cannot_resume,
            diverge=dict(diverge or {}),
            epoch_based=epoch_based,
        )
        if name in EXPERIMENTS:
            taken = EXPERIMENTS.get(name)
            raise ConfigError(
                f"{experiment.origin} registers experiment {name!r}, a name {taken.origin} already registers; "
                "give it another name"
            )
        EXPERIMENTS.add(name, experiment)
        return run

    return decorate


_catalogues: set[str] = set()


def load_catalogue(module: str = BUILTIN_CATALOGUE) -> None:
    """Import the module ``module`` (once), which registers its experiments."""
    if module not in _catalogues:
        load_source(module)
        _catalogues.add(module)


def get_experiment(ref: str) -> Experiment:
    """The experiment a reference names: ``NAME`` (built-in, or from an installed package's
    entry point) or ``SOURCE:NAME`` (a ``.py`` file or a module, imported first).

    The built-in catalogue is loaded first, so that a user's experiment cannot take
    a built-in name. Raises :class:`~reglab.core.errors.ConfigError` (one sentence)
    for an unknown name, listing the known ones, or a source that cannot be loaded.
    """
    load_catalogue()
    source, name = split_ref(ref)
    if source is not None:
        canonical = load_source(source)
        mine = [e.name for e in EXPERIMENTS if e.source == canonical]
        if name not in mine:
            listed = ", ".join(mine) if mine else "none"
            raise ConfigError(f"{source} registers no experiment {name!r}; it registers: {listed}")
        return EXPERIMENTS.get(name)
    if name not in EXPERIMENTS:
        load_entry_points()
    if name not in EXPERIMENTS:
        hint = ""
        if name.endswith(".py") or "/" in name:
            hint = f"; to run an experiment of a file, name it: {name}:NAME"
        broken = entry_point_errors()
        if broken:
            hint += "; " + "; ".join(broken)
        known = ", ".join(EXPERIMENTS.names())
        raise ConfigError(f"unknown experiment {name!r}; known experiments: {known}{hint}")
    return EXPERIMENTS.get(name)


def list_experiments(source: str | None = None) -> list[Experiment]:
    """Every registered experiment, in registration order (the built-in catalogue first,
    then the installed packages' entry points); with ``source``, only the experiments
    that file or module registers (it is loaded first)."""
    load_catalogue()
    if source is not None:
        canonical = load_source(source)
        return [e for e in EXPERIMENTS if e.source == canonical]
    load_entry_points()
    return list(EXPERIMENTS)
