"""The evaluation side of the GPU switches: a ``channels_last=true`` run keeps its supernet in
channels-last memory, and the training run's evaluation hook, the inherited-accuracy scorer and
the latency measurement then work on it and give what they give on contiguous weights.

(Neither ``amp`` nor ``compile`` reaches evaluation: scoring and latency run fp32 eager.)
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.latency import measure_latency_ms
from lamoo_nas.supernet import resize_to
from lamoo_nas.train.scorer import InheritedScorer


def _channels_last(supernet):
    twin = copy.deepcopy(supernet)
    twin.to(memory_format=torch.channels_last)
    assert twin.final_conv.weight.is_contiguous(memory_format=torch.channels_last)
    return twin


def _archs(space):
    return [space.smallest(), space.largest(), space.sample(np.random.default_rng(0))]


def test_the_scorer_scores_a_channels_last_supernet_as_a_contiguous_one(
    random_supernet, digits, tiny_space
) -> None:
    plain = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 48, batch_size=64)
    cl = InheritedAccuracyEvaluator.from_bundle(
        _channels_last(random_supernet), digits, 48, batch_size=64
    )
    archs = _archs(tiny_space)
    # the same counts up to an argmax tie flipped by fp32 summation order (one image)
    np.testing.assert_allclose(
        cl.accuracy(archs), plain.accuracy(archs), atol=1.01 / plain.val_images
    )
    x = next(iter(digits.eval_loader("calib", 64)))[0]
    for arch in archs:
        with torch.no_grad():
            got = cl.subnet(arch)(resize_to(x, arch.resolution))
            want = plain.subnet(arch)(resize_to(x, arch.resolution))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_the_training_eval_hook_scores_a_channels_last_supernet(
    random_supernet, digits, tiny_space
) -> None:
    scorer = InheritedScorer.from_bundle(digits, "val", len(digits.calib), batch_size=64)
    cl = _channels_last(random_supernet)
    num_val = len(digits.val)
    for arch in _archs(tiny_space)[:2]:
        gap = scorer.accuracy(cl, arch) - scorer.accuracy(random_supernet, arch)
        assert abs(gap) <= 1.01 / num_val


def test_latency_of_a_subnet_extracted_from_a_channels_last_supernet(
    random_supernet, tiny_space
) -> None:
    arch = tiny_space.largest()
    net = _channels_last(random_supernet).extract(arch).eval()
    stats = measure_latency_ms(net, (1, 3, arch.resolution, arch.resolution), "cpu", 1, 3)
    assert stats.repeats == 3 and 0 < stats.min_ms <= stats.median_ms
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        torch.testing.assert_close(net(x), random_supernet.extract(arch).eval()(x))


def test_a_channels_last_retrain_trains_measures_and_exports(tmp_path) -> None:
    import dataclasses

    from lamoo_nas.evaluate.load import load_exported
    from lamoo_nas.evaluate.retrain import FinishOptions, retrain_and_export
    from lamoo_nas.supernet import load_space
    from tests.train._retrain_setup import DATA, OPTIONS, tiny_recipe

    space = load_space("tiny")
    arch = space.smallest()
    options = dataclasses.replace(OPTIONS, channels_last=True)
    finish = FinishOptions(latency_warmup=1, latency_repeats=3)
    result = retrain_and_export(arch, space, DATA, tiny_recipe(), tmp_path, options, finish)
    conv = next(m for m in result.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert 0.0 <= result.metrics["top1"] <= 1.0 and result.metrics["latency_cpu_ms"] > 0
    exported = load_exported(result.export_paths.root)
    x = torch.randn(4, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        torch.testing.assert_close(exported.model(x), result.model(x))
