"""Turning a zoo model's binarization off, in part or whole: its real-valued twins.

One function serves every use: the benchmarks' float twin (latency of the same net in
float), stage 1 of the two-stage recipe (binary activations, real weights) and the float
teacher of the training recipes (real weights and activations, ``hard_tanh`` standing in
for ``sign``). Layer names and weight shapes are unchanged, so weights move between a model
and its twins by name.
"""

import larq as lq
import tensorflow as tf

from el_zoo._keras import keras
from el_zoo.model_record import forget

_QUANT_LAYERS = ("QuantConv2D", "QuantDepthwiseConv2D", "QuantDense")
_WEIGHT_QUANTIZERS = ("kernel_quantizer", "depthwise_quantizer")
_WEIGHT_CONSTRAINTS = ("kernel_constraint", "depthwise_constraint")
ACTIVATIONS = (None, "hard_tanh")
_QUANTIZER_NAMES = {"hard_tanh": "HardTanh"}


@lq.utils.register_keras_custom_object
class HardTanh(lq.quantizers.Quantizer):
    """``clip(x, -1, 1)``, a full-precision "quantizer": the function whose gradient
    ``ste_sign`` uses, so a float net with it is the real-valued counterpart of a binarized
    one. Usable as a ``input_quantizer`` ("HardTanh") and as a layer."""

    precision = 32

    def call(self, inputs):
        return tf.clip_by_value(inputs, -1.0, 1.0)


def _strip_layer(layer, *, weights, activations, activation):
    config = layer["config"]
    if weights and layer["class_name"] in _QUANT_LAYERS:
        for key in (*_WEIGHT_QUANTIZERS, *_WEIGHT_CONSTRAINTS):
            if key in config:
                config[key] = None
    if not activations:
        return
    if "input_quantizer" in config and config["input_quantizer"] is not None:
        config["input_quantizer"] = _QUANTIZER_NAMES.get(activation)
    if "pad_values" in config:  # +1 padding stands for a binary zero; real inputs pad with 0
        config["pad_values"] = 0.0
    if layer["class_name"] == "RSign":  # sign(x - alpha) becomes the activation of x
        base = {"name": config["name"], "trainable": True, "dtype": "float32"}
        if activation is None:
            layer.update(module="keras.layers", class_name="Activation", registered_name=None,
                         config={**base, "activation": "linear"})
        else:
            name = _QUANTIZER_NAMES[activation]
            layer.update(class_name=name, registered_name=name, config=base)


def strip_binarization(model, *, weights=True, activations=True, activation=None):
    """The same architecture with binarization turned off.

    Arguments:
        model: a functional Keras model (every zoo model is one).
        weights: make binary weights real-valued (no kernel quantizer, no clipping).
        activations: make binary activations real-valued: each ``input_quantizer`` (and
            ReActNet's ``RSign``) becomes ``activation``.
        activation: None (identity: the benchmarks' float twin, whose latency is what
            matters) or ``"hard_tanh"`` (``HardTanh``: a float net worth training: the teacher and the
            latent-weight initialisation of the training recipes).

    Returns:
        A new model; its weights are freshly initialised (copy them by name if needed).

    Example:
        ```python
        teacher = strip_binarization(model, activation="hard_tanh")
        stage_one = strip_binarization(model, activations=False)
        ```
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not supported; use one of {ACTIVATIONS}.")
    config = model.get_config()
    for layer in config["layers"]:
        _strip_layer(layer, weights=weights, activations=activations, activation=activation)
    # another model, of fresh weights: not what el_zoo recorded on ``model`` (its origin,
    # classes, configuration), which came with the config of its input layer
    return forget(keras.Model.from_config(config))
