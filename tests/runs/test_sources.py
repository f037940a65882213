"""Users' experiments: from a file, a module or an installed package's entry point, with
everything a built-in experiment gets, and one sentence for each way loading can fail."""

from __future__ import annotations

import json
import sys

import pytest

from reglab.cli import main
from reglab.core.errors import ConfigError
from reglab.experiments import EXPERIMENTS, get_experiment, list_experiments
from reglab.runs import sources
from reglab.runs.runner import run_experiment
from reglab.runs.sources import file_module_name, split_ref
from tests.helpers import write_user_experiment


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def _forget(name: str) -> None:
    """What a fresh process knows: nothing of the users' sources."""
    EXPERIMENTS._entries.pop(name, None)
    sources._loaded.clear()


def test_a_file_experiment_runs_like_a_built_in_one(tmp_path, user_experiments, monkeypatch, capsys):
    file = write_user_experiment(tmp_path / "mine" / "my_experiment.py")
    monkeypatch.chdir(tmp_path)
    ref = "mine/my_experiment.py:user-linear"
    experiment = get_experiment(ref)
    assert experiment.source == str(file) and experiment.ref == f"{file}:user-linear"
    assert experiment.run.__module__ == file_module_name(file)  # stable: the same in every process

    outcome = run_experiment(ref, ["epochs=2", "lr=0.2"], out=tmp_path / "runs", quiet=True, device="cpu")
    assert outcome.status == "complete"
    assert outcome.run_dir.path.parent == tmp_path / "runs" / "user-linear"
    config = json.loads((outcome.run_dir.path / "config.json").read_text())
    assert config["experiment"] == "user-linear" and config["source"] == str(file)
    assert config["config"] == {"epochs": 2, "lr": 0.2, "val_fraction": 0.0, "seed": 0}
    assert (outcome.run_dir.path / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs

    code, out, _ = _cli(capsys, "run", ref, "--help")
    assert code == 0 and "usage: reglab run mine/my_experiment.py:user-linear" in out
    assert "training epochs" in out and "--dry-run sets: epochs=1" in out
    code, out, _ = _cli(capsys, "list", "--from", "mine/my_experiment.py")
    assert code == 0 and out.split() == ["user-linear", "a", "user's", "linear", "classifier"]
    code, out, err = _cli(capsys, "run", ref, "epochs=2.5", "--out", str(tmp_path / "runs"))
    assert code == 2 and err.strip() == "reglab: error: setting `epochs` expects a int (default 3); received 2.5"


def test_a_module_experiment_from_the_current_directory(tmp_path, user_experiments, monkeypatch):
    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("")
    write_user_experiment(tmp_path / "userpkg" / "exps.py", name="module-linear")
    monkeypatch.chdir(tmp_path)
    experiment = get_experiment("userpkg.exps:module-linear")
    assert experiment.source == "userpkg.exps" and experiment.ref == "userpkg.exps:module-linear"
    assert [e.name for e in list_experiments("userpkg.exps")] == ["module-linear"]


@pytest.mark.parametrize(
    "content, ref, message",
    [
        (None, "missing.py:x", r"experiment file missing\.py does not exist"),
        ("import torch\n\nx = undefined_name\n", "broken.py:x", r"broken\.py:3: NameError: name 'undefined_name'"),
        ("def f(:\n", "broken.py:x", r"importing experiment file broken\.py failed at line 1: SyntaxError"),
        ("", "broken.py:x", r"broken\.py registers no experiment 'x'; it registers: none"),
        (None, "no_such_package_xyz.mod:x", r"experiment module no_such_package_xyz\.mod is not importable"),
        (None, "my_file.py", r"unknown experiment 'my_file\.py'; .*name it: my_file\.py:NAME"),
    ],
)
def test_loading_failures_are_one_sentence(tmp_path, user_experiments, monkeypatch, content, ref, message):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "broken.py").write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        get_experiment(ref)
    assert "\n" not in str(error.value)


def test_a_name_clash_with_a_built_in_is_refused(tmp_path, user_experiments, capsys):
    file = write_user_experiment(tmp_path / "clash.py", name="dropout")
    code, _, err = _cli(capsys, "run", f"{file}:dropout")
    assert code == 2
    assert err.strip() == (
        f"reglab: error: file {file} registers experiment 'dropout', a name the built-in catalogue "
        "already registers; give it another name"
    )
    assert get_experiment("dropout").source is None  # the built-in one is untouched


def _install(site, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    """What pip leaves in site-packages: the modules and a .dist-info folder with entry_points.txt."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[reglab.experiments]\n{entry_points}\n")
    for name, text in modules.items():
        (site / name).write_text(text)


def test_entry_point_packages_are_listed_and_run_by_name(tmp_path, user_experiments, monkeypatch, capsys):
    site = tmp_path / "site-packages"
    write_user_experiment(site / "ep_experiments.py", name="ep-linear")
    _install(site, "ep_dist", "linear = ep_experiments", {})
    _install(site, "broken_dist", "broken = ep_missing_module_xyz", {})
    monkeypatch.syspath_prepend(str(site))

    code, out, err = _cli(capsys, "list")
    assert code == 0
    listed = {line.split()[0]: line for line in out.splitlines()}
    assert "dropout" in listed and listed["ep-linear"].endswith("[ep_experiments]")
    assert "skipped: importing entry point 'broken = ep_missing_module_xyz' of broken_dist failed" in err
    assert "ModuleNotFoundError" in err

    # A fresh process finds it by name alone: a miss in the catalogue loads the entry points.
    _forget("ep-linear")
    sources._entry_points_loaded.clear()
    del sys.modules["ep_experiments"]
    experiment = get_experiment("ep-linear")
    assert experiment.source == "ep_experiments" and experiment.ref == "ep_experiments:ep-linear"
    outcome = run_experiment("ep-linear", ["epochs=1"], out=tmp_path / "runs", quiet=True, device="cpu")
    assert outcome.status == "complete"


def test_split_ref():
    assert split_ref("dropout") == (None, "dropout")
    assert split_ref("/a/b:c/file.py:my-exp") == ("/a/b:c/file.py", "my-exp")
    assert split_ref("pkg.mod:x") == ("pkg.mod", "x")
