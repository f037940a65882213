"""``reglab.sweep(...)``: a sweep from Python or a notebook, as ``reglab sweep`` does it.

``reglab.sweep("dropout", p2=[0.0, 0.5], epochs=1, seeds=2, select="val=0.2")``:
each keyword that is not an option below is a grid axis. A list gives its
values, a ``"log:A:B:N"`` or ``"lin:A:B:N"`` string a range, anything else one
value. Knob names that are not Python identifiers (weight-decay's ``lambda``)
go in ``grid``: ``reglab.sweep("weight-decay", {"lambda": "log:1e-3:10:5"})``.
The :class:`~reglab.sweeps.sweep.SweepResult` it returns is displayed in a
notebook as the selection, a table of every configuration and the knob plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..loggers import LoggerSpec, logger_spec
from .sweep import SweepResult, run_sweep

__all__ = ["sweep", "axis_text"]


def axis_text(key: str, value: Any) -> str:
    """The ``key=values`` text of one axis given from Python (see the module docstring)."""
    if isinstance(value, list):
        return f"{key}={','.join(repr(v) for v in value)}"
    if isinstance(value, str) and value.split(":", 1)[0] in ("log", "lin") and ":" in value:
        return f"{key}={value}"
    return f"{key}={value!r}"


def sweep(
    experiment: str,
    grid: Mapping[str, Any] | Sequence[str] | None = None,
    /,
    *,
    seeds: int = 1,
    select: str | None = None,
    backend: str = "auto",
    workers: int | None = None,
    device: str = "cpu",
    out: str | Path = "sweeps",
    quiet: bool = False,
    logger: str | LoggerSpec | None = None,
    mlflow_uri: str | None = None,
    **axes: Any,
) -> SweepResult:
    """Sweep ``experiment`` over a grid and return the result.

    Args:
        experiment: a registered name, e.g. ``"dropout"``.
        grid: axes as a mapping (values as for ``**axes``) or as ``"key=v1,v2"`` strings.
        seeds: seeds per configuration.
        select: ``"val=FRACTION"`` or ``"kfold=K"`` (None: no selection).
        backend: ``auto``, ``local``, ``vectorized`` or ``ray``.
        workers: worker processes (None: one per core).
        device: where trials train.
        out: the parent of sweep folders.
        quiet: no progress bar.
        logger: ``"tensorboard"`` (``SWEEP/tb/trial-NNNN``), ``"mlflow"`` or a
            :class:`~reglab.loggers.LoggerSpec`; None for none.
        mlflow_uri: MLflow's tracking store (default: ``mlruns.db`` beside ``out``).
        **axes: more axes, e.g. ``p1=[0.2, 0.5]``, ``epochs=1``.
    """
    texts: list[str] = []
    if isinstance(grid, str):
        texts.append(grid)
    elif isinstance(grid, Mapping):
        texts += [axis_text(k, v) for k, v in grid.items()]
    elif grid is not None:
        texts += [str(t) for t in grid]
    texts += [axis_text(k, v) for k, v in axes.items()]
    return run_sweep(
        experiment,
        texts,
        seeds=seeds,
        select=select,
        backend=backend,
        workers=workers,
        device=device,
        out=out,
        quiet=quiet,
        command=["reglab.sweep", experiment, *texts],
        logger=logger_spec(logger, mlflow_uri=mlflow_uri, out=out),
    )
