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


# --- the public names, listed -------------------------------------------------

#: What goes inside a model or a training script: `from reglab import *` gives exactly these.
PUBLIC = [
    "__version__",
    "StochasticModule", "keep_mask", "dropout", "Dropout", "vanilla_dropout", "VanillaDropout",
    "dropout1d", "dropout2d", "dropout3d", "Dropout1d", "Dropout2d", "Dropout3d",
    "locked_dropout", "LockedDropout", "gaussian_dropout", "GaussianDropout", "gaussian_noise", "GaussianNoise",
    "alpha_dropout", "AlphaDropout", "feature_alpha_dropout", "FeatureAlphaDropout",
    "drop_path", "DropPath", "drop_path_rates", "drop_block_2d", "DropBlock2d", "drop_block_gamma",
    "drop_connect_weight", "DropConnect", "embedding_dropout_weight", "EmbeddingDropout",
    "MCPrediction", "mc_mode", "mc_predict", "predictive_entropy",
    "l1_penalty", "l2_penalty", "elastic_net_penalty", "L1", "L2", "ElasticNet", "param_groups", "split_parameters",
    "activity_penalty", "ActivityRegularization", "collect_activity_penalties",
    "activation_regularization", "temporal_activation_regularization",
    "Constraint", "MaxNorm", "UnitNorm", "NonNeg",
    "fit", "evaluate", "History", "TrainState", "Callback", "LambdaCallback", "EpochTable", "ApplyConstraint",
    "EarlyStopping", "Checkpoint",
    "RegularizationSchedule", "Schedule", "ConstantSchedule", "LinearWarmup", "StepSchedule", "CosineSchedule",
    "CurriculumDropout", "DropBlockRamp",
    "get_loss", "seed_everything", "make_generator", "resolve_device",
]  # fmt: skip

#: reglab 0.1's top-level names (85 of them); each still imports from `reglab`.
OLD_TOP_LEVEL = [
    "__version__", "Callback", "EpochTable", "LambdaCallback", "BatchIterator", "load_fashion_mnist",
    "synthetic_linear", "Dropout", "StochasticModule", "dropout", "keep_mask", "VanillaDropout", "vanilla_dropout",
    "Dropout1d", "Dropout2d", "Dropout3d", "dropout1d", "dropout2d", "dropout3d", "LockedDropout", "locked_dropout",
    "GaussianDropout", "gaussian_dropout", "GaussianNoise", "gaussian_noise", "AlphaDropout", "alpha_dropout",
    "FeatureAlphaDropout", "feature_alpha_dropout", "DropPath", "drop_path", "DropBlock2d", "drop_block_2d",
    "drop_block_gamma", "DropConnect", "drop_connect_weight", "EmbeddingDropout", "embedding_dropout_weight",
    "MCPrediction", "mc_mode", "mc_predict", "predictive_entropy", "l1_penalty", "l2_penalty",
    "elastic_net_penalty", "L1", "L2", "ElasticNet", "param_groups", "split_parameters", "activity_penalty",
    "ActivityRegularization", "collect_activity_penalties", "activation_regularization",
    "temporal_activation_regularization", "Constraint", "MaxNorm", "UnitNorm", "NonNeg", "ApplyConstraint",
    "EarlyStopping", "get_loss", "check_dropout", "check_penalty", "ConformanceReport", "run_sweep",
    "resume_sweep", "SweepResult", "SweepSpec", "ChecksumError", "ConfigError", "CorruptDataError", "DataError",
    "DataNotFoundError", "DivergenceError", "InvalidArgumentError", "ReglabError", "RunDir", "make_generator",
    "resolve_device", "seed_everything", "History", "TrainState", "evaluate", "fit",
]  # fmt: skip

#: Module paths the README and docs used before the packages were layered, with a name each must hold.
OLD_PATHS = {
    "reglab.errors": ["InvalidArgumentError", "ConfigError", "DataError", "DivergenceError", "ReglabError"],
    "reglab.drop": ["dropout", "Dropout", "keep_mask", "StochasticModule"],
    "reglab.vanilla": ["vanilla_dropout", "VanillaDropout"],
    "reglab.spatial": ["dropout2d", "Dropout2d"],
    "reglab.sequence": ["locked_dropout", "LockedDropout"],
    "reglab.noise": ["gaussian_dropout", "alpha_affine", "AlphaDropout"],
    "reglab.structured": ["drop_path", "DropPath", "drop_block_2d", "DropBlock2d", "drop_block_gamma"],
    "reglab.dropconnect": ["DropConnect", "drop_connect_weight"],
    "reglab.embedding": ["EmbeddingDropout", "embedding_dropout_weight"],
    "reglab.mc": ["mc_predict", "mc_mode", "predictive_entropy", "MCPrediction"],
    "reglab.penalties": ["L2", "l2_penalty", "param_groups"],
    "reglab.activity": ["activity_penalty", "collect_activity_penalties"],
    "reglab.constraints": ["ApplyConstraint", "MaxNorm", "Constraint"],
    "reglab.early_stopping": ["EarlyStopping"],
    "reglab.losses": ["get_loss"],
    "reglab.callbacks": ["Callback", "EpochTable", "LambdaCallback"],
    "reglab.trainer": ["fit", "evaluate", "History", "TrainState"],
    "reglab.runtime": ["seed_everything", "resolve_device", "make_generator"],
    "reglab.rundir": ["RunDir"],
    "reglab.config": ["apply_overrides", "parse_overrides"],
    "reglab.runner": ["run_experiment", "make_config"],
    "reglab._checks": ["invalid_argument", "check_float"],
    "reglab._masks": ["CPU_CHUNK", "threshold"],
    "reglab.experiments._seeds": ["stream_seed"],
    "reglab.experiments._common": ["fashion_batches"],
    "reglab.sweeps.vectorized": ["run_vectorized", "VectorizedTrainer"],
    "reglab.sweeps.vectorized_mlp": ["DropoutMLPVectorized"],
}


def test_the_public_names_are_exactly_these():
    assert reglab.__all__ == PUBLIC
    namespace: dict = {}
    exec("from reglab import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC)


def test_every_old_top_level_name_still_imports_from_reglab():
    import importlib

    for name in OLD_TOP_LEVEL:
        value = getattr(reglab, name)
        assert value is not None, name
    # the moved ones are the objects of their new namespaces
    assert reglab.BatchIterator is importlib.import_module("reglab.data").BatchIterator
    assert reglab.InvalidArgumentError is importlib.import_module("reglab.core.errors").InvalidArgumentError
    assert reglab.run_sweep is importlib.import_module("reglab.sweeps").run_sweep


def test_every_documented_old_module_path_still_imports():
    import importlib

    for path, names in OLD_PATHS.items():
        module = importlib.import_module(path)
        missing = [n for n in names if not hasattr(module, n)]
        assert missing == [], f"{path} lacks {missing}"
    # an old path that moved whole is the new module itself, so patching it patches the code that runs
    assert importlib.import_module("reglab.trainer").fit is reglab.fit
    assert importlib.import_module("reglab.rundir") is importlib.import_module("reglab.runs.run_dir")


def test_old_module_paths_work_as_attributes_and_in_a_fresh_interpreter():
    import subprocess
    import sys

    code = (
        "import reglab\n"
        "from reglab.drop import Dropout\n"
        "from reglab.sequence import LockedDropout\n"
        "import reglab.structured as s\n"
        "assert reglab.trainer.fit is reglab.fit\n"
        "assert s.DropPath is reglab.DropPath and Dropout is reglab.Dropout\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_an_unknown_attribute_is_still_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        _ = reglab.nosuch
