"""``nas-import-ofa``: a published Once-for-All supernet as a supernet run directory.

Example (shell)::

    nas-import-ofa ofa_mbv3_d234_e346_k357_w1.0 run_dir=runs/ofa_w10 data.root=/data/imagenet
    nas-import-ofa checkpoint=ofa_mbv3_d234_e346_k357_w1.2 run_dir=runs/ofa_w12
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportOFASettings:
    """The settings of ``conf/import_ofa.yaml`` besides the ``data`` group, with their defaults
    (the YAML mirrors them).

    Example:
        >>> ImportOFASettings(checkpoint="ofa_mbv3_d234_e346_k357_w1.0").num_threads
        1
    """

    checkpoint: str  # the OFA file
    run_dir: str | None = None  # a new or empty folder; None: the Hydra run dir
    num_threads: int = 1


def checkpoint_argument(args: list[str]) -> list[str]:
    """A first argument that is not ``key=value`` (nor an option) is the checkpoint.

    Example:
        >>> checkpoint_argument(["ofa.pth", "run_dir=out"])
        ['checkpoint=ofa.pth', 'run_dir=out']
    """
    if args and "=" not in args[0] and not args[0].startswith("-"):
        return [f"checkpoint={args[0]}", *args[1:]]
    return args


def _task(cfg: Any) -> None:
    from lamoo_nas.commands.runner import plain_config, run_dir_for
    from lamoo_nas.runtime.data import DataConfig
    from lamoo_nas.runtime.schema import build
    from lamoo_nas.train.ofa_import import import_ofa

    plain = plain_config(cfg)
    settings = build(ImportOFASettings, {k: v for k, v in plain.items() if k != "data"}, "")
    data = build(DataConfig, plain.get("data"), "data")
    run = import_ofa(settings.checkpoint, run_dir_for(cfg), data, plain)
    print(
        f"imported {run.variant} ({run.num_classes} classes) as space {run.space.name!r}: "
        f"{run.checkpoint}\nnext: nas-search supernet={run.run_dir} budget.macs=600e6"
        + ("" if data.root else " +data.root=/path/to/imagenet")
    )


def main() -> None:
    """``nas-import-ofa CHECKPOINT [run_dir=...] [data.root=...]``."""
    from lamoo_nas.commands.runner import run_cli

    sys.argv[1:] = checkpoint_argument(sys.argv[1:])
    run_cli("import_ofa", _task)


if __name__ == "__main__":
    main()
