"""reglab.sweep() from Python, and how its result shows in a notebook."""

from __future__ import annotations

import json

import pytest

import reglab
from reglab.sweeps.interactive import axis_text


def test_python_values_become_grid_axes():
    assert axis_text("p1", [0.2, 0.5]) == "p1=0.2,0.5"
    assert axis_text("lr", "log:0.01:1:3") == "lr=log:0.01:1:3"
    assert axis_text("epochs", 3) == "epochs=3"
    assert axis_text("sizes", (1, 2)) == "sizes=(1, 2)"  # a tuple is one value
    assert axis_text("name", "log") == "name='log'"


def test_sweep_runs_the_grid_and_displays_selection_table_and_plots(tiny_experiment, tmp_path):
    result = reglab.sweep(tiny_experiment, {"lr": [0.05, 0.2]}, epochs=1, seeds=2, workers=1, out=tmp_path, quiet=True)
    assert [(r["lr"], r["seed"], r["epochs"]) for r in result.rows] == [
        (0.05, 0, 1), (0.05, 1, 1), (0.2, 0, 1), (0.2, 1, 1),
    ]  # fmt: skip
    manifest = json.loads((result.path / "sweep.json").read_text())
    assert manifest["command"] == ["reglab.sweep", tiny_experiment, "lr=0.05,0.2", "epochs=1"]
    html = result._repr_html_()
    assert html.count("<tr>") == 1 + 2  # the header and one row per configuration
    assert "<td>0.05</td>" in html and "<td>0.2</td>" in html
    assert "no selection" in html  # the reason, as the summary gives it
    assert html.count('src="data:image/png;base64,') == len(result.figures()) == 1  # lr.png
    with pytest.raises(reglab.ConfigError, match="unknown sweep key `bogus`"):
        reglab.sweep(tiny_experiment, bogus=[1, 2], out=tmp_path)
