"""A drop-in for ``from d2l import torch as d2l``: write ``from reglab import d2l``.

The d2l 2.0.0 (Chinese edition) / 0.17.6 (English) functions that the
chapter 2-4 notes use, with d2l's signatures and return values, built on
reglab: Fashion-MNIST from reglab's loader (no torchvision), batches from the
in-memory :class:`reglab.data.BatchIterator` (no DataLoader workers), figures
that work in a notebook and in a terminal (PNG files), evaluation in eval mode
without gradients, and ``train_ch3`` raising :class:`SanityCheckError` with
the numbers instead of a bare ``assert``. docs/d2l.md lists every difference.

The tensor aliases d2l's code calls (``d2l.tensor``, ``d2l.reshape``,
``d2l.argmax``, ...) are provided too, as in d2l's ``torch.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._data import (
    SUBSET_ENV,
    D2LBatches,
    get_dataloader_workers,
    get_fashion_mnist_labels,
    load_array,
    load_data_fashion_mnist,
    synthetic_data,
)
from ._figures import FIGURES_ENV, Animator, plot, plt, set_axes, set_figsize, show_images, use_svg_display
from ._kfold import get_k_fold_data, k_fold, log_rmse, train_regression
from ._scratch import linreg, sgd, squared_loss
from ._training import (
    Accumulator,
    SanityCheckError,
    Timer,
    TrainCh3Result,
    accuracy,
    evaluate_accuracy,
    evaluate_loss,
    predict_ch3,
    train_ch3,
    train_epoch_ch3,
    try_all_gpus,
    try_gpu,
)

# d2l's backend aliases (the end of d2l/torch.py), for code written against them.
nn_Module = nn.Module
ones = torch.ones
zeros = torch.zeros
tensor = torch.tensor
arange = torch.arange
meshgrid = torch.meshgrid
sin = torch.sin
sinh = torch.sinh
cos = torch.cos
cosh = torch.cosh
tanh = torch.tanh
linspace = torch.linspace
exp = torch.exp
log = torch.log
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
int32 = torch.int32
float32 = torch.float32
concat = torch.cat
stack = torch.stack
abs = torch.abs
eye = torch.eye


def numpy(x, *args, **kwargs):
    """``x`` as a numpy array (detached and moved to the CPU first)."""
    return x.detach().cpu().numpy(*args, **kwargs)


def size(x, *args, **kwargs):
    """Number of elements of ``x``."""
    return x.numel(*args, **kwargs)


def reshape(x, *args, **kwargs):
    return x.reshape(*args, **kwargs)


def to(x, *args, **kwargs):
    return x.to(*args, **kwargs)


def reduce_sum(x, *args, **kwargs):
    return x.sum(*args, **kwargs)


def argmax(x, *args, **kwargs):
    return x.argmax(*args, **kwargs)


def astype(x, *args, **kwargs):
    return x.type(*args, **kwargs)


def transpose(x, *args, **kwargs):
    return x.t(*args, **kwargs)


def reduce_mean(x, *args, **kwargs):
    return x.mean(*args, **kwargs)


__all__ = [
    # data
    "SUBSET_ENV",
    "D2LBatches",
    "synthetic_data",
    "load_array",
    "get_dataloader_workers",
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    # figures
    "FIGURES_ENV",
    "plt",
    "use_svg_display",
    "set_figsize",
    "set_axes",
    "plot",
    "show_images",
    "Animator",
    # training
    "SanityCheckError",
    "TrainCh3Result",
    "Timer",
    "Accumulator",
    "accuracy",
    "evaluate_accuracy",
    "evaluate_loss",
    "train_epoch_ch3",
    "train_ch3",
    "predict_ch3",
    "try_gpu",
    "try_all_gpus",
    # from scratch
    "linreg",
    "squared_loss",
    "sgd",
    # k-fold
    "get_k_fold_data",
    "k_fold",
    "log_rmse",
    "train_regression",
    # aliases
    "nn_Module",
    "ones",
    "zeros",
    "tensor",
    "arange",
    "meshgrid",
    "sin",
    "sinh",
    "cos",
    "cosh",
    "tanh",
    "linspace",
    "exp",
    "log",
    "normal",
    "rand",
    "randn",
    "matmul",
    "int32",
    "float32",
    "concat",
    "stack",
    "abs",
    "eye",
    "numpy",
    "size",
    "reshape",
    "to",
    "reduce_sum",
    "argmax",
    "astype",
    "transpose",
    "reduce_mean",
]
