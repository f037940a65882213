"""What a sweep checks before it makes its folder, and the record of its sessions.

Checks (all before anything is created, each one sentence):

- :func:`check_size`: a grid larger than ``max_trials`` (:data:`MAX_TRIALS` by
  default, ``--max-trials`` to allow more knowingly) is refused before any trial
  is built: ``log:0.001:1:100000000`` is a typo, not a sweep;
- :func:`check_resume_arguments`: ``--resume DIR`` takes every setting from
  ``DIR/sweep.json``; an experiment, grid axes, ``--seeds``, ``--select``,
  ``--device`` or ``--out`` given with it would be ignored, so they are refused.

Sessions: a sweep runs in one session, then one more per ``--resume``.
``summary.json`` keeps the first session's ``backend`` and ``seconds`` and lists
every session (its backend, seconds, trials run and status) in ``sessions``,
with ``total_seconds`` their sum; a session that ended without writing its
summary (killed) is listed with ``seconds`` null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError

__all__ = ["MAX_TRIALS", "check_size", "check_resume_arguments", "sessions_so_far", "session_summary"]

#: The most trials a sweep runs without ``--max-trials``.
MAX_TRIALS = 10_000


def check_size(points: int, seeds: int, splits: int, max_trials: int) -> None:
    """Refuse a sweep of more than ``max_trials`` trials (grid points x seeds x validation splits)."""
    total = points * seeds * splits
    if total > max_trials:
        raise ConfigError(
            f"the sweep would run {total} trials ({points} grid points x {seeds} seeds x {splits} splits), "
            f"more than --max-trials {max_trials}; check the grid (log:A:B:N makes N values), "
            "or raise --max-trials to run it knowingly"
        )


def check_resume_arguments(**given: Any) -> None:
    """Refuse settings given together with ``--resume`` (it takes them from the sweep's folder)."""
    extra = [_as_given(name, value) for name, value in given.items() if value not in (None, "", (), [])]
    if extra:
        raise ConfigError(
            f"--resume takes the experiment and every setting from the sweep folder's sweep.json; "
            f"drop {', '.join(extra)}"
        )


def _as_given(name: str, value: Any) -> str:
    """A refused setting as the command line spells it: ``the experiment tiny``, ``the axes lr=0.3``, ``--seeds 2``."""
    if name == "experiment":
        return f"the experiment {value}"
    if name == "grid":
        return f"the axes {' '.join(map(str, value))}"
    return f"--{name} {value}"


def sessions_so_far(path: Path, manifest: dict[str, Any], resumed: bool) -> list[dict[str, Any]]:
    """The sessions recorded in ``summary.json`` before this one (none for a new sweep)."""
    if not resumed:
        return []
    try:
        previous = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        sessions = previous.get("sessions")
        if isinstance(sessions, list) and all(isinstance(s, dict) for s in sessions):
            return sessions
        return [
            {"backend": previous.get("backend"), "seconds": previous.get("seconds"), "status": previous.get("status")}
        ]
    except (OSError, ValueError, AttributeError):
        # The sweep was killed before it wrote its summary: its time is unknown.
        return [{"backend": manifest.get("backend"), "seconds": None, "status": "ended without a summary"}]


def session_summary(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """``backend`` and ``seconds`` of the first session, ``total_seconds`` and ``sessions``."""
    first = sessions[0]
    known = [s["seconds"] for s in sessions if isinstance(s.get("seconds"), (int, float))]
    return {
        "backend": first.get("backend"),
        "seconds": first.get("seconds"),
        "total_seconds": sum(known),
        "sessions": sessions,
    }
