"""The Ray backend end to end on a tiny sweep through a local Ray instance."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.tune", reason="the ray extra is not installed (pip install 'reglab[ray]')")

from reglab.sweeps import read_results, run_sweep


@pytest.mark.slow
@pytest.mark.ray
def test_ray_backend_writes_the_same_rows_as_local(fashion, tmp_path):
    grid = ["p1=0.0,0.5", "epochs=1", "train_subset=256", "hidden1=16", "hidden2=16"]
    ray_result = run_sweep("dropout", grid, seeds=1, backend="ray", workers=1, out=tmp_path, quiet=True)
    local = run_sweep("dropout", grid, seeds=1, backend="local", workers=1, out=tmp_path, quiet=True)
    rows = read_results(ray_result.path / "results.csv")
    assert [r["trial"] for r in rows] == [0, 1] and all(r["status"] == "complete" for r in rows)
    for a, b in zip(rows, local.rows):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-6)
        assert a["train_acc"] == pytest.approx(b["train_acc"])
    assert ray_result.backend == "ray" and (ray_result.path / "summary.json").is_file()


@pytest.mark.slow
@pytest.mark.ray
def test_ray_workers_import_a_users_experiment_file(tmp_path, user_experiments):
    from tests.helpers import write_user_experiment

    file = write_user_experiment(tmp_path / "exp.py")
    result = run_sweep(f"{file}:user-linear", ["lr=0.05,0.2"], backend="ray", workers=2, out=tmp_path, quiet=True)
    assert [(r["trial"], r["status"], r["error"]) for r in result.rows] == [(0, "complete", ""), (1, "complete", "")]
    assert result.path.parent == tmp_path / "user-linear"
