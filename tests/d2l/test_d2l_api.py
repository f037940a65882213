"""reglab.d2l's functions against d2l's definitions and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab import d2l
from reglab.core.errors import InvalidArgumentError, ReglabError
from reglab.data import to_float_images
from tests.helpers import needs_cuda


@pytest.fixture(autouse=True)
def _figures_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(d2l.FIGURES_ENV, str(tmp_path / "figs"))
    monkeypatch.delenv(d2l.SUBSET_ENV, raising=False)


# --- data ---------------------------------------------------------------------


def test_synthetic_data_draws_exactly_what_d2l_draws():
    w, b = torch.tensor([2, -3.4]), 4.2
    torch.manual_seed(3)
    X, y = d2l.synthetic_data(w, b, 50)
    torch.manual_seed(3)  # d2l's body, verbatim in torch calls
    X_ref = torch.normal(0, 1, (50, len(w)))
    y_ref = torch.matmul(X_ref, w) + b
    y_ref += torch.normal(0, 0.01, y_ref.shape)
    assert torch.equal(X, X_ref) and torch.equal(y, y_ref.reshape((-1, 1)))
    assert X.dtype == torch.float32 and y.shape == (50, 1)
    with pytest.raises(InvalidArgumentError, match="num_examples"):
        d2l.synthetic_data(w, b, -1)


def test_load_array_is_an_epochwise_shuffled_reiterable():
    X, y = torch.arange(23.0).reshape(23, 1), torch.arange(23)
    it = d2l.load_array((X, y), 5)
    assert len(it) == 5
    epochs = []
    for _ in range(2):
        batches = list(it)
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        order = torch.cat([b[1] for b in batches])
        assert sorted(order.tolist()) == list(range(23))  # every sample once
        assert all(torch.equal(bx.reshape(-1), by.float()) for bx, by in batches)  # pairs stay aligned
        epochs.append(order)
    assert not torch.equal(epochs[0], epochs[1])  # a new order each epoch (P(same) = 1/23!)
    ordered = torch.cat([b[1] for b in d2l.load_array((X, y), 5, is_train=False)])
    assert torch.equal(ordered, y)


def test_load_array_batches_are_copies_and_generator_reproduces():
    X = torch.zeros(6, 2)
    for (bx,) in d2l.load_array((X,), 4, is_train=False):
        bx += 1  # a learner's in-place edit must not reach the data set
    assert torch.equal(X, torch.zeros(6, 2))
    y = torch.arange(10)
    run = lambda: [b[0].tolist() for b in d2l.load_array((y,), 3, generator=torch.Generator().manual_seed(1))]
    assert run() == run()
    with pytest.raises(InvalidArgumentError, match="data_arrays"):
        d2l.load_array(y, 3)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        d2l.load_array((y,), 0)


def test_load_data_fashion_mnist_yields_d2l_format(fashion):
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    assert len(train_iter) == math.ceil(60000 / 256) and len(test_iter) == math.ceil(10000 / 256)
    X, y = next(iter(test_iter))  # test order is the file's: compare with ToTensor's x / 255
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(X, to_float_images(fashion.test_images[:256]))
    assert torch.equal(y, fashion.test_labels[:256])
    Xt, yt = next(iter(train_iter))
    assert Xt.shape == (256, 1, 28, 28) and float(Xt.min()) >= 0.0 and float(Xt.max()) <= 1.0
    assert not torch.equal(yt, fashion.train_labels[:256])  # shuffled


@pytest.mark.parametrize("resize,size", [(14, (14, 14)), ((32, 40), (32, 40)), (64, (64, 64))])
def test_load_data_fashion_mnist_resize_is_bilinear(fashion, resize, size):
    _, test_iter = d2l.load_data_fashion_mnist(8, resize=resize)
    X, _ = next(iter(test_iter))
    ref = F.interpolate(
        to_float_images(fashion.test_images[:8]).double(),
        size=size,
        mode="bilinear",
        align_corners=False,
        antialias=size[0] < 28,
    )
    assert X.shape == (8, 1, *size)
    assert torch.allclose(X.double(), ref, atol=1e-6)


def test_load_data_fashion_mnist_subset_and_errors(fashion, monkeypatch, capsys):
    monkeypatch.setenv(d2l.SUBSET_ENV, "1000")
    train_iter, test_iter = d2l.load_data_fashion_mnist(100)
    assert len(train_iter) == 10 and len(test_iter) == 10
    assert d2l.SUBSET_ENV in capsys.readouterr().err
    monkeypatch.setenv(d2l.SUBSET_ENV, "lots")
    with pytest.raises(InvalidArgumentError, match=d2l.SUBSET_ENV):
        d2l.load_data_fashion_mnist(100)
    monkeypatch.delenv(d2l.SUBSET_ENV)
    with pytest.raises(InvalidArgumentError, match="resize"):
        d2l.load_data_fashion_mnist(100, resize=0)


def test_get_fashion_mnist_labels():
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9, 6])) == ["t-shirt", "ankle boot", "shirt"]
    with pytest.raises(InvalidArgumentError, match="labels"):
        d2l.get_fashion_mnist_labels([10])


# --- metrics and evaluation ---------------------------------------------------


def test_accuracy_is_a_count_and_accumulator_sums():
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert d2l.accuracy(y_hat, torch.tensor([1, 1, 1])) == 2.0
    assert isinstance(d2l.accuracy(y_hat, torch.tensor([1, 1, 1])), float)
    assert d2l.accuracy(torch.tensor([1, 0, 2]), torch.tensor([1, 1, 2])) == 2.0  # labels already
    acc = d2l.Accumulator(2)
    acc.add(1, torch.tensor(2.5))
    acc.add(2.0, 0.5)
    assert acc[0] == 3.0 and acc[1] == 3.0 and acc.data == [3.0, 3.0]
    acc.reset()
    assert acc.data == [0.0, 0.0]


class _Probe(nn.Module):
    """Records whether it ran in training mode and with gradients enabled."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.seen = []

    def forward(self, X):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.lin(X)


def _data(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randint(0, 2, (n,), generator=g)


def test_evaluate_accuracy_evals_without_grad_and_restores_modes():
    torch.manual_seed(0)
    net = nn.Sequential(_Probe(), nn.Dropout(0.5))
    net.train()
    net[1].eval()  # mixed modes must come back as they were
    X, y = _data()
    acc = d2l.evaluate_accuracy(net, d2l.load_array((X, y), 7, is_train=False))
    assert net[0].seen == [(False, False)] * 3
    assert net.training and net[0].training and not net[1].training
    with torch.no_grad():
        expected = float((net[0].lin(X).argmax(1) == y).double().mean())
    assert acc == pytest.approx(expected, abs=1e-12)


def test_evaluate_loss_is_the_mean_per_sample_loss_without_grad():
    probe = _Probe()
    X, _ = _data(11)
    y = torch.randn(11, 2, dtype=torch.float32)
    it = d2l.load_array((X, y), 4, is_train=False)
    value = d2l.evaluate_loss(probe, it, nn.MSELoss(reduction="none"))
    with torch.no_grad():
        expected = float(((probe.lin(X).double() - y.double()) ** 2).mean())
    assert value == pytest.approx(expected, rel=1e-6)
    assert all(seen == (False, False) for seen in probe.seen) and probe.training
    w, b = torch.ones(3, 1), torch.zeros(1)  # a plain function as the net (seed 004 scratch)
    y1 = torch.randn(11)  # (N,) labels are reshaped to the output's (N, 1)
    value = d2l.evaluate_loss(lambda X: d2l.linreg(X, w, b), d2l.load_array((X, y1), 4), d2l.squared_loss)
    expected = float(((X.double().sum(1) - y1.double()) ** 2 / 2).mean())
    assert value == pytest.approx(expected, rel=1e-6)


def test_train_epoch_ch3_matches_a_manual_sgd_epoch():
    torch.manual_seed(0)
    X, y = _data(30)
    net = nn.Linear(3, 2)
    ref = nn.Linear(3, 2).double()
    ref.load_state_dict(net.state_dict())
    batches = list(d2l.load_array((X, y), 8, is_train=False))
    loss = nn.CrossEntropyLoss(reduction="none")
    train_loss, train_acc = d2l.train_epoch_ch3(net, batches, loss, torch.optim.SGD(net.parameters(), lr=0.3))
    total = correct = 0.0
    with torch.no_grad():
        for bx, by in batches:
            with torch.enable_grad():
                out = ref(bx.double())
                l = F.cross_entropy(out, by, reduction="none")
                ref.zero_grad()
                l.mean().backward()
            for p in ref.parameters():
                p -= 0.3 * p.grad
            total += float(l.sum())
            correct += float((out.argmax(1) == by).sum())
    assert train_loss == pytest.approx(total / 30, rel=1e-5) and train_acc == correct / 30
    assert torch.allclose(net.weight.double(), ref.weight, atol=1e-6)


def test_train_epoch_ch3_with_a_custom_updater_calls_it_with_the_batch_size():
    w = torch.zeros(3, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    X = torch.randn(10, 3)
    y = X @ torch.tensor([[1.0], [2.0], [3.0]])
    sizes = []

    def updater(batch_size):
        sizes.append(batch_size)
        d2l.sgd([w, b], 0.1, batch_size)

    d2l.train_epoch_ch3(lambda X: d2l.linreg(X, w, b), d2l.load_array((X, y), 4), d2l.squared_loss, updater)
    assert sorted(sizes) == [2, 4, 4] and float(w.detach().norm()) > 0


def _separable(n=200):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 4, generator=g)
    return X, (X[:, 0] > 0).long()


def test_train_ch3_returns_metrics_and_keeps_d2l_checks():
    torch.manual_seed(0)
    X, y = _separable()
    net = nn.Linear(4, 2)
    it = d2l.load_array((X, y), 20)
    metrics = d2l.train_ch3(
        net, it, it, nn.CrossEntropyLoss(reduction="none"), 5, torch.optim.SGD(net.parameters(), lr=0.5)
    )
    assert len(metrics) == 3 and metrics[0] < 0.5 and metrics[1] > 0.7
    assert metrics[2] == pytest.approx(d2l.evaluate_accuracy(net, it))


@pytest.mark.filterwarnings("ignore:Attempting to set identical low and high xlims")
def test_train_ch3_raises_a_clear_error_with_the_numbers():
    X, y = _separable()
    net = nn.Linear(4, 2)
    it = d2l.load_array((X, y), 50)
    with pytest.raises(d2l.SanityCheckError, match=r"train_loss=\d\.\d{4} \(expected < 0\.5\)") as info:
        d2l.train_ch3(net, it, it, nn.CrossEntropyLoss(reduction="none"), 1, torch.optim.SGD(net.parameters(), lr=0.0))
    assert isinstance(info.value, ReglabError) and isinstance(info.value, AssertionError)
    assert len(info.value.metrics) == 3 and info.value.metrics[0] > 0.5
    with pytest.raises(InvalidArgumentError, match="num_epochs"):
        d2l.train_ch3(net, it, it, nn.CrossEntropyLoss(reduction="none"), 0, None)


def test_predict_ch3_titles_true_and_predicted(monkeypatch):
    shown = {}
    monkeypatch.setattr(
        "reglab.d2l._training.show_images",
        lambda imgs, r, c, titles=None: shown.update(imgs=imgs, r=r, c=c, titles=titles),
    )
    X = torch.rand(5, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 3, 4])
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    d2l.predict_ch3(net, [(X, y)], n=3)
    with torch.no_grad():
        preds = d2l.get_fashion_mnist_labels(net(X).argmax(1))
    assert shown["imgs"].shape == (3, 28, 28) and (shown["r"], shown["c"]) == (1, 3)
    assert shown["titles"] == [f"{t}\n{p}" for t, p in zip(["t-shirt", "trouser", "pullover"], preds[:3])]
    assert net.training


# --- from scratch ---------------------------------------------------------------


def test_linreg_squared_loss_and_sgd_closed_forms():
    X = torch.randn(6, 3, dtype=torch.float64)
    w = torch.randn(3, 1, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, dtype=torch.float64, requires_grad=True)
    y = torch.randn(6, dtype=torch.float64)
    out = d2l.linreg(X, w, b)
    assert torch.allclose(out, X @ w + b)
    l = d2l.squared_loss(out, y)
    assert l.shape == (6, 1) and torch.allclose(l, (out - y.reshape(6, 1)) ** 2 / 2)
    l.sum().backward()
    gw, gb = w.grad.clone(), b.grad.clone()
    w0, b0 = w.detach().clone(), b.detach().clone()
    d2l.sgd([w, b], 0.1, 6)
    assert torch.allclose(w.detach(), w0 - 0.1 * gw / 6) and torch.allclose(b.detach(), b0 - 0.1 * gb / 6)
    assert torch.equal(w.grad, torch.zeros_like(w)) and torch.equal(b.grad, torch.zeros_like(b))
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        d2l.sgd([w], 0.1, 0)


def test_timer_try_gpu_and_aliases():
    t = d2l.Timer()
    t.times = [1.0, 2.0, 3.0]
    assert t.sum() == 6.0 and t.avg() == 2.0 and t.cumsum() == [1.0, 3.0, 6.0]
    assert t.stop() >= 0 and len(t.times) == 4
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert str(d2l.try_gpu()) == expected
    assert str(d2l.try_gpu(10_000)) == "cpu" and d2l.try_all_gpus()
    x = d2l.arange(6.0)
    assert d2l.reshape(x, (2, 3)).shape == (2, 3) and d2l.size(x) == 6 and float(d2l.reduce_sum(x)) == 15.0
    assert int(d2l.argmax(x)) == 5 and d2l.astype(x, torch.int64).dtype == torch.int64
    assert d2l.numpy(x.requires_grad_()).tolist() == [0, 1, 2, 3, 4, 5]


# --- k-fold -----------------------------------------------------------------------


def _book_get_k_fold_data(k, i, X, y):  # the book's loop, as reference
    fold_size = X.shape[0] // k
    X_train, y_train = None, None
    for j in range(k):
        idx = slice(j * fold_size, (j + 1) * fold_size)
        X_part, y_part = X[idx, :], y[idx]
        if j == i:
            X_valid, y_valid = X_part, y_part
        elif X_train is None:
            X_train, y_train = X_part, y_part
        else:
            X_train = torch.cat([X_train, X_part], 0)
            y_train = torch.cat([y_train, y_part], 0)
    return X_train, y_train, X_valid, y_valid


@pytest.mark.parametrize("k,i", [(2, 0), (2, 1), (5, 0), (5, 3), (5, 4)])
def test_get_k_fold_data_matches_the_book(k, i):
    X, y = torch.arange(46.0).reshape(23, 2), torch.arange(23.0).reshape(23, 1)
    for ours, ref in zip(d2l.get_k_fold_data(k, i, X, y), _book_get_k_fold_data(k, i, X, y)):
        assert torch.equal(ours, ref)


def test_get_k_fold_data_rejects_bad_folds():
    X, y = torch.zeros(10, 2), torch.zeros(10)
    for k, i, name in [(1, 0, "k"), (3, 3, "i"), (11, 0, "k")]:
        with pytest.raises(InvalidArgumentError, match=f"`{name}`"):
            d2l.get_k_fold_data(k, i, X, y)


def test_k_fold_averages_the_last_scores_of_each_fold(capsys):
    X, y = torch.randn(20, 3), torch.rand(20, 1) + 1
    calls = []

    def train(net, X_tr, y_tr, X_va, y_va, num_epochs, lr, wd, bs):
        calls.append((X_tr.shape[0], X_va.shape[0], num_epochs, lr, wd, bs))
        return [9.0, float(len(calls))], [9.0, 10.0 * len(calls)]

    result = d2l.k_fold(4, X, y, 2, 0.1, 0.0, 5, train=train)
    assert calls == [(15, 5, 2, 0.1, 0.0, 5)] * 4
    assert result == (pytest.approx(2.5), pytest.approx(25.0))
    assert capsys.readouterr().out.count("fold ") == 4
    # the book's default: a linear model with Adam, scored by log-RMSE
    train_score, valid_score = d2l.k_fold(2, X, y, 3, 0.05, 0.0, 5, verbose=False)
    assert 0 <= train_score < 5 and 0 <= valid_score < 5


# --- figures ------------------------------------------------------------------------


def test_animator_writes_one_png_and_prints_its_path_once(tmp_path, capsys):
    animator = d2l.Animator(xlabel="epoch", legend=["a", "b"], xlim=[1, 3])
    for epoch in range(1, 4):
        animator.add(epoch, (epoch * 0.1, None if epoch == 2 else 1.0))
    assert animator.X == [[1.0, 2.0, 3.0], [1.0, 3.0]] and animator.Y[0] == pytest.approx([0.1, 0.2, 0.3])
    path = animator.save()
    assert path.is_file() and path.parent == tmp_path / "figs" and path.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.count(str(path)) == 1
    assert [t.get_text() for t in animator.axes[0].get_legend().get_texts()] == ["a", "b"]


def test_plot_and_show_images_write_pngs(tmp_path):
    d2l.plot(d2l.arange(5.0), [d2l.arange(5.0) ** 2, d2l.arange(5.0)], legend=["sq", "id"])
    axes = d2l.show_images(torch.rand(4, 8, 8), 2, 2, titles=list("abcd"))
    assert len(axes) == 4 and axes[3].get_title() == "d"
    assert len(list((tmp_path / "figs").glob("*.png"))) == 2


# --- devices --------------------------------------------------------------------------


@needs_cuda
def test_cuda_batches_and_cpu_batches_reach_a_cuda_net(fashion):
    train_iter, test_iter = d2l.load_data_fashion_mnist(512, device="cuda")
    X, y = next(iter(train_iter))
    assert X.device.type == "cuda" and y.device.type == "cuda"
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).cuda()
    on_gpu = d2l.evaluate_accuracy(net, test_iter)
    _, cpu_test = d2l.load_data_fashion_mnist(512)
    assert d2l.evaluate_accuracy(net, cpu_test) == pytest.approx(on_gpu, abs=1e-12)  # moved to the net's device
    w = torch.tensor([2.0, -3.4], device="cuda")
    Xs, ys = d2l.synthetic_data(w, 4.2, 10)
    assert Xs.device.type == "cuda" and ys.shape == (10, 1)
