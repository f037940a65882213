"""Callbacks: the state protocol (stateless by default, EarlyStopping round-trips
through it), and LivePlot outside a notebook (in one, tests/docs/test_notebooks.py
checks it)."""

from __future__ import annotations

import pytest
import torch
from matplotlib.image import imread
from torch import nn

from reglab import BatchIterator, fit
from reglab.callbacks import LivePlot  # the documented path
from reglab.core.errors import InvalidArgumentError
from reglab.engine.callbacks import Callback, EpochTable, LambdaCallback
from reglab.engine.early_stopping import EarlyStopping


@pytest.mark.parametrize("callback", [Callback(), EpochTable(), LambdaCallback()])
def test_callbacks_are_stateless_by_default(callback):
    assert callback.state_dict() is None
    with pytest.raises(InvalidArgumentError, match="keeps no state"):
        callback.load_state_dict({"anything": 1})


def test_early_stopping_state_travels_through_the_protocol():
    first: Callback = EarlyStopping(patience=2)
    for value in (1.0, 0.5, 0.7):
        first.step(value)  # type: ignore[attr-defined]
    state = first.state_dict()
    assert state is not None and state["best_value"] == 0.5 and state["wait"] == 1
    second: Callback = EarlyStopping(patience=2)
    second.load_state_dict(state)
    assert second.step(0.8) == first.step(0.8) == (True, second.reason)  # type: ignore[attr-defined]


def _fit(callbacks, epochs=3):
    X, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    model = nn.Linear(3, 2)
    return fit(
        model,
        BatchIterator(X, y, batch_size=8, seed=0),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=epochs,
        eval_sets={"test": BatchIterator(X, y, batch_size=32, shuffle=False)},
        callbacks=callbacks,
        progress=False,
    )


def test_outside_a_notebook_the_png_is_written_once_at_the_end(tmp_path):
    live = LivePlot(tmp_path / "curves.png", title="tiny")
    history = _fit([live])
    assert live.draws == 1 and live.written == tmp_path / "curves.png"
    assert imread(live.written).shape[2] == 4  # a readable RGBA PNG
    lines = {line.get_label(): line for ax in live.figure.axes for line in ax.get_lines()}
    assert lines["test_acc"].get_ydata().tolist() == history.column("test_acc")


def test_the_default_file_is_live_plot_png_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    live = LivePlot()
    _fit([live], epochs=1)
    assert (tmp_path / "live_plot.png").stat().st_size > 0


def test_an_interrupted_fit_still_writes_its_finished_epochs(tmp_path):
    class Stop(LivePlot):
        def on_epoch_end(self, state, row):
            super().on_epoch_end(state, row)
            if state.epoch == 2:
                raise KeyboardInterrupt

    live = Stop(tmp_path / "p.png")
    with pytest.raises(KeyboardInterrupt):
        _fit([live])
    assert live.figure.axes[0].get_lines()[0].get_xdata().tolist() == [1, 2]


def test_a_bad_path_is_refused_with_the_one_sentence():
    with pytest.raises(InvalidArgumentError, match="argument `path`"):
        LivePlot(path=3)
