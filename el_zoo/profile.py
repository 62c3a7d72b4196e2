"""Model cost: parameters, size in bits, BOPs, FLOPs and OPs, counted as BNN papers do.

- BOPs: multiply-accumulates of binary convolutions (binary weights *and* binary inputs).
- FLOPs: multiply-accumulates of full-precision convolutions (Keras' 1-3D, depthwise,
  separable and transposed ones) and dense layers, each call of a shared layer (or of a
  nested model) counted, plus the whole elementwise work of every ElasticLink layer (one
  per output element for the scaled add, one per averaged input element for Squeeze), so
  that EL's cost is visible.
  As in the published figures (Bi-Real Net, ReActNet), batch normalisation, activations,
  shortcut additions and pooling are not counted.
- OPs = BOPs / 64 + FLOPs.
- Parameters: binary (1-bit latent kernels of binary convs) and float (everything else,
  BN moving statistics and the input standardisation included); size = binary + 32 * float
  bits.
"""

import math

import larq as lq
import numpy as np

from el_zoo._keras import keras, weight_name
from el_zoo.layers import ElasticLink, RSign

_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
          keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
          keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
# Subclasses of the convs above whose kernel slides over the input's positions.
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
               keras.layers.Conv3DTranspose)


def _flatten_layers(model, runs=1):
    """(layer, its calls in ``model`` as node indices, how often ``model`` runs per image)
    for every layer of ``model`` and of the models nested in it: a layer called twice (a
    shared layer, a backbone called on two inputs) costs twice."""
    for layer in model.layers:
        calls = _calls(model, layer)
        if isinstance(layer, keras.Model):
            yield from _flatten_layers(layer, runs * len(calls))
        else:
            yield layer, calls, runs


def _check_countable(model):
    """Refuses a model whose layers' calls and sizes Keras does not record: an unbuilt one,
    a subclassed one, one of any input size."""
    if not model.built:
        raise ValueError(f"profile({model.name}) needs a built model; give it an input "
                         "shape (keras.Input, or call it on a batch) first.")
    if getattr(model, "_network_nodes", None) is None or not model.inputs:
        raise ValueError(f"profile counts functional and Sequential models; {model.name} is "
                         "a subclassed model, whose calls Keras does not record.")
    if any(d is None for d in model.input_shape[1:3]):
        raise ValueError(
            f"profile({model.name}) needs a fixed input size; build it with "
            "input_shape=(H, W, 3)."
        )


def _calls(model, layer):
    """The indices of ``layer``'s nodes that are calls in ``model`` (a layer may also have
    been called outside it)."""
    if isinstance(layer, keras.Model):
        _check_countable(layer)
    return [index for index in range(len(layer.inbound_nodes))
            if f"{layer.name}_ib-{index}" in model._network_nodes]


def _positions(layer, shape):
    """How many positions a layer computes at: the product of ``shape``'s middle dims."""
    middle = shape[1:-1]
    if any(d is None for d in middle):
        raise ValueError(
            f"profile needs fixed sizes, but layer {layer.name!r} computes at any size "
            f"{tuple(shape[1:])} (a model nested in the one profiled, built for images of "
            "any size?): build it with input_shape=(H, W, 3)."
        )
    return math.prod(middle)


def _inbound_layers(layer):
    layers = []
    for node in layer.inbound_nodes:
        inbound = node.inbound_layers
        layers.extend(inbound if isinstance(inbound, list) else [inbound])
    return layers


def _binary_kernel(layer):
    quantizer = getattr(layer, "kernel_quantizer", None) or getattr(
        layer, "depthwise_quantizer", None
    )
    return quantizer is not None


def _binary_input(layer):
    if getattr(layer, "input_quantizer", None) is not None:
        return True
    return any(isinstance(inbound, RSign) for inbound in _inbound_layers(layer))


def _kernel_size(layer):
    """MACs per position: kh*kw*C_in*C_out for a conv, kh*kw*C*multiplier for a depthwise
    conv, the depthwise's plus the pointwise's for a separable conv, C_in*C_out for Dense."""
    kernels = ("kernel", "depthwise_kernel", "pointwise_kernel")
    return sum(int(np.prod(getattr(layer, name).shape)) for name in kernels
               if getattr(layer, name, None) is not None)


def _conv_macs(layer, output_shape, input_shape=None):
    """MACs of one call of a conv: each position its kernel slides over (an output
    position; an input position for a transposed conv) multiplies its fan-in."""
    slides_over = input_shape if isinstance(layer, _TRANSPOSED) else output_shape
    return _positions(layer, slides_over) * _kernel_size(layer)


def _is_binary_kernel(layer, weight):
    return _binary_kernel(layer) and weight_name(weight) in ("kernel", "depthwise_kernel")


def _add_params(totals, layer, weights):
    for weight in weights:
        key = "binary_params" if _is_binary_kernel(layer, weight) else "float_params"
        totals[key] += int(np.prod(weight.shape))


def _add_conv(totals, layer, macs, binary_input):
    _add_params(totals, layer, layer.weights)
    totals["bops" if _binary_kernel(layer) and binary_input else "flops"] += macs


def _call_macs(layer, calls, runs):
    """MACs of a conv or Dense layer over its calls, per image (a Dense layer is a 1x1 conv
    over its input's middle dims, if any)."""
    return runs * sum(_conv_macs(layer, layer.get_output_shape_at(node),
                                 layer.get_input_shape_at(node)) for node in calls)


def _elastic_link_flops(layer):
    x_shape = layer.input_shape if layer.conv is not None else layer.input_shape[0]
    (_, h_in, w_in, c_in), (_, h_out, w_out, c_out) = x_shape, layer.output_shape
    flops = h_out * w_out * c_out  # gamma * T(x) + conv_out
    if layer.pool_stride > 1:
        flops += h_in * w_in * c_in
    if layer.group_size > 1:
        flops += h_out * w_out * c_out * layer.group_size
    if layer.activation_scaling:
        flops += h_in * w_in * c_in + h_out * w_out * c_out
    return flops


def cost_line(cost):
    """``profile``'s cost of a model as the one line ``el-zoo info`` and the demo print.

    Arguments:
        cost: the dict ``profile`` returns.

    Example:
        ```python
        print(cost_line(profile(el_zoo.load("reactnet_a"))))
        # params ...M (...M binary, ...M float), size ... MB, BOPs ..., FLOPs ..., OPs ...
        ```
    """
    return (
        f"params {cost['params'] / 1e6:.2f}M ({cost['binary_params'] / 1e6:.2f}M binary, "
        f"{cost['float_params'] / 1e6:.2f}M float), size {cost['size_mb']:.2f} MB, "
        f"BOPs {cost['bops']:.3g}, FLOPs {cost['flops']:.3g}, OPs {cost['ops']:.3g}"
    )


def profile(model):
    """Cost of a built model with a fixed input size, as a dict.

    Keys: ``params``, ``binary_params``, ``float_params``, ``size_bits``, ``size_mb``
    (megabytes of 8 bits), ``bops``, ``flops``, ``ops``, ``el_params``, ``el_flops``.

    Example:
        ```python
        cost = el_zoo.profile(el_zoo.load("reactnet_a"))
        print(f"{cost['ops']:.3g} OPs")
        ```
    """
    _check_countable(model)
    totals = dict.fromkeys(
        ("binary_params", "float_params", "bops", "flops", "el_params", "el_flops"), 0
    )
    for layer, calls, runs in _flatten_layers(model):
        if isinstance(layer, ElasticLink):
            totals["el_params"] += int(np.prod(layer.gamma.shape))
            totals["el_flops"] += runs * _elastic_link_flops(layer)
            _add_params(totals, layer, [layer.gamma])
            if layer.conv is not None:  # the link wraps its binary conv
                binary_input = layer.conv.input_quantizer is not None
                macs = runs * _conv_macs(layer.conv, layer.output_shape)
                _add_conv(totals, layer.conv, macs, binary_input)
        elif isinstance(layer, _CONVS):
            _add_conv(totals, layer, _call_macs(layer, calls, runs), _binary_input(layer))
        else:
            _add_params(totals, layer, layer.weights)
            if isinstance(layer, keras.layers.Dense):
                totals["flops"] += _call_macs(layer, calls, runs)
    totals["flops"] += totals["el_flops"]
    totals["params"] = totals["binary_params"] + totals["float_params"]
    totals["size_bits"] = totals["binary_params"] + 32 * totals["float_params"]
    totals["size_mb"] = totals["size_bits"] / 8 / 1e6
    totals["ops"] = totals["bops"] / 64 + totals["flops"]
    return totals


def larq_summary(model, print_fn=None):
    """Larq's per-layer summary (precision, weights by bit width, memory, MACs)."""
    lq.models.summary(model, print_fn=print_fn)
