"""Elastic operators: one max-size weight, sliced per call to the active channels / kernel.

Every op takes the active sizes as call arguments (no "active subnet" state). Weights are
sliced as views (leading channels; the centre of the max kernel), and when the active size is
the full size the parameter is used as is, so the largest subnet runs at the speed of a static
network (no slice nodes in the autograd graph).

Example:
    >>> conv = ElasticPointwiseConv(16, 32)
    >>> conv(torch.zeros(2, 8, 5, 5), out_channels=24).shape
    torch.Size([2, 24, 5, 5])
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from lamoo_nas.supernet._channels import se_channels


def take(tensor: Tensor, n: int) -> Tensor:
    """The first ``n`` entries along dim 0 (the tensor itself when that is all of it)."""
    return tensor if n == tensor.shape[0] else tensor[:n]


def take2(tensor: Tensor, n_out: int, n_in: int) -> Tensor:
    """The leading ``n_out x n_in`` block of a ``(out, in, ...)`` weight, as a view."""
    if n_in != tensor.shape[1]:
        tensor = tensor[:, :n_in]
    return take(tensor, n_out)


class ElasticPointwiseConv(nn.Module):
    """1x1 conv (no bias) over the leading channels; ``(N, Cin, H, W) -> (N, out, H, W)``."""

    def __init__(self, max_in: int, max_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_out, max_in, 1, 1))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")

    def sliced_weight(self, out_channels: int, in_channels: int) -> Tensor:
        return take2(self.weight, out_channels, in_channels)

    def forward(self, x: Tensor, out_channels: int, stride: int = 1) -> Tensor:
        return F.conv2d(x, take2(self.weight, out_channels, x.shape[1]), stride=stride)


class ElasticLinear(nn.Module):
    """Linear layer over the leading features; ``(N, in) -> (N, out)``."""

    def __init__(self, max_in: int, max_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_out, max_in))
        self.bias = nn.Parameter(torch.zeros(max_out))
        nn.init.normal_(self.weight, 0.0, 0.01)

    def forward(self, x: Tensor, out_features: int) -> Tensor:
        weight = take2(self.weight, out_features, x.shape[1])
        return F.linear(x, weight, take(self.bias, out_features))


class ElasticDepthwiseConv(nn.Module):
    """Depthwise kxk conv; smaller kernels are the centre of the max kernel.

    With ``kernel_transform=True`` (OFA), each step down the sorted kernel sizes (7 -> 5 -> 3)
    also multiplies the cropped kernel by a learned ``(k*k, k*k)`` matrix, identity at init.
    ``forward``: ``(N, C, H, W) -> (N, C, ceil(H/s), ceil(W/s))``.
    """

    def __init__(
        self, max_channels: int, kernel_sizes: tuple[int, ...], kernel_transform: bool = False
    ) -> None:
        super().__init__()
        self.kernel_sizes = tuple(sorted(kernel_sizes))
        k_max = self.kernel_sizes[-1]
        self.weight = nn.Parameter(torch.empty(max_channels, 1, k_max, k_max))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.transforms = nn.ParameterDict()
        if kernel_transform:
            for small, big in zip(self.kernel_sizes[:-1], self.kernel_sizes[1:]):
                self.transforms[f"{big}to{small}"] = nn.Parameter(torch.eye(small * small))

    def kernel(self, channels: int, kernel_size: int) -> Tensor:
        """The ``(channels, 1, k, k)`` kernel in use (transformations applied)."""
        weight = take(self.weight, channels)
        if kernel_size == weight.shape[-1]:
            return weight
        if not self.transforms:
            return _centre(weight, kernel_size)
        for small, big in zip(reversed(self.kernel_sizes[:-1]), reversed(self.kernel_sizes[1:])):
            matrix = self.transforms[f"{big}to{small}"]
            weight = _centre(weight, small).reshape(channels, small * small)
            weight = F.linear(weight, matrix).reshape(channels, 1, small, small)
            if small == kernel_size:
                break
        return weight

    def forward(self, x: Tensor, kernel_size: int, stride: int) -> Tensor:
        channels = x.shape[1]
        weight = self.kernel(channels, kernel_size)
        return F.conv2d(x, weight, None, stride, kernel_size // 2, 1, channels)


def _centre(weight: Tensor, kernel_size: int) -> Tensor:
    start = (weight.shape[-1] - kernel_size) // 2
    end = start + kernel_size
    return weight[:, :, start:end, start:end]


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` over the leading ``C`` channels of the input ``(N, C, H, W)``.

    In training mode the batch statistics of the active channels normalise the input and only
    their running statistics are updated (the buffers are updated through views). With
    ``sync = True`` (see :func:`convert_sync_batchnorm`) and a process group of several ranks,
    the batch statistics are those of the global batch (sums all-reduced across ranks,
    differentiably), so every rank normalises as one large batch would.
    """

    sync: bool = False

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        distributed = dist.is_available() and dist.is_initialized()
        if self.sync and self.training and distributed and dist.get_world_size() > 1:
            return self._synced(x, channels)
        if channels == self.num_features:
            return super().forward(x)
        return F.batch_norm(
            x,
            None if self.running_mean is None else self.running_mean[:channels],
            None if self.running_var is None else self.running_var[:channels],
            self.weight[:channels],
            self.bias[:channels],
            self.training or self.running_mean is None,
            self._update_factor(),
            self.eps,
        )

    def _update_factor(self) -> float:
        """Running-stat update weight of this step (counts the step in training mode)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        return factor

    def _synced(self, x: Tensor, channels: int) -> Tensor:
        from torch.distributed.nn.functional import all_reduce

        count = torch.full((1,), x.numel() / channels, dtype=x.dtype, device=x.device)
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        total = all_reduce(local)  # sums over ranks; its backward all-reduces the gradients
        n = total[-1]
        mean = total[:channels] / n
        var = total[channels : 2 * channels] / n - mean * mean
        factor = self._update_factor()
        if self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.running_mean[:channels].lerp_(mean.detach(), factor)
                self.running_var[:channels].lerp_(var.detach() * n / (n - 1), factor)
        scale = self.weight[:channels] * torch.rsqrt(var + self.eps)
        shift = self.bias[:channels] - mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Make every batch norm of ``module`` synchronise its batch statistics across ranks.

    Plain ``BatchNorm2d`` layers become :class:`ElasticBatchNorm2d` (same parameters and
    buffers, so state dicts are unchanged) and all get ``sync = True``. Unlike
    ``torch.nn.SyncBatchNorm`` this keeps channel slicing, and runs on CPU (gloo) as well.

    Example:
        >>> model = convert_sync_batchnorm(Supernet(space, 10))  # doctest: +SKIP
    """
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            if not isinstance(child, ElasticBatchNorm2d):
                elastic = ElasticBatchNorm2d(
                    child.num_features,
                    child.eps,
                    child.momentum,
                    child.affine,
                    child.track_running_stats,
                )
                tensors = [*child.parameters(), *child.buffers()]
                elastic.to(tensors[0].device if tensors else "cpu")
                elastic.load_state_dict(child.state_dict())
                elastic.train(child.training)
                setattr(module, name, elastic)
                child = elastic
            child.sync = True
        else:
            convert_sync_batchnorm(child)
    return module


class ElasticSqueezeExcite(nn.Module):
    """Squeeze-excite whose widths follow the input: ``C -> se_channels(C) -> C``."""

    def __init__(self, max_channels: int) -> None:
        super().__init__()
        reduced = se_channels(max_channels)
        self.reduce_weight = nn.Parameter(torch.empty(reduced, max_channels, 1, 1))
        self.reduce_bias = nn.Parameter(torch.zeros(reduced))
        self.expand_weight = nn.Parameter(torch.empty(max_channels, reduced, 1, 1))
        self.expand_bias = nn.Parameter(torch.zeros(max_channels))
        for weight in (self.reduce_weight, self.expand_weight):
            nn.init.kaiming_normal_(weight, mode="fan_out")

    def sliced(self, channels: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(reduce_weight, reduce_bias, expand_weight, expand_bias)`` for ``channels``."""
        reduced = se_channels(channels)
        return (
            take2(self.reduce_weight, reduced, channels),
            take(self.reduce_bias, reduced),
            take2(self.expand_weight, channels, reduced),
            take(self.expand_bias, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        w1, b1, w2, b2 = self.sliced(x.shape[1])
        scale = F.relu(F.conv2d(x.mean((2, 3), keepdim=True), w1, b1))
        return x * F.hardsigmoid(F.conv2d(scale, w2, b2))


@torch.no_grad()
def copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    """Copy the leading ``dst.num_features`` channels of ``src`` (affine and running stats)."""
    n = dst.num_features
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(getattr(src, name)[:n])
    if dst.num_batches_tracked is not None and src.num_batches_tracked is not None:
        dst.num_batches_tracked.copy_(src.num_batches_tracked)
    dst.eps, dst.momentum = src.eps, src.momentum
