"""What the book draws must reach the reader: Animator PNGs that are complete whatever
happens to the Animator, predict_ch3's titles inside the image, train_ch3's quiet result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from PIL import Image
from torch import nn

from reglab import d2l


@pytest.fixture(autouse=True)
def _figures_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(d2l.FIGURES_ENV, str(tmp_path / "figs"))


def shown(path) -> dict:
    """What an Animator PNG says it shows: points per curve and each curve's last point."""
    description = Image.open(path).text["Description"]
    assert description.startswith("reglab.d2l Animator ")
    return json.loads(description.removeprefix("reglab.d2l Animator "))


# Four ways an Animator's life ends: returned from the book's kind of train helper (freed at
# once), caught in a reference cycle (freed by the garbage collector or at exit), alive in a
# global at exit, and inside a helper that crashes (its frame, and the Animator, live on in
# the traceback until the interpreter exits with the error).
PROGRAM = """
import gc, json, sys
from PIL import Image
from reglab import d2l

def train_concise(epochs):
    animator = d2l.Animator(xlabel="epochs", ylabel="loss", yscale="log", xlim=[5, epochs], legend=["train", "test"])
    for epoch in range(epochs):
        animator.add(epoch + 1, (1.0 / (epoch + 1), 2.0 / (epoch + 1)))
    return animator.path  # the Animator itself is dropped here

path = train_concise(1500)
# already written by the time train_concise returned, with every point
print("ON RETURN", json.dumps(Image.open(path).text["Description"]))

cyclic = d2l.Animator(legend=["a"])
cyclic.me = cyclic
for i in range(300):
    cyclic.add(i, i * i)
del cyclic

kept = d2l.Animator()
for i in range(40):
    kept.add(i, -i)

def crashing(epochs):
    animator = d2l.Animator()
    for epoch in range(epochs):
        animator.add(epoch + 1, 0.5)
    raise RuntimeError("training diverged")

crashing(25)
"""


@pytest.mark.slow
def test_every_announced_animator_png_exists_with_its_last_point(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(PROGRAM))
    env = {**os.environ, d2l.FIGURES_ENV: str(tmp_path / "figs"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1 and "RuntimeError: training diverged" in done.stderr
    announced = re.findall(r"Animator figure -> (\S+)", done.stdout)
    assert len(announced) == 4
    expected = [
        ([1500, 1500], [[1500.0, 1.0 / 1500], [1500.0, 2.0 / 1500]]),
        ([300], [[299.0, 299.0**2]]),
        ([40], [[39.0, -39.0]]),
        ([25], [[25.0, 0.5]]),
    ]
    for path, (points, last) in zip(announced, expected):
        assert shown(path) == {"points": points, "last": last}, path  # floats survive JSON exactly
    on_return = json.loads(re.search(r"ON RETURN (.*)", done.stdout).group(1))
    assert json.loads(on_return.removeprefix("reglab.d2l Animator "))["points"] == [1500, 1500]

    # The pixels are the whole curve: the same data drawn here gives the same image.
    again = d2l.Animator(xlabel="epochs", ylabel="loss", yscale="log", xlim=[5, 1500], legend=["train", "test"])
    for epoch in range(1500):
        again.add(epoch + 1, (1.0 / (epoch + 1), 2.0 / (epoch + 1)))
    assert np.array_equal(mpimg.imread(again.save()), mpimg.imread(announced[0]))


def test_the_png_exists_from_the_first_point_on(tmp_path, capsys):
    animator = d2l.Animator()
    animator.add(1, 0.5)
    assert f"Animator figure -> {animator.path}" in capsys.readouterr().out
    assert shown(animator.path) == {"points": [1], "last": [[1.0, 0.5]]}


def _text_bands(rows_with_text: np.ndarray) -> list[int]:
    """Heights of the runs of consecutive True rows."""
    bands, run = [], 0
    for has_text in rows_with_text:
        if has_text:
            run += 1
        elif run:
            bands.append(run)
            run = 0
    return bands + ([run] if run else [])


def test_predict_ch3_two_line_titles_are_inside_the_png(tmp_path, capsys):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    X, y = torch.rand(8, 1, 28, 28), torch.tensor([0, 9, 2, 3, 4, 5, 6, 7])
    d2l.predict_ch3(net, [(X, y)])
    (path,) = (tmp_path / "figs").glob("images-*.png")
    pixels = mpimg.imread(path)[..., :3]
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    coloured = spread > 0.2  # the images (viridis); text and frames are grey
    dark_grey = (pixels.max(axis=2) < 0.6) & (spread < 0.1)
    image_top = int(np.argmax(coloured.any(axis=1)))
    above = dark_grey[: image_top - 2].any(axis=1)  # the rows above the images' frames
    assert not above[:3].any(), "text touches the top edge: a title is cut off"
    bands = _text_bands(above)
    assert len(bands) == 2, bands  # 'true label' and 'predicted label', both whole
    assert min(bands) >= 0.6 * max(bands), bands


def test_train_ch3_result_keeps_its_numbers_and_shows_nothing_in_a_notebook(capsys):
    result = d2l.TrainCh3Result(0.4, 0.85, 0.83)
    loss, train_acc, test_acc = result  # d2l-style unpacking still works
    assert (loss, train_acc, test_acc) == (result.train_loss, result.train_acc, result.test_acc) == (0.4, 0.85, 0.83)
    assert result._ipython_display_() is None and capsys.readouterr() == ("", "")


def test_ipython_displays_nothing_for_train_ch3_result():
    formatters = pytest.importorskip("IPython.core.formatters", reason="IPython is not installed")
    assert formatters.DisplayFormatter().format(d2l.TrainCh3Result(0.4, 0.85, 0.83)) == ({}, {})
    assert formatters.DisplayFormatter().format((0.4, 0.85, 0.83))[0]["text/plain"] == "(0.4, 0.85, 0.83)"
