"""The strategy registry: one :class:`StrategySpec` per strategy, looked up by name.

A spec says what a strategy is called, which frozen dataclass holds its options (the YAML section
``strategy.<name>`` of ``conf/strategy/<name>.yaml`` becomes one) and how to build it. The
built-in specs are registered by :mod:`search.factory`; a new strategy is one module that
defines its class, options and spec, one :func:`register_strategy` line there, and one YAML.

Example:
    >>> from dataclasses import dataclass
    >>> from lamoo_nas.search.strategy import RandomStrategy
    >>> @dataclass(frozen=True)
    ... class DrawOptions:
    ...     pass
    >>> spec = StrategySpec("draw", DrawOptions,
    ...     lambda request, options: RandomStrategy(request.codec, request.ref_point,
    ...                                             request.seed, request.num_init))
    >>> spec.name, spec.options_cls.__name__
    ('draw', 'DrawOptions')
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, is_dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lamoo_nas.search.errors import InvalidOptionError, UnknownStrategyError

if TYPE_CHECKING:
    from lamoo_nas.search.codec import SpaceCodec
    from lamoo_nas.search.strategy import BaseStrategy, KnownObjectives

A = TypeVar("A", bound=Hashable)


@dataclass(frozen=True)
class StrategyRequest(Generic[A]):
    """What every strategy is built from, besides its options.

    Attributes:
        codec: the search space.
        ref_point: ``(m,)`` hypervolume reference point (maximisation).
        seed: every random choice derives from it.
        num_init: size of the shared initial Sobol design.
        known_objectives: exactly known objectives (strategies that model objectives skip them).
        variant: the part of the name after the first ``-`` (``evolution`` in
            ``lamoo-evolution``), or ``""``.
    """

    codec: SpaceCodec[A]
    ref_point: Sequence[float]
    seed: int
    num_init: int
    known_objectives: KnownObjectives[A] | None
    variant: str


BuildFn = Callable[[StrategyRequest[Any], Any], "BaseStrategy[Any]"]
"""``(request, options) -> strategy``; ``options`` is an instance of the spec's options class."""


@dataclass(frozen=True)
class StrategySpec:
    """One strategy as the registry knows it.

    Attributes:
        name: the base name, also the key of its YAML section (``strategy.<name>``).
        options_cls: the frozen dataclass of its options; ``options_cls()`` are the defaults.
        build: ``(request, options) -> strategy``.
        variants: names allowed after ``<name>-`` (e.g. LaMOO's samplers); empty: none.
    """

    name: str
    options_cls: type
    build: BuildFn
    variants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or "-" in self.name:
            raise InvalidOptionError(
                f"strategy name {self.name!r} must be non-empty, without '-' (it starts a variant)"
            )
        if not (isinstance(self.options_cls, type) and is_dataclass(self.options_cls)):
            raise InvalidOptionError(
                f"strategy {self.name!r}: options_cls {self.options_cls!r} must be a dataclass"
            )


STRATEGY_REGISTRY: dict[str, StrategySpec] = {}
"""Every registered strategy by base name, in registration order."""


def register_strategy(spec: StrategySpec) -> StrategySpec:
    """Add ``spec`` to :data:`STRATEGY_REGISTRY`; a name already taken raises
    :class:`~search.errors.InvalidOptionError`. Returns ``spec``."""
    if spec.name in STRATEGY_REGISTRY:
        raise InvalidOptionError(
            f"strategy {spec.name!r} is registered already; give the new one another name"
        )
    STRATEGY_REGISTRY[spec.name] = spec
    return spec


def strategy_names() -> list[str]:
    """Every name :func:`find_strategy` accepts: base names, then ``<name>-<variant>``."""
    names = list(STRATEGY_REGISTRY)
    names += [f"{s.name}-{v}" for s in STRATEGY_REGISTRY.values() for v in s.variants]
    return names


def find_strategy(name: str) -> tuple[StrategySpec, str]:
    """The spec and the variant (``""`` if none) that ``name`` means, or
    :class:`~search.errors.UnknownStrategyError` listing the allowed names.

    Example:
        >>> import lamoo_nas.search  # registers the built-in strategies
        >>> spec, variant = find_strategy("lamoo-evolution")
        >>> spec.name, variant
        ('lamoo', 'evolution')
    """
    base, _, variant = name.partition("-")
    spec = STRATEGY_REGISTRY.get(base)
    if spec is None or (variant and variant not in spec.variants):
        raise UnknownStrategyError(f"strategy {name!r} is not one of {strategy_names()}")
    return spec, variant


def strategy_options(name: str, options: Any = None) -> Any:
    """``options`` checked to be the options of strategy ``name`` (its defaults when None);
    options of another strategy raise :class:`~search.errors.InvalidOptionError` naming the
    class that was expected.

    Example:
        >>> import lamoo_nas.search
        >>> strategy_options("nsga2").population_size
        20
    """
    spec, _ = find_strategy(name)
    if options is None:
        return spec.options_cls()
    if not isinstance(options, spec.options_cls):
        raise InvalidOptionError(
            f"strategy {name!r} takes {spec.options_cls.__name__} options, got "
            f"{type(options).__name__}"
        )
    return options
