"""Settings every experiment shares are validated before anything is created."""

from __future__ import annotations

import pytest

from reglab.cli import main


@pytest.mark.parametrize(
    "name, args, message",
    [
        (
            "dropout",
            ["--seed", str(2**63)],
            "Invalid value received for argument `seed`. Expected an integer between 0 and 9223372036854775807. "
            "Received: seed=9223372036854775808",
        ),
        (
            "curve-fit",
            ["--seed", str(2**63 - 2), "seeds=10"],  # it runs seeds seed..seed+9: the last must be a seed too
            "Invalid value received for argument `seed`. Expected an integer between 0 and 9223372036854775798. "
            "Received: seed=9223372036854775806",
        ),
        (
            "dropout",
            ["val_fraction=0.9999"],  # --dry-run trains on 2048 images: none would be left
            "Invalid value received for argument `val_fraction`. Expected a fraction leaving at least one sample "
            "on each side of 2048. Received: val_fraction=0.9999",
        ),
        (
            "dropout",
            ["train_subset=70000"],
            "Invalid value received for argument `train_subset`. Expected an integer between 0 and 60000. "
            "Received: train_subset=70000",
        ),
        (
            "mc-dropout",
            ["test_subset=10001"],
            "Invalid value received for argument `test_subset`. Expected an integer between 0 and 10000. "
            "Received: test_subset=10001",
        ),
        ("softmax", ["kfold=5000", "train_subset=100"], "Expected at most the number of training samples (100)"),
    ],
)
def test_settings_are_checked_before_the_run_directory_is_made(tmp_path, capsys, name, args, message):
    code = main(["run", name, "--dry-run", "--quiet", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
