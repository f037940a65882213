"""Where output goes: a terminal, a Jupyter notebook, or neither (a log file, a pipe).

Progress bars are shown on a terminal and in a notebook (as ``tqdm.auto``
widgets), never into a file or a pipe; :func:`in_notebook` tells a Jupyter
kernel (notebook, JupyterLab, VS Code) apart from a terminal IPython, which
has no kernel. Nothing here imports IPython: a notebook has it loaded already.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["in_notebook", "interactive_output", "show_progress", "progress_bar"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel: IPython is loaded and its shell has a kernel."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def interactive_output() -> bool:
    """True when someone watches: stderr is a terminal, or this is a notebook."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        tty = False
    return tty or in_notebook()


def show_progress(progress: bool | None) -> bool:
    """``progress`` when given, else whether output is interactive (:func:`interactive_output`)."""
    return interactive_output() if progress is None else bool(progress)


def progress_bar(total: int | None, desc: str, unit: str, *, leave: bool = False) -> Any:
    """A ``tqdm.auto`` bar on stderr: a widget in a notebook, text on a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=leave, unit=unit, file=sys.stderr)
