"""get_loss: label smoothing equals torch's and the closed form, and plugs into fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab import BatchIterator, fit
from reglab.core.errors import InvalidArgumentError
from reglab.engine.losses import get_loss


def _logits(n: int = 50, k: int = 7):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n, k, generator=g, dtype=torch.float64) * 3).requires_grad_(), torch.randint(
        0, k, (n,), generator=g
    )


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
def test_label_smoothing_equals_torch_and_the_closed_form_with_gradients(eps):
    z, y = _logits()
    k = z.shape[1]
    loss = get_loss("cross_entropy", label_smoothing=eps)(z, y)
    torch.testing.assert_close(loss, F.cross_entropy(z, y, label_smoothing=eps), rtol=1e-14, atol=0)
    # closed form: cross-entropy against the target (1 - eps) * one_hot + eps / K
    target = (1 - eps) * F.one_hot(y, k).double() + eps / k
    logp = z.log_softmax(dim=1)
    torch.testing.assert_close(loss, -(target * logp).sum(dim=1).mean(), rtol=1e-13, atol=0)
    (grad,) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(grad, (logp.exp() - target).detach() / z.shape[0], rtol=1e-12, atol=1e-15)


def test_smoothing_changes_the_loss_and_mse_is_torchs():
    z, y = _logits()
    assert get_loss("cross_entropy", 0.1)(z, y).item() != get_loss("cross_entropy")(z, y).item()
    a, b = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    assert get_loss("mse")(a, b).item() == F.mse_loss(a, b).item()
    custom = lambda out, tgt: (out - tgt).abs().mean()
    assert get_loss(custom) is custom


def test_fit_records_the_smoothed_training_loss():
    torch.manual_seed(0)
    X, y = torch.randn(60, 5), torch.randint(0, 4, (60,))
    model = nn.Linear(5, 4)
    # lr = 0: every batch sees the same model, so the epoch mean is the full-batch loss
    history = fit(
        model,
        BatchIterator(X, y, batch_size=20, seed=0),
        loss_fn=get_loss("cross_entropy", label_smoothing=0.2),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        epochs=1,
        progress=False,
    )
    with torch.no_grad():
        expected = F.cross_entropy(model(X), y, label_smoothing=0.2).item()
    assert history.last["train_loss"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("cross_entropy", 1.5),
            "Invalid value received for argument `label_smoothing`. Expected a float between 0 "
            "and 1. Received: label_smoothing=1.5",
        ),
        (("cross_entropy", float("nan")), "argument `label_smoothing`"),
        (("mse", 0.1), "argument `label_smoothing`. Expected 0 for 'mse'"),
        ((F.l1_loss, 0.1), "argument `label_smoothing`. Expected 0 for a custom loss callable"),
        (
            ("hinge", 0.0),
            "Invalid value received for argument `name_or_callable`. Expected one of 'cross_entropy', "
            "'mse' or a callable (output, target) -> loss. Received: name_or_callable='hinge'",
        ),
        ((3, 0.0), "argument `name_or_callable`"),
    ],
)
def test_bad_arguments_get_the_one_sentence(args, message):
    with pytest.raises(InvalidArgumentError) as info:
        get_loss(*args)
    assert message in str(info.value)
