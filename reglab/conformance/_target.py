"""Finding a target (``module.path:callable``) and adapting it to one calling convention.

Supported dropout targets (detected in this order):

1. a class, subclass of ``torch.nn.Module``: built as ``M(p)``; training and
   evaluation follow ``.train()`` / ``.eval()``; one instance is called twice
   for the independence-across-calls check;
2. a factory ``make(p) -> nn.Module`` (a callable that binds one argument but
   not two, or whose first parameter is named ``p``, ``rate``, ``drop_prob``,
   ``drop_rate`` or ``prob``; e.g. ``lambda p: MyDropout(p, inplace=True)``):
   like a class;
3. a function ``f(x, p, ...)`` (``torch.nn.functional.dropout``,
   ``reglab.dropout``, the d2l ``dropout_layer(X, dropout)``): called as
   ``f(x, p)``, with ``training=False`` by keyword for the eval check when
   it has a parameter named ``training`` (or ``train``, ``is_training``), or
   ``**kwargs``. A function without one is tested in training mode only; its
   eval check is reported N.A.

Supported penalty targets: a function ``fn(params_or_model, lam)`` (λ bound by
name when it is keyword-only, by position otherwise) or a class ``P(lam)``
whose instances are called as ``P(lam)(params_or_model)``.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.checks import invalid_argument
from ..core.errors import ReglabError

__all__ = [
    "TargetImportError",
    "TargetExitError",
    "load_target",
    "describe_target",
    "exit_refused",
    "DropoutTarget",
    "PenaltyTarget",
]

_TRAINING_NAMES = ("training", "train", "is_training")
_P_NAMES = ("p", "rate", "drop_prob", "drop_rate", "prob")
_LAMBDA_NAMES = ("lam", "lmbda", "lambda_", "lamb", "weight_decay", "wd", "alpha", "coef", "strength", "decay")


class TargetImportError(ReglabError, ImportError):
    """A ``module.path:callable`` target cannot be imported, found or called."""


class TargetExitError(ReglabError):
    """The target called ``sys.exit`` (raised ``SystemExit``) while it was being checked."""


_GUARD_HINT = (
    "reglab check imports the module and runs its top-level code; "
    'keep a script\'s own code under `if __name__ == "__main__":`'
)


@contextlib.contextmanager
def exit_refused(name: str) -> Iterator[None]:
    """Turn a ``SystemExit`` raised by the target ``name`` inside the block into
    :class:`TargetExitError`: a check must never end the program, nor pass as an exit status 0."""
    try:
        yield
    except SystemExit as exc:
        raise TargetExitError(
            f"`{name}` called sys.exit({exc.code!r}) while being checked; "
            "a dropout or penalty must return its result, not end the program"
        ) from None


def load_target(spec: str) -> Callable[..., Any]:
    """Import ``"module.path:callable"`` (or ``"path/to/file.py:callable"``) and return the callable.

    The attribute may be dotted (``"pkg.mod:Class.method"``). A module is looked
    for in the current directory first, as ``python -m`` would, then on
    ``sys.path``. Importing runs the module's top-level code; a ``sys.exit`` there
    is a :class:`TargetImportError`, not an exit.

    Args:
        spec: ``MODULE:CALLABLE``.

    Returns:
        The callable object.

    Raises:
        TargetImportError: the spec is malformed, the module cannot be
            imported, the attribute is missing, or it is not callable.
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise TargetImportError(
            f"Invalid target {spec!r}. Expected MODULE:CALLABLE, e.g. torch.nn.functional:dropout or mydropout.py:Dropout"
        )
    module_name, attr_path = spec.split(":")
    module = _import(module_name)
    obj: Any = module
    walked = module_name
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TargetImportError(f"`{walked}` has no attribute `{part}`{hint}")
        obj = getattr(obj, part)
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    if not callable(obj):
        raise TargetImportError(f"`{spec}` is a {type(obj).__name__}, not a callable (a function, class or factory)")
    target: Callable[..., Any] = obj
    return target


def _import(module_name: str) -> Any:
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise TargetImportError(f"cannot import `{module_name}`: no such file")
        spec = importlib.util.spec_from_file_location(f"_reglab_target_{path.stem}", path)
        assert spec is not None and spec.loader is not None  # a .py file always gets both
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SystemExit as exc:
            raise TargetImportError(f"importing `{module_name}` called sys.exit({exc.code!r}): {_GUARD_HINT}") from None
        except Exception as exc:
            raise TargetImportError(f"importing `{module_name}` failed: {type(exc).__name__}: {exc}") from exc
        return module
    with _cwd_on_path():
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise TargetImportError(f"cannot import module `{module_name}`: {exc}") from exc
        except SystemExit as exc:
            raise TargetImportError(f"importing `{module_name}` called sys.exit({exc.code!r}): {_GUARD_HINT}") from None
        except Exception as exc:
            raise TargetImportError(f"importing module `{module_name}` failed: {type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def _cwd_on_path() -> Iterator[None]:
    """The current directory first on ``sys.path`` for the import, as ``python -m`` has it."""
    cwd = os.getcwd()
    added = not sys.path or sys.path[0] not in ("", cwd)
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and sys.path and sys.path[0] == cwd:
            sys.path.pop(0)


def describe_target(target: Any) -> str:
    """A readable name: ``module.qualname`` for functions and classes, the repr otherwise."""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    module = getattr(target, "__module__", None)
    if name and module:
        return f"{module}.{name}"
    return repr(target)


def _signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _first_parameter(sig: inspect.Signature | None) -> str | None:
    return next(iter(sig.parameters), None) if sig is not None else None


def _binds(sig: inspect.Signature | None, *args: Any) -> bool:
    if sig is None:
        return True
    try:
        sig.bind(*args)
        return True
    except TypeError:
        return False


class DropoutTarget:
    """A dropout implementation behind one interface: ``bind(p)`` then ``call(x, training)``.

    Attributes:
        convention: how the target is called, in words.
        has_eval: whether evaluation mode can be asked for.
    """

    def __init__(self, target: Any) -> None:
        if isinstance(target, nn.Module):
            raise invalid_argument(
                "target",
                "a dropout function f(x, p, ...), a Module class M(p) or a factory p -> Module "
                "(not a Module instance: its p cannot be varied)",
                target,
            )
        if not callable(target):
            raise invalid_argument("target", "a dropout function, a Module class or a factory p -> Module", target)
        self.target = target
        sig = _signature(target)
        self._training_name: str | None = None
        if isinstance(target, type):
            if not issubclass(target, nn.Module):
                raise invalid_argument("target", "a dropout function, a torch.nn.Module class or a factory", target)
            self.style, self.convention, self.has_eval = (
                "module",
                f"module {target.__name__}(p), .train()/.eval()",
                True,
            )
        elif _binds(sig, 0.5) and (not _binds(sig, torch.zeros(1), 0.5) or _first_parameter(sig) in _P_NAMES):
            self.style, self.convention, self.has_eval = "module", "factory make(p) -> Module, .train()/.eval()", True
        else:
            self.style = "function"
            params = sig.parameters if sig is not None else {}
            named = [n for n in _TRAINING_NAMES if n in params]
            if named:
                self._training_name = named[0]
            elif any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                self._training_name = "training"
            self.has_eval = self._training_name is not None
            suffix = f", {self._training_name}=..." if self.has_eval else " (no training flag)"
            self.convention = f"function f(x, p{suffix})"

    def bind(self, p: float) -> Callable[[torch.Tensor, bool], Any]:
        """The target at drop probability ``p`` (building a Module may raise on bad ``p``).

        The call returns whatever the target returns (not necessarily a tensor).
        """
        if self.style == "module":
            module = self.target(p)
            if not isinstance(module, nn.Module):
                raise TypeError(f"the factory returned a {type(module).__name__}, not a torch.nn.Module")

            def call_module(x: torch.Tensor, training: bool = True) -> Any:
                module.train(training)
                return module(x)

            return call_module

        def call_function(x: torch.Tensor, training: bool = True) -> Any:
            if self._training_name is None:
                return self.target(x, p)
            return self.target(x, p, **{self._training_name: training})

        return call_function


class PenaltyTarget:
    """A penalty behind one interface: ``call(params_or_model, lam)``."""

    def __init__(self, target: Any) -> None:
        if not callable(target):
            raise invalid_argument("target", "a penalty function fn(params, lam) or a class P(lam)", target)
        self.target = target
        self._lam_name: str | None = None
        if isinstance(target, type):
            self.style, self.convention = "class", f"{target.__name__}(lam)(params)"
            return
        self.style = "function"
        sig = _signature(target)
        params = list(sig.parameters.values()) if sig is not None else []
        keyword_only = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) < 2 and keyword_only:
            known = [p.name for p in keyword_only if p.name in _LAMBDA_NAMES]
            required = [p.name for p in keyword_only if p.default is inspect.Parameter.empty]
            self._lam_name = (known or required or [keyword_only[0].name])[0]
        self.convention = f"fn(params, {self._lam_name}=lam)" if self._lam_name else "fn(params, lam)"

    def __call__(self, params: Any, lam: float) -> Any:
        if self.style == "class":
            return self.target(lam)(params)
        if self._lam_name is not None:
            return self.target(params, **{self._lam_name: lam})
        return self.target(params, lam)


def _concrete(device: torch.device) -> torch.device:
    """``cuda`` as ``cuda:N`` (the current device), so it compares equal to tensors' devices."""
    if device.type != "cpu" and device.index is None and device.type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return device
