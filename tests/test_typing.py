"""mypy over the package, with the configuration of pyproject.toml ([tool.mypy]).

The same as running ``mypy`` from the repository root. The first run takes
about half a minute (torch's stubs); later runs reuse ``.mypy_cache/`` and take
a few seconds.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Folders whose mypy errors are known and tolerated for now, each with the reason.
# While such a folder has errors the test is an expected failure that lists them;
# once it is clean the test fails until its entry is removed here, so that the
# change which fixes the errors also makes them impossible to come back.
PENDING: dict[str, str] = {}

# "reglab/x.py:12: error: message  [code]" (a column too with --show-column-numbers)
_ERROR = re.compile(r"^(?P<path>[^:]+\.pyi?):\d+(?::\d+)?: error: ")


pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is in the dev extra: pip install -e '.[dev]')",
)


def test_mypy_passes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    output = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1):  # 2: mypy itself failed (bad configuration, crash)
        pytest.fail(f"mypy could not run (exit status {proc.returncode}):\n{output}", pytrace=False)
    errors = [(m["path"].replace("\\", "/"), line) for line in output.splitlines() if (m := _ERROR.match(line))]
    if proc.returncode == 1 and not errors:
        pytest.fail(f"mypy failed without an error line this test recognises:\n{output}", pytrace=False)
    unexpected = [line for path, line in errors if not path.startswith(tuple(PENDING))]
    if unexpected:
        pytest.fail(f"mypy found {len(unexpected)} error(s):\n{output}", pytrace=False)
    # warn_unused_configs reports an override that matches no module only as a note (exit status 0).
    stale = [line for line in output.splitlines() if "note: unused section" in line]
    if stale:
        pytest.fail("[tool.mypy] has overrides that match no module:\n" + "\n".join(stale), pytrace=False)
    clean = [folder for folder in PENDING if not any(path.startswith(folder) for path, _ in errors)]
    if clean:
        pytest.fail(f"mypy finds no error in {', '.join(clean)} any more: remove it from PENDING", pytrace=False)
    if errors:
        reasons = "; ".join(f"{folder}: {why}" for folder, why in PENDING.items())
        pytest.xfail(f"{len(errors)} known mypy error(s) ({reasons}):\n" + "\n".join(line for _, line in errors))
