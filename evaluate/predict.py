"""Run an exported model on image files with the preprocessing its export records.

:func:`predict` reads each image with PIL, applies the export's ``preprocessing`` (colour mode,
antialiased resize of the shorter side, centre crop, scaling, mean/std) and returns the top-k
classes by softmax probability. The command ``nas-predict model=EXPORT input=IMAGE_OR_FOLDER``
(:mod:`commands.predict`) prints them and, with ``out=FILE.csv`` or ``.json``, writes them.

Example:
    >>> exported = load_exported("outputs/retrain/RUN/export")  # doctest: +SKIP
    >>> predict(exported, [Path("cat.png")], top_k=3)[0].top[0]  # doctest: +SKIP
    ('cat', 0.91)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lamoo_nas.evaluate.load import ExportedModel
from lamoo_nas.supernet.errors import ConfigError, DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


@dataclass(frozen=True)
class Prediction:
    """The ``top`` ``(class name, probability)`` pairs for the image at ``path``."""

    path: str
    top: list[tuple[str, float]]


def image_files(path: str | Path) -> list[Path]:
    """``path`` itself, or the image files below the folder ``path`` (sorted, recursive)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"input={path} is neither an image file nor a folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"input={path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def preprocess(path: Path, spec: Mapping[str, Any]) -> Tensor:
    """One image file -> the normalised ``[3, S, S]`` input ``spec`` describes."""
    import torchvision.transforms.functional as tvf
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as handle:
            image = handle.convert(str(spec["color"]))
    except (OSError, UnidentifiedImageError) as err:
        raise DatasetError(f"cannot read image {path}: {err}") from err
    image = tvf.resize(image, [int(spec["resize_shorter_side"])], antialias=True)
    crop = int(spec["center_crop"])
    image = tvf.center_crop(image, [crop, crop])
    x = tvf.pil_to_tensor(image).float() * float(spec["scale"])
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    mean = torch.tensor(spec["mean"], dtype=x.dtype).view(3, 1, 1)
    std = torch.tensor(spec["std"], dtype=x.dtype).view(3, 1, 1)
    return (x - mean) / std


def predict(
    exported: ExportedModel, paths: Sequence[Path], top_k: int = 5, batch_size: int = 64
) -> list[Prediction]:
    """Top-``top_k`` classes of each image (see the module docstring)."""
    spec = exported.preprocessing
    if spec is None:
        raise ConfigError(
            f"{exported.path} does not record its preprocessing (an export of an older "
            "version); re-export it with nas-retrain, or feed the model tensors yourself"
        )
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    names = list(spec["class_names"])
    k = min(top_k, len(names))
    out: list[Prediction] = []
    model = exported.model.eval()
    device = next(model.parameters()).device
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        batch = torch.stack([preprocess(p, spec) for p in chunk]).to(device)
        with torch.no_grad():
            probs = torch.softmax(model(batch), dim=1)
        values, indices = probs.topk(k, dim=1)
        for path, v, i in zip(chunk, values.tolist(), indices.tolist()):
            out.append(Prediction(str(path), [(names[c], float(p)) for c, p in zip(i, v)]))
    return out


def format_predictions(predictions: Sequence[Prediction]) -> str:
    """One line per image: ``path: class (probability), ...``."""
    return "\n".join(
        f"{p.path}: " + ", ".join(f"{name} ({prob:.3f})" for name, prob in p.top)
        for p in predictions
    )


def predictions_text(predictions: Sequence[Prediction], suffix: str) -> str:
    """CSV (``path, rank, class, probability`` rows) or JSON, by the file suffix."""
    if suffix == ".json":
        rows = [{"path": p.path, "top": [{"class": n, "probability": v} for n, v in p.top]}
                for p in predictions]  # fmt: skip
        return json.dumps(rows, indent=1) + "\n"
    if suffix != ".csv":
        raise ConfigError(f"out= must end in .csv or .json, got {suffix!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "rank", "class", "probability"])
    for p in predictions:
        for rank, (name, prob) in enumerate(p.top, start=1):
            writer.writerow([p.path, rank, name, f"{prob:.6f}"])
    return buffer.getvalue()


if __name__ == "__main__":  # the command moved in the floor-plan release
    raise SystemExit(
        "error: lamoo_nas.evaluate.predict is a library module now; the command is "
        "'nas-predict' (python -m lamoo_nas.commands.predict)"
    )
