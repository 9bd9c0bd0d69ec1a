"""Once-for-All MobileNetV3 supernets in this project's terms: weights and architectures.

Once-for-All (Cai et al., ICLR 2020) publishes trained supernets of its MobileNetV3 space,
``ofa_mbv3_d234_e346_k357_w1.0`` and ``..._w1.2``, as ``{"state_dict": ...}`` files. The
presets ``ofa_mbv3`` and ``ofa_mbv3_w12`` are those networks exactly (same channels, squeeze-excite
widths, activations and head; the tests prove outputs, MACs and params equal OFA's own code), so
a published state dict maps one to one onto :class:`~supernet.model.Supernet` weights, with
``kernel_transform=True`` holding OFA's ``7to5`` / ``5to3`` kernel-transformation matrices and
every BN statistic copied as it is.

:func:`convert_ofa_state_dict` does that mapping and refuses what it cannot map (an OFA
ProxylessNAS or ResNet supernet, a specialised subnet, another width, missing or misshapen
tensors) with an :class:`~supernet.errors.OFACheckpointError` naming what it found.
:func:`ofa_subnet_settings` and :func:`arch_from_ofa` translate architectures between OFA's
``set_active_subnet(ks=..., e=..., d=...)`` form and :class:`~supernet.space.ArchConfig`.

Example:
    >>> state = torch.load("ofa_mbv3_d234_e346_k357_w1.0", weights_only=True)  # doctest: +SKIP
    >>> imported = convert_ofa_state_dict(state)  # doctest: +SKIP
    >>> net = imported.supernet()  # doctest: +SKIP
    >>> net(images, imported.space.largest())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from lamoo_nas.supernet.errors import (
    ArchValidationError,
    OFACheckpointError,
    OFAUnsupportedNetworkError,
    OFAWidthError,
)
from lamoo_nas.supernet.model import Supernet
from lamoo_nas.supernet.space import ArchConfig, SearchSpace, StageArch, load_space

OFA_VARIANTS: dict[str, str] = {
    "ofa_mbv3_d234_e346_k357_w1.0": "ofa_mbv3",
    "ofa_mbv3_d234_e346_k357_w1.2": "ofa_mbv3_w12",
}
"""OFA's name of each supported supernet -> the preset that is its network exactly."""

UNSUPPORTED_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("input_stem.", "an OFA ResNet supernet (ofa_resnet50)", "keys input_stem.*"),
    (
        "feature_mix_layer.bn.",
        "an OFA ProxylessNAS supernet (ofa_proxyless_d234_e346_k357_w1.3)",
        "a batch-normed feature_mix_layer and no final_expand_layer",
    ),
)
"""(key prefix that gives it away, what the network is, what was found) of OFA's other nets."""

_BN_BUFFERS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_FIXED_NAMES: dict[str, str] = {
    "stem.conv.weight": "first_conv.conv.weight",
    "first_block.depthwise.conv.weight": "blocks.0.conv.depth_conv.conv.weight",
    "first_block.project.conv.weight": "blocks.0.conv.point_linear.conv.weight",
    "final_conv.weight": "final_expand_layer.conv.weight",
    "head.conv.weight": "feature_mix_layer.conv.weight",
    "head.classifier.weight": "classifier.linear.weight",
    "head.classifier.bias": "classifier.linear.bias",
    **{f"stem.bn.{b}": f"first_conv.bn.{b}" for b in _BN_BUFFERS},
    **{f"first_block.depthwise.bn.{b}": f"blocks.0.conv.depth_conv.bn.{b}" for b in _BN_BUFFERS},
    **{f"first_block.project.bn.{b}": f"blocks.0.conv.point_linear.bn.{b}" for b in _BN_BUFFERS},
    **{f"final_bn.{b}": f"final_expand_layer.bn.{b}" for b in _BN_BUFFERS},
}
"""Our key -> OFA's key, outside the elastic blocks (OFA names in their collapsed form)."""
_BLOCK_NAMES: dict[str, str] = {
    "expand_conv.weight": "inverted_bottleneck.conv.weight",
    "depthwise.weight": "depth_conv.conv.weight",
    "se.reduce_weight": "depth_conv.se.fc.reduce.weight",
    "se.reduce_bias": "depth_conv.se.fc.reduce.bias",
    "se.expand_weight": "depth_conv.se.fc.expand.weight",
    "se.expand_bias": "depth_conv.se.fc.expand.bias",
    "project.weight": "point_linear.conv.weight",
    **{f"expand_bn.{b}": f"inverted_bottleneck.bn.{b}" for b in _BN_BUFFERS},
    **{f"depthwise_bn.{b}": f"depth_conv.bn.{b}" for b in _BN_BUFFERS},
    **{f"project_bn.{b}": f"point_linear.bn.{b}" for b in _BN_BUFFERS},
}
"""Our key inside ``stages.S.J.`` -> OFA's inside ``blocks.I.conv.`` (collapsed form)."""
_COLLAPSED = (
    (".mobile_inverted_conv.", ".conv."),
    (".bn.bn.", ".bn."),
    (".linear.linear.", ".linear."),
)


@dataclass(frozen=True)
class OFAImport:
    """An OFA MobileNetV3 supernet converted: its preset, class count and our state dict."""

    variant: str
    space: SearchSpace
    num_classes: int
    state_dict: dict[str, Tensor]

    def supernet(self) -> Supernet:
        """A :class:`Supernet` (``kernel_transform=True``) holding the converted weights."""
        model = Supernet(self.space, self.num_classes, kernel_transform=True)
        model.load_state_dict(self.state_dict)
        return model


def convert_ofa_state_dict(state: Mapping[str, Any]) -> OFAImport:
    """Map an ``OFAMobileNetV3`` state dict (either key style OFA has written) onto our keys.

    Accepts the dict itself or the published ``{"state_dict": ...}`` file content, with or
    without a ``module.`` prefix (``DataParallel``). Raises :class:`OFAUnsupportedNetworkError`
    for OFA's other supernets and specialised subnets, :class:`OFAWidthError` for a width
    without a preset, and :class:`OFACheckpointError` for missing, extra or misshapen tensors.

    Example:
        >>> from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
        >>> ofa = OFAMobileNetV3(n_classes=10, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
        ...                      depth_list=[2, 3, 4])  # doctest: +SKIP
        >>> convert_ofa_state_dict(ofa.state_dict()).variant  # doctest: +SKIP
        'ofa_mbv3_d234_e346_k357_w1.0'
    """
    tensors = _collapsed(_unwrap(state))
    _refuse_other_families(tensors)
    variant, space = _variant(tensors)
    num_classes = int(tensors["classifier.linear.weight"].shape[0])
    template = Supernet(space, num_classes, kernel_transform=True).state_dict()
    names = ofa_names(space)
    missing = sorted(names[key] for key in template if names[key] not in tensors)
    extra = sorted(set(tensors) - set(names.values()))
    if missing or extra:
        raise OFACheckpointError(
            f"the state dict is not a complete {variant}: "
            + "; ".join(
                f"{what} {_listed(keys)}"
                for what, keys in (("missing", missing), ("unexpected", extra))
                if keys
            )
        )
    converted: dict[str, Tensor] = {}
    for key, expected in template.items():
        found = tensors[names[key]]
        if tuple(found.shape) != tuple(expected.shape):
            raise OFACheckpointError(
                f"{names[key]} has shape {list(found.shape)}, {variant} needs "
                f"{list(expected.shape)}: the checkpoint is not that network"
            )
        converted[key] = found.detach().to(expected.dtype).clone()
    return OFAImport(variant, space, num_classes, converted)


def ofa_names(space: SearchSpace) -> dict[str, str]:
    """Our :class:`Supernet` state-dict key -> OFA's key (collapsed form) for ``space``, for
    every key of ``Supernet(space, n, kernel_transform=True)``.

    OFA numbers its blocks globally: block 0 is the first block, then each stage's
    ``max_depth`` elastic blocks in order.
    """
    names = dict(_FIXED_NAMES)
    index = 1
    for stage_index, spec in enumerate(space.stages):
        for layer in range(spec.max_depth):
            ours, theirs = f"stages.{stage_index}.{layer}.", f"blocks.{index}.conv."
            expands = any(e != 1 for e in spec.expand_ratios)
            names.update(
                {
                    ours + a: theirs + b
                    for a, b in _BLOCK_NAMES.items()
                    if (spec.se or not a.startswith("se.")) and (expands or "expand_" not in a)
                }
            )
            for small, big in zip(sorted(spec.kernel_sizes)[:-1], sorted(spec.kernel_sizes)[1:]):
                transform = f"{big}to{small}"
                names[f"{ours}depthwise.transforms.{transform}"] = (
                    f"{theirs}depth_conv.conv.{transform}_matrix"
                )
            index += 1
    return names


def ofa_subnet_settings(space: SearchSpace, arch: ArchConfig) -> dict[str, list[Any]]:
    """OFA's ``set_active_subnet`` arguments for ``arch``: ``{"ks", "e", "d"}``.

    ``ks`` and ``e`` have one entry per elastic block slot (inactive slots repeat the stage's
    last active choice; OFA ignores them), ``d`` one per stage. The resolution is not part of
    OFA's setting: feed images of ``arch.resolution``.

    Example:
        >>> space = load_space("ofa_mbv3")
        >>> ofa_subnet_settings(space, space.smallest())["d"]
        [2, 2, 2, 2, 2]
    """
    space.validate(arch)
    kernels: list[int] = []
    expands: list[float] = []
    for spec, stage in zip(space.stages, arch.stages):
        padding = spec.max_depth - stage.depth
        kernels += [*stage.kernel_sizes, *[stage.kernel_sizes[-1]] * padding]
        expands += [*stage.expand_ratios, *[stage.expand_ratios[-1]] * padding]
    return {"ks": kernels, "e": expands, "d": [stage.depth for stage in arch.stages]}


def arch_from_ofa(
    space: SearchSpace,
    ks: Sequence[int],
    e: Sequence[float],
    d: Sequence[int],
    resolution: int,
) -> ArchConfig:
    """The :class:`ArchConfig` of an OFA subnet setting (as OFA's search tools print them).

    Raises :class:`ArchValidationError` when the lists do not fit ``space``.

    Example:
        >>> space = load_space("ofa_mbv3")
        >>> arch = space.largest()
        >>> arch_from_ofa(space, **ofa_subnet_settings(space, arch), resolution=224) == arch
        True
    """
    slots = sum(spec.max_depth for spec in space.stages)
    if len(ks) != slots or len(e) != slots or len(d) != len(space.stages):
        raise ArchValidationError(
            f"an OFA setting of space {space.name!r} has {slots} ks and e entries and "
            f"{len(space.stages)} d entries; got {len(ks)}, {len(e)} and {len(d)}"
        )
    stages, start = [], 0
    for spec, depth in zip(space.stages, d):
        end = start + int(depth)
        stages.append(
            StageArch(
                depth=int(depth),
                kernel_sizes=tuple(int(k) for k in ks[start:end]),
                expand_ratios=tuple(float(x) for x in e[start:end]),
                width=spec.max_width,
            )
        )
        start += spec.max_depth
    return space.validate(ArchConfig(int(resolution), tuple(stages)))


# --------------------------------------------------------------------------- internals
def _unwrap(state: Mapping[str, Any]) -> dict[str, Tensor]:
    """The tensors of a state dict, of ``{"state_dict": ...}`` or of a ``module.`` wrapper."""
    if not isinstance(state, Mapping):
        raise OFACheckpointError(
            f"an OFA checkpoint holds a state dict (or {{'state_dict': ...}}), "
            f"got {type(state).__name__}"
        )
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    tensors = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    if not tensors:
        keys = _listed(sorted(str(k) for k in state))
        raise OFACheckpointError(f"the checkpoint holds no tensors (keys {keys})")
    if all(key.startswith("module.") for key in tensors):
        tensors = {key[len("module.") :]: v for key, v in tensors.items()}
    return tensors


def _collapsed(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keys in one spelling: OFA has written ``.mobile_inverted_conv.`` for ``.conv.`` and
    doubled ``.bn.bn.`` / ``.conv.conv.`` / ``.linear.linear.`` (dynamic layers) or not."""
    out: dict[str, Tensor] = {}
    for key, value in tensors.items():
        short = key
        for long, brief in _COLLAPSED:
            short = short.replace(long, brief)
        short = short.replace(".conv.conv.", ".conv.")
        if short in out:
            raise OFACheckpointError(f"the state dict holds {key} twice, in two key spellings")
        out[short] = value
    return out


def _refuse_other_families(tensors: Mapping[str, Tensor]) -> None:
    for prefix, what, found in UNSUPPORTED_FAMILIES:
        if any(key.startswith(prefix) for key in tensors):
            raise OFAUnsupportedNetworkError(
                f"the checkpoint holds {what} ({found}); only OFA's MobileNetV3 supernets can be "
                f"imported: {', '.join(OFA_VARIANTS)}"
            )
    if "final_expand_layer.conv.weight" not in tensors or "first_conv.conv.weight" not in tensors:
        raise OFAUnsupportedNetworkError(
            "the checkpoint is not an OFA MobileNetV3 supernet (no first_conv / "
            f"final_expand_layer weights; keys {_listed(sorted(tensors))}); supported: "
            f"{', '.join(OFA_VARIANTS)}"
        )
    if not any(key.endswith("_matrix") for key in tensors):
        raise OFAUnsupportedNetworkError(
            "the checkpoint holds no kernel-transformation matrices (blocks.*.conv.depth_conv."
            "conv.7to5_matrix): it is a specialised OFA subnet (ofa_specialized) or a network "
            "trained without elastic kernels, not an OFA supernet; import the supernet it came "
            f"from: {', '.join(OFA_VARIANTS)}"
        )


def _widths(tensors: Mapping[str, Tensor], space: SearchSpace) -> dict[str, Any]:
    """The channel counts that tell OFA's widths apart, read from ``tensors`` at the places
    ``space`` puts them (None where a tensor is absent)."""

    def out_channels(key: str) -> int | None:
        return int(tensors[key].shape[0]) if key in tensors else None

    stages, index = [], 1
    for spec in space.stages:
        stages.append(out_channels(f"blocks.{index}.conv.point_linear.conv.weight"))
        index += spec.max_depth
    return {
        "stem": out_channels("first_conv.conv.weight"),
        "stages": stages,
        "final expand": out_channels("final_expand_layer.conv.weight"),
        "head": out_channels("feature_mix_layer.conv.weight"),
    }


def _space_widths(space: SearchSpace) -> dict[str, Any]:
    return {
        "stem": space.stem.channels,
        "stages": [spec.max_width for spec in space.stages],
        "final expand": space.final_expand.channels,
        "head": space.head.channels,
    }


def _variant(tensors: Mapping[str, Tensor]) -> tuple[str, SearchSpace]:
    """The supported OFA variant whose channel counts the tensors have, or OFAWidthError."""
    candidates = [(variant, load_space(preset)) for variant, preset in OFA_VARIANTS.items()]
    for variant, space in candidates:
        if _widths(tensors, space) == _space_widths(space):
            return variant, space
    found = _widths(tensors, candidates[0][1])
    base = _space_widths(candidates[0][1])["final expand"]
    ratio = (
        f"width_mult about {found['final expand'] / base:.2f}, " if found["final expand"] else ""
    )
    supported = "; ".join(
        f"{variant} ({_describe(_space_widths(space))})" for variant, space in candidates
    )
    raise OFAWidthError(
        f"the checkpoint is an OFA MobileNetV3 supernet of another width ({ratio}"
        f"{_describe(found)}); supported: {supported}"
    )


def _describe(widths: Mapping[str, Any]) -> str:
    stages = "-".join(str(w) for w in widths["stages"])
    return (
        f"stem {widths['stem']}, stages {stages}, final expand {widths['final expand']}, "
        f"head {widths['head']}"
    )


def _listed(keys: Sequence[str], shown: int = 4) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def ofa_variant_of(space: SearchSpace) -> str | None:
    """OFA's name of the supernet whose network ``space`` is, or None.

    Example:
        >>> ofa_variant_of(load_space("ofa_mbv3"))
        'ofa_mbv3_d234_e346_k357_w1.0'
    """
    for variant, preset in OFA_VARIANTS.items():
        if load_space(preset).fingerprint == space.fingerprint:
            return variant
    return None
