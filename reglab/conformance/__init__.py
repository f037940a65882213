"""The conformance checker: anyone's dropout, DropPath, DropBlock or penalty, through reglab's contract.

``check_dropout``, ``check_droppath``, ``check_dropblock`` and ``check_penalty``
return a :class:`ConformanceReport`
(one named property per row: PASS, FAIL or N.A., the measured numbers, the
expected range, and what is wrong). ``reglab check MODULE:CALLABLE`` is the
command-line form. See ``docs/conformance.md``.
"""

from ._report import CheckResult, ConformanceReport, Verdict
from ._target import TargetExitError, TargetImportError, load_target
from .dropout import DROPOUT_PROPERTIES, check_dropout
from .penalty import PENALTY_PROPERTIES, check_penalty
from .structured import DROPBLOCK_PROPERTIES, DROPPATH_PROPERTIES, check_dropblock, check_droppath

__all__ = [
    "CheckResult",
    "ConformanceReport",
    "Verdict",
    "TargetImportError",
    "TargetExitError",
    "load_target",
    "DROPOUT_PROPERTIES",
    "check_dropout",
    "DROPPATH_PROPERTIES",
    "check_droppath",
    "DROPBLOCK_PROPERTIES",
    "check_dropblock",
    "PENALTY_PROPERTIES",
    "check_penalty",
]
