"""runtime.io: atomic writes, append-only lines, orphan cleanup, tagged loads."""

from __future__ import annotations

import errno

import pytest
import torch

from lamoo_nas.runtime.errors import StorageError
from lamoo_nas.runtime.io import (
    append_line,
    atomic_torch_save,
    atomic_write_text,
    load_tagged,
    read_lines,
    remove_orphans,
)
from lamoo_nas.supernet.errors import CheckpointError


def test_append_line_and_a_torn_last_line_is_dropped(tmp_path) -> None:
    path = tmp_path / "cache.jsonl"
    append_line(path, '{"a": 1}')
    append_line(path, '{"b": 2}\n')
    with open(path, "a") as handle:
        handle.write('{"c": ')  # a kill in the middle of a write
    assert read_lines(path) == ['{"a": 1}', '{"b": 2}']
    assert read_lines(tmp_path / "missing.jsonl") == []


def test_remove_orphans_takes_temp_files_and_folders_only(tmp_path) -> None:
    (tmp_path / ".last.pt.x1.tmp").write_bytes(b"half")
    (tmp_path / ".export.x2.tmp").mkdir()
    (tmp_path / ".export.x2.tmp" / "model.pt").write_bytes(b"half")
    (tmp_path / "last.pt").write_bytes(b"whole")
    (tmp_path / "notes.tmp").write_text("the user's")  # not one of ours: no leading dot
    removed = remove_orphans(tmp_path)
    assert sorted(p.name for p in removed) == [".export.x2.tmp", ".last.pt.x1.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "notes.tmp"]


def test_an_unwritable_folder_is_named(tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(StorageError, match=r"not writable.*run_dir="):
        atomic_write_text(tmp_path / "a.txt", "x")


def test_load_tagged_checks_tag_version_and_keys(tmp_path) -> None:
    path = atomic_torch_save({"format": "f", "version": 1, "w": torch.ones(1)}, tmp_path / "a.pt")
    kwargs = {"what": "demo file", "hint": "make another"}
    assert load_tagged(path, fmt="f", version=1, required=("w",), **kwargs)["w"].item() == 1.0
    with pytest.raises(CheckpointError, match="no format tag 'g'"):
        load_tagged(path, fmt="g", version=1, required=(), **kwargs)
    with pytest.raises(CheckpointError, match="lacks keys"):
        load_tagged(path, fmt="f", version=1, required=("missing",), **kwargs)
    with pytest.raises(CheckpointError, match="version 1, this code reads 2"):
        load_tagged(path, fmt="f", version=2, required=(), **kwargs)
    (tmp_path / "b.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_tagged(tmp_path / "b.pt", fmt="f", version=1, required=(), **kwargs)
