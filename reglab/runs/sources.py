"""Where experiments come from: reglab's catalogue, a user's file or module, installed packages.

An experiment is named on the command line (and everywhere a name travels: a
sweep's trials, ``config.json``, ``sweep.json``, worker processes) by a
*reference*:

- ``NAME``: a built-in experiment, or one an installed package registers
  through the entry-point group ``reglab.experiments``;
- ``path/to/file.py:NAME``: an experiment registered by a Python file;
- ``package.module:NAME``: one registered by an importable module.

Loading the source (:func:`load_source`) imports it, and its ``@register``
decorators add its experiments to the registry. A file is imported by path
under a module name that is stable and unique for its absolute path
(:func:`file_module_name`), so every process that loads it (a spawned sweep
worker, a Ray worker, a resumed run) gets the same module, and its folder is
put on ``sys.path`` (at the end) so that it can import its neighbours. A
module is imported by name; if it is not importable but is in the current
directory, the current directory is put on ``sys.path`` (at the end), as
``python -m`` would. Each source is loaded once per process.

An experiment remembers its source (``Experiment.source``: the file's absolute
path or the module's name, None for the built-in catalogue), and
``Experiment.ref`` is the reference that finds it again from a fresh process.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path

from ..core.errors import ConfigError

__all__ = [
    "BUILTIN_CATALOGUE",
    "ENTRY_POINT_GROUP",
    "split_ref",
    "make_ref",
    "is_file_source",
    "file_module_name",
    "load_source",
    "source_of_module",
    "load_entry_points",
    "entry_point_errors",
]

# The catalogue that registers reglab's own experiments. It sits in a layer above
# this package, so it is named here, not imported: it is loaded like a plugin.
BUILTIN_CATALOGUE = "reglab.experiments"
ENTRY_POINT_GROUP = "reglab.experiments"

_file_modules: dict[str, str] = {}  # module name -> absolute path, for files loaded by path
_loaded: dict[str, str] = {}  # a source as given -> its canonical form, once loaded
_entry_points_loaded: set[str] = set()  # "name = value" of the entry points imported
_entry_point_errors: dict[str, str] = {}  # "name = value" -> why it failed


def split_ref(ref: str) -> tuple[str | None, str]:
    """``"src.py:NAME"`` -> ``("src.py", "NAME")``; ``"NAME"`` -> ``(None, "NAME")``."""
    if ":" in ref:
        source, name = ref.rsplit(":", 1)
        return source, name
    return None, ref


def make_ref(name: str, source: str | None) -> str:
    """The reference of experiment ``name`` registered by ``source`` (None: the built-in catalogue)."""
    return name if source is None else f"{source}:{name}"


def is_file_source(source: str) -> bool:
    """Whether ``source`` names a file (ends in ``.py`` or contains a path separator) rather than a module."""
    return source.endswith(".py") or "/" in source or os.sep in source


def file_module_name(path: str | Path) -> str:
    """The module name a file is imported under: its stem and a digest of its absolute path."""
    resolved = str(Path(path).resolve())
    stem = re.sub(r"\W", "_", Path(resolved).stem)
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return f"_reglab_file_{stem}_{digest}"


def source_of_module(module: str) -> str | None:
    """The source to record for an experiment whose run function lives in ``module``:
    a file's absolute path, a module's name, or None (the built-in catalogue, ``__main__``)."""
    if module in _file_modules:
        return _file_modules[module]
    if module == "__main__" or module == BUILTIN_CATALOGUE or module.startswith(BUILTIN_CATALOGUE + "."):
        return None
    return module


def _failure(what: str, exc: BaseException) -> ConfigError:
    """One sentence for an import that failed: where (the last frame) and the error."""
    if isinstance(exc, SyntaxError):
        where = f" at line {exc.lineno}" if exc.lineno else ""
        return ConfigError(f"importing {what} failed{where}: SyntaxError: {exc.msg}")
    # The last frame in a real file: the user's line, not importlib's frozen internals.
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<") and "importlib" not in Path(f.filename).parts and f.filename != __file__
    ]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return ConfigError(f"importing {what} failed{where}: {type(exc).__name__}: {exc}")


def _load_file(source: str) -> str:
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"experiment file {source} does not exist")
    name = file_module_name(path)
    if name not in sys.modules:
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.append(folder)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a spec
            raise ConfigError(f"experiment file {source} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        _file_modules[name] = str(path)
        sys.modules[name] = module  # before running it: dataclasses and pickle look it up
        try:
            spec.loader.exec_module(module)
        except ConfigError:
            del sys.modules[name]
            raise
        except Exception as exc:
            del sys.modules[name]
            raise _failure(f"experiment file {source}", exc) from None
    return str(path)


def _load_module(source: str) -> str:
    try:
        importlib.import_module(source)
    except ModuleNotFoundError as exc:
        top = source.split(".")[0]
        cwd = os.getcwd()
        missing_here = exc.name is not None and exc.name.split(".")[0] == top
        if missing_here and cwd not in sys.path and (Path(top).is_dir() or Path(f"{top}.py").is_file()):
            sys.path.append(cwd)
            return _load_module(source)
        if missing_here:
            raise ConfigError(
                f"experiment module {source} is not importable (no module named {exc.name!r}); "
                "give a file as path/to/file.py:NAME or install the package"
            ) from None
        raise _failure(f"experiment module {source}", exc) from None
    except ConfigError:
        raise
    except Exception as exc:
        raise _failure(f"experiment module {source}", exc) from None
    return source


def load_source(source: str) -> str:
    """Import ``source`` (a ``.py`` file or a module name) once, which registers its
    experiments; returns its canonical form (the file's absolute path, or the module name).

    Raises:
        ConfigError: the file does not exist, the module is not importable, or
            importing it raised (one sentence naming where and what).
    """
    if source not in _loaded:
        _loaded[source] = _load_file(source) if is_file_source(source) else _load_module(source)
    return _loaded[source]


def load_entry_points() -> None:
    """Import every entry point of the group ``reglab.experiments`` not yet imported (each
    names a module, or an object in one, whose import registers experiments). One that
    fails is skipped and remembered (:func:`entry_point_errors`), so that a broken
    package does not break the others or the built-in experiments."""
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"{entry_point.name} = {entry_point.value}"
        if key in _entry_points_loaded:
            continue
        _entry_points_loaded.add(key)
        dist = getattr(entry_point.dist, "name", None) or "an unknown distribution"
        try:
            entry_point.load()
        except Exception as exc:
            _entry_point_errors[key] = str(_failure(f"entry point {key!r} of {dist}", exc))


def entry_point_errors() -> list[str]:
    """One sentence per ``reglab.experiments`` entry point that failed to import."""
    return list(_entry_point_errors.values())
