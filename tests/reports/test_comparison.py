"""``reglab compare``'s grouping, its table, what it leaves out, and compare.png."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex

from reglab.core.errors import ConfigError
from reglab.reports import compare, load_inputs, welch_difference, write_comparison
from reglab.reports.comparison import COLORS, comparison_figure
from reglab.runs.run_dir import RunDir
from reglab.sweeps import run_sweep
from tests.helpers import write_run_folder

pytest.importorskip("scipy", reason="scipy (the stats extra) is not installed")

BASE = {"p1": 0.2, "p2": 0.5, "lr": 0.5, "epochs": 3}
FINAL = {0.2: [0.80, 0.82, 0.81], 0.5: [0.84, 0.85, 0.83, 0.86]}


def _curve(final: float) -> list[dict[str, float]]:
    return [{"epoch": e, "train_loss": 1.0 / e, "test_acc": final - 0.05 * (3 - e)} for e in (1, 2, 3)]


@pytest.fixture
def runs(tmp_path):
    """Seven complete dropout runs: p1 = 0.2 with seeds 0-2 and p1 = 0.5 with seeds 0-3."""
    folders = []
    for p1, finals in FINAL.items():
        for seed, final in enumerate(finals):
            folders.append(
                write_run_folder(
                    tmp_path / "runs" / "dropout" / f"p{p1}-s{seed}",
                    config={**BASE, "p1": p1},
                    seed=seed,
                    summary={"test_acc": final, "train_loss": 0.3},
                    curve=_curve(final),
                )
            )
    return folders


def test_runs_differing_only_in_seed_form_one_group(runs):
    result = compare(runs)
    assert result.experiment == "dropout" and result.metric == "test_acc" and result.differing == ["p1"]
    assert [g.label for g in result.groups] == ["p1=0.2", "p1=0.5"]
    for group, finals in zip(result.groups, FINAL.values()):
        d = group.description
        assert (d.n, d.min, d.max) == (len(finals), min(finals), max(finals))
        assert d.mean == pytest.approx(np.mean(finals)) and d.std == pytest.approx(np.std(finals, ddof=1))
        assert sorted(s.seed for s in group.samples) == list(range(len(finals)))
    expected = welch_difference(FINAL[0.2], FINAL[0.5])
    assert result.difference == expected
    assert result.difference.estimate == pytest.approx(np.mean(FINAL[0.5]) - np.mean(FINAL[0.2]))
    assert result.left_out == []
    text = "\n".join(result.lines())
    assert "7 dropout run(s) in 2 configuration(s); differing settings: p1" in text
    assert re.search(r"\n  p1=0\.2 +3  0\.8100  0\.0100  0\.8000  0\.8200\n", text)
    assert (
        f"difference (p1=0.5) - (p1=0.2) in test_acc: +{expected.estimate:.4f}, 95% CI [{expected.low:+.4f}, " in text
    )
    assert f"p = {expected.p_value:.3g})" in text


def test_unusable_inputs_get_one_sentence_each_and_are_left_out(runs, tmp_path):
    bad = tmp_path / "bad"
    write_run_folder(bad / "going", config=BASE, seed=9, summary=None)
    write_run_folder(bad / "stopped", config=BASE, seed=9, summary={"status": "interrupted", "test_acc": 0.5})
    write_run_folder(bad / "other", config=BASE, seed=9, summary={"test_acc": 0.5}, experiment="weight_decay")
    write_run_folder(bad / "no-metric", config=BASE, seed=9, summary={"test_loss": 0.5})
    (bad / "broken").mkdir()
    (bad / "broken" / "config.json").write_text("{not json")
    (bad / "empty").mkdir()
    names = ["going", "stopped", "other", "no-metric", "broken", "empty"]
    result = compare([*runs, *(bad / n for n in names), tmp_path / "nowhere", str(tmp_path / "no-such-*")])
    assert sum(len(g.samples) for g in result.groups) == len(runs)  # the good ones are all there
    assert len(result.left_out) == len(names) + 2  # one sentence each
    why = {name: next(s for s in result.left_out if f"/{name}: " in s) for name in [*names, "nowhere"]}
    why["pattern"] = next(s for s in result.left_out if "/no-such-*: " in s)
    assert "no summary.json (the run is still going" in why["going"]
    assert "status is 'interrupted', not 'complete'" in why["stopped"]
    assert "a 'weight_decay' run, the others are 'dropout'" in why["other"]
    assert "has no finite final test_acc" in why["no-metric"]
    assert "config.json is not readable JSON" in why["broken"]
    assert "not a run or sweep folder" in why["empty"]
    assert "no such folder" in why["nowhere"] and "matches no folder" in why["pattern"]
    assert all(s.endswith("; left out") and "\n" not in s for s in result.left_out)
    assert all(line.startswith("left out: ") for line in result.lines()[: len(result.left_out)])


def test_a_glob_and_a_folder_of_runs_name_the_same_runs_once(runs, tmp_path):
    parent = tmp_path / "runs" / "dropout"
    inputs = load_inputs([parent, str(parent / "*"), runs[0]])  # the pattern as a quoted shell argument
    assert sorted(s.source for s in inputs.samples) == sorted(str(r) for r in runs)
    assert inputs.left_out == []


def test_nothing_usable_and_an_unknown_metric_are_one_sentence(runs, tmp_path):
    with pytest.raises(ConfigError, match=r"^nothing to compare: .*nowhere: no such folder; left out$"):
        compare([tmp_path / "nowhere"])
    with pytest.raises(ConfigError, match=r"no dropout run has a final val_acc; --metric may be one of: test_acc, "):
        compare(runs, metric="val_acc")


def test_one_seed_per_group_or_more_than_two_groups_give_no_test(runs, tmp_path):
    single = compare([runs[0], runs[3]])
    assert single.difference is None and "each group needs at least 2 seeds" in single.lines()[-1]
    third = write_run_folder(tmp_path / "p0.7", config={**BASE, "p1": 0.7}, seed=0, summary={"test_acc": 0.7})
    three = compare([*runs, third])
    assert len(three.groups) == 3 and three.difference is None


def test_a_hand_written_sweep_gives_one_sample_per_seed_with_its_folds_averaged(tmp_path):
    # dropout, lr in {0.1, 0.2}, seeds {4, 5}, 2-fold CV: 8 trials; one fails, one never ran.
    folder = tmp_path / "sweep"
    trials, rows = [], []
    val = {(0.1, 4): (0.70, 0.72), (0.1, 5): (0.74, 0.76), (0.2, 4): (0.80, 0.84), (0.2, 5): (0.78, None)}
    for lr in (0.1, 0.2):
        for seed in (4, 5):
            for fold in (0, 1):
                index = len(trials)
                overrides = {"lr": lr, "seed": seed, "kfold": 2, "fold": fold}
                trials.append({"index": index, "point": {"lr": lr}, "seed": seed, "fold": fold, "overrides": overrides})
                value = val[(lr, seed)][fold]
                if index == 6:
                    rows.append({"trial": index, "lr": lr, "seed": seed, "fold": fold, "status": "failed"})
                elif value is not None:
                    row = {"trial": index, "lr": lr, "seed": seed, "fold": fold, "val_acc": value, "test_acc": 0.5}
                    rows.append({**row, "status": "complete"})
    run = RunDir(folder)
    folder.mkdir()
    run.write_json("sweep.json", {"experiment": "dropout", "knobs": ["lr"], "trials": trials})
    run.write_csv("results.csv", rows)
    result = compare([folder], metric="val_acc")
    assert result.differing == ["lr"] and [g.label for g in result.groups] == ["lr=0.1", "lr=0.2"]
    assert result.groups[0].values == pytest.approx([0.71, 0.75])  # fold averages per seed
    assert result.groups[1].values == pytest.approx([0.82])  # seed 5: one fold failed, one never ran
    assert result.groups[0].samples[0].config["kfold"] == 2 and "fold" not in result.groups[0].samples[0].config
    assert result.groups[0].samples[0].config["hidden1"] == 256  # rebuilt from the experiment's defaults
    assert [s for s in result.left_out if "1 failed" in s] and [s for s in result.left_out if "1 of 8 trials" in s]


def test_a_real_sweep_is_compared_by_its_knob(tiny_experiment, tmp_path):
    sweep = run_sweep(tiny_experiment, ["lr=0.05,0.5"], seeds=2, backend="local", workers=1, out=tmp_path, quiet=True)
    result = compare([sweep.path])
    assert result.experiment == tiny_experiment and result.differing == ["lr"]
    by_point = {(r["lr"], r["seed"]): r["test_acc"] for r in sweep.rows}
    for group, lr in zip(result.groups, (0.05, 0.5)):
        assert {s.seed: v for s, v in zip(group.samples, group.values)} == {
            seed: by_point[(lr, seed)] for seed in (0, 1)
        }
    assert result.difference is not None and result.notes == []


def test_compare_png_draws_every_run_and_each_groups_mean_in_its_colour(runs, tmp_path):
    result = compare(runs)
    fig = comparison_figure(result)
    curves_ax, finals_ax = fig.get_axes()
    for index, finals in enumerate(FINAL.values()):
        color = to_hex(COLORS[index])
        lines = [line for line in curves_ax.get_lines() if to_hex(line.get_color()) == color]
        assert len(lines) == len(finals) + 1  # one thin line per run, one mean
        mean_line = max(lines, key=lambda line: line.get_linewidth())
        assert list(mean_line.get_xdata()) == [1.0, 2.0, 3.0]
        assert mean_line.get_ydata() == pytest.approx([np.mean(finals) - 0.05 * (3 - e) for e in (1, 2, 3)])
    points = [c.get_offsets()[:, 1] for c in finals_ax.collections if isinstance(c, PathCollection)]
    assert sorted(np.concatenate(points)) == pytest.approx(sorted(FINAL[0.2] + FINAL[0.5]))

    out = write_comparison(result, tmp_path / "cmp").path
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "compare.json").read_text())
    assert saved["groups"][1]["mean"] == pytest.approx(np.mean(FINAL[0.5]))
    assert saved["difference"]["p_value"] == pytest.approx(result.difference.p_value)
    assert math.isclose(saved["groups"][0]["runs"][0]["value"], FINAL[0.2][0])
    with pytest.raises(ConfigError, match="already holds a comparison; choose another folder"):
        write_comparison(result, out)
