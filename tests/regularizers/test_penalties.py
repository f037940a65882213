"""Penalties: closed forms, factor conventions (L2 == SGD weight_decay), what is penalised, param groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.penalties import (
    L1,
    L2,
    NORM_LAYERS,
    ElasticNet,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    param_groups,
    penalized_parameters,
    split_parameters,
)
from tests.helpers import needs_cuda


class Net(nn.Module):
    """Every kind of parameter: conv/linear weights and biases, BN, LN, GN, an embedding, a 1-D scale."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.gn = nn.GroupNorm(1, 2)
        self.inorm = nn.InstanceNorm1d(3, affine=True)
        self.fc = nn.Linear(4, 3)
        self.ln = nn.LayerNorm(3)
        self.head = nn.Linear(3, 10, bias=False)
        self.scale = nn.Parameter(torch.randn(3))
        self.lrn = nn.LocalResponseNorm(2)
        if hasattr(nn, "RMSNorm"):
            self.rms = nn.RMSNorm(3)


def _model(dtype: torch.dtype = torch.float64) -> Net:
    torch.manual_seed(0)
    model = Net().to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()  # norm weights start at 1, biases at 0: make every term visible
    return model


def _weights(model: Net) -> list[torch.Tensor]:
    return [model.embed.weight, model.conv.weight, model.fc.weight, model.head.weight]


def _biases(model: Net) -> list[torch.Tensor]:
    return [model.conv.bias, model.fc.bias, model.scale]


def _norms(model: Net) -> list[torch.Tensor]:
    out = [
        model.bn.weight,
        model.bn.bias,
        model.gn.weight,
        model.gn.bias,
        model.inorm.weight,
        model.inorm.bias,
        model.ln.weight,
        model.ln.bias,
    ]
    return out + ([model.rms.weight] if hasattr(nn, "RMSNorm") else [])


def _ids(tensors):
    return sorted(id(t) for t in tensors)


@pytest.mark.parametrize("include_bias", [False, True])
@pytest.mark.parametrize("include_norm", [False, True])
def test_a_model_penalises_weights_and_opted_in_groups(include_bias, include_norm):
    model = _model()
    expected = _weights(model) + (_biases(model) if include_bias else []) + (_norms(model) if include_norm else [])
    got = penalized_parameters(model, include_bias=include_bias, include_norm=include_norm)
    assert _ids(got) == _ids(expected)
    lam = 0.3
    sq = sum((t.detach() ** 2).sum() for t in expected)
    ab = sum(t.detach().abs().sum() for t in expected)
    kw = dict(include_bias=include_bias, include_norm=include_norm)
    torch.testing.assert_close(l2_penalty(model, lam, **kw), lam / 2 * sq, rtol=1e-14, atol=0)
    torch.testing.assert_close(l1_penalty(model, lam, **kw), lam * ab, rtol=1e-14, atol=0)
    torch.testing.assert_close(
        elastic_net_penalty(model, lam, 0.25, **kw), lam * (0.25 * ab + 0.75 / 2 * sq), rtol=1e-14, atol=0
    )


def test_the_norm_layer_list_covers_torch_norm_layers():
    for cls in (
        nn.BatchNorm1d,
        nn.BatchNorm3d,
        nn.SyncBatchNorm,
        nn.InstanceNorm2d,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
    ):
        assert issubclass(cls, NORM_LAYERS), cls
    if hasattr(nn, "RMSNorm"):
        assert issubclass(nn.RMSNorm, NORM_LAYERS)


def test_a_list_of_tensors_is_used_whole_including_1d():
    g = torch.Generator().manual_seed(1)
    tensors = [torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)]
    sq = sum((t**2).sum() for t in tensors)
    ab = sum(t.abs().sum() for t in tensors)
    torch.testing.assert_close(l2_penalty(tensors, 0.2), 0.1 * sq, rtol=1e-14, atol=0)
    torch.testing.assert_close(l1_penalty(iter(tensors), 0.2), 0.2 * ab, rtol=1e-14, atol=0)
    torch.testing.assert_close(elastic_net_penalty(tensors, 0.2, 1.0), l1_penalty(tensors, 0.2), rtol=1e-15, atol=0)
    torch.testing.assert_close(elastic_net_penalty(tensors, 0.2, 0.0), l2_penalty(tensors, 0.2), rtol=1e-15, atol=0)


def test_gradients_equal_the_closed_forms():
    model = _model()
    l1_penalty(model, 0.7).backward()
    for w in _weights(model):
        torch.testing.assert_close(w.grad, 0.7 * torch.sign(w.detach()), rtol=0, atol=0)
    for b in _biases(model) + _norms(model):
        assert b.grad is None
    model.zero_grad(set_to_none=True)
    elastic_net_penalty(model, 0.5, 0.2, include_bias=True).backward()
    for w in _weights(model) + _biases(model):
        torch.testing.assert_close(
            w.grad, 0.5 * (0.2 * torch.sign(w.detach()) + 0.8 * w.detach()), rtol=1e-15, atol=1e-16
        )


def test_tied_weights_count_once():
    lin = nn.Linear(3, 3, bias=False)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(penalized_parameters(model)) == 1
    torch.testing.assert_close(l2_penalty(model, 2.0), (lin.weight.detach() ** 2).sum())


def test_empty_selection_gives_a_zero_on_the_model_dtype():
    model = nn.LayerNorm(4).double()
    out = l2_penalty(model, 1.0)
    assert out.item() == 0.0 and out.dtype == torch.float64
    assert l1_penalty([], 1.0).item() == 0.0


def _sgd_pair(lam: float, momentum: float, steps: int = 5):
    """Train two copies: SGD(weight_decay=lam) vs plain SGD + l2_penalty(lam, include_bias=True)."""
    torch.manual_seed(3)
    X, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    a = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    b = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, momentum=momentum, weight_decay=lam)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, momentum=momentum)
    for _ in range(steps):
        for model, opt, penalty in ((a, opt_a, False), (b, opt_b, True)):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X), y)
            if penalty:
                loss = loss + l2_penalty(model, lam, include_bias=True)
            loss.backward()
            opt.step()
    return a, b


@pytest.mark.parametrize("lam", [2.0**-3, 2.0**-7, 1.0])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_penalty_is_sgd_weight_decay_bit_for_bit_for_powers_of_two(lam, momentum):
    a, b = _sgd_pair(lam, momentum)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_l2_gradient_matches_weight_decay_to_one_rounding_otherwise():
    # SGD forms grad + lam * w with one rounding (a fused multiply-add on the
    # CPU); the penalty's gradient rounds lam * w first, then the sum: the two
    # differ by at most half an ulp of each, i.e. eps * (|lam w| + |result|).
    torch.manual_seed(4)
    lam = 0.1
    w = torch.randn(64, 64, requires_grad=True)
    g = torch.randn(64, 64)
    (w * g).sum().backward(retain_graph=True)
    reference = w.grad.add(w.detach(), alpha=lam)  # exactly SGD's line: grad.add(param, alpha=weight_decay)
    w.grad = None
    ((w * g).sum() + l2_penalty([w], lam)).backward()
    eps = torch.finfo(torch.float32).eps
    bound = eps * ((lam * w.detach()).abs() + reference.abs())
    diff = (w.grad - reference).abs()
    assert bool((diff <= bound).all())
    # and the penalty's own gradient is lam * w rounded once, bit for bit
    w.grad = None
    l2_penalty([w], lam).backward()
    assert torch.equal(w.grad, w.detach() * torch.tensor(lam, dtype=torch.float32))


def test_modules_call_the_functions_and_round_trip_their_config():
    model = _model()
    assert L2(0.5)(model).item() == l2_penalty(model, 0.5).item()
    assert L1(0.5, include_bias=True)(model).item() == l1_penalty(model, 0.5, include_bias=True).item()
    en = ElasticNet(0.5, 0.3, include_norm=True)
    assert en(model).item() == elastic_net_penalty(model, 0.5, 0.3, include_norm=True).item()
    assert L2(0.5).get_config() == {"lam": 0.5, "include_bias": False, "include_norm": False}
    assert en.get_config() == {"lam": 0.5, "l1_ratio": 0.3, "include_bias": False, "include_norm": True}
    for reg in (L1(0.1), L2(0.2, include_bias=True), en):
        clone = type(reg).from_config(reg.get_config())
        assert clone.get_config() == reg.get_config() and type(clone) is type(reg)
    assert repr(en) == "ElasticNet(lam=0.5, l1_ratio=0.3, include_bias=False, include_norm=True)"
    assert list(L2(1.0).parameters()) == []


def test_fit_accepts_a_penalty_module():
    from reglab import BatchIterator, fit

    torch.manual_seed(0)
    X, y = torch.randn(40, 3), torch.randn(40, 1)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    # zero data gradient (lr on the data loss cancels): only the penalty moves the weight
    fit(
        model,
        BatchIterator(X, y, batch_size=40, shuffle=False),
        loss_fn=lambda o, t: 0.0 * o.sum(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        epochs=2,
        penalty=L2(0.5),
        progress=False,
    )
    torch.testing.assert_close(model.weight, torch.full((1, 3), 0.75**2))


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: l2_penalty([torch.ones(2)], -1.0),
            "Invalid value received for argument `lam`. Expected a float >= 0. Received: lam=-1.0",
        ),
        (lambda: l1_penalty([torch.ones(2)], float("nan")), "argument `lam`"),
        (lambda: L2(True), "Received: lam=True"),
        (
            lambda: ElasticNet(0.1, 1.5),
            "Invalid value received for argument `l1_ratio`. Expected a float between 0 and 1. Received: l1_ratio=1.5",
        ),
        (lambda: L1(0.1, include_bias=1), "argument `include_bias`. Expected True or False"),
        (lambda: l2_penalty(torch.ones(2), 0.1), "argument `params_or_model`. Expected an nn.Module or an iterable"),
        (lambda: l2_penalty([1.0], 0.1), "argument `params_or_model`"),
        (lambda: param_groups(nn.Linear(2, 2), -0.1), "argument `weight_decay`. Expected a float >= 0"),
        (lambda: param_groups(nn.Linear(2, 2), 0.1, no_decay="bias"), "argument `no_decay`"),
        (lambda: split_parameters([torch.ones(2)]), "argument `model`. Expected an nn.Module"),
    ],
)
def test_bad_arguments_get_the_one_sentence(call, message):
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert message in str(info.value)


def test_split_parameters_loses_none_and_duplicates_none():
    model = _model()
    model.tied = model.fc  # the same Linear reachable twice
    decay, rest = split_parameters(model)
    assert _ids(decay) == _ids(_weights(model))
    assert _ids(rest) == _ids(_biases(model) + _norms(model))
    all_ids = _ids(decay + rest)
    assert all_ids == _ids(model.parameters()) and len(set(all_ids)) == len(all_ids)


def test_no_decay_tokens_and_name_substrings():
    model = _model()
    decay, rest = split_parameters(model, no_decay=("norm",))  # biases decay now
    assert _ids(decay) == _ids(_weights(model) + _biases(model))
    decay, rest = split_parameters(model, no_decay=())
    assert _ids(decay) == _ids(model.parameters()) and rest == []
    decay, rest = split_parameters(model, no_decay=("bias", "norm", "embed"))
    assert _ids(decay) == _ids([model.conv.weight, model.fc.weight, model.head.weight])
    assert any(p is model.embed.weight for p in rest)


def test_param_groups_drive_an_optimizer_like_manual_groups():
    model = _model(torch.float32)
    groups = param_groups(model, 0.05)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    opt = torch.optim.AdamW(groups, lr=1e-3)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    ln = nn.LayerNorm(3)
    assert param_groups(ln, 0.1) == [{"params": [ln.weight, ln.bias], "weight_decay": 0.0}]  # empty group dropped


@needs_cuda
def test_penalty_stays_on_the_device():
    model = _model(torch.float32).cuda()
    out = l2_penalty(model, 0.1)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), l2_penalty(model.cpu(), 0.1), rtol=1e-5, atol=0)


class TinyViT(nn.Module):
    """A timm-style model: position embedding and class token named by no_weight_decay(),
    a relative-position table named by Swin's no_weight_decay_keywords(), and a frozen stem."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(4, 8)
        self.stem.requires_grad_(False)
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, 8))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(2))
        for block in self.blocks:
            block.gamma = nn.Parameter(torch.ones(8, 8))  # a 2-D scale: decayed by the dim rule alone
            block.relative_position_bias_table = nn.Parameter(torch.zeros(9, 2))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "blocks.*.gamma"}

    def no_weight_decay_keywords(self) -> set[str]:
        return {"relative_position_bias_table"}


def _names(model: nn.Module, params) -> set[str]:
    ids = {id(p) for p in params}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def test_param_groups_honour_the_models_no_weight_decay_lists_and_leave_frozen_parameters_out():
    model = TinyViT()
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert _names(model, decay["params"]) == {"blocks.0.weight", "blocks.1.weight", "head.weight"}
    assert _names(model, no_decay["params"]) == {
        "pos_embed",
        "cls_token",
        "blocks.0.bias",
        "blocks.1.bias",
        "blocks.0.gamma",
        "blocks.1.gamma",
        "blocks.0.relative_position_bias_table",
        "blocks.1.relative_position_bias_table",
        "norm.weight",
        "norm.bias",
        "head.bias",
    }
    # split_parameters splits every parameter, frozen ones included (with the same lists)
    split_decay, split_rest = split_parameters(model)
    assert _names(model, split_decay) == {"stem.weight", "blocks.0.weight", "blocks.1.weight", "head.weight"}
    assert "pos_embed" in _names(model, split_rest)


def test_a_frozen_model_part_gives_no_empty_group():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    for p in model.parameters():
        p.requires_grad_(False)
    model[1].weight.requires_grad_(True)
    assert [len(g["params"]) for g in param_groups(model, 0.1)] == [1]
    torch.optim.AdamW(param_groups(model, 0.1))  # an optimizer accepts them


def test_a_malformed_no_weight_decay_list_is_refused():
    model = TinyViT()
    model.no_weight_decay = lambda: "pos_embed"  # a string, not a collection of names
    with pytest.raises(InvalidArgumentError, match=r"model.no_weight_decay\(\)"):
        param_groups(model, 0.1)


def test_param_groups_match_timms_on_a_timm_model():
    try:
        import timm
        from timm.optim import param_groups_weight_decay
    except Exception:  # timm needs torchvision, which has no build for a CPU-only torch
        pytest.skip("timm (with torchvision) is not importable here")

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3)
    model.patch_embed.requires_grad_(False)
    ours = param_groups(model, 0.05)
    theirs = param_groups_weight_decay(model, 0.05, no_weight_decay_list=model.no_weight_decay())
    by_decay = lambda groups: {g["weight_decay"]: {id(p) for p in g["params"]} for g in groups}
    assert by_decay(ours) == by_decay(theirs)
