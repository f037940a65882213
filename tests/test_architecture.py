"""The plan of the package holds: layers point down, no import cycles, every
file belongs to a layer, and no function hides the module it lives in.

The layers are those of ``docs/architecture.md`` (and of the import-linter
contract in ``pyproject.toml``), from the bottom: ``core``; ``regularizers``
and ``data``; ``engine``; ``runs``; ``experiments``; ``sweeps``, ``d2l`` and
``conformance``; ``cli``.
"""

from __future__ import annotations

import graphlib
import importlib
import pkgutil
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import reglab

grimp = pytest.importorskip("grimp", reason="the dev extra (import-linter) is not installed")

PACKAGE_DIR = Path(reglab.__file__).parent
REPO = PACKAGE_DIR.parent

#: What importing each package may load of reglab, besides itself (its layer and those below).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "regularizers": {"core"},
    "data": {"core"},
    "engine": {"core", "regularizers"},
    "runs": {"core", "regularizers", "engine"},
    "experiments": {"core", "regularizers", "data", "engine", "runs"},
    "conformance": {"core"},
    "d2l": {"core", "regularizers", "data", "engine"},
    "sweeps": {"core", "regularizers", "data", "engine", "runs"},
    "integrations": {"core", "regularizers", "engine"},
    "cli": {"core", "regularizers", "data", "engine", "runs", "sweeps", "conformance"},
}
#: Files at the top of the package that are not a layer's: the facade, ``python -m reglab``, the old paths.
TOP_FILES = {"__init__.py", "__main__.py", "_legacy_paths.py", "py.typed"}


def _loaded_by(package: str) -> list[str]:
    """The reglab modules a fresh interpreter loads to import ``reglab.<package>``.

    The top-level facade (``reglab/__init__.py``, which imports the regularizers
    and the engine for ``reglab.Dropout``, ``reglab.fit``...) is replaced by a bare
    package object first, so that only what the package itself imports is loaded.
    """
    code = (
        "import importlib, sys, types\n"
        "root = types.ModuleType('reglab')\n"
        f"root.__path__ = [{str(PACKAGE_DIR)!r}]\n"
        "sys.modules['reglab'] = root\n"
        f"importlib.import_module('reglab.{package}')\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('reglab.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return out.stdout.split()


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_importing_a_package_loads_only_the_layers_below_it(package):
    loaded = _loaded_by(package)
    packages = {name.split(".")[1] for name in loaded} - {package}
    assert packages <= ALLOWED[package], f"reglab.{package} pulled in {sorted(packages - ALLOWED[package])}"


def test_the_lightning_integration_loads_only_the_layers_below_it():
    # reglab.integrations itself imports nothing; its lightning module imports Lightning and the engine.
    pytest.importorskip("lightning", reason="the lightning extra is not installed")
    packages = {name.split(".")[1] for name in _loaded_by("integrations.lightning")} - {"integrations"}
    assert packages <= ALLOWED["integrations"], f"pulled in {sorted(packages - ALLOWED['integrations'])}"


def test_regularizers_need_only_the_argument_checks_and_errors_of_core():
    core = {name for name in _loaded_by("regularizers") if name.startswith("reglab.core.")}
    assert core <= {"reglab.core.checks", "reglab.core.errors"}


def test_importing_the_experiment_registry_does_not_load_the_catalogue():
    # runs/ names the built-in catalogue as a plugin and loads it on first lookup.
    assert not any(name.startswith("reglab.experiments") for name in _loaded_by("runs"))
    assert not any(name.startswith("reglab.experiments") for name in _loaded_by("sweeps"))


def test_there_are_no_import_cycles():
    graph = grimp.build_graph("reglab")  # every import, also those inside functions
    dependencies = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(dependencies).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_import_cycle_detection_catches_a_cycle():
    # The check above would pass vacuously if graphlib ignored cycles of this shape.
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).prepare()


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("lint-imports (the dev extra's import-linter) is not installed")
    out = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_every_file_belongs_to_one_layer():
    layers = set(ALLOWED)
    strays = []
    for path in sorted(PACKAGE_DIR.iterdir()):
        if path.name.startswith((".", "__pycache__")):
            continue
        if path.is_dir() and path.name not in layers:
            strays.append(path.name + "/")
        elif path.is_file() and path.name not in TOP_FILES:
            strays.append(path.name)
    assert strays == [], f"files outside every layer: {strays}"


def _packages() -> list[types.ModuleType]:
    found = [reglab]
    for info in pkgutil.walk_packages(reglab.__path__, "reglab."):
        if info.ispkg:
            found.append(importlib.import_module(info.name))
    return found


def test_no_name_in_a_package_hides_one_of_its_modules():
    # `reglab.regularizers.dropout` must not be both a module file and the function
    # the package re-exports: `import reglab.regularizers.x as m` would give the function.
    hidden = []
    for package in _packages():
        for info in pkgutil.iter_modules(package.__path__):
            value = getattr(package, info.name, None)
            if value is not None and not isinstance(value, types.ModuleType):
                hidden.append(f"{package.__name__}.{info.name}")
    assert hidden == []
