"""``nas-predict`` / ``python -m lamoo_nas.commands.predict``: run an exported model on image
files (``conf/predict.yaml``); the work itself is :func:`evaluate.predict.predict`.

Example (shell)::

    nas-predict model=outputs/retrain/RUN/export input=cat.png top_k=3 out=top3.csv
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamoo_nas.evaluate.predict import format_predictions, image_files, predict, predictions_text


@dataclass(frozen=True)
class PredictSettings:
    """The settings of ``conf/predict.yaml`` with their defaults (the YAML mirrors them).

    Example:
        >>> PredictSettings(model="export", input="cat.png").top_k
        5
    """

    model: str  # an export folder or its model.pt
    input: str  # an image file, or a folder searched recursively for images
    top_k: int = 5
    out: str | None = None  # also write the predictions: .csv or .json
    device: str = "cpu"
    num_threads: int | None = 1


def _task(cfg: Any) -> None:
    from lamoo_nas.commands.runner import plain_config
    from lamoo_nas.evaluate.load import load_exported
    from lamoo_nas.runtime.distributed import pick_device
    from lamoo_nas.runtime.io import atomic_write_text
    from lamoo_nas.runtime.schema import build

    settings = build(PredictSettings, plain_config(cfg), "")
    exported = load_exported(settings.model, map_location=pick_device(settings.device))
    predictions = predict(exported, image_files(settings.input), settings.top_k)
    print(format_predictions(predictions))
    if settings.out:
        out = Path(settings.out)
        atomic_write_text(out, predictions_text(predictions, out.suffix.lower()))
        print(f"written: {out}")


def main() -> None:
    """``nas-predict model=EXPORT input=IMAGE_OR_FOLDER [top_k=5] [out=FILE.csv]``."""
    from lamoo_nas.commands.runner import run_cli

    run_cli("predict", _task)


if __name__ == "__main__":
    main()
