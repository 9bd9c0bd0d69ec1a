from __future__ import annotations

import copy
import json

import pytest
import torch

from lamoo_nas.evaluate.accuracy_cache import (
    AccuracyCache,
    CheckpointOrigin,
    cache_header,
    weights_fingerprint,
)
from lamoo_nas.evaluate.errors import AccuracyCacheMismatchError
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.supernet import Supernet


def _header(space, weights: str = "abc", calib_images: int = 32, val_images: int = 100) -> dict:
    origin = CheckpointOrigin("/runs/a/final.pt", 3, 120)
    return cache_header(space, origin, weights, calib_images, val_images)


def test_a_new_cache_is_its_header_then_one_line_per_append(tiny_space, tmp_path) -> None:
    path = tmp_path / "accuracy_cache.jsonl"
    cache = AccuracyCache(path, _header(tiny_space), tiny_space)
    assert cache.load() == {}
    small, large = tiny_space.smallest(), tiny_space.largest()
    cache.append(small, 0.1234567890123)
    cache.append(large, 0.5)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["supernet"]["epoch"] == 3
    reread = AccuracyCache(path, _header(tiny_space), tiny_space).load()
    assert reread == {small: 0.1234567890123, large: 0.5}  # exact: same seed, same search


def test_a_torn_last_line_is_dropped_and_cut_off(tiny_space, tmp_path) -> None:
    path = tmp_path / "accuracy_cache.jsonl"
    cache = AccuracyCache(path, _header(tiny_space), tiny_space)
    cache.load()
    cache.append(tiny_space.smallest(), 0.25)
    with open(path, "a") as handle:
        handle.write('{"arch": {"spa')  # killed mid-append
    again = AccuracyCache(path, _header(tiny_space), tiny_space)
    assert again.load() == {tiny_space.smallest(): 0.25}
    again.append(tiny_space.largest(), 0.75)
    final = AccuracyCache(path, _header(tiny_space), tiny_space).load()
    assert final == {tiny_space.smallest(): 0.25, tiny_space.largest(): 0.75}


@pytest.mark.parametrize(
    ("changed", "named"),
    [({"weights": "def"}, "weights def"), ({"calib_images": 64}, "64 calibration")],
)
def test_a_cache_of_another_evaluator_is_refused(tiny_space, tmp_path, changed, named) -> None:
    path = tmp_path / "accuracy_cache.jsonl"
    AccuracyCache(path, _header(tiny_space), tiny_space).load()
    with pytest.raises(AccuracyCacheMismatchError) as info:
        AccuracyCache(path, _header(tiny_space, **changed), tiny_space).load()
    message = str(info.value)
    assert "holds accuracies of supernet /runs/a/final.pt (epoch 3, step 120" in message
    assert named in message and "new run_dir=" in message


def test_a_file_of_something_else_is_refused(tiny_space, tmp_path) -> None:
    path = tmp_path / "accuracy_cache.jsonl"
    path.write_text("not json\n")
    with pytest.raises(AccuracyCacheMismatchError, match="is not an accuracy cache"):
        AccuracyCache(path, _header(tiny_space), tiny_space).load()


def test_weights_fingerprint_tells_weights_apart(tiny_space) -> None:
    torch.manual_seed(0)
    net = Supernet(tiny_space, 10)
    twin = copy.deepcopy(net)
    assert weights_fingerprint(net) == weights_fingerprint(twin)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(1.01)
    assert weights_fingerprint(net) != weights_fingerprint(twin)


def test_evaluator_persists_new_scores_and_reuses_them(
    random_supernet, digits, tiny_space, tmp_path
) -> None:
    path = tmp_path / "accuracy_cache.jsonl"
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    evaluator.persist_to(path)
    first = evaluator.accuracy([tiny_space.smallest(), tiny_space.largest()])
    header = json.loads(path.read_text().splitlines()[0])
    assert header["data"] == {"calib_images": 32, "val_images": evaluator.val_images}
    fresh = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    fresh.persist_to(path)
    assert fresh.accuracy([tiny_space.largest()])[0] == first[1]
    assert fresh.seconds_per_eval == []  # read back, not scored again
    assert len(path.read_text().splitlines()) == 3
