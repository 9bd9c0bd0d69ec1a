from __future__ import annotations

import numpy as np
import torch

from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.supernet import recalibrate_bn, resize_to


def _manual_accuracy(supernet, arch, digits, calib_images: int) -> float:
    net = supernet.extract(arch)
    calib = [resize_to(x, arch.resolution) for x, _ in digits.eval_loader("calib", 64)]
    net = recalibrate_bn(net, calib, calib_images)
    correct = total = 0
    with torch.no_grad():
        for x, y in digits.eval_loader("val", 50):
            correct += int((net(resize_to(x, arch.resolution)).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def test_accuracy_is_extract_recalibrate_and_validate(random_supernet, digits, tiny_space) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 48, batch_size=64)
    rng = np.random.default_rng(0)
    archs = [tiny_space.sample(rng) for _ in range(3)] + [tiny_space.largest()]
    got = evaluator.accuracy(archs)
    expected = [_manual_accuracy(random_supernet, a, digits, 48) for a in archs]
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_results_are_cached_and_order_independent(random_supernet, digits, tiny_space) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    a, b = tiny_space.smallest(), tiny_space.largest()
    first = evaluator.accuracy([a, b])
    assert len(evaluator.seconds_per_eval) == 2
    again = evaluator.accuracy([b, a, a])
    assert len(evaluator.seconds_per_eval) == 2  # nothing evaluated twice
    assert again.tolist() == [first[1], first[0], first[0]]
    fresh = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    assert fresh.accuracy([b])[0] == first[1]  # recalibration leaves no state behind


def test_supernet_weights_are_untouched(random_supernet, digits, tiny_space) -> None:
    before = {k: v.clone() for k, v in random_supernet.state_dict().items()}
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    evaluator.accuracy([tiny_space.largest(), tiny_space.smallest()])
    after = random_supernet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
