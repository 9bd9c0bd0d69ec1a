"""Forward+backward time of the largest subnet: through the supernet vs its extracted net.

Run: ``python -m bench.supernet.step_bench [--space tiny --batch 64 --steps 30]``.
Prints the median step time of both and their ratio (target: supernet <= 1.10x static).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from lamoo_nas.supernet import Supernet, load_space


def time_alternating(
    steps: dict[str, Callable[[], None]], rounds: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each step, alternating them so machine load hits both alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def train_step(
    model: Callable[[Tensor], Tensor], params: list[nn.Parameter], x: Tensor, y: Tensor
) -> Callable[[], None]:
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def compare(space_name: str, batch: int, steps: int, num_classes: int = 10) -> dict[str, float]:
    """Median step times (ms) of the largest arch through the supernet and as a static net."""
    space = load_space(space_name)
    arch = space.largest()
    supernet = Supernet(space, num_classes).train()
    static = supernet.extract(arch).train()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, arch.resolution, arch.resolution, generator=gen)
    y = torch.randint(0, num_classes, (batch,), generator=gen)
    super_step = train_step(lambda t: supernet(t, arch), list(supernet.parameters()), x, y)
    static_step = train_step(static, list(static.parameters()), x, y)
    times = time_alternating({"supernet": super_step, "static": static_step}, steps)
    super_ms = 1000 * statistics.median(times["supernet"])
    static_ms = 1000 * statistics.median(times["static"])
    return {"supernet_ms": super_ms, "static_ms": static_ms, "ratio": super_ms / static_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="tiny")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = compare(args.space, args.batch, args.steps)
    print(
        f"{args.space} largest, batch {args.batch}: supernet {result['supernet_ms']:.2f} ms, "
        f"static {result['static_ms']:.2f} ms, ratio {result['ratio']:.3f}"
    )


if __name__ == "__main__":
    main()
