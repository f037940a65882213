"""Atomic writes: a failure names the file in one sentence and keeps the old version."""

from __future__ import annotations

import errno
import os

import pytest

from reglab.core.errors import OutputError
from reglab.core.files import atomic_write_text


def test_a_full_disk_is_one_sentence_naming_the_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError) as info:
        atomic_write_text(target, "new")
    assert str(info.value) == f"cannot write {target}: No space left on device"
    assert isinstance(info.value, OSError)  # existing handlers keep working
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_folder_that_is_a_file_is_one_sentence(tmp_path):
    (tmp_path / "a").write_text("")
    with pytest.raises(OutputError, match=r"^cannot write .*a/b\.json: Not a directory$"):
        atomic_write_text(tmp_path / "a" / "b.json", "{}")
