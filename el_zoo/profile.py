"""Model cost: parameters, size in bits, BOPs, FLOPs and OPs, counted as BNN papers do.

- BOPs: multiply-accumulates of binary convolutions (binary weights *and* binary inputs).
- FLOPs: multiply-accumulates of full-precision convolutions and dense layers, plus the
  whole elementwise work of every ElasticLink layer (one per output element for the scaled
  add, one per averaged input element for Squeeze), so that EL's cost is visible.
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

from el_zoo._keras import keras
from el_zoo.layers import ElasticLink, RSign

_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def _flatten_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flatten_layers(layer)
        else:
            yield layer


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
    kernel = getattr(layer, "depthwise_kernel", None)
    return int(np.prod((kernel if kernel is not None else layer.kernel).shape))


def _conv_macs(layer, output_shape):
    """MACs of one conv: each output position multiplies the kernel's fan-in."""
    _, height, width, _ = output_shape
    # kh*kw*C_in*C_out for a conv, kh*kw*C*multiplier for a depthwise conv.
    return height * width * _kernel_size(layer)


def _is_binary_kernel(layer, weight):
    name = weight.name.split("/")[-1].split(":")[0]
    return _binary_kernel(layer) and name in ("kernel", "depthwise_kernel")


def _add_params(totals, layer, weights):
    for weight in weights:
        key = "binary_params" if _is_binary_kernel(layer, weight) else "float_params"
        totals[key] += int(np.prod(weight.shape))


def _add_conv(totals, layer, output_shape, binary_input):
    _add_params(totals, layer, layer.weights)
    macs = _conv_macs(layer, output_shape)
    totals["bops" if _binary_kernel(layer) and binary_input else "flops"] += macs


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
    if any(d is None for d in model.input_shape[1:3]):
        raise ValueError(
            f"profile({model.name}) needs a fixed input size; build it with "
            "input_shape=(H, W, 3)."
        )
    totals = dict.fromkeys(
        ("binary_params", "float_params", "bops", "flops", "el_params", "el_flops"), 0
    )
    for layer in _flatten_layers(model):
        if isinstance(layer, ElasticLink):
            totals["el_params"] += int(np.prod(layer.gamma.shape))
            totals["el_flops"] += _elastic_link_flops(layer)
            _add_params(totals, layer, [layer.gamma])
            if layer.conv is not None:  # the link wraps its binary conv
                binary_input = layer.conv.input_quantizer is not None
                _add_conv(totals, layer.conv, layer.output_shape, binary_input)
        elif isinstance(layer, _CONVS):
            _add_conv(totals, layer, layer.output_shape, _binary_input(layer))
        else:
            _add_params(totals, layer, layer.weights)
            if isinstance(layer, keras.layers.Dense):
                positions = math.prod(layer.output_shape[1:-1] or (1,))
                totals["flops"] += _kernel_size(layer) * positions
    totals["flops"] += totals["el_flops"]
    totals["params"] = totals["binary_params"] + totals["float_params"]
    totals["size_bits"] = totals["binary_params"] + 32 * totals["float_params"]
    totals["size_mb"] = totals["size_bits"] / 8 / 1e6
    totals["ops"] = totals["bops"] / 64 + totals["flops"]
    return totals


def larq_summary(model, print_fn=None):
    """Larq's per-layer summary (precision, weights by bit width, memory, MACs)."""
    lq.models.summary(model, print_fn=print_fn)
