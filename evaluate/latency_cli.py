"""``nas-latency-table``: build (or complete) a space's per-block latency table.

Example (shell)::

    nas-latency-table space=cifar out=latency/cifar_cpu_t1.jsonl repeats=50
"""

from __future__ import annotations

from typing import Any

SETTING_TYPES: dict[str, Any] = {
    "out": str, "num_classes": int, "device": str, "batch_size": int, "num_threads": int,
    "warmup": int, "repeats": int, "rounds": int, "max_keys": int | None, "progress": bool,
}  # fmt: skip


def _task(cfg: Any) -> None:
    from lamoo_nas.evaluate.latency_keys import all_latency_keys
    from lamoo_nas.evaluate.latency_table import build_latency_table
    from lamoo_nas.supernet.space import SearchSpace
    from lamoo_nas.train.cli import plain_config
    from lamoo_nas.train.schema import check_types

    plain = plain_config(cfg)
    check_types(plain, SETTING_TYPES)
    space = SearchSpace.from_dict(plain["space"])
    device = str(plain["device"])
    runtime = "onnxruntime" if device == "onnxruntime" else "torch"
    table = build_latency_table(
        space, int(plain["num_classes"]), str(plain["out"]),
        device="cpu" if runtime == "onnxruntime" else device, runtime=runtime,
        batch_size=int(plain["batch_size"]), num_threads=int(plain["num_threads"]),
        warmup=int(plain["warmup"]), repeats=int(plain["repeats"]), rounds=int(plain["rounds"]),
        max_keys=plain["max_keys"], progress=bool(plain["progress"]),
    )  # fmt: skip
    total, rounds = len(all_latency_keys(space)), int(plain["rounds"])
    done = sum(min(len(ms), rounds) for ms in table.rounds_ms.values())
    header = table.header
    print(f"{table.path}: {len(table)} of {total} blocks of space {space.name!r} measured, "
          f"{done} of {total * rounds} block-rounds ({header['device']}, {runtime}, "
          f"{header['num_threads']} thread(s), batch {header['batch_size']})")  # fmt: skip


def main() -> None:
    """``nas-latency-table space=NAME out=PATH [device=cpu] [num_threads=1] [repeats=50]``."""
    from lamoo_nas.train.cli import run_cli

    run_cli("latency_table", _task)


if __name__ == "__main__":
    main()
