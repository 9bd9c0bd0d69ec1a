"""runtime.metrics: one top-k counter, checked against a hand count."""

from __future__ import annotations

import torch

from lamoo_nas.runtime.metrics import TopK, accuracy_of


def test_top1_and_top5_match_a_hand_count() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 10, generator=generator)
    labels = torch.randint(0, 10, (50,), generator=generator)
    counter = TopK(ks=(1, 5))
    counter.update(logits[:20], labels[:20])
    counter.update(logits[20:], labels[20:])
    ranks = (logits > logits.gather(1, labels[:, None])).sum(1)  # 0 = the label is the argmax
    assert counter.total == 50
    assert counter.fraction(1) == int((ranks == 0).sum()) / 50
    assert counter.fraction(5) == int((ranks < 5).sum()) / 50
    assert set(counter.as_dict()) == {"top1", "top5", "num_images"}


def test_top5_is_not_reported_with_five_classes_or_fewer() -> None:
    counter = TopK(ks=(1, 5))
    counter.update(torch.eye(3), torch.tensor([0, 1, 0]))
    assert counter.fraction(1) == 2 / 3 and counter.fraction(5) == 1.0
    assert "top5" not in counter.as_dict()


def test_accuracy_of_runs_the_model_in_eval_mode() -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.99))
    batches = [(torch.eye(4).view(4, 4, 1), torch.arange(4))]
    assert accuracy_of(net, batches).fraction() == 1.0  # dropout off: the identity
    assert not net.training
    assert TopK().fraction() == 0.0  # nothing counted
