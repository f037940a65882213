"""History.plot(), History.to_pandas() and the training-curve figure."""

from __future__ import annotations

import sys

import pytest

from reglab.engine.history_plot import CurvesFigure, curve_groups, plot_history
from reglab.engine.state import History

ROWS = [
    {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "train_penalty": 0.3, "test_loss": 1.2, "test_acc": 0.4, "seconds": 2.0},
    {"epoch": 2, "train_loss": 0.6, "train_acc": 0.7, "train_penalty": 0.2, "test_loss": 0.9, "test_acc": 0.6, "seconds": 2.1},
]  # fmt: skip


def test_columns_are_grouped_by_kind_and_epoch_and_seconds_are_left_out():
    assert curve_groups(ROWS) == [
        ("loss", ["train_loss", "test_loss"]),
        ("accuracy", ["train_acc", "test_acc"]),
        ("penalty", ["train_penalty"]),
    ]
    assert curve_groups([{"epoch": 1, "lr": 0.1, "seconds": 1.0}]) == [("other", ["lr"])]


def test_plot_draws_every_column_against_epoch_without_pyplot():
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    fig = History(rows=ROWS).plot(title="run")
    assert isinstance(fig, CurvesFigure)
    assert plt.get_fignums() == open_before  # nothing left open for a notebook to show twice
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy", "penalty"]
    lines = {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}
    assert lines["test_acc"].get_xdata().tolist() == [1, 2]
    assert lines["test_acc"].get_ydata().tolist() == [0.4, 0.6]
    assert lines["train_penalty"].get_ydata().tolist() == [0.3, 0.2]
    assert fig._suptitle is not None and fig._suptitle.get_text() == "run"
    assert fig._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")  # what a notebook displays


def test_redrawing_into_the_same_figure_replaces_its_panels():
    fig = plot_history(ROWS[:1])
    again = plot_history(ROWS, figure=fig)
    assert again is fig and len(fig.axes) == 3
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 2
    empty = plot_history([])
    assert empty.axes[0].texts[0].get_text() == "no epoch finished yet"


def test_to_pandas_has_one_row_per_epoch():
    pandas = pytest.importorskip("pandas", reason="pandas (the notebook extra) is not installed")
    frame = History(rows=ROWS).to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == list(ROWS[0])
    assert frame["test_acc"].tolist() == [0.4, 0.6]


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what `import pandas` sees when it is not installed
    with pytest.raises(
        ImportError, match=r"^History.to_pandas\(\) needs pandas, which is not installed: pip install pandas$"
    ):
        History(rows=ROWS).to_pandas()
