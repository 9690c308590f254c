"""Exact replacements of ops whose backward is slow for few channels or under ``vmap``.

PyTorch's CPU kernels are tuned for wide tensors; on the 3- to 12-channel
activations of a TE-NAS scoring network three ops dominate a backward pass
(figures: this project's 2-core CPU, one thread):

- ``conv2d``'s input gradient (the oneDNN backward-data kernel) costs ~7x its
  forward, and its grouped / depthwise backward kernels (the DARTS ops) run at
  ~1 GFLOP/s. The input gradient IS a forward convolution of the output gradient,
  spread back onto the stride-1 grid, with the flipped kernel whose in/out
  channels swap within each group; :class:`Conv2dFunction` computes it that way
  (a channel matmul for dense 1x1, a channel scale for one-channel groups,
  channels-last layout for grouped kernels, shifted multiply-adds for a single
  channel). Weight gradients of grouped and 1x1 kernels are one batched matmul of
  output gradients and input patches per group, the patches shared by a whole
  chunk of cotangents (:class:`_GroupedWeightGrad`).
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
    """``conv2d`` with any dilation and groups, padding at most ``dilation * (k - 1)``, and any stride
    for grouped kernels (stride 1 for dense ones, whose strided oneDNN kernels are faster; see module doc)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, stride, padding, dilation, groups):
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, stride, padding, dilation, groups = inputs
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, groups
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _conv_input_grad(grad, weight, x.shape[-2:], ctx.stride, ctx.padding, ctx.dilation, ctx.groups)
        if ctx.needs_input_grad[1]:
            grad_w = _conv_weight_grad(grad, x, weight, ctx.stride, ctx.padding, ctx.dilation, ctx.groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


def _conv_input_grad(grad, weight, size, stride, padding, dilation, groups):
    """The input gradient as a forward convolution: the output gradient, spread back onto the stride-1
    grid (zeros between), convolved with the flipped kernel whose in/out channels swap within each group."""
    (kh, kw), (sh, sw), (dh, dw) = weight.shape[-2:], stride, dilation
    span = (dh * (kh - 1), dw * (kw - 1))
    if (sh, sw) != (1, 1):  # the stride-1 output grid has these sizes; the strided output sits on every s-th point
        full = [size[i] + 2 * padding[i] - span[i] for i in range(2)]
        ho, wo = grad.shape[-2:]
        grad = F.pad(grad.reshape(*grad.shape[:-2], ho, 1, wo, 1), (0, sw - 1, 0, 0, 0, sh - 1))
        grad = grad.reshape(*grad.shape[:-4], ho * sh, wo * sw)[..., : full[0], : full[1]]
        grad = F.pad(grad, (0, full[1] - grad.shape[-1], 0, full[0] - grad.shape[-2]))
    c_out, c_in_group = weight.shape[:2]
    pointwise = (kh, kw) == (1, 1) and padding == (0, 0)
    if pointwise and groups == 1:
        return (weight[:, :, 0, 0].t() @ grad.flatten(2)).view(*grad.shape[:-3], c_in_group, *grad.shape[-2:])
    if pointwise and c_in_group == 1 and c_out == groups:  # one channel in and out per group: a channel scale
        return grad * weight.view(c_out, 1, 1)
    flipped = weight.flip(-2, -1).view(groups, c_out // groups, c_in_group, kh, kw).transpose(1, 2)
    flipped = flipped.reshape(groups * c_in_group, c_out // groups, kh, kw)
    padding = (span[0] - padding[0], span[1] - padding[1])
    if c_out == 1 and c_in_group == 1:
        return _single_channel_conv(grad, flipped, padding, dilation)
    if groups == 1:
        return F.conv2d(grad, flipped, None, 1, padding, dilation)
    return _GroupedConv.apply(grad, flipped, padding, dilation, groups)


def _single_channel_conv(x, weight, padding, dilation):
    """Stride-1 ``conv2d`` of a one-channel ``x`` with a ``[1, 1, kh, kw]`` kernel as kh * kw shifted
    multiply-adds (several times faster than oneDNN's kernels for one channel)."""
    (kh, kw), (ph, pw), (dh, dw) = weight.shape[-2:], padding, dilation
    padded = F.pad(x, (pw, pw, ph, ph))
    h, w = padded.shape[-2] - dh * (kh - 1), padded.shape[-1] - dw * (kw - 1)
    out = None
    for i in range(kh):
        rows = padded[..., i * dh : i * dh + h, :]
        for j in range(kw):
            window, tap = rows[..., j * dw : j * dw + w], weight[0, 0, i, j]
            out = window * tap if out is None else torch.addcmul(out, window, tap)
    return out


def _conv_weight_grad(grad, x, weight, stride, padding, dilation, groups):
    """Σ over samples and positions of output gradient x input patch."""
    c_out, c_in_group, kh, kw = weight.shape
    if groups == 1 and (kh, kw) != (1, 1):  # oneDNN's weight-gradient kernel is fast for dense kernels
        return torch.ops.aten.convolution_backward(grad, x, weight, None, list(stride), list(padding), list(dilation),
                                                   False, [0, 0], 1, [False, True, False])[1]
    pointwise = (kh, kw) == (1, 1) and padding == (0, 0)
    if pointwise and groups == 1:
        x = x[:, :, :: stride[0], :: stride[1]]
        return (grad.transpose(0, 1).reshape(c_out, -1) @ x.transpose(0, 1).reshape(x.shape[1], -1).t())[:, :, None, None]
    if pointwise and c_in_group == 1 and c_out == groups:
        return (grad * x[:, :, :: stride[0], :: stride[1]]).sum((0, 2, 3)).view(weight.shape)
    return _GroupedWeightGrad.apply(grad, x, (kh, kw), stride, padding, dilation, groups)


class _GroupedConv(torch.autograd.Function):
    """``conv2d`` (stride 1) of a grouped kernel in channels-last layout, where oneDNN's grouped kernels are
    several times faster; under ``vmap`` the batch dimension folds into the samples. No backward."""

    @staticmethod
    def forward(x, weight, padding, dilation, groups):
        x = x.contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, weight, None, 1, padding, dilation, groups).contiguous()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def vmap(info, in_dims, x, weight, padding, dilation, groups):
        if in_dims[1] is not None:
            raise NotImplementedError("the NTK engine's grouped convolution batches over its input only")
        x = x.movedim(in_dims[0], 0)
        out = _GroupedConv.forward(x.flatten(0, 1), weight, padding, dilation, groups)
        return out.view(*x.shape[:2], *out.shape[1:]), 0


class _GroupedWeightGrad(torch.autograd.Function):
    """A grouped (or 1x1) convolution's weight gradient as one batched matmul per group over samples
    and positions: output gradient ``[g, o, n*L]`` x input patches ``[g, n*L, i*kh*kw]``. Under ``vmap``
    the batch of output gradients joins ``o``, so the patches are built once. No backward."""

    @staticmethod
    def forward(grad, x, kernel, stride, padding, dilation, groups):
        return _GroupedWeightGrad._batched(grad[None], x, kernel, stride, padding, dilation, groups)[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def _batched(grad, x, kernel, stride, padding, dilation, groups):
        """``grad``: ``[b, n, c_out, h_out, w_out]`` -> ``[b, c_out, c_in / groups, kh, kw]``."""
        b, n, c_out = grad.shape[:3]
        c_in = x.shape[1]
        if kernel == (1, 1) and padding == (0, 0):
            patches = x[:, :, :: stride[0], :: stride[1]].reshape(n, groups, c_in // groups, -1)
        else:
            patches = F.unfold(x, kernel, dilation, padding, stride).view(n, groups, c_in // groups * kernel[0] * kernel[1], -1)
        patches = patches.permute(1, 0, 3, 2).reshape(groups, -1, patches.shape[2])
        out_grad = grad.reshape(b, n, groups, c_out // groups, -1).permute(2, 0, 3, 1, 4).reshape(groups, b * (c_out // groups), -1)
        w = torch.bmm(out_grad, patches).view(groups, b, c_out // groups, c_in // groups, *kernel)
        return w.transpose(0, 1).reshape(b, c_out, c_in // groups, *kernel)

    @staticmethod
    def vmap(info, in_dims, grad, x, kernel, stride, padding, dilation, groups):
        if in_dims[1] is not None:
            raise NotImplementedError("the NTK engine's weight gradient batches over output gradients only")
        return _GroupedWeightGrad._batched(grad.movedim(in_dims[0], 0), x, kernel, stride, padding, dilation, groups), 0


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
    if input.device.type != "cpu" or input.dim() != 4 or isinstance(padding, str):
        return None
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    if any(padding[i] > dilation[i] * (weight.shape[2 + i] - 1) for i in range(2)):
        return None
    if groups == 1 and stride != (1, 1):  # oneDNN's strided dense kernels beat the zero-spread forward convolution
        return None
    return Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups)


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
