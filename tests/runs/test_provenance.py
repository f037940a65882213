"""The git commit in config.json and sweep.json, asked of a real git."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from reglab.runs.provenance import git_state, project_root
from reglab.runs.runner import run_experiment

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@needs_git
def test_the_commit_and_whether_tracked_files_changed(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}  # untracked files do not count
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


@needs_git
def test_no_checkout_or_no_commit_gives_none(tmp_path):
    assert git_state(tmp_path) is None  # not a checkout
    (tmp_path / "sub").mkdir()
    _git(tmp_path, "init", "-q")
    assert git_state(tmp_path) is None  # a repository without a commit
    assert git_state(tmp_path / "sub") is None  # inside a checkout but not its top


def test_config_json_records_the_projects_checkout(tiny_experiment, tmp_path):
    outcome = run_experiment(tiny_experiment, out=tmp_path, quiet=True)
    recorded = json.loads((outcome.run_dir.path / "config.json").read_text())["git"]
    assert recorded == git_state(project_root())
    if (project_root() / ".git").exists() and shutil.which("git"):  # the tests run from a checkout
        assert len(recorded["commit"]) == 40 and isinstance(recorded["dirty"], bool)
