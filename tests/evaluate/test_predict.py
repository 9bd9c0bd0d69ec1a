"""nas-predict: an export carries its preprocessing, and predicting on image files applies it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamoo_nas.evaluate.export import export_model
from lamoo_nas.evaluate.load import load_exported
from lamoo_nas.evaluate.predict import image_files, predict, predictions_text, preprocess
from lamoo_nas.runtime.data import DataConfig, build_data, preprocessing_spec
from lamoo_nas.runtime.data._config import NORMALIZATION
from lamoo_nas.runtime.data._transforms import TensorPipeline
from lamoo_nas.supernet import build_static, load_space
from lamoo_nas.supernet.errors import ConfigError, DatasetError

SPACE = load_space("tiny")
ARCH = SPACE.smallest()  # resolution 12


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = build_static(SPACE, ARCH, 10)
    spec = preprocessing_spec(DataConfig(), [f"digit{i}" for i in range(10)], ARCH.resolution)
    folder = tmp_path_factory.mktemp("pred") / "export"
    export_model(net, ARCH, SPACE, 10, folder, preprocessing=spec)
    return folder


def test_export_records_its_preprocessing(export_dir: Path) -> None:
    exported = load_exported(export_dir)
    spec = exported.preprocessing
    assert spec is not None and spec["class_names"][3] == "digit3"
    assert spec["dataset"] == "digits" and spec["color"] == "L" and spec["center_crop"] == 12
    assert json.loads((export_dir / "preprocessing.json").read_text()) == spec
    assert DataConfig(**spec["data_config"]) == DataConfig()
    assert export_dir.stat().st_mode & 0o755 == 0o755  # not mkdtemp's 0700


def test_preprocess_equals_the_training_data_eval_transform(tmp_path: Path) -> None:
    """A 32x32 RGB file through the export's spec == the CIFAR eval pipeline on its pixels."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    spec = preprocessing_spec(DataConfig(name="cifar10"), ["a"], 32)
    mean, std = NORMALIZATION["cifar10"]
    expected = TensorPipeline(32, mean, std)(torch.from_numpy(pixels).permute(2, 0, 1), None)
    torch.testing.assert_close(preprocess(tmp_path / "x.png", spec), expected)


def test_predict_on_digit_images_matches_the_model_on_the_test_split(
    export_dir: Path, tmp_path: Path
) -> None:
    exported = load_exported(export_dir)
    bundle = build_data(DataConfig(), image_size=12)
    from lamoo_nas.runtime.data._sources import read_digits

    pixels, _ = read_digits()
    for i in range(8):
        image = (pixels[i].astype(np.float64) * 255 / 16).round().astype(np.uint8)
        Image.fromarray(image, mode="L").save(tmp_path / f"{i}.png")
    files = image_files(tmp_path)
    assert [f.name for f in files] == [f"{i}.png" for i in range(8)]
    preds = predict(exported, files, top_k=3)
    assert len(preds) == 8 and all(len(p.top) == 3 for p in preds)
    assert all(p.top[0][1] >= p.top[1][1] >= p.top[2][1] for p in preds)
    assert {name for p in preds for name, _ in p.top} <= set(exported.preprocessing["class_names"])
    # the file path agrees with the digits loader's tensors (PIL vs torch bilinear: close)
    spec = exported.preprocessing
    ours = torch.stack([preprocess(f, spec) for f in files])
    raw = torch.as_tensor(pixels[:8], dtype=torch.float32)[:, None] / 16.0
    mean, std = NORMALIZATION["digits"]
    upsampled = torch.nn.functional.interpolate(raw, size=(12, 12), mode="bilinear")
    reference = (upsampled.expand(-1, 3, -1, -1) - mean[0]) / std[0]
    torch.testing.assert_close(ours, reference, atol=0.02, rtol=0)
    assert bundle.image_size == 12
    csv_text = predictions_text(preds, ".csv")
    assert csv_text.splitlines()[0] == "path,rank,class,probability"
    assert len(csv_text.splitlines()) == 1 + 8 * 3
    assert json.loads(predictions_text(preds, ".json"))[0]["top"][0]["class"] == preds[0].top[0][0]


def test_predict_errors_name_the_problem(export_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not an image")
    exported = load_exported(export_dir)
    with pytest.raises(DatasetError, match=r"cannot read image .*broken\.png"):
        predict(exported, [tmp_path / "broken.png"])
    with pytest.raises(DatasetError, match="neither an image file nor a folder"):
        image_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        image_files(tmp_path / "empty")
    with pytest.raises(ConfigError, match=r"\.csv or \.json"):
        predictions_text([], ".txt")
    net = build_static(SPACE, ARCH, 10)
    export_model(net, ARCH, SPACE, 10, tmp_path / "old")
    with pytest.raises(ConfigError, match="does not record its preprocessing"):
        predict(load_exported(tmp_path / "old"), [tmp_path / "broken.png"])


def test_nas_predict_command_writes_no_run_directory(export_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    Image.fromarray(np.zeros((8, 8), dtype=np.uint8), mode="L").save(tmp_path / "zero.png")
    work = tmp_path / "cwd"
    work.mkdir()
    out = tmp_path / "p.csv"
    code = "from lamoo_nas.commands.predict import main; main()"
    args = [f"model={export_dir}", f"input={tmp_path / 'zero.png'}", "top_k=2", f"out={out}"]
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=work, capture_output=True, text=True,
        env={"PYTHONPATH": str(root), "PATH": ""}, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "zero.png: digit" in run.stdout
    assert len(out.read_text().splitlines()) == 3
    assert list(work.iterdir()) == []
