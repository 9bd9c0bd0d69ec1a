"""A short supernet run on the real CIFAR-10 copy (ImageFolder layout), for per-epoch numbers.

Prepare the data once (writes ~60k JPEGs in a few seconds)::

    python /work/shared/tools/cifar10_imagefolder.py /tmp/cifar10

then run (nice'd; defaults keep it to a few minutes on CPU)::

    python -m bench.train.cifar_supernet --root /tmp/cifar10 --images 2000 --epochs 3

It is the plain CLI with these overrides (prints the command and forwards extra overrides)::

    nas-train-supernet data=imagefolder data.root=/tmp/cifar10 space=cifar \
        data.max_train_images=2000 schedule.epochs=3 data.num_workers=0 progress=false
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def command(root: Path, images: int, epochs: int, run_dir: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "lamoo_nas.commands.train_supernet", "data=imagefolder",
        f"data.root={root}",
        "space=cifar", f"data.max_train_images={images}", f"schedule.epochs={epochs}",
        "schedule.warmup_epochs=0.5", "data.num_workers=0", "data.calib_images=500",
        "progress=false", f"run_dir={run_dir}", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--images", type=int, default=2000, help="data.max_train_images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--run-dir", type=Path, default=Path("outputs/bench_cifar_supernet"))
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    if not (args.root / "train").is_dir():
        sys.exit(
            f"no ImageFolder tree at {args.root}; make one with "
            f"`python /work/shared/tools/cifar10_imagefolder.py {args.root}`"
        )
    cmd = command(args.root, args.images, args.epochs, args.run_dir, args.overrides)
    print("$", " ".join(cmd), flush=True)
    nice = os.nice(0) if hasattr(os, "nice") else 0
    if nice < 10 and hasattr(os, "nice"):
        os.nice(10 - nice)
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
