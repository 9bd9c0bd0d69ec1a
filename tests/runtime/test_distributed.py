"""Two CPU processes over gloo: identical weights on both ranks, rank 1 writes nothing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.train._supernet_config import TINY_OVERRIDES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, out_dir: str, sync_bn: bool) -> None:
    from hydra import compose, initialize_config_module

    from lamoo_nas.commands.train_supernet import run

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    overrides = [
        *TINY_OVERRIDES, "schedule.epochs=1", "eval.every_epochs=1", "device=cpu",
        f"run_dir={Path(out_dir) / f'rank{rank}'}", f"sync_bn={str(sync_bn).lower()}",
    ]  # fmt: skip
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose("train_supernet", overrides=overrides)
    summary = run(cfg)
    torch.save(summary.model.state_dict(), Path(out_dir) / f"weights{rank}.pt")


@pytest.mark.parametrize(
    "sync_bn",
    [
        pytest.param(False, id="per-rank-bn", marks=pytest.mark.slow),
        pytest.param(True, id="sync-bn"),
    ],
)  # per-rank BN under -m slow: the sync-bn case runs the same two-rank path
def test_two_gloo_ranks_end_identical_and_only_rank0_writes(tmp_path, sync_bn):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), sync_bn), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "weights0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for name in w0:
        assert torch.equal(w0[name], w1[name]), name
    assert (tmp_path / "rank0" / "final.pt").is_file()
    assert (tmp_path / "rank0" / "metrics.csv").is_file()
    assert not (tmp_path / "rank1").exists() or not any((tmp_path / "rank1").iterdir())
    ckpt = torch.load(tmp_path / "rank0" / "final.pt", weights_only=True)
    assert ckpt["step"] == (96 // 2) // 16
    assert all(torch.equal(ckpt["model"][k], w0[k]) for k in w0)
