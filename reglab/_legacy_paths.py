"""Import paths of reglab before its packages were layered, kept working.

reglab 0.1 kept every module at the top of the package (``reglab.drop``,
``reglab.trainer``, ``reglab.rundir``...). Those modules now live in the
layered packages (``reglab.regularizers``, ``reglab.engine``, ``reglab.runs``...);
the old paths in :data:`MOVED` still import, so code and documentation written
against them keep working. An old path names the new module itself (the same
object: patching it patches the new one); an old module that was split names a
module object holding the names of all its parts.

The finder is appended to ``sys.meta_path`` by ``reglab/__init__.py``, after the
regular finders, so it only ever answers for names that no longer exist.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

__all__ = ["MOVED", "install"]

#: old module path -> the module(s) that now hold its names.
MOVED: dict[str, tuple[str, ...]] = {
    "reglab.errors": ("reglab.core.errors",),
    "reglab._checks": ("reglab.core.checks",),
    "reglab._files": ("reglab.core.files",),
    "reglab.registry": ("reglab.core.registry",),
    "reglab._masks": ("reglab.regularizers.masks",),
    "reglab.drop": ("reglab.regularizers.inverted_dropout", "reglab.regularizers.base", "reglab.regularizers.masks"),
    "reglab.vanilla": ("reglab.regularizers.noninverted_dropout",),
    "reglab.spatial": ("reglab.regularizers.channel_dropout",),
    "reglab.sequence": ("reglab.regularizers.sequence_dropout",),
    "reglab.noise": ("reglab.regularizers.noise",),
    "reglab.structured": ("reglab.regularizers.stochastic_depth", "reglab.regularizers.drop_block"),
    "reglab.dropconnect": ("reglab.regularizers.drop_connect",),
    "reglab.embedding": ("reglab.regularizers.embedding_dropout",),
    "reglab.mc": ("reglab.regularizers.mc_prediction",),
    "reglab.penalties": ("reglab.regularizers.penalties",),
    "reglab.activity": ("reglab.regularizers.activity",),
    "reglab.constraints": ("reglab.regularizers.constraints", "reglab.engine.callbacks"),
    "reglab.trainer": ("reglab.engine.loop", "reglab.engine.state"),
    "reglab.callbacks": ("reglab.engine.callbacks",),
    "reglab.early_stopping": ("reglab.engine.early_stopping",),
    "reglab.losses": ("reglab.engine.losses",),
    "reglab.runtime": ("reglab.engine.seeding", "reglab.engine.devices"),
    "reglab.rundir": ("reglab.runs.run_dir",),
    "reglab.config": ("reglab.runs.config",),
    "reglab.runner": ("reglab.runs.runner",),
    "reglab.plots": ("reglab.runs.figures",),
    "reglab.experiments._base": ("reglab.runs.experiment",),
    "reglab.experiments._common": ("reglab.experiments.common",),
    "reglab.experiments._seeds": ("reglab.engine.seeding",),
    "reglab.experiments.early_stopping": ("reglab.experiments.early_stopping_demo",),
    "reglab.sweeps.spec": ("reglab.runs.sweep_spec",),
    "reglab.sweeps.plots": ("reglab.sweeps.knob_figures",),
    "reglab.sweeps.local": ("reglab.sweeps.backends.local",),
    "reglab.sweeps.vectorized": ("reglab.sweeps.backends.vectorized", "reglab.runs.sweep_spec"),
    "reglab.sweeps.ray_backend": ("reglab.sweeps.backends.ray_tune",),
    "reglab.sweeps.vectorized_mlp": ("reglab.experiments.dropout_mlp_stacked",),
    "reglab.sweeps.vectorized_regression": ("reglab.experiments.weight_decay_stacked",),
    "reglab.sweeps.cli": ("reglab.cli.sweep",),
}


def _merged(name: str, sources: Sequence[str]) -> types.ModuleType:
    """A module named ``name`` holding every attribute of ``sources`` (the first source wins a clash)."""
    module = types.ModuleType(name, f"The names of {', '.join(sources)} under reglab's old path {name}.")
    public: list[str] = []
    for source in reversed(sources):
        imported = importlib.import_module(source)
        for key, value in vars(imported).items():
            if not (key.startswith("__") and key.endswith("__")):
                setattr(module, key, value)
        public = list(getattr(imported, "__all__", [])) + [
            n for n in public if n not in getattr(imported, "__all__", [])
        ]
    module.__all__ = public  # type: ignore[attr-defined]  # typeshed's ModuleType declares no __all__
    return module


class _MovedLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # a placeholder; exec_module puts the real module in its place

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__
        sources = MOVED[name]
        # The import system returns whatever sys.modules holds under the name once
        # this returns: the new module itself, not the placeholder.
        sys.modules[name] = importlib.import_module(sources[0]) if len(sources) == 1 else _merged(name, sources)


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _MovedLoader())
        return None


def install() -> None:
    """Let the old paths import (once per interpreter)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
