"""``nas-latency-table``: build (or complete) a space's per-block latency table.

Example (shell)::

    nas-latency-table space=cifar out=latency/cifar_cpu_t1.jsonl repeats=50
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LatencyTableSettings:
    """The settings of ``conf/latency_table.yaml`` besides the ``space`` group, with their
    defaults (the YAML mirrors them). ``device`` is a torch device or ``onnxruntime``.

    Example:
        >>> LatencyTableSettings(out="table.jsonl").rounds
        3
    """

    out: str  # the table file (JSON lines)
    num_classes: int = 10  # the classifier's width in the head's entry
    device: str = "cpu"
    batch_size: int = 1
    num_threads: int = 1
    warmup: int = 5  # untimed runs per block and round
    repeats: int = 20  # timed runs per block and round
    rounds: int = 3  # passes over all blocks; an entry is the median of its rounds
    max_keys: int | None = None  # stop after this many new measurements; None: all
    progress: bool = True


def _task(cfg: Any) -> None:
    from lamoo_nas.commands.runner import plain_config
    from lamoo_nas.evaluate.latency_keys import all_latency_keys
    from lamoo_nas.evaluate.latency_table import build_latency_table
    from lamoo_nas.runtime.schema import build
    from lamoo_nas.supernet.space import SearchSpace

    plain = plain_config(cfg)
    space = SearchSpace.from_dict(plain.pop("space"))
    settings = build(LatencyTableSettings, plain, "")
    runtime = "onnxruntime" if settings.device == "onnxruntime" else "torch"
    table = build_latency_table(
        space, settings.num_classes, settings.out,
        device="cpu" if runtime == "onnxruntime" else settings.device, runtime=runtime,
        batch_size=settings.batch_size, num_threads=settings.num_threads,
        warmup=settings.warmup, repeats=settings.repeats, rounds=settings.rounds,
        max_keys=settings.max_keys, progress=settings.progress,
    )  # fmt: skip
    total, rounds = len(all_latency_keys(space)), settings.rounds
    done = sum(min(len(ms), rounds) for ms in table.rounds_ms.values())
    header = table.header
    print(f"{table.path}: {len(table)} of {total} blocks of space {space.name!r} measured, "
          f"{done} of {total * rounds} block-rounds ({header['device']}, {runtime}, "
          f"{header['num_threads']} thread(s), batch {header['batch_size']})")  # fmt: skip


def main() -> None:
    """``nas-latency-table space=NAME out=PATH [device=cpu] [num_threads=1] [repeats=50]``."""
    from lamoo_nas.commands.runner import run_cli

    run_cli("latency_table", _task)


if __name__ == "__main__":
    main()
