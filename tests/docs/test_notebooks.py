"""docs/notebooks/dropout.ipynb runs, top to bottom, in a real Jupyter kernel.

The notebook is executed with nbclient and ipykernel on a tiny budget (its
``parameters`` cell is replaced), in a temporary folder; any cell error fails
the test. Its outputs are then checked for what a reader must see: progress
widgets (tqdm.auto found the kernel), each run and the sweep displayed inline
with their curves, and LivePlot's single figure, updated in place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed")
pytest.importorskip("ipykernel", reason="the notebook extra is not installed")

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "dropout.ipynb"
TINY_BUDGET = "EPOCHS = 2\nTRAIN_SUBSET = 600\nSWEEP_SEEDS = 1\n"
WIDGET = "application/vnd.jupyter.widget-view+json"


def _cell(nb, startswith: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(startswith)]
    return cell


def _mime(cell, kind: str) -> list:
    return [out["data"][kind] for out in cell.outputs if kind in out.get("data", {})]


@pytest.mark.slow
def test_the_dropout_notebook_runs_and_shows_its_results(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = TINY_BUDGET
    # What only a test asks of the notebook's objects, run after its own cells.
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "from reglab.engine.display import in_notebook\n"
            "assert in_notebook()\n"
            "assert live.draws == EPOCHS, live.draws\n"
            "assert with_dropout.status == without_dropout.status == 'complete'\n"
            "assert len(sweep.rows) == 4 and sweep.report['selected'] is not None\n"
        )
    )
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    run = _cell(nb, "with_dropout = reglab.run(")
    assert _mime(run, WIDGET), "no progress widget: tqdm.auto did not see the notebook"
    (html,) = _mime(run, "text/html")
    assert "<b>dropout</b>: complete" in html and 'src="data:image/png;base64,' in html

    live = _cell(nb, "import torch")
    assert len(_mime(live, "image/png")) == 1  # one figure, updated in place, not one per epoch

    (sweep_html,) = _mime(_cell(nb, "sweep = reglab.sweep("), "text/html")
    assert sweep_html.count("<tr>") == 1 + 4 and "selected: p2=" in sweep_html
    assert len(list((tmp_path / "runs" / "dropout").iterdir())) == 2
    assert len(list((tmp_path / "sweeps" / "dropout").iterdir())) == 1
