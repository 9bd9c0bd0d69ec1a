"""Export: files, loading without this project (TorchScript, torch.export, onnxruntime), errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lamoo_nas.evaluate.export import ExportExistsError, export_model
from lamoo_nas.evaluate.load import NotAnExportError, load_exported
from lamoo_nas.supernet import build_static, load_space

NUM_CLASSES = 10

# Runs with `python -I` (isolated: no cwd, no PYTHONPATH): only torch and onnxruntime.
LOADER = """
import sys, numpy as np, torch, onnxruntime as ort
folder = sys.argv[1]
x = np.load(folder + '/x.npy'); expected = np.load(folder + '/y.npy')
ts = torch.jit.load(folder + '/export/model.torchscript.pt').eval()
with torch.no_grad():
    got_ts = ts(torch.from_numpy(x)).numpy()
    got_ep = torch.export.load(folder + '/export/model.pt2').module()(torch.from_numpy(x)).numpy()
sess = ort.InferenceSession(folder + '/export/model.onnx', providers=['CPUExecutionProvider'])
got_onnx = sess.run(None, {sess.get_inputs()[0].name: x})[0]
assert 'evaluate' not in sys.modules and 'supernet' not in sys.modules
print(*(float(np.abs(got - expected).max()) for got in (got_ts, got_ep, got_onnx)))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    space = load_space("tiny")
    arch = space.sample(np.random.default_rng(3))
    torch.manual_seed(0)
    net = build_static(space, arch, NUM_CLASSES)
    net.train()
    with torch.no_grad():  # non-trivial BN statistics
        net(torch.randn(8, 3, arch.resolution, arch.resolution))
    net.eval()
    folder = tmp_path_factory.mktemp("export")
    paths = export_model(net, arch, space, NUM_CLASSES, folder / "export", {"top1": 0.5})
    return folder, paths, net, arch, space


def test_export_writes_every_file_and_no_temp_dirs(exported) -> None:
    folder, paths, _, arch, space = exported
    for path in (paths.checkpoint, paths.torchscript, paths.exported_program, paths.onnx):
        assert path.is_file() and path.stat().st_size > 0
    assert json.loads(paths.metrics_json.read_text()) == {"top1": 0.5}
    assert space.arch_from_json(paths.arch_json.read_text()) == arch
    assert sorted(p.name for p in folder.iterdir()) == ["export"]


def test_checkpoint_is_self_describing_and_weights_only(exported) -> None:
    _, paths, _, arch, space = exported
    raw = torch.load(paths.checkpoint, weights_only=True)
    assert raw["format"] == "lamoo-nas/exported-model"
    assert space.arch_from_json(raw["arch"]) == arch
    assert raw["space"] == space.to_dict() and raw["num_classes"] == NUM_CLASSES


def test_torchscript_exported_program_and_onnx_match_outside_the_project(exported) -> None:
    folder, _, net, arch, _ = exported
    x = torch.randn(3, 3, arch.resolution, arch.resolution)  # batch 3: not the traced batch 2
    with torch.no_grad():
        expected = net(x)
    np.save(folder / "x.npy", x.numpy())
    np.save(folder / "y.npy", expected.numpy())
    done = subprocess.run(
        [sys.executable, "-I", "-c", LOADER, str(folder)],
        capture_output=True, text=True, cwd="/", timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    errors = [float(e) for e in done.stdout.split()]
    assert len(errors) == 3 and max(errors) < 1e-4, errors


def test_load_exported_round_trips(exported) -> None:
    _, paths, net, arch, space = exported
    loaded = load_exported(paths.root)
    assert loaded.arch == arch and loaded.space == space and loaded.metrics == {"top1": 0.5}
    assert not loaded.model.training
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x))


def test_existing_target_is_an_error_unless_overwrite(exported) -> None:
    _, paths, net, arch, space = exported
    before = paths.checkpoint.stat().st_mtime_ns
    with pytest.raises(ExportExistsError, match="overwrite=True") as info:
        export_model(net, arch, space, NUM_CLASSES, paths.root)
    assert isinstance(info.value, FileExistsError) and str(paths.root) in str(info.value)
    assert paths.checkpoint.stat().st_mtime_ns == before
    export_model(net, arch, space, NUM_CLASSES, paths.root, {"top1": 0.9}, overwrite=True)
    assert load_exported(paths.root).metrics == {"top1": 0.9}
    assert sorted(p.name for p in paths.root.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("kind", ["foreign_dict", "text", "truncated", "missing"])
def test_files_that_are_not_ours_raise(exported, tmp_path: Path, kind: str) -> None:
    _, paths, *_ = exported
    target = tmp_path / "model.pt"
    if kind == "foreign_dict":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, target)
    elif kind == "text":
        target.write_text("hello, not a model\n")
    elif kind == "truncated":
        target.write_bytes(paths.checkpoint.read_bytes()[:200])
    with pytest.raises(NotAnExportError) as info:
        load_exported(target)
    assert str(target) in str(info.value)
    assert "\n" not in str(info.value)
