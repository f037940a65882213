"""What every subcommand shares: exit codes and the one-line error."""

from __future__ import annotations

import sys

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "error"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def error(message: str, code: int = EXIT_USAGE) -> int:
    """Print ``reglab: error: MESSAGE`` on stderr and return ``code``."""
    print(f"reglab: error: {message}", file=sys.stderr)
    return code
