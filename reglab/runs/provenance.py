"""Which code made a result: the git commit of reglab's checkout, when it runs from one.

:func:`git_state` asks git about the folder that holds the ``reglab`` package
(an editable install, a clone on ``PYTHONPATH``): the commit ``HEAD`` names
and whether tracked files differ from it (``dirty``; untracked files do not
count, as with ``git describe --dirty``). An installed wheel, a machine
without git or a failing git gives None: the record then says nothing rather
than something wrong.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

__all__ = ["git_state", "project_root"]


def project_root() -> Path:
    """The folder above the ``reglab`` package (the checkout's root when run from one)."""
    return Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout.strip()


def git_state(root: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit": SHA, "dirty": bool}`` of the checkout at ``root`` (default: reglab's), or None.

    ``root`` must be the top of the checkout (holding ``.git``): a package
    installed inside some other repository is not taken for reglab's checkout.
    """
    root = Path(root) if root is not None else project_root()
    if not (root / ".git").exists():  # a folder in a clone, a file in a worktree
        return None
    try:
        commit = _git(root, "rev-parse", "--verify", "HEAD")
        changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(changes)}
