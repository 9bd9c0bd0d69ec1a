"""Which architectures a supernet training step trains.

Two rules, chosen by name (``sampler=sandwich`` or ``sampler=uniform``):

* ``sandwich`` (BigNAS): the largest architecture at the largest resolution, the smallest at the
  smallest resolution and ``num_random`` random architectures at one resolution drawn for the
  step. Gradients of all of them are accumulated before one optimizer step, and the largest one
  is the teacher of the others when in-place distillation is on.
* ``uniform`` (SPOS): one random architecture (with its own random resolution) per step.

Every draw comes from an injected :class:`numpy.random.Generator`, so the same generator state
gives the same architectures on every rank and after a resume.

Example:
    >>> from supernet import load_space
    >>> sampler = build_sampler(SamplerConfig("sandwich", num_random=2), load_space("tiny"))
    >>> step = sampler.sample(np.random.default_rng(0))
    >>> len(step), step[0].is_teacher
    (4, True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.supernet.partition import ChoicePartition, Partition
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

SAMPLERS = ("sandwich", "uniform")


@dataclass(frozen=True)
class SamplerConfig:
    """``name``: one of :data:`SAMPLERS`; ``num_random``: random archs per sandwich step."""

    name: str = "sandwich"
    num_random: int = 2

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise ConfigError(f"sampler.name is {self.name!r}; allowed: {', '.join(SAMPLERS)}")
        if isinstance(self.num_random, bool) or self.num_random < 0:
            raise ConfigError(
                f"sampler.num_random must be an integer >= 0, got {self.num_random!r}"
            )


@dataclass(frozen=True)
class StepArch:
    """One architecture of a step; ``is_teacher`` marks the one that learns from labels only."""

    arch: ArchConfig
    is_teacher: bool = False


class ArchSampler(Protocol):
    """Draws the architectures of one training step."""

    def sample(self, rng: np.random.Generator) -> list[StepArch]: ...


class SandwichSampler:
    """Largest + smallest + ``num_random`` random architectures (teacher first)."""

    def __init__(self, space: SearchSpace, num_random: int) -> None:
        self.space = space
        self.num_random = num_random
        self._largest = space.largest()
        self._smallest = space.smallest()

    def sample(self, rng: np.random.Generator) -> list[StepArch]:
        resolution = int(rng.choice(self.space.resolutions))
        randoms = [
            dataclasses.replace(self.space.sample(rng), resolution=resolution)
            for _ in range(self.num_random)
        ]
        return [
            StepArch(self._largest, is_teacher=True),
            StepArch(self._smallest),
            *(StepArch(arch) for arch in randoms),
        ]


class UniformSampler:
    """One architecture drawn uniformly per choice (resolution included)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def sample(self, rng: np.random.Generator) -> list[StepArch]:
        return [StepArch(self.space.sample(rng))]


@dataclass(frozen=True)
class Region:
    """Region ``index`` of ``partition``: what one sub-supernet of a few-shot supernet trains."""

    partition: Partition
    index: int


class RegionUniformSampler:
    """One architecture of the region per step, drawn as the space draws (given the region)."""

    def __init__(self, space: SearchSpace, region: Region) -> None:
        self.space, self.region = space, region

    def sample(self, rng: np.random.Generator) -> list[StepArch]:
        part = self.region.partition
        return [StepArch(part.sample_in(self.space, self.region.index, rng))]


class RegionSandwichSampler:
    """The sandwich rule inside a region of a choice partition: the region's largest (teacher)
    and smallest architectures and ``num_random`` of its random ones."""

    def __init__(self, space: SearchSpace, region: Region, num_random: int) -> None:
        part = region.partition
        if not isinstance(part, ChoicePartition):
            raise ConfigError(
                "sampler=sandwich needs each region's largest and smallest architecture, which "
                "a learned partition does not define; use sampler=uniform, or a choice split"
            )
        self.space, self.region, self.num_random = space, region, num_random
        self._largest = part.extreme_in(space, region.index, largest=True)
        self._smallest = part.extreme_in(space, region.index, largest=False)

    def sample(self, rng: np.random.Generator) -> list[StepArch]:
        part, k = self.region.partition, self.region.index
        randoms = [part.sample_in(self.space, k, rng) for _ in range(self.num_random)]
        return [
            StepArch(self._largest, is_teacher=True),
            StepArch(self._smallest),
            *(StepArch(arch) for arch in randoms),
        ]


def build_sampler(
    cfg: SamplerConfig, space: SearchSpace, region: Region | None = None
) -> ArchSampler:
    """The sampler named by ``cfg.name`` over ``space``, or over one ``region`` of it."""
    if region is not None:
        if cfg.name == "sandwich":
            return RegionSandwichSampler(space, region, cfg.num_random)
        return RegionUniformSampler(space, region)
    if cfg.name == "sandwich":
        return SandwichSampler(space, cfg.num_random)
    return UniformSampler(space)


def region_eval_archs(
    space: SearchSpace, region: Region | None, middle_seed: int
) -> list[tuple[str, ArchConfig]]:
    """The architectures a training run validates each epoch: the smallest, the largest and a
    fixed random "middle" one, of the space or of the region a sub-supernet trains."""
    rng = np.random.default_rng(middle_seed)
    if region is None:
        return [("smallest", space.smallest()), ("largest", space.largest()),
                ("middle", space.sample(rng))]  # fmt: skip
    part, k = region.partition, region.index
    middle = part.sample_in(space, k, rng)
    if isinstance(part, ChoicePartition):
        ends = [part.extreme_in(space, k, largest=False), part.extreme_in(space, k, largest=True)]
    else:  # a learned region has no defined ends: two more fixed draws of it
        ends = [part.sample_in(space, k, rng), part.sample_in(space, k, rng)]
    return [("smallest", ends[0]), ("largest", ends[1]), ("middle", middle)]


def generator_state(rng: np.random.Generator) -> dict[str, object]:
    """The generator's state as plain data (dicts, str, int) for a ``weights_only`` checkpoint."""
    state = rng.bit_generator.state
    return {
        "bit_generator": str(state["bit_generator"]),
        "state": {key: int(value) for key, value in state["state"].items()},
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def restore_generator(state: dict[str, object]) -> np.random.Generator:
    """A fresh generator in the state :func:`generator_state` captured."""
    if state.get("bit_generator") != "PCG64":
        raise CheckpointError(
            f"unsupported bit generator {state.get('bit_generator')!r}; need PCG64"
        )
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng
