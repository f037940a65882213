"""Checkpoint: a fit interrupted mid-epoch and resumed computes the same bits as one never interrupted."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from reglab import BatchIterator, Dropout, EarlyStopping, LambdaCallback, fit
from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.engine.callbacks import Callback
from reglab.engine.checkpoint import Checkpoint, load_checkpoint

EPOCHS = 5


class GlobalDraws(Callback):
    """Puts draws of NumPy's and Python's global generators into every row, so that
    the rows show whether a resume restored them."""

    def on_epoch_end(self, state, row):
        row["numpy_draw"] = float(np.random.rand())
        row["python_draw"] = random.random()


class InterruptAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.at = step

    def on_step_end(self, state):
        if state.step == self.at:
            raise KeyboardInterrupt


def _setup(seed: int = 0):
    """Model, optimizer, batches and an early stopper, drawn from ``seed``: a resumed run
    builds them again (with any seed: the checkpoint overwrites what it restores)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    g = torch.Generator().manual_seed(7)
    X = torch.randn(96, 6, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long()
    model = nn.Sequential(
        nn.Linear(6, 16),
        nn.ReLU(),
        Dropout(0.3),  # the global torch generator
        nn.Linear(16, 16),
        Dropout(0.2, generator=torch.Generator().manual_seed(seed + 1)),  # a generator of its own
        nn.Linear(16, 2),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    train = BatchIterator(X, y, batch_size=16, seed=seed + 2)  # 6 steps per epoch
    val = BatchIterator(X[:32], y[:32], batch_size=32, shuffle=False)
    stopper = EarlyStopping("val_loss", patience=10, restore_best=False)
    return model, optimizer, train, val, stopper


def _fit(model, optimizer, train, val, callbacks, epochs=EPOCHS):
    return fit(
        model,
        train,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=epochs,
        eval_sets={"val": val},
        device="cpu",
        callbacks=callbacks,
        progress=False,
    )


def _without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_resume_after_an_interruption_mid_epoch_is_bit_identical(tmp_path):
    model, optimizer, train, val, stopper = _setup()
    reference = _fit(model, optimizer, train, val, [stopper, GlobalDraws()])

    path = tmp_path / "checkpoint.pt"
    model_b, optimizer_b, train_b, val_b, stopper_b = _setup()
    checkpoint = Checkpoint(path, every=2)
    # Step 21 is in epoch 4 (6 steps an epoch): the file holds epoch 2, memory epoch 3.
    with pytest.raises(KeyboardInterrupt):
        _fit(model_b, optimizer_b, train_b, val_b, [checkpoint, stopper_b, GlobalDraws(), InterruptAtStep(21)])
    assert checkpoint.saved_epoch == 3 and load_checkpoint(path)["epoch"] == 3

    model_c, optimizer_c, train_c, val_c, stopper_c = _setup(seed=99)
    resumed = Checkpoint(path, resume=True)
    history = _fit(model_c, optimizer_c, train_c, val_c, [stopper_c, GlobalDraws(), resumed])
    assert resumed.resumed_epoch == 3
    assert _without_seconds(history.rows) == _without_seconds(reference.rows)
    for (name, a), (_, b) in zip(model.state_dict().items(), model_c.state_dict().items()):
        assert torch.equal(a, b), name
    assert stopper_c.state_dict()["best_value"] == stopper.best_value
    assert stopper_c.best_epoch == stopper.best_epoch


def test_saves_every_n_epochs_and_when_fit_ends(tmp_path):
    model, optimizer, train, val, _ = _setup()
    path = tmp_path / "checkpoint.pt"
    seen = []
    # Called before the checkpoint (runs_last): each entry is the file before this epoch's save.
    look = LambdaCallback(on_epoch_end=lambda s, row: seen.append(path.exists() and load_checkpoint(path)["epoch"]))
    _fit(model, optimizer, train, val, [Checkpoint(path, every=2), look])
    assert seen == [False, False, 2, 2, 4]  # saved after epochs 2 and 4 ...
    assert load_checkpoint(path)["epoch"] == EPOCHS  # ... and 5, when fit ended


def test_current_optimizer_settings_replace_the_saved_ones(tmp_path):
    model, optimizer, train, val, _ = _setup()
    path = tmp_path / "checkpoint.pt"
    _fit(model, optimizer, train, val, [Checkpoint(path)], epochs=2)
    saved = load_checkpoint(path)["optimizer"]
    for settings, lr in (("checkpoint", 0.01), ("current", 0.001)):
        model, _, train, val, _ = _setup()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
        _fit(model, optimizer, train, val, [Checkpoint(path, resume=True, optimizer_settings=settings)], epochs=2)
        assert optimizer.param_groups[0]["lr"] == lr
        assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], saved["state"][0]["exp_avg"])


def test_refusals_are_one_sentence(tmp_path):
    model, optimizer, train, val, stopper = _setup()
    path = tmp_path / "checkpoint.pt"
    checkpoint = Checkpoint(path)
    _fit(model, optimizer, train, val, [checkpoint, stopper], epochs=2)
    with pytest.raises(ConfigError, match="serves one fit"):
        _fit(model, optimizer, train, val, [checkpoint], epochs=2)
    with pytest.raises(ConfigError, match=r"callbacks \['EarlyStopping#0'\] and this fit has none"):
        _fit(model, optimizer, train, val, [Checkpoint(path, resume=True)], epochs=2)
    with pytest.raises(ConfigError, match="after this fit's last epoch 1: resume with epochs >= 2"):
        _fit(model, optimizer, train, val, [Checkpoint(path, resume=True), stopper], epochs=1)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"bad\.pt is not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(InvalidArgumentError, match="`every`"):
        Checkpoint(path, every=0)
