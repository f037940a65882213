"""reglab.run() from Python, and how its outcome shows in a notebook."""

from __future__ import annotations

import base64
import re

import pytest

import reglab
from reglab.core.errors import ConfigError


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_run_takes_settings_as_keywords_and_returns_the_outcome(tiny_experiment, tmp_path):
    outcome = reglab.run(tiny_experiment, epochs=2, lr=0.1, seed=3, out=tmp_path, quiet=True)
    assert outcome.status == "complete"
    assert (outcome.config.epochs, outcome.config.lr, outcome.config.seed) == (2, 0.1, 3)
    assert outcome.history.column("epoch") == [1, 2]
    assert outcome.summary["test_acc"] == outcome.history.last["test_acc"]
    assert outcome.run_dir.path.parent == tmp_path / tiny_experiment
    html = outcome._repr_html_()
    assert tiny_experiment in html and "complete" in html and str(outcome.run_dir.path) in html
    assert "<th>test_acc</th>" in html
    # the run wrote no figure of its own, so the notebook shows its history's curves
    (image,) = _images(html)
    assert image.startswith(b"\x89PNG")


def test_the_figures_a_run_wrote_are_what_it_shows(tiny_experiment, tmp_path):
    outcome = reglab.run(tiny_experiment, epochs=1, out=tmp_path, quiet=True)
    picture = outcome.plot()
    outcome.run_dir.save_figure("curves.png", picture)
    assert _images(outcome._repr_html_()) == [(outcome.run_dir.path / "curves.png").read_bytes()]


def test_a_run_without_a_folder_and_bad_settings(tiny_experiment, tmp_path):
    outcome = reglab.run(tiny_experiment, epochs=1, out=None, quiet=True)
    assert outcome.run_dir is None and "no run directory" in outcome._repr_html_()
    with pytest.raises(ConfigError, match="unknown setting"):
        reglab.run(tiny_experiment, epochz=1, out=tmp_path)
    with pytest.raises(ConfigError, match="needs a folder"):
        reglab.run(tiny_experiment, out=None, logger="tensorboard")
