"""docs/your-experiment.md end to end: the page shows docs/examples/dropblock_cnn.py whole,
and its sweep command runs (on a small budget: 1024 training and 1000 test images,
1 epoch, 2 values of drop_prob)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from reglab.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "your-experiment.md"
EXAMPLE = ROOT / "docs" / "examples" / "dropblock_cnn.py"


def test_the_page_shows_the_example_file_whole():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert EXAMPLE.read_text() in blocks


@pytest.mark.slow
def test_the_pages_sweep_runs_and_selects_on_validation(fashion, tmp_path, user_experiments, monkeypatch, capsys):
    lines = DOC.read_text().splitlines()
    (command,) = [line for line in lines if line.startswith("reglab sweep docs/") and line.endswith("val=0.2")]
    args = shlex.split(command)[1:]
    assert "drop_prob=0,0.1,0.2,0.3" in args and args[-2:] == ["--select", "val=0.2"]
    args[args.index("drop_prob=0,0.1,0.2,0.3")] = "drop_prob=0,0.2"
    monkeypatch.chdir(ROOT)
    out = tmp_path / "sweeps"
    code = main(
        [*args, "epochs=1", "train_subset=1024", "test_subset=1000", "--workers", "1", "--quiet", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    (sweep,) = (out / "dropblock-cnn").iterdir()
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["trials"]["complete"] == 2
    selected = summary["selected"]
    best = max(summary["configurations"], key=lambda c: c["val_acc_mean"])
    assert selected["drop_prob"] == best["drop_prob"] in (0.0, 0.2)
    assert all(c["val_acc_mean"] > 0.2 and c["test_acc_mean"] > 0.2 for c in summary["configurations"])
    assert json.loads((sweep / "sweep.json").read_text())["source"] == str(EXAMPLE)
