"""The public API: explicit re-exports, each name defined once and importable."""

import pytest

import reglab


def test_all_names_exist_and_are_unique():
    assert len(reglab.__all__) == len(set(reglab.__all__))
    missing = [name for name in reglab.__all__ if not hasattr(reglab, name)]
    assert missing == []


def test_function_module_pairs_are_exported_together():
    # the library's habit: every regularizer is a function + Module pair
    pairs = [
        ("dropout", "Dropout"),
        ("vanilla_dropout", "VanillaDropout"),
        ("dropout2d", "Dropout2d"),
        ("locked_dropout", "LockedDropout"),
        ("gaussian_dropout", "GaussianDropout"),
        ("alpha_dropout", "AlphaDropout"),
        ("drop_path", "DropPath"),
        ("drop_block_2d", "DropBlock2d"),
        ("embedding_dropout_weight", "EmbeddingDropout"),
    ]
    for function, module in pairs:
        assert callable(getattr(reglab, function))
        assert issubclass(getattr(reglab, module), reglab.StochasticModule)


def test_d2l_compatibility_layer_is_a_subpackage():
    from reglab import d2l

    assert callable(d2l.train_ch3) and callable(d2l.load_data_fashion_mnist)


@pytest.mark.slow
def test_import_reglab_does_not_load_matplotlib_or_ray():
    import subprocess
    import sys

    code = "import sys, reglab; print(sorted(m for m in ('matplotlib', 'ray') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert callable(reglab.run_sweep)  # loaded on first use
