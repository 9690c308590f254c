"""Exact replacements of ops whose backward is slow for few channels or under ``vmap``.

PyTorch's CPU kernels are tuned for wide tensors; on the 3- to 12-channel
activations of a TE-NAS scoring network three ops dominate a backward pass
(figures: this project's 2-core CPU, one thread):

- ``conv2d``'s input gradient (the oneDNN backward-data kernel) costs ~7x its
  forward. For stride 1 the input gradient IS a forward convolution of the output
  gradient with the transposed, flipped kernel (a channel matmul for 1x1), so
  :class:`Conv2dFunction` computes it that way; weight gradients of 1x1 kernels
  are one matmul.
- ``avg_pool2d`` (k x k, stride 1, padding k // 2) costs ~8x a box filter of
  shifted adds, which :class:`BoxPoolFunction` uses forward and backward (the box
  filter is its own adjoint).
- ``batch_norm`` in train mode: ``vmap``'s rule for its backward copies its
  inputs for every chunk of cotangents (~3x a single backward per cotangent);
  :class:`BatchNormFunction` keeps the native forward and writes the backward in
  closed form, which batches without copies.

:class:`fast_backward_ops` is a ``TorchFunctionMode`` that routes calls to these
functions inside a block: convolution and pooling for CPU tensors, train-mode
BatchNorm on every device, supported arguments only (anything else runs the
stock op). Every function is a custom ``autograd.Function`` with a ``vmap`` rule,
so it works under ``torch.func.vjp`` + ``vmap``; all compute the same values as
the stock ops up to float rounding (tested against them).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Conv2dFunction(torch.autograd.Function):
    """``conv2d`` with stride 1, dilation 1, groups 1 and padding < kernel size (see module doc)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, padding):
        return F.conv2d(x, weight, bias, 1, padding)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, padding = inputs
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        kh, kw = weight.shape[-2:]
        ph, pw = ctx.padding
        grad_x = grad_w = grad_b = None
        pointwise = (kh, kw) == (1, 1)
        if ctx.needs_input_grad[0]:
            if pointwise:
                grad_x = (weight[:, :, 0, 0].t() @ grad.flatten(2)).view(x.shape)
            else:
                grad_x = F.conv2d(grad, weight.transpose(0, 1).flip(-2, -1), None, 1, (kh - 1 - ph, kw - 1 - pw))
        if ctx.needs_input_grad[1]:
            if pointwise:
                channels_first = grad.transpose(0, 1).reshape(grad.shape[1], -1)
                grad_w = (channels_first @ x.transpose(0, 1).reshape(x.shape[1], -1).t())[:, :, None, None]
            else:
                grad_w = torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [ph, pw], [1, 1], False, [0, 0], 1, [False, True, False])[1]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


_INVERSE_COUNTS: dict = {}


def _box_sum(x: torch.Tensor, k: int) -> torch.Tensor:
    """Sum over every k x k window (zero padding k // 2), as 2(k - 1) shifted adds."""
    r = k // 2
    padded = F.pad(x, (r, r, r, r))
    h = x.shape[-2]
    rows = padded[..., 0:h, :]
    for i in range(1, k):
        rows = rows + padded[..., i : i + h, :]
    w = x.shape[-1]
    out = rows[..., 0:w]
    for i in range(1, k):
        out = out + rows[..., i : i + w]
    return out


def _inverse_count(x: torch.Tensor, k: int, count_include_pad: bool) -> torch.Tensor:
    """1 / (number of summed elements) per output position, cached per shape and device."""
    key = (x.shape[-2:], k, count_include_pad, x.dtype, x.device)
    if key not in _INVERSE_COUNTS:
        if count_include_pad:
            counts = torch.full(x.shape[-2:], float(k * k), dtype=x.dtype, device=x.device)
        else:
            counts = _box_sum(torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype, device=x.device), k)[0, 0]
        _INVERSE_COUNTS[key] = counts.reciprocal()
    return _INVERSE_COUNTS[key]


class BoxPoolFunction(torch.autograd.Function):
    """``avg_pool2d`` with an odd square kernel ``k``, stride 1, padding ``k // 2``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, k, count_include_pad):
        return _box_sum(x, k) * _inverse_count(x, k, count_include_pad)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, k, count_include_pad = inputs
        ctx.k, ctx.inverse = k, _inverse_count(x, k, count_include_pad)

    @staticmethod
    def backward(ctx, grad):
        return _box_sum(grad * ctx.inverse, ctx.k), None, None


class BatchNormFunction(torch.autograd.Function):
    """``batch_norm`` normalising with batch statistics (no running-statistics update)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, eps):
        out, mean, invstd = torch.ops.aten.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return out, (x - mean.view(shape)) * invstd.view(shape), invstd

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, eps = inputs
        _, normalised, invstd = output
        ctx.save_for_backward(weight, normalised, invstd)
        ctx.mark_non_differentiable(normalised, invstd)
        ctx.has_weight, ctx.has_bias = weight is not None, bias is not None

    @staticmethod
    def backward(ctx, grad, _grad_normalised, _grad_invstd):
        weight, normalised, invstd = ctx.saved_tensors
        shape = (1, -1) + (1,) * (normalised.dim() - 2)
        dims = [0] + list(range(2, normalised.dim()))
        count = normalised.numel() // normalised.shape[1]
        grad_bias = grad.sum(dims)
        grad_weight = (grad * normalised).sum(dims)
        scale = invstd if weight is None else weight * invstd
        # dx = γ σ⁻¹ (g − mean(g) − x̂ · mean(g x̂)), means over batch and space
        offset = torch.addcmul((scale * grad_bias / -count).view(shape), normalised, (scale * grad_weight / -count).view(shape))
        grad_x = torch.addcmul(offset, grad, scale.view(shape))
        return (
            grad_x if ctx.needs_input_grad[0] else None,
            grad_weight if ctx.has_weight and ctx.needs_input_grad[1] else None,
            grad_bias if ctx.has_bias and ctx.needs_input_grad[2] else None,
            None,
        )


class fast_backward_ops(TorchFunctionMode):
    """Inside this block, supported ``conv2d`` / ``avg_pool2d`` calls on CPU tensors and train-mode
    ``batch_norm`` calls use the functions above; every other call runs unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d:
            routed = _route_conv2d(*args, **kwargs)
        elif func is F.avg_pool2d:
            routed = _route_avg_pool2d(*args, **kwargs)
        elif func is F.batch_norm:
            routed = _route_batch_norm(*args, **kwargs)
        else:
            routed = None
        return func(*args, **kwargs) if routed is None else routed


def _route_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if input.device.type != "cpu" or input.dim() != 4 or isinstance(padding, str) or groups != 1:
        return None
    padding = _pair(padding)
    if _pair(stride) != (1, 1) or _pair(dilation) != (1, 1) or padding[0] >= weight.shape[-2] or padding[1] >= weight.shape[-1]:
        return None
    return Conv2dFunction.apply(input, weight, bias, padding)


def _route_avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    k = _pair(kernel_size)
    if input.device.type != "cpu" or input.dim() != 4 or k[0] != k[1] or k[0] % 2 == 0 or divisor_override is not None:
        return None
    if _pair(stride if stride else k) != (1, 1) or _pair(padding) != (k[0] // 2, k[0] // 2):
        return None
    return BoxPoolFunction.apply(input, k[0], bool(count_include_pad))


def _route_batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if not training or running_mean is not None or running_var is not None or input.dim() < 2:
        return None
    return BatchNormFunction.apply(input, weight, bias, eps)[0]
