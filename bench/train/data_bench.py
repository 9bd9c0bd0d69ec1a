"""Training data throughput: the in-memory batched path vs today's per-image paths.

(a) Images/s of loading + augmenting the first ``--batches`` batches of a training epoch, as the
supernet trainer gets them from ``train.run.epoch_batches``, batch 128, one torch thread, on an
ImageFolder tree (e.g. the real CIFAR-10 copy):

- ``files``: ``in_memory=false``, a DataLoader (num_workers 0) decoding each file with PIL and
  augmenting it ImageNet-style (RandomResizedCrop + flip), today's ImageFolder path;
- ``per-image``: the same uint8 tensors the new path decodes, through the per-image
  ``TensorPipeline`` (pad-crop 4 + flip) in a DataLoader (num_workers 0), today's CIFAR path;
- ``in-memory``: ``in_memory=true``, whole batches cropped/flipped/normalised in one gather.

Target: in-memory >= 10x per-image. (b) The share of a supernet training step (the real
:class:`train.steps.SupernetStep`: sandwich sampling, in-place distillation, AdamW) spent
waiting for the next in-memory batch. Target <= 5 %. The "estimated" shares of the old paths
put their measured seconds per batch next to the same step's compute.

Writes ``bench/results/data.json`` and prints markdown tables.

Run: ``python -m bench.train.data_bench --root /tmp/cifar10 [--space nbmacro --steps 4]``
(``python ../shared/tools/cifar10_imagefolder.py /tmp/cifar10`` writes the tree).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lamoo_nas.runtime.data import DataBundle, DataConfig, build_data
from lamoo_nas.runtime.data._cache import cache_folders
from lamoo_nas.runtime.distributed import DistContext
from lamoo_nas.supernet import Supernet, load_space, resize_to
from lamoo_nas.train.distill import DistillConfig, StepLoss
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.optimisation import build_optimisation
from lamoo_nas.train.run import epoch_batches
from lamoo_nas.train.sampler import SamplerConfig, build_sampler
from lamoo_nas.train.steps import SupernetStep, TrainState

RESULTS = Path(__file__).resolve().parents[1] / "results" / "data.json"
BATCH = 128


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_s(bundle: DataBundle, num_batches: int, ctx: DistContext) -> dict[str, float]:
    """Loading + augmenting the first ``num_batches`` batches of epoch 0 (loader start included)."""
    batches, steps = epoch_batches(bundle, BATCH, seed=0, ctx=ctx)
    num_batches = min(num_batches, steps)
    _sync(ctx.device)
    start = time.perf_counter()
    seen = 0
    for i, (images, _) in enumerate(batches(0, 0)):
        seen += len(images)
        if i + 1 == num_batches:
            break
    _sync(ctx.device)
    seconds = time.perf_counter() - start
    return {
        "batches": num_batches,
        "images": seen,
        "seconds": round(seconds, 3),
        "img_per_s": round(seen / seconds, 1),
        "ms_per_batch": round(1000 * seconds / num_batches, 2),
    }


def median_round(rows: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median images/s."""
    return sorted(rows, key=lambda row: row["img_per_s"])[len(rows) // 2]


def make_step(space_name: str, bundle: DataBundle, ctx: DistContext) -> SupernetStep:
    space = load_space(space_name)
    model = Supernet(space, bundle.num_classes).to(ctx.device)
    optimisation = build_optimisation(
        model, OptimConfig(), ScheduleConfig(), 100, "none", ctx.device, ctx=ctx
    )
    return SupernetStep(
        model=model,
        optimisation=optimisation,
        ctx=ctx,
        sampler=build_sampler(SamplerConfig(), space),
        loss=StepLoss(DistillConfig()),
        arch_rng=np.random.default_rng(0),
        resize=resize_to,
    )


def wait_share(
    space_name: str, bundle: DataBundle, steps: int, warmup: int, ctx: DistContext
) -> dict[str, Any]:
    """Seconds waiting for each next batch vs seconds of the whole step (wait + run_step)."""
    step, state = make_step(space_name, bundle, ctx), TrainState()
    batches, _ = epoch_batches(bundle, BATCH, seed=0, ctx=ctx)
    stream: Iterator[tuple[Tensor, Tensor]] = iter(batches(0, 0))
    waits, computes, epoch_start_s = [], [], 0.0
    for i in range(warmup + steps):
        _sync(ctx.device)
        start = time.perf_counter()
        images, labels = next(stream)
        _sync(ctx.device)
        fetched = time.perf_counter()
        step(images, labels, state)
        _sync(ctx.device)
        if i == 0:
            epoch_start_s = fetched - start  # the epoch's order and augmentation draws
        if i >= warmup:
            waits.append(fetched - start)
            computes.append(time.perf_counter() - fetched)
    wait_s, compute_s = sum(waits), sum(computes)
    return {
        "space": space_name, "resolution": max(load_space(space_name).resolutions),
        "batch": BATCH, "steps": steps, "archs_per_step": 2 + SamplerConfig().num_random,
        "wait_ms": round(1000 * wait_s / steps, 2),
        "step_ms": round(1000 * (wait_s + compute_s) / steps, 1),
        "compute_ms_median": round(1000 * statistics.median(computes), 1),
        "wait_share": round(wait_s / (wait_s + compute_s), 5),
        "first_fetch_ms": round(1000 * epoch_start_s, 2),
    }  # fmt: skip


def markdown(loading: list[dict[str, Any]], share: dict[str, Any]) -> str:
    per_image = next(r for r in loading if r["path"] == "per-image")["img_per_s"]
    compute_ms = share["step_ms"] - share["wait_ms"]
    lines = [
        f"Loading + augmenting (batch {BATCH}, 1 thread):",
        "",
        "| path | batches | img/s | ms/batch | vs per-image | est. share of a step |",
        "|---|---|---|---|---|---|",
    ]
    for r in loading:
        est = r["ms_per_batch"] / (r["ms_per_batch"] + compute_ms)
        lines.append(
            f"| {r['path']} | {r['batches']} | {r['img_per_s']:,.0f} | {r['ms_per_batch']} | "
            f"{r['img_per_s'] / per_image:.1f}x | {100 * est:.2f} % |"
        )
    lines += [
        "",
        f"Supernet step ({share['space']}, res {share['resolution']}, batch {share['batch']}, "
        f"{share['archs_per_step']} archs/step, {share['steps']} steps), in-memory path:",
        "",
        "| wait for data ms | whole step ms | share waiting |",
        "|---|---|---|",
        f"| {share['wait_ms']} | {share['step_ms']} | {100 * share['wait_share']:.2f} % |",
        "",
        f"(once per epoch, the first batch waits {share['first_fetch_ms']} ms: the epoch's "
        "order and augmentation draws)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="ImageFolder root (train/ and val|test/)")
    parser.add_argument("--batches", type=int, default=20, help="batches timed per old path")
    parser.add_argument("--new-batches", type=int, default=200, help="batches timed, new path")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--space", default="nbmacro", help="space of the supernet step")
    parser.add_argument("--steps", type=int, default=4, help="supernet steps timed")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ctx = DistContext(device=torch.device(args.device))
    files_cfg = DataConfig(name="imagefolder", root=args.root, batch_size=BATCH, num_workers=0)
    memory_cfg = replace(files_cfg, in_memory=True)
    image_size = max(load_space(args.space).resolutions)
    cached_before = any(any(f.glob("*.pt")) for f in cache_folders(Path(args.root)))
    memory, first_build_s = timed(lambda: build_data(memory_cfg, image_size))
    _, warm_build_s = timed(lambda: build_data(memory_cfg, image_size))
    files = build_data(files_cfg, image_size)
    per_image = replace(memory, in_memory=False)  # same tensors, per-image pipeline
    paths = [("files", files, args.batches), ("per-image", per_image, args.batches),
             ("in-memory", memory, args.new_batches)]  # fmt: skip
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in paths}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every path alike
        for name, bundle, num_batches in paths:
            rounds[name].append(images_per_s(bundle, num_batches, ctx))
    loading = [{"path": name, **median_round(rows)} for name, rows in rounds.items()]
    share = wait_share(args.space, memory, args.steps, args.warmup, ctx)
    meta = {
        "root": args.root, "threads": args.threads, "device": args.device,
        "torch": torch.__version__, "train_images": len(memory.train),
        "first_build_s": round(first_build_s, 2), "warm_build_s": round(warm_build_s, 2),
        "cached_before": cached_before, "repeats": args.repeats,
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"meta": meta, "loading": loading, "step": share}, indent=2) + "\n"
    )
    print(markdown(loading, share))
    first = "from an existing cache" if cached_before else "decoding every file"
    print(
        f"\nin-memory build: {meta['first_build_s']} s first ({first}), "
        f"{meta['warm_build_s']} s from the cache; {meta['train_images']} train images"
    )


if __name__ == "__main__":
    main()
