"""Sampling rules, generator state round trip, distillation losses, optimizer/schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamoo_nas.supernet import load_space
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.distill import DistillConfig, StepLoss, soft_target_kl
from lamoo_nas.train.optim import (
    OptimConfig,
    ScheduleConfig,
    build_optimizer,
    build_scheduler,
    current_lr,
)
from lamoo_nas.train.sampler import (
    SamplerConfig,
    build_sampler,
    generator_state,
    restore_generator,
)

SPACE = load_space("tiny")


def test_sandwich_largest_at_max_res_smallest_at_min_res_randoms_share_a_res():
    sampler = build_sampler(SamplerConfig("sandwich", num_random=3), SPACE)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        step = sampler.sample(rng)
        assert [s.is_teacher for s in step] == [True, False, False, False, False]
        assert step[0].arch == SPACE.largest() and step[0].arch.resolution == max(SPACE.resolutions)
        assert step[1].arch == SPACE.smallest() and step[1].arch.resolution == min(
            SPACE.resolutions
        )
        resolutions = {s.arch.resolution for s in step[2:]}
        assert len(resolutions) == 1
        seen |= resolutions
        for s in step:
            SPACE.validate(s.arch)
    assert seen == set(SPACE.resolutions)


def test_uniform_one_arch_no_teacher():
    step = build_sampler(SamplerConfig("uniform"), SPACE).sample(np.random.default_rng(0))
    assert len(step) == 1 and not step[0].is_teacher


def test_generator_state_round_trips_as_plain_data():
    rng = np.random.default_rng(5)
    rng.random(3)
    state = generator_state(rng)
    assert all(isinstance(v, int) for v in state["state"].values())
    clone = restore_generator(state)
    assert np.array_equal(rng.random(4), clone.random(4))


def test_kl_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(5, 10)
    assert soft_target_kl(logits, logits, 2.0).abs().item() < 1e-6
    assert soft_target_kl(torch.randn(5, 10), logits, 2.0).item() > 0


def test_students_learn_from_the_teacher_only_when_inplace():
    labels = torch.tensor([0, 1])
    teacher = torch.tensor([[5.0, -5.0], [-5.0, 5.0]])
    student = teacher.clone()
    inplace = StepLoss(DistillConfig("inplace", label_smoothing=0.0))
    none = StepLoss(DistillConfig("none", label_smoothing=0.0))
    assert inplace.student_loss(student, labels, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert none.student_loss(student, labels, teacher).item() > 1e-5
    flipped = StepLoss(DistillConfig("inplace", label_smoothing=0.0))
    assert flipped.student_loss(-student, labels, teacher).item() > 1.0


def test_no_weight_decay_on_norms_and_biases():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = build_optimizer(model, OptimConfig(name="adamw", weight_decay=0.1))
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(model[0].weight)] == 0.1
    assert decays[id(model[0].bias)] == 0.0 and decays[id(model[1].weight)] == 0.0


def test_cosine_schedule_warms_up_then_decays_per_step():
    opt = build_optimizer(torch.nn.Linear(2, 2), OptimConfig(lr=1.0, weight_decay=0.0))
    sched = build_scheduler(opt, ScheduleConfig(epochs=2, warmup_epochs=1, min_lr=0.0), 10)
    lrs = []
    for step in range(21):
        sched.step_update(num_updates=step)
        lrs.append(current_lr(opt))
    assert lrs[0] < lrs[5] < lrs[10] == pytest.approx(1.0)
    assert lrs[10] > lrs[15] > lrs[20] >= 0.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: SamplerConfig("random"),
        lambda: OptimConfig(name="adamz"),
        lambda: OptimConfig(lr=0.0),
        lambda: ScheduleConfig(epochs=0),
        lambda: ScheduleConfig(epochs=2, warmup_epochs=3),
        lambda: DistillConfig(label_smoothing=1.0),
    ],
)
def test_bad_values_raise(make):
    with pytest.raises(ConfigError):
        make()
