"""Fine-tuning a trained supernet on other classes (``init_from=``) vs training it from scratch.

A proxy for "fine-tune the imported Once-for-All supernet on your data", which needs OFA's
weights (a download this benchmark does not make): a supernet is pre-trained on six CIFAR-10
classes (airplane, automobile, bird, cat, deer, dog), then trained on the other four (frog,
horse, ship, truck) with the same short schedule twice per seed, once starting from the
pre-trained weights with a re-created 4-way classifier (``init_from=PRETRAINED``) and once
from scratch. Scored: inherited accuracy after BN recalibration of the smallest, the fixed
middle and the largest subnet on the four classes' official test images (4,000, never used
for training or validation), and the per-epoch validation accuracy the runs log.

Every run is the real command (printed), e.g. the fine-tune::

    nas-train-supernet space=tiny data=imagefolder data.root=WORK/target data.in_memory=true \\
        init_from=WORK/pretrain schedule.epochs=4 data.max_train_images=4000 seed=0 ...

Example (shell; the real CIFAR-10 copy first)::

    python /work/shared/tools/cifar10_imagefolder.py /tmp/cifar10
    python -m bench.train.finetune_transfer --root /tmp/cifar10

Writes ``bench/results/finetune_transfer.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "finetune_transfer.json"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SOURCE, TARGET = CLASSES[:6], CLASSES[6:]
ARCHS = ("smallest", "middle", "largest")


def split_tree(root: Path, work: Path, name: str, classes: tuple[str, ...]) -> Path:
    """``work/name/{train,test}/<class>``: symlinks to the class folders of ``root``."""
    tree = work / name
    for split in ("train", "test"):
        (tree / split).mkdir(parents=True, exist_ok=True)
        for cls in classes:
            link = tree / split / cls
            if not link.exists():
                link.symlink_to((root / split / cls).resolve(), target_is_directory=True)
    return tree


def train_command(data_root: Path, run_dir: Path, images: int, epochs: int, seed: int,
                  space: str, extra: list[str]) -> list[str]:  # fmt: skip
    return [
        sys.executable, "-m", "lamoo_nas.commands.train_supernet", f"space={space}",
        "data=imagefolder",
        f"data.root={data_root}", "data.in_memory=true", f"data.max_train_images={images}",
        "data.num_workers=0", "data.calib_images=500", "data.val_fraction=0.1",
        f"schedule.epochs={epochs}", "schedule.warmup_epochs=0.5", f"seed={seed}",
        "progress=false", "tensorboard=false", f"run_dir={run_dir}", f"hydra.run.dir={run_dir}",
        *extra,
    ]  # fmt: skip


def run(cmd: list[str]) -> float:
    """Run ``cmd`` (printed first); returns its wall time in seconds."""
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - start


def test_accuracies(run_dir: Path, calib_images: int) -> dict[str, float]:
    """Inherited test top-1 of the smallest, middle and largest subnet (BN recalibrated on
    ``calib_images`` training images)."""
    from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
    from lamoo_nas.runtime.data import build_data
    from lamoo_nas.train.checkpoint import load_supernet, read_checkpoint

    loaded = load_supernet(run_dir)
    space = loaded.space
    middle = space.arch_from_json(read_checkpoint(loaded.path)["middle_arch"])
    bundle = build_data(loaded.data_config, image_size=max(space.resolutions))
    evaluator = InheritedAccuracyEvaluator(
        loaded.model,
        bundle.eval_loader("calib", 500),
        bundle.eval_loader("test", 500),
        calib_images,
    )
    archs = {"smallest": space.smallest(), "middle": middle, "largest": space.largest()}
    scores = evaluator.accuracy(list(archs.values()))
    return {name: float(score) for name, score in zip(archs, scores)}


def val_curve(run_dir: Path) -> list[dict[str, float]]:
    """The per-epoch validation accuracies the run logged."""
    from lamoo_nas.train.logs import read_metrics

    keys = [f"val_acc_{name}" for name in ARCHS]
    return [{k: float(row[k]) for k in keys if row.get(k) not in (None, "")}
            for row in read_metrics(run_dir)]  # fmt: skip


def table(result: dict[str, Any]) -> str:
    lines = [
        "| start | seeds | test top-1 smallest | middle | largest | val. largest per epoch |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for start in ("pretrained", "scratch"):
        runs = [r for r in result["runs"] if r["start"] == start]
        cells = []
        for name in ARCHS:
            values = [100 * r["test"][name] for r in runs]
            spread = f" ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.1f} %{spread}")
        curves = [[100 * e["val_acc_largest"] for e in r["val"]] for r in runs]
        mean_curve = " / ".join(f"{statistics.mean(c):.1f}" for c in zip(*curves))
        label = "init_from (pre-trained, new classifier)" if start == "pretrained" else "scratch"
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {mean_curve} |")
    pre = result["pretrain"]
    lines.append(
        f"\npre-training on {len(SOURCE)} classes: {pre['images']} images x {pre['epochs']} "
        f"epochs, {pre['wall_s']:.0f} s; each target run: {result['target']['images']} images x "
        f"{result['target']['epochs']} epochs (mean {result['target']['mean_wall_s']:.0f} s)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench_finetune_transfer")
    parser.add_argument("--space", default="tiny")
    parser.add_argument("--pretrain-images", type=int, default=18000)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--target-images", type=int, default=4000)
    parser.add_argument("--target-epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--calib-images", type=int, default=500)
    args = parser.parse_args()
    if not all((args.root / split / CLASSES[0]).is_dir() for split in ("train", "test")):
        sys.exit(
            f"no CIFAR-10 ImageFolder tree at {args.root}; make one with "
            f"`python /work/shared/tools/cifar10_imagefolder.py {args.root}`"
        )
    work = args.work
    if work.exists() and any(work.glob("*/run.json")):
        sys.exit(f"{work} holds runs of an earlier benchmark; remove it or give --work")
    source = split_tree(args.root, work / "data", "source", SOURCE)
    target = split_tree(args.root, work / "data", "target", TARGET)
    pretrain_dir = work / "pretrain"
    pre_wall = run(train_command(source, pretrain_dir, args.pretrain_images,
                                 args.pretrain_epochs, 0, args.space, []))  # fmt: skip
    runs = []
    for seed in args.seeds:
        for start, extra in (("pretrained", [f"init_from={pretrain_dir}"]), ("scratch", [])):
            run_dir = work / f"{start}_seed{seed}"
            cmd = train_command(target, run_dir, args.target_images, args.target_epochs, seed,
                                args.space, extra)  # fmt: skip
            wall = run(cmd)
            runs.append({
                "start": start, "seed": seed, "wall_s": wall, "run_dir": str(run_dir),
                "test": test_accuracies(run_dir, args.calib_images), "val": val_curve(run_dir),
                "command": " ".join(cmd[2:]),
            })  # fmt: skip
            print(json.dumps(runs[-1]["test"]), flush=True)
    pretrain = {"images": args.pretrain_images, "epochs": args.pretrain_epochs, "wall_s": pre_wall,
                "test": test_accuracies(pretrain_dir, args.calib_images),
                "val": val_curve(pretrain_dir)}  # fmt: skip
    walls = [r["wall_s"] for r in runs]
    target = {"images": args.target_images, "epochs": args.target_epochs,
              "mean_wall_s": statistics.mean(walls)}  # fmt: skip
    result = {
        "benchmark": "finetune_transfer",
        "note": "proxy for fine-tuning OFA's weights (not downloadable here): pre-trained on "
        "CIFAR-10 classes 0-5, fine-tuned vs from scratch on classes 6-9",
        "space": args.space,
        "source_classes": list(SOURCE),
        "target_classes": list(TARGET),
        "pretrain": pretrain,
        "target": target,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
