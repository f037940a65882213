"""Shared fixtures (shared plain helpers are in tests/helpers.py).

``isolated_data_env`` points every place the Fashion-MNIST loader searches at
empty temporary folders (and refuses network downloads), so loader tests never
depend on the machine. ``fashion`` is the real data set, loaded once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reglab.data import fashion_mnist as fm
from tests.helpers import TinyConfig, tiny_run


@pytest.fixture
def isolated_data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    places = {
        "env": tmp_path / "env-data",
        "xdg": tmp_path / "xdg-cache",
        "system": tmp_path / "system-datasets",
    }
    for folder in places.values():
        folder.mkdir()
    monkeypatch.setenv("REGLAB_DATA", str(places["env"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(places["xdg"]))
    monkeypatch.setattr(fm, "SYSTEM_DIR", places["system"])
    # Nothing listens on port 9 (discard): downloads fail fast and offline.
    monkeypatch.setenv("REGLAB_FASHION_MNIST_URL", "http://127.0.0.1:9/")
    fm._cache.clear()
    places["cache"] = places["xdg"] / "reglab" / "fashion-mnist"
    yield places
    fm._cache.clear()


@pytest.fixture(scope="session")
def fashion() -> fm.FashionMNIST:
    """The real Fashion-MNIST (set up by `make test`)."""
    return fm.load_fashion_mnist(download=False)


# --- a tiny experiment for runner and CLI tests -------------------------------


@pytest.fixture
def tiny_experiment(monkeypatch):
    """Register experiment 'tiny' for the duration of one test."""
    from reglab.experiments import EXPERIMENTS, Experiment

    entries = dict(EXPERIMENTS._entries)
    entries["tiny"] = Experiment("tiny", "a tiny synthetic experiment", TinyConfig, tiny_run, {"epochs": 1})
    monkeypatch.setattr(EXPERIMENTS, "_entries", entries)
    return "tiny"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The numbers behind the claim tests were measured with one torch thread.
    Pinning it makes every run of the suite compute the same floats whatever the
    machine's core count (a matmul's summation order depends on the threads).
    Tests measured with another count pin it themselves."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def user_experiments(monkeypatch):
    """Experiments registered from users' files, modules and entry points during one test
    are forgotten after it: the registry, the loader's memory, sys.path and the modules."""
    import sys

    from reglab.experiments import EXPERIMENTS
    from reglab.runs import sources

    monkeypatch.setattr(EXPERIMENTS, "_entries", dict(EXPERIMENTS._entries))
    for name in ("_file_modules", "_loaded", "_entry_points_loaded", "_entry_point_errors"):
        monkeypatch.setattr(sources, name, type(getattr(sources, name))(getattr(sources, name)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)
    yield
    for name in set(sys.modules) - modules:
        if not name.startswith(("reglab", "torch", "numpy", "ray", "matplotlib")):
            del sys.modules[name]


# --- headless Chromium for the HTML report tests ----------------------------------------


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A real headless Chromium (Debian's ``chromium``), shared by the tests of one process;
    the tests that use it skip, with the reason, where it or websocket-client is missing."""
    from tests.reports.chromium import Chromium, find_chromium

    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian's chromium package; scripts/setup.sh installs it as root)")
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) is not installed")
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium") / "profile")
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def restore_signal_handlers():
    """Commands run in process (``reglab.cli.main``) handle SIGINT and SIGTERM, and a command
    that received a signal ignores the rest of a burst on its way out: give every test the
    handlers it started with."""
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs to fill up (``tests.helpers.fill_disk``), unmounted afterwards; skipped,
    with the reason, where this machine does not allow mounting one."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill up: {mounted.stderr.strip() or 'mount failed'}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)
