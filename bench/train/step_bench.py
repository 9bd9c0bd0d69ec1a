"""One training step of the largest arch through the supernet vs its extracted static net.

The step is the one supernet training makes (timm AdamW without decay on norms/biases, label
smoothing loss, forward + backward + optimizer step), on the same batch, per preset. Target on
CPU: supernet step <= 1.10x the static step. Writes ``bench/results/train_step.json`` and
prints a markdown table.

Run: ``python -m bench.train.step_bench [--steps 15 --threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from lamoo_nas.supernet import Supernet, load_space, resize_to
from lamoo_nas.train.distill import DistillConfig, StepLoss
from lamoo_nas.train.optim import OptimConfig, build_optimizer

# preset -> (resolution, batch size); ofa_mbv3 at res 128 with a small batch to stay quick.
PRESETS: dict[str, tuple[int | None, int]] = {
    "tiny": (None, 64),
    "cifar": (None, 16),
    "ofa_mbv3": (128, 8),
}
RESULTS = Path(__file__).resolve().parents[1] / "results" / "train_step.json"


def make_step(model: nn.Module, forward: Callable[[Tensor], Tensor], x: Tensor, y: Tensor):
    optimizer = build_optimizer(model, OptimConfig(name="adamw", lr=1e-4))
    loss_fn = StepLoss(DistillConfig())

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn.teacher_loss(forward(x), y).backward()
        optimizer.step()

    return step


def median_ms(step: Callable[[], None], steps: int) -> float:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_preset(name: str, steps: int) -> dict[str, float | int | str]:
    resolution, batch = PRESETS[name]
    space = load_space(name)
    arch = space.largest()
    if resolution is not None:
        arch = type(arch)(resolution, arch.stages)
    torch.manual_seed(0)
    supernet = Supernet(space, 10).train()
    static = supernet.extract(arch).train()
    gen = torch.Generator().manual_seed(0)
    x = resize_to(
        torch.randn(batch, 3, arch.resolution, arch.resolution, generator=gen), arch.resolution
    )
    y = torch.randint(0, 10, (batch,), generator=gen)
    super_step = make_step(supernet, lambda t: supernet(t, arch), x, y)
    static_step = make_step(static, static, x, y)
    for _ in range(3):
        super_step()
        static_step()
    super_ms, static_ms = [], []
    for _ in range(3):  # interleave so machine noise hits both alike
        super_ms.append(median_ms(super_step, max(1, steps // 3)))
        static_ms.append(median_ms(static_step, max(1, steps // 3)))
    s, t = statistics.median(super_ms), statistics.median(static_ms)
    return {
        "space": name, "resolution": arch.resolution, "batch": batch,
        "supernet_ms": round(s, 2), "static_ms": round(t, 2), "ratio": round(s / t, 3),
        "supernet_img_per_s": round(1000 * batch / s, 1),
        "static_img_per_s": round(1000 * batch / t, 1),
    }  # fmt: skip


def markdown(rows: list[dict[str, float | int | str]]) -> str:
    lines = [
        "| space | res | batch | supernet ms | static ms | ratio | supernet img/s | static img/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['space']} | {r['resolution']} | {r['batch']} | {r['supernet_ms']} | "
            f"{r['static_ms']} | {r['ratio']}x | {r['supernet_img_per_s']} | "
            f"{r['static_img_per_s']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [bench_preset(name, args.steps) for name in args.presets]
    meta = {"threads": args.threads, "steps": args.steps, "torch": torch.__version__}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
