"""The continuous multistart optimiser behind qEHVI and LaMOO(qEHVI) on boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.acquisition.monte_carlo import qSimpleRegret
from botorch.models import SingleTaskGP
from botorch.utils.sampling import manual_seed

from lamoo_nas.search.acquisition import optimise_batch, pull_back
from lamoo_nas.search.errors import InvalidOptionError
from lamoo_nas.search.lamoo.tree import TreeOptions, build_tree, region_accepts


def _bowl(peak: tuple[float, float] = (0.3, 0.3)) -> qSimpleRegret:
    """A GP posterior mean with its maximum near ``peak``."""
    x = torch.as_tensor(np.random.default_rng(0).random((30, 2)))
    y = -(x - torch.as_tensor(peak)).pow(2).sum(-1, keepdim=True)
    with manual_seed(0):
        return qSimpleRegret(SingleTaskGP(x, y))


def test_results_lie_in_the_box_and_climb_to_the_optimum() -> None:
    acq = _bowl()
    seeds = torch.as_tensor(np.random.default_rng(1).random((32, 2)))
    with manual_seed(0):
        out = optimise_batch(acq, 3, seeds, 4, 50, np.random.default_rng(0))
    assert out.shape == (3, 2) and bool(((out >= 0) & (out <= 1)).all())
    with torch.no_grad():
        best_seed = acq(seeds.unsqueeze(1)).max()
        assert float(acq(out[:1].unsqueeze(1))) > float(best_seed)  # L-BFGS-B improved
    assert torch.allclose(out[0], torch.tensor([0.3, 0.3], dtype=out.dtype), atol=0.05)
    assert acq.X_pending is None  # the pending points of the greedy batch are taken back


def test_random_starts_draw_from_the_rng_and_boltzmann_starts_do_not() -> None:
    acq, seeds = _bowl(), torch.as_tensor(np.random.default_rng(1).random((16, 2)))
    for rule, drawn in (("random", True), ("boltzmann", False)):
        rng = np.random.default_rng(0)
        with manual_seed(0):
            optimise_batch(acq, 1, seeds, 2, 5, rng, start_rule=rule)  # type: ignore[arg-type]
        assert (rng.random() != np.random.default_rng(0).random()) is drawn, rule


def _region() -> tuple:  # (cuts, accept) of a real LaMOO region, >= 2 levels deep
    rng = np.random.default_rng(0)
    x = rng.random((64, 2))
    y = np.stack([x[:, 0], 1.0 - x[:, 0] ** 2 - x[:, 1]], axis=1)
    options = TreeOptions(split_min=16, max_nodes=7, svm_c=1.0)  # a region the optimum is far from
    nodes = build_tree(x, y, np.array([-0.1, -1.1]), options)
    deep = max(nodes, key=lambda n: len(n.cuts))
    assert len(deep.cuts) >= 2
    return deep.cuts, lambda z: region_accepts(deep.cuts, z)


def test_pull_back_keeps_results_inside_and_leaves_inside_ones_alone() -> None:
    _, accept = _region()
    probe = np.random.default_rng(2).random((4000, 2))
    inside, outside = probe[accept(probe)], probe[~accept(probe)]
    r = min(len(inside), len(outside), 50)
    starts = torch.as_tensor(inside[:r]).unsqueeze(1)
    ends = torch.as_tensor(np.vstack([outside[: r // 2], inside[r // 2 : r]])).unsqueeze(1)
    pulled = pull_back(starts, ends, accept)[:, 0].numpy()
    assert accept(pulled).all()
    np.testing.assert_array_equal(pulled[r // 2 :], inside[r // 2 : r])  # already inside
    moved = pulled[: r // 2]
    assert not np.allclose(moved, inside[: r // 2])  # pulled towards the end, not the start
    # each lies on its start -> end segment
    s, e = inside[: r // 2], outside[: r // 2]
    t = ((moved - s) * (e - s)).sum(1) / ((e - s) ** 2).sum(1)
    np.testing.assert_allclose(s + t[:, None] * (e - s), moved, atol=1e-9)


def test_strict_optimisation_stays_in_the_region_when_the_optimum_is_outside() -> None:
    _, accept = _region()
    probe = np.random.default_rng(3).random((4000, 2))
    inside = probe[accept(probe)]
    outside = probe[~accept(probe)]
    far = outside[np.argmax(np.min(np.linalg.norm(outside[:, None] - inside[None], axis=-1), 1))]
    acq = _bowl(peak=(float(far[0]), float(far[1])))
    seeds = torch.as_tensor(inside[:32])
    with manual_seed(0):
        free = optimise_batch(acq, 2, seeds, 4, 50, np.random.default_rng(0))
    with manual_seed(0):
        strict = optimise_batch(acq, 2, seeds, 4, 50, np.random.default_rng(0), accept=accept)
    assert not accept(free.numpy()).any()  # the paper's scheme: free to leave the region
    assert accept(strict.numpy()).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_rule": "best"}, "start_rule"),
        ({"q": 0}, "q, num_restarts"),
        ({"seeds": torch.zeros(0, 2, dtype=torch.float64)}, "non-empty"),
    ],
)
def test_bad_arguments_name_the_allowed_values(kwargs: dict, message: str) -> None:
    args = {
        "acq": _bowl(),
        "q": 1,
        "seeds": torch.rand(4, 2, dtype=torch.float64),
        "num_restarts": 2,
        "maxiter": 5,
        "rng": np.random.default_rng(0),
        **kwargs,
    }
    with pytest.raises(InvalidOptionError, match=message):
        optimise_batch(**args)
