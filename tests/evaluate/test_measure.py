"""The measurements behind nas-evaluate, called directly (no Hydra)."""

from __future__ import annotations

import pytest
import torch

from lamoo_nas.evaluate.measure import LatencyOptions, _first_images, evaluate_network
from lamoo_nas.supernet import build_static, resize_to
from lamoo_nas.supernet.errors import ConfigError


def test_network_accuracy_is_a_top_k_count(tiny_space, digits) -> None:
    arch = tiny_space.smallest()
    torch.manual_seed(0)
    net = build_static(tiny_space, arch, 10).eval()
    loader = [(resize_to(x, arch.resolution), y) for x, y in digits.eval_loader("val", 50)]
    metrics = evaluate_network(net, arch, tiny_space, 10, loader, torch.device("cpu"),
                               LatencyOptions(warmup=1, repeats=2))  # fmt: skip
    with torch.no_grad():
        logits = torch.cat([net(x) for x, _ in loader])
    labels = torch.cat([y for _, y in loader])
    top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item()
    assert metrics["num_images"] == len(labels)
    assert metrics["top1"] == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    assert metrics["top5"] == pytest.approx(top5) and metrics["top5"] >= metrics["top1"]


def test_first_images_takes_val_then_holdout_up_to_the_count() -> None:
    def batches(n: int, label: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.zeros(n, 3, 2, 2), torch.full((n,), label))]

    taken = _first_images(7, batches(4, 0), batches(5, 1))
    labels = torch.cat([y for _, y in taken]).tolist()
    assert labels == [0, 0, 0, 0, 1, 1, 1]
    with pytest.raises(ConfigError, match="hold only 9 images"):
        _first_images(10, batches(4, 0), batches(5, 1))
