"""Terminal or notebook: only a Jupyter kernel counts as a notebook (the notebook
side is checked inside a real kernel by tests/docs/test_notebooks.py)."""

from __future__ import annotations

from reglab.engine.display import in_notebook, show_progress


def test_no_notebook_without_ipython_and_progress_follows_the_flag():
    assert in_notebook() is False
    assert show_progress(True) is True
    assert show_progress(False) is False
    assert show_progress(None) is False  # pytest captures stderr: no terminal
