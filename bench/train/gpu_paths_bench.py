"""The training steps under the GPU switches: eager fp32 vs ``torch.compile`` vs bf16 autocast vs
channels-last (and fp16 with loss scaling on CUDA), per preset, in one run.

Each mode runs the project's own steps (:class:`train.steps.SupernetStep` and
:class:`train.steps.StaticStep`, built with :func:`train.optimisation.build_optimisation`) the
way a run with ``amp=``, ``channels_last=`` or ``compile=`` builds them: the largest
architecture of the preset at its largest resolution, through the supernet and through its
extracted static network, on the same random batch. The supernet step trains one fixed
architecture here, so the compiled forward compiles once (a sampled architecture per step
recompiles, see docs/gpu-paths.md). The first step of each mode is timed on its own
(``first_step_s``: the compile for ``compiled``); the steady steps after a warm-up are timed in
interleaved rounds so machine noise hits every mode alike, and reported as the median ms, img/s
and the ratio to eager fp32 (below 1: faster than eager).

Writes ``bench/results/gpu_paths_<device>.json`` (after every preset, so a cut run keeps what it
measured) and prints a Markdown table.

Run: ``python -m bench.train.gpu_paths_bench [--device cpu --threads 1 --presets tiny cifar
nbmacro --modes eager compiled bf16 channels_last]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lamoo_nas.runtime.distributed import DistContext
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.supernet import ArchConfig, Supernet, load_space, resize_to
from lamoo_nas.train.distill import DistillConfig, StepLoss
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.optimisation import build_optimisation
from lamoo_nas.train.recipes import RetrainLoss
from lamoo_nas.train.sampler import StepArch
from lamoo_nas.train.steps import StaticStep, SupernetStep, TrainState


@dataclass(frozen=True)
class Mode:
    """One combination of the run options ``amp``, ``channels_last`` and ``compile``."""

    amp: str = "none"
    channels_last: bool = False
    compile: bool = False


MODES: dict[str, Mode] = {
    "eager": Mode(),
    "compiled": Mode(compile=True),
    "bf16": Mode(amp="bf16"),
    "channels_last": Mode(channels_last=True),
    "fp16": Mode(amp="fp16"),  # CUDA only: autocast fp16 with a GradScaler
    "all": Mode(amp="bf16", channels_last=True, compile=True),
}
CPU_MODES = ("eager", "compiled", "bf16", "channels_last")
PRESETS: dict[str, int] = {"tiny": 64, "cifar": 16, "nbmacro": 16}
"""Preset -> batch size on CPU (each at its largest resolution: tiny 20, cifar and nbmacro 32)."""
KINDS = ("supernet", "static")
RESULTS = Path(__file__).resolve().parents[1] / "results"


class FixedSampler:
    """Trains one architecture every step (the supernet step of the benchmark)."""

    def __init__(self, arch: ArchConfig) -> None:
        self.arch = arch

    def sample(self, rng: np.random.Generator) -> list[StepArch]:
        return [StepArch(self.arch, is_teacher=True)]


def build_step(
    kind: str, supernet: Supernet, arch: ArchConfig, mode: Mode, device: torch.device
) -> SupernetStep | StaticStep:
    """The ``kind`` (``supernet`` or ``static``) step of ``arch`` under ``mode`` on ``device``,
    on a copy of ``supernet``'s weights (every mode starts from the same ones)."""
    model: nn.Module = supernet.extract(arch) if kind == "static" else _copy(supernet)
    model.to(device)
    if mode.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimisation = build_optimisation(
        model,
        OptimConfig(name="adamw", lr=1e-4),
        ScheduleConfig(epochs=1, warmup_epochs=0),
        steps_per_epoch=1_000_000,
        amp=mode.amp,
        device=device,
    )
    ctx = DistContext(device=device)
    forward = torch.compile(model) if mode.compile else None
    if kind == "static":
        return StaticStep(
            model, optimisation, ctx, mode.channels_last, loss=RetrainLoss(0.1), forward=forward
        )
    return SupernetStep(
        model,
        optimisation,
        ctx,
        mode.channels_last,
        sampler=FixedSampler(arch),
        loss=StepLoss(DistillConfig()),
        arch_rng=np.random.default_rng(0),
        resize=resize_to,
        forward=forward,
    )


def _copy(supernet: Supernet) -> Supernet:
    twin = Supernet(supernet.space, supernet.num_classes)
    twin.load_state_dict(supernet.state_dict())
    return twin.train()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call: Callable[[], Any], device: torch.device) -> float:
    start = time.perf_counter()
    call()
    _sync(device)
    return time.perf_counter() - start


def bench_preset(
    name: str,
    modes: list[str],
    device: torch.device,
    batch: int,
    steps: int,
    rounds: int,
    kinds: tuple[str, ...] = KINDS,
) -> list[dict[str, Any]]:
    """Rows (one per step kind and mode) of preset ``name``."""
    space = load_space(name)
    arch = space.largest()
    torch.manual_seed(0)
    supernet = Supernet(space, 10).train()
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, arch.resolution, arch.resolution, generator=gen)
    labels = torch.randint(0, 10, (batch,), generator=gen)
    rows = []
    for kind in kinds:
        built = {m: build_step(kind, supernet, arch, MODES[m], device) for m in modes}
        state = {m: TrainState() for m in modes}

        def run(m: str) -> float:
            return built[m](images, labels, state[m]).loss  # noqa: B023

        first_s = {m: _timed(partial(run, m), device) for m in modes}
        losses = {m: run(m) for m in modes}  # one more warm-up step
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(rounds):
            for m in modes:
                times[m].append(
                    statistics.median(_timed(partial(run, m), device) for _ in range(steps))
                )
        eager_ms = 1000 * statistics.median(times[modes[0]])
        for m in modes:
            ms = 1000 * statistics.median(times[m])
            rows.append(
                {
                    "space": name, "step": kind, "mode": m, **dataclasses.asdict(MODES[m]),
                    "resolution": arch.resolution, "batch": batch, "ms": round(ms, 2),
                    "img_per_s": round(1000 * batch / ms, 1),
                    f"ratio_to_{modes[0]}": round(ms / eager_ms, 3),
                    "first_step_s": round(first_s[m], 2), "loss": round(losses[m], 4),
                }
            )  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table of ``rows``: one line per preset, step and mode."""
    base = next((k for k in rows[0] if k.startswith("ratio_to_")), "ratio") if rows else ""
    lines = [
        f"| space | res | batch | step | mode | ms | img/s | {base.replace('_', ' ')} | "
        "first step s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['space']} | {r['resolution']} | {r['batch']} | {r['step']} | {r['mode']} | "
            f"{r['ms']} | {r['img_per_s']} | {r[base]}x | {r['first_step_s']} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench/gpu/check.py checks its arguments against it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument(
        "--modes", nargs="+", default=None, choices=list(MODES),
        help=f"the first is the baseline of the ratios (default on CPU: {' '.join(CPU_MODES)})",
    )  # fmt: skip
    parser.add_argument("--batch-scale", type=int, default=1, help="multiplies every batch")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--out", type=Path, default=None, help="the JSON results file")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    args.modes = args.modes or list(CPU_MODES)
    if device.type != "cuda" and "fp16" in args.modes:
        parser.error("--modes fp16 needs a CUDA device (--device cuda); use bf16 on CPU")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no CUDA device; use --device cpu")
    args.out = args.out or RESULTS / f"gpu_paths_{device.type}.json"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    meta = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "steps": args.steps, "rounds": args.rounds,
        "torch": torch.__version__, "modes": args.modes,
    }  # fmt: skip
    rows: list[dict[str, Any]] = []
    for name in args.presets:
        batch = PRESETS[name] * args.batch_scale
        rows += bench_preset(
            name, args.modes, device, batch, args.steps, args.rounds, tuple(args.kinds)
        )
        atomic_write_text(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        print(f"{name} done", flush=True)
    print(markdown(rows))


if __name__ == "__main__":
    main()
