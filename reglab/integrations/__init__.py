"""reglab's training-time regularization in other people's training loops.

- :mod:`.lightning`: callbacks for a ``lightning.Trainer`` (constraints after
  every optimizer step, a penalty added to the training loss, regularization
  schedules, MC-dropout prediction); needs the ``reglab[lightning]`` extra.

Each integration imports its framework at the top of its own module, so
``import reglab.integrations`` imports none of them: import the module you
need (``from reglab.integrations.lightning import PenaltyCallback``).
timm needs no module of its own: :func:`reglab.param_groups` honours timm
models' ``no_weight_decay()``, :func:`reglab.drop_path_rates` gives their
per-block rates, and ``reglab check --kind droppath|dropblock`` checks their
layers.
"""

__all__: list[str] = []
