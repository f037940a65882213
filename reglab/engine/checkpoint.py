"""Checkpoints: save a :func:`reglab.fit` at epoch ends so that it continues exactly.

``fit(..., callbacks=[Checkpoint("checkpoint.pt", every=5)])`` saves, after
every fifth epoch and once more when ``fit`` ends however it ends (finished,
stopped early, Ctrl-C, divergence, an error), the state of the last *finished*
epoch: the model's ``state_dict``, the optimizer's, the callbacks' state (those
whose :meth:`~reglab.engine.callbacks.Callback.state_dict` returns a dict:
early stopping, schedules, the metrics writer), the shuffling state of the
batches (:meth:`reglab.data.BatchIterator.state_dict`), the generators held by
the model's modules (a regularizer's ``generator=``), the random number
generators (torch's CPU and CUDA ones, NumPy's and Python's global ones), the
epoch, the step count and the history rows. The file is replaced atomically,
so a crash leaves the previous checkpoint or the new one, never half of one.
Between two saves the last finished epoch is kept in memory (a CPU copy of
the model and optimizer state), which is what an interruption in the middle
of an epoch writes.

``Checkpoint(path, resume=True)`` restores all of it when ``fit`` starts,
before the first epoch it trains, so that on the same device and with the same
code the continued run computes the same numbers, bit for bit, as a run that
was never interrupted. Everything else the training script does before
``fit`` (seeding, building the data, the model and the optimizer) must be done
the same way: the checkpoint then overwrites what it restores.

A checkpoint runs after every other callback (``runs_last``), so what it saves
at an epoch's end includes their updates of that epoch. One ``Checkpoint``
serves one ``fit``: a second ``fit`` with the same object is refused.
"""

from __future__ import annotations

import copy
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checks import check_bool, check_choice, check_int
from ..core.errors import ConfigError
from ..core.files import atomic_write_bytes
from .callbacks import Callback
from .state import TrainState

__all__ = ["Checkpoint", "load_checkpoint", "rng_state", "set_rng_state", "FORMAT"]

FORMAT = 1  # bumped when the file's layout changes


def _cpu_copy(value: Any) -> Any:
    """A deep copy with every tensor copied to the CPU (later in-place updates do not reach it)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return type(value)((k, _cpu_copy(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(v) for v in value)
    return copy.deepcopy(value)


def rng_state() -> dict[str, Any]:
    """The global random number generators' states: torch (CPU and each CUDA device
    once CUDA is in use), NumPy's legacy global generator and Python's ``random``."""
    numpy = np.random.get_state(legacy=False)
    assert isinstance(numpy, dict)  # legacy=False returns the dict form
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": numpy["bit_generator"],
            "key": torch.from_numpy(numpy["state"]["key"].astype(np.int64)),
            "pos": int(numpy["state"]["pos"]),
            "has_gauss": int(numpy["has_gauss"]),
            "gauss": float(numpy["gauss"]),
        },
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s output."""
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": numpy["bit_generator"],
            "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"].tolist()), python["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) != torch.cuda.device_count():
            raise ConfigError(
                f"the checkpoint holds the random state of {len(cuda)} CUDA device(s) and this machine has "
                f"{torch.cuda.device_count()}: resume it on a machine with as many"
            )
        torch.cuda.set_rng_state_all(cuda)


def _callback_states(state: TrainState, skip: Callback) -> dict[str, tuple[Callback, dict[str, Any]]]:
    """The callbacks that keep state and their states, keyed ``ClassName#n`` (n counts
    that class's stateful callbacks, so stateless ones added or removed do not matter)."""
    out: dict[str, tuple[Callback, dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for cb in state.callbacks:
        if cb is skip or not isinstance(cb, Callback):
            continue
        cb_state = cb.state_dict()
        if cb_state is None:
            continue
        name = type(cb).__qualname__
        counts[name] = counts.get(name, 0) + 1
        out[f"{name}#{counts[name] - 1}"] = (cb, cb_state)
    return out


def _module_generators(model: torch.nn.Module) -> dict[str, torch.Generator]:
    return {
        name: module.generator
        for name, module in model.named_modules()
        if isinstance(getattr(module, "generator", None), torch.Generator)
    }


def _stateful_data(state: TrainState) -> dict[str, Any]:
    return {name: data for name, data in state.data.items() if callable(getattr(data, "state_dict", None))}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file (tensors on the CPU); a missing or unreadable file is one
    :class:`~reglab.core.errors.ConfigError` sentence."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"there is no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ConfigError(f"{path} is not a reglab checkpoint of format {FORMAT} (found {found!r})")
    return checkpoint


class Checkpoint(Callback):
    """Save the training state every ``every`` epochs and when ``fit`` ends; restore it with ``resume=True``.

    Args:
        path: the checkpoint file (replaced atomically at each save).
        every: save after every ``every``-th epoch, ``>= 1`` (and always when ``fit`` ends).
        resume: restore ``path`` when ``fit`` starts and continue after its epoch.
        optimizer_settings: on resume, whose hyperparameters (``lr``, ``momentum``,
            ``weight_decay``...) the optimizer keeps: ``"checkpoint"`` (the saved
            ones: an exact continuation) or ``"current"`` (the freshly built
            optimizer's, e.g. a lower learning rate for a diverged run); the
            optimizer's state (momentum buffers, Adam's moments) is the saved one.

    Attributes:
        saved_epoch: the epoch of the file on disk (None before the first save).
        resumed_epoch: the epoch restored at fit start (None without resume).
    """

    runs_last = True

    def __init__(
        self,
        path: str | Path,
        *,
        every: int = 1,
        resume: bool = False,
        optimizer_settings: str = "checkpoint",
    ) -> None:
        self.path = Path(path)
        self.every = check_int("every", every, low=1)
        self.resume = check_bool("resume", resume)
        self.optimizer_settings = check_choice("optimizer_settings", optimizer_settings, ("checkpoint", "current"))
        self.saved_epoch: int | None = None
        self.resumed_epoch: int | None = None
        self._pending: dict[str, Any] | None = None
        self._fits = 0

    @property
    def started(self) -> bool:
        """Whether a ``fit`` has started with this checkpoint."""
        return self._fits > 0

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, every={self.every}, resume={self.resume})"

    # --- saving -------------------------------------------------------------------

    def capture(self, state: TrainState) -> dict[str, Any]:
        """Everything a resume needs, as CPU copies (see the module docstring)."""
        return {
            "format": FORMAT,
            "epoch": state.epoch,
            "step": state.step,
            "stop_reason": state.stop_reason,
            "rows": [dict(row) for row in state.history.rows],
            "model": {k: v.detach().to("cpu", copy=True) for k, v in state.model.state_dict().items()},
            "optimizer": _cpu_copy(state.optimizer.state_dict()) if state.optimizer is not None else None,
            "callbacks": {k: _cpu_copy(cb_state) for k, (_, cb_state) in _callback_states(state, self).items()},
            "data": {k: _cpu_copy(d.state_dict()) for k, d in _stateful_data(state).items()},
            "generators": {k: g.get_state() for k, g in _module_generators(state.model).items()},
            "rng": rng_state(),
        }

    def _write(self, checkpoint: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())
        self.saved_epoch = checkpoint["epoch"]
        self._pending = None

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        snapshot = self.capture(state)
        if state.epoch % self.every == 0:
            self._write(snapshot)
        else:
            self._pending = snapshot

    def on_fit_end(self, state: TrainState) -> None:
        # However fit ended, the last finished epoch goes to disk.
        if self._pending is not None:
            self._write(self._pending)

    # --- restoring ------------------------------------------------------------------

    def on_fit_start(self, state: TrainState) -> None:
        self._fits += 1
        if self._fits > 1:
            raise ConfigError(
                "a Checkpoint serves one fit and this one already saw a fit: a run that trains several "
                "models cannot be checkpointed with one Checkpoint"
            )
        if self.resume:
            checkpoint = load_checkpoint(self.path)
            self.restore(state, checkpoint)
            self.resumed_epoch = self.saved_epoch = checkpoint["epoch"]

    def restore(self, state: TrainState, checkpoint: dict[str, Any]) -> None:
        """Load ``checkpoint`` into the model, optimizer, callbacks, batches, generators and
        RNGs of ``state``, and move ``fit`` on to the epoch after the checkpoint's."""
        if checkpoint["epoch"] > state.epochs:
            raise ConfigError(
                f"the checkpoint {self.path} is at epoch {checkpoint['epoch']}, after this fit's last "
                f"epoch {state.epochs}: resume with epochs >= {checkpoint['epoch']}"
            )
        state.model.load_state_dict(checkpoint["model"])
        if state.optimizer is not None and checkpoint["optimizer"] is not None:
            optimizer = state.optimizer
            current = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            optimizer.load_state_dict(checkpoint["optimizer"])
            if self.optimizer_settings == "current":
                for group, settings in zip(optimizer.param_groups, current):
                    group.update(settings)
        callbacks = _callback_states(state, self)
        saved = checkpoint["callbacks"]
        if set(callbacks) != set(saved):
            raise ConfigError(
                f"the checkpoint {self.path} holds the state of the callbacks {sorted(saved) or 'none'} and this "
                f"fit has {sorted(callbacks) or 'none'}: resume with the callbacks the run was saved with"
            )
        for key, (cb, _) in callbacks.items():
            cb.load_state_dict(saved[key])
        data = _stateful_data(state)
        for name, data_state in checkpoint["data"].items():
            if name not in data:
                raise ConfigError(
                    f"the checkpoint {self.path} holds the shuffling state of {name!r}, which this fit lacks"
                )
            data[name].load_state_dict(data_state)
        generators = _module_generators(state.model)
        for name, generator_state in checkpoint["generators"].items():
            if name not in generators:
                raise ConfigError(
                    f"the checkpoint {self.path} holds the generator of module {name!r}, which this model lacks"
                )
            generators[name].set_state(generator_state)
        set_rng_state(checkpoint["rng"])
        state.resume_at(checkpoint["epoch"], checkpoint["rows"], step=checkpoint["step"])
        state.stop_reason = checkpoint["stop_reason"]
