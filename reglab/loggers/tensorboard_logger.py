"""TensorBoard: event files with per-epoch scalars and an HParams session per run.

``TensorBoardLogger(log_dir)`` writes with ``torch.utils.tensorboard``'s
``SummaryWriter`` (``pip install 'reglab[tensorboard]'``): one scalar per
history column and epoch (tag = the column name, e.g. ``test_acc``), and the
HParams plugin's session records: the session start (the hyperparameters)
before the first epoch and the session end on close (``STATUS_SUCCESS`` for a
complete run, else ``STATUS_FAILURE``: the plugin has no status for an
interruption). No
experiment record is written: TensorBoard then builds the HParams table from
the sessions under the folder it is pointed at, with every scalar tag as a
metric column holding its last value, so a sweep whose trials each log into
``tb/trial-NNNN/`` shows one row per trial.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.checks import invalid_argument
from ..core.errors import MissingExtraError
from .base import RunLogger

__all__ = ["TensorBoardLogger", "import_summary_writer"]

#: reglab's run status -> the HParams plugin's session status name (it has no
#: "aborted": an interrupted run did not succeed).
_TB_STATUS = {
    "complete": "STATUS_SUCCESS",
    "interrupted": "STATUS_FAILURE",
    "diverged": "STATUS_FAILURE",
    "failed": "STATUS_FAILURE",
}


def import_summary_writer() -> Any:
    """torch's ``SummaryWriter`` class; without TensorBoard a MissingExtraError (an ImportError) saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingExtraError(
            "the tensorboard logger needs TensorBoard, which is not installed: pip install 'reglab[tensorboard]'"
        ) from None
    return SummaryWriter


def _hparams_summary(tag: str, **plugin_data: Any) -> Any:
    """A Summary holding one HParams plugin record (``session_start_info`` or ``session_end_info``)."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.metadata import PLUGIN_DATA_VERSION, PLUGIN_NAME
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    content = HParamsPluginData(version=PLUGIN_DATA_VERSION, **plugin_data)
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=content.SerializeToString())
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])


def session_start(hparams: Mapping[str, bool | int | float | str], group: str = "") -> Any:
    """The HParams session-start record of ``hparams``."""
    from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionStartInfo

    info = SessionStartInfo(group_name=group, start_time_secs=time.time())
    for name, value in hparams.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = value
        else:
            info.hparams[name].string_value = str(value)
    return _hparams_summary(SESSION_START_INFO_TAG, session_start_info=info)


def session_end(status: str) -> Any:
    """The HParams session-end record with reglab's ``status``."""
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.metadata import SESSION_END_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionEndInfo

    info = SessionEndInfo(status=Status.Value(_TB_STATUS[status]), end_time_secs=time.time())
    return _hparams_summary(SESSION_END_INFO_TAG, session_end_info=info)


class TensorBoardLogger(RunLogger):
    """Log a training run to TensorBoard event files in ``log_dir``.

    ``fit(..., callbacks=[TensorBoardLogger("tb/run1", hparams={"p": 0.5})])``,
    then ``tensorboard --logdir tb``: the Scalars tab has one curve per history
    column (``train_loss``, ``test_acc``, ``train_penalty``...) against epoch, the
    HParams tab one row per run with its hyperparameters and the last value of
    each metric.

    Args:
        log_dir: the run's folder of event files (made if missing).
        hparams: the hyperparameters of the run (flattened; see :class:`RunLogger`).
        close_after_fit: close when ``fit`` ends (False: the caller calls :meth:`close`).
        purge_step: for a run resumed in the same folder, the first step it logs again:
            TensorBoard then hides the earlier session's events from that step on
            (``SummaryWriter``'s ``purge_step``), so a re-run epoch is shown once.
    """

    tool = "TensorBoard"

    def __init__(
        self,
        log_dir: str | Path,
        *,
        hparams: Mapping[str, Any] | None = None,
        close_after_fit: bool = True,
        purge_step: int | None = None,
    ) -> None:
        if not isinstance(log_dir, (str, Path)) or not str(log_dir):
            raise invalid_argument("log_dir", "a folder path", log_dir)
        self._writer_type = import_summary_writer()
        super().__init__(hparams=hparams, close_after_fit=close_after_fit)
        self.log_dir = Path(log_dir)
        self.purge_step = purge_step
        self._writer: Any = None

    def _start(self, hparams: dict[str, bool | int | float | str]) -> None:
        self._writer = self._writer_type(log_dir=str(self.log_dir), purge_step=self.purge_step)
        if hparams:
            self._writer.file_writer.add_summary(session_start(hparams))
        self._writer.flush()

    def _log(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()  # an epoch is worth a write: a crash keeps it

    def _end(self, status: str) -> None:
        if self._writer is None:
            return
        if self.hparams:
            self._writer.file_writer.add_summary(session_end(status))
        self._writer.close()

    def __repr__(self) -> str:
        return f"TensorBoardLogger({str(self.log_dir)!r})"
