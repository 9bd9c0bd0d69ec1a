"""The inherited-accuracy scorer: cached and streamed batches agree, shards add up to the whole
split, the supernet and the global RNG are left as they were, bad counts are refused."""

from __future__ import annotations

import pytest
import torch

from lamoo_nas.runtime.data import DataConfig, build_data
from lamoo_nas.supernet import Supernet, load_space, recalibrate_bn, resize_to
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.scorer import CachedBatches, InheritedScorer, StreamedBatches

SPACE = load_space("tiny")


@pytest.fixture(scope="module")
def digits():
    return build_data(DataConfig(calib_images=64), image_size=max(SPACE.resolutions))


@pytest.fixture()
def supernet() -> Supernet:
    torch.manual_seed(0)
    return Supernet(SPACE, num_classes=10).eval()


def test_cached_and_streamed_batches_give_the_same_accuracy(digits, supernet) -> None:
    cached = InheritedScorer.from_bundle(digits, "val", 48, batch_size=32)
    streamed = InheritedScorer.from_bundle(digits, "val", 48, batch_size=32, cached=False)
    for arch in (SPACE.smallest(), SPACE.largest()):
        assert cached.accuracy(supernet, arch) == streamed.accuracy(supernet, arch)


def test_accuracy_is_resize_recalibrate_and_count(digits, supernet) -> None:
    arch = SPACE.smallest()
    assert arch.resolution < digits.image_size
    net = supernet.extract(arch)
    calib = [resize_to(x, arch.resolution) for x, _ in digits.eval_loader("calib", 32)]
    net = recalibrate_bn(net, calib, 40)
    with torch.no_grad():
        hits = [(net(resize_to(x, arch.resolution)).argmax(1) == y, len(y))
                for x, y in digits.eval_loader("val", 32)]  # fmt: skip
    expected = sum(int(h.sum()) for h, _ in hits) / sum(n for _, n in hits)
    scorer = InheritedScorer.from_bundle(digits, "val", 40, batch_size=32, cached=False)
    assert scorer.accuracy(supernet, arch) == expected


@pytest.mark.parametrize("cached", [True, False])
def test_shards_add_up_to_the_whole_split(digits, supernet, cached: bool) -> None:
    scorer = InheritedScorer.from_bundle(digits, "val", 48, batch_size=16, cached=cached)
    arch = SPACE.largest()
    net = scorer.subnet(supernet, arch)
    whole = scorer.count(net, arch.resolution)
    shards = [scorer.val.shard(rank, 3).at(arch.resolution) for rank in range(3)]
    totals = [sum(len(y) for _, y in shard) for shard in shards]
    assert sum(totals) == whole.total and min(totals) > 0
    assert isinstance(scorer.val, CachedBatches if cached else StreamedBatches)


def test_the_supernet_and_the_global_rng_are_untouched(digits, supernet) -> None:
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    rng = torch.get_rng_state()
    InheritedScorer.from_bundle(digits, "val", 32).accuracy(supernet, SPACE.smallest())
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_bad_calibration_count_is_refused(digits, bad) -> None:
    with pytest.raises(ConfigError, match=f"calib_images must be a positive integer, got {bad}"):
        InheritedScorer.from_bundle(digits, "val", bad)
