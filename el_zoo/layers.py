"""Layers of el_zoo: ElasticLink, ReActNet's RSign and RPReLU, and input standardisation.

Every layer is registered with Larq's custom-object registry, so models that use them save,
reload and convert without passing ``custom_objects``.
"""

import contextlib
import contextvars
import json
import math
import threading
import warnings

import larq as lq
import numpy as np
import tensorflow as tf

from el_zoo._keras import keras
from el_zoo.arguments import is_number
from el_zoo.model_record import (LAYER_ATTRIBUTE, built_without_classifier, check_class_count,
                                 record_class_names)


def _spatial_stride(size_in, size_out):
    """The stride s with ceil(size_in / s) == size_out ('same' padding), or None."""
    if size_in is None or size_out is None:
        return None
    for stride in range(1, size_in + 1):
        if math.ceil(size_in / stride) == size_out:
            return stride
    return None


def squeeze_spatial(x, stride):
    """Spatial "Squeeze": average pooling with ``stride`` and 'same' padding (identity at 1)."""
    if stride == 1:
        return x
    return tf.nn.avg_pool2d(x, stride, stride, padding="SAME")


def channel_factors(channels_in, channels_out):
    """(tile factor, group size) of ``match_channels``: tile up to lcm(C_in, C_out), then
    average groups down to C_out."""
    common = math.lcm(channels_in, channels_out)
    return common // channels_in, common // channels_out


def channel_sources(channels_in, channels_out):
    """Which input channels ``match_channels`` averages into each output channel: an
    array of shape (channels_out, group size)."""
    _, group = channel_factors(channels_in, channels_out)
    return (np.arange(channels_out * group) % channels_in).reshape(channels_out, group)


def channel_matrix(channels_in, channels_out):
    """``match_channels`` as a (C_in, C_out) float32 matrix M: T(x) = x @ M at every
    position."""
    sources = channel_sources(channels_in, channels_out)
    matrix = np.zeros((channels_in, channels_out), np.float32)
    for out, group in enumerate(sources):
        np.add.at(matrix[:, out], group, 1.0 / len(group))
    return matrix


def _height_width(x):
    """x's spatial sizes: static where known, else from its runtime shape."""
    dynamic, static = tf.shape(x), x.shape
    return [static[i] if static[i] is not None else dynamic[i] for i in (1, 2)]


def per_position_matmul(x, matrix):
    """x @ matrix over the channel axis of a 4D tensor (one matmul for all positions)."""
    height, width = _height_width(x)
    flat = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), matrix)
    return tf.reshape(flat, [-1, height, width, matrix.shape[-1]])


def match_channels(x, channels_out):
    """Channel "Expand"/"Squeeze" without weights: tile the channels up to
    lcm(C_in, C_out), then average consecutive groups down to ``channels_out``."""
    tile_factor, group_size = channel_factors(int(x.shape[-1]), channels_out)
    if tile_factor > 1:
        x = tf.tile(x, [1, 1, 1, tile_factor])
    if group_size > 1:
        height, width = _height_width(x)
        x = tf.reshape(x, [-1, height, width, channels_out, group_size])
        x = tf.reduce_mean(x, axis=-1)
    return x


# Links whose input has at most this many channels take the matmul form in training
# (``linked_sum_for_training``): its work per output value grows with C_in, the elementwise
# chain's does not, and above this the matmul was no faster (benchmarks/el_link_forms.py).
MATMUL_MAX_CHANNELS = 16


def linked_sum_for_training(conv_out, x_real, gamma, stride, channels_out):
    """``conv_out + gamma * T(x_real)`` in the form whose forward and backward pass cost
    least on CPU; the same values as ``ElasticLink``'s inference form up to float rounding.

    TensorFlow runs each op of the plain form (tile, reshape + mean, multiply by gamma,
    add) as its own pass over memory, and its gradient as several more. Here the group
    means of a channel Squeeze are one matmul with a column of 1 / group size, and with few
    input channels ``gamma * T(x)`` is one matmul with ``channel_matrix * gamma``. What
    each form cost: docs/elastic_link.md ("Training cost").

    Arguments:
        conv_out: the binary convolution's output, (batch, H, W, channels_out).
        x_real: its real-valued input.
        gamma: the link's scale, per output channel or a scalar.
        stride: the spatial Squeeze's stride (``squeeze_spatial``).
        channels_out: output channels.

    Example:
        ```python
        y = linked_sum_for_training(conv_out, x, link.gamma, 2, 128)
        ```
    """
    x = squeeze_spatial(x_real, stride)
    channels_in = int(x.shape[-1])
    if channels_in <= MATMUL_MAX_CHANNELS:
        matrix = tf.constant(channel_matrix(channels_in, channels_out), x.dtype) * gamma
        return conv_out + per_position_matmul(x, matrix)
    tile_factor, group_size = channel_factors(channels_in, channels_out)
    if tile_factor == 1 and group_size > 1:
        x = _group_means(x, channels_out, group_size)
    else:
        x = match_channels(x, channels_out)
    return conv_out + gamma * x


def _group_means(x, channels_out, group_size):
    """``match_channels`` for C_in = group_size * C_out, as one matmul."""
    height, width = _height_width(x)
    means = tf.matmul(tf.reshape(x, [-1, group_size]),
                      tf.fill([group_size, 1], tf.constant(1 / group_size, x.dtype)))
    return tf.reshape(means, [-1, height, width, channels_out])


def gamma_initializer_from(value):
    """The Keras initializer of an Elastic-Link's gamma: a number (a constant), an
    initializer, its name or its config; a name Keras does not know is a ValueError that
    says what to use (Keras' own message is about custom-object scopes)."""
    if is_number(value):
        return keras.initializers.Constant(float(value))
    try:
        return keras.initializers.get(value)
    except ValueError as error:
        raise ValueError(
            f"Elastic-Link option gamma_initializer={value!r} is not a Keras initializer; "
            "use a number (e.g. 0.25) or an initializer's name (e.g. 'ones', 'zeros')."
        ) from error


@lq.utils.register_keras_custom_object
class ElasticLink(keras.layers.Layer):
    """Elastic-Link: adds the real-valued input of a binary convolution to its output.

    Called on ``[x_real, conv_out]``, where ``x_real`` is the real-valued (pre-binarization)
    input of a binary convolution and ``conv_out`` its output, it returns

        out = conv_out * K + gamma * T(x_real)

    ``T`` matches ``x_real`` to the shape of ``conv_out`` without weights:

    - spatial stride ("Squeeze"): average pooling with the conv's stride and 'same'
      padding, so odd sizes round up exactly as a strided 'same' convolution does;
    - fewer output channels ("Squeeze"): each output channel is the mean of a group of
      ``C_in / C_out`` consecutive input channels;
    - more output channels ("Expand"): the input channels are repeated (tiled)
      ``C_out / C_in`` times;
    - a ratio that is not an integer (e.g. 96 -> 64): channels are first tiled up to
      ``lcm(C_in, C_out)`` and then averaged in groups down to ``C_out``. Every output
      channel is then a fixed average of input channels, still with no weights.

    ``K`` is 1 unless ``activation_scaling=True``: then ``K`` is the XNOR-Net activation
    scale, the mean of ``|x_real|`` over channels at each position (average-pooled to the
    output's resolution), which the paper's Fig. 2 shows as optional.

    Defaults: a per-channel ``gamma`` starting at 0.25 and no activation scaling; the
    families add the link before the conv's batch normalisation (``position="before_bn"``),
    except ``mobilenet_v1_el``, which adds it after (``el_zoo.ElasticLinkOptions``). The
    paper's full text was not available here, so these were measured; the ablation, where
    the link helped and where it did not, and why: ``docs/elastic_link.md``.

    All ops are plain TFLite ops after conversion with Larq Compute Engine (average pool,
    tile, reshape, mean, mul, add): no custom op. In training (``training=True``, as
    ``fit`` calls it) the layer computes the same sum in a form that is cheaper to
    backpropagate on CPU (``linked_sum_for_training``).

    Arguments:
        gamma: ``"per_channel"`` (one learnable scale per output channel) or ``"scalar"``
            (one learnable scale for the layer).
        gamma_initializer: initializer of ``gamma`` (a float, an initializer or its name).
        activation_scaling: multiply ``conv_out`` by the XNOR-Net activation scale ``K``.
        strides: the spatial stride of the binary convolution. Inferred from the static
            shapes when ``None`` (or from ``conv``); needed when the spatial input size is
            unknown.
        conv: optionally, the binary convolution layer (or its serialized config) that this
            link wraps; the layer is then called on ``x_real`` alone.
        gamma_regularizer, gamma_constraint: as for any Keras weight.

    Two ways to call it:

    - functional, on a list ``[x_real, conv_out]`` of two 4D tensors ``(batch, H, W, C)``;
    - wrapping its binary convolution, ``ElasticLink(conv=QuantConv2D(...))``, on the single
      real-valued input ``x_real``: it runs the conv itself, so it fits in a
      ``tf.keras.Sequential`` model too.

    Output shape:
        The shape of ``conv_out``.

    Example:
        ```python
        x = tf.keras.Input((32, 32, 64))
        y = lq.layers.QuantConv2D(128, 1, strides=2, input_quantizer="ste_sign",
                                  kernel_quantizer="ste_sign", use_bias=False)(x)
        y = el_zoo.ElasticLink(strides=2)([x, y])   # Squeeze spatially, Expand channels

        model = tf.keras.Sequential([
            tf.keras.Input((32, 32, 64)),
            el_zoo.ElasticLink(conv=lq.layers.QuantConv2D(
                32, 3, padding="same", input_quantizer="ste_sign",
                kernel_quantizer="ste_sign", use_bias=False)),
            tf.keras.layers.BatchNormalization(),
        ])
        ```

    References:
        - [Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022](https://arxiv.org/abs/2112.10149)
        - [Rastegari et al., XNOR-Net, ECCV 2016](https://arxiv.org/abs/1603.05279)
    """

    def __init__(
        self,
        gamma="per_channel",
        gamma_initializer=0.25,
        activation_scaling=False,
        strides=None,
        gamma_regularizer=None,
        gamma_constraint=None,
        conv=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(conv, dict):
            conv = keras.layers.deserialize(conv)
        self.conv = conv
        if conv is not None and strides is None:
            strides = conv.strides[0]
        if gamma not in ("per_channel", "scalar"):
            raise ValueError(
                f"ElasticLink '{self.name}': gamma={gamma!r} is not supported; "
                "use 'per_channel' or 'scalar'."
            )
        self.gamma_mode = gamma
        self.gamma_initializer = gamma_initializer_from(gamma_initializer)
        self.activation_scaling = bool(activation_scaling)
        self.strides = None if strides is None else int(strides)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)

    def _check_inputs(self, input_shape):
        if self.conv is not None:
            x_shape = tf.TensorShape(input_shape)
            if not self.conv.built:
                self.conv.build(x_shape)
            return x_shape, tf.TensorShape(self.conv.compute_output_shape(x_shape))
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"ElasticLink '{self.name}' must be called on a list [x_real, conv_out]; "
                f"got input shape {input_shape}."
            )
        x_shape, y_shape = (tf.TensorShape(s) for s in input_shape)
        if x_shape.rank != 4 or y_shape.rank != 4:
            raise ValueError(
                f"ElasticLink '{self.name}' needs two 4D (batch, H, W, C) inputs; "
                f"got x_real {x_shape} and conv_out {y_shape}."
            )
        return x_shape, y_shape

    def _resolve_stride(self, x_shape, y_shape):
        inferred = [_spatial_stride(x_shape[i], y_shape[i]) for i in (1, 2)]
        known = [s for s in inferred if s is not None]
        sizes_known = all(x_shape[i] is not None and y_shape[i] is not None for i in (1, 2))
        if sizes_known and (len(known) < 2 or known[0] != known[1]):
            raise ValueError(
                f"ElasticLink '{self.name}': conv_out {y_shape} is not a strided 'same' "
                f"downsampling of x_real {x_shape}; T can only average-pool with one stride."
            )
        if self.strides is not None:
            if known and known[0] != self.strides:
                raise ValueError(
                    f"ElasticLink '{self.name}': strides={self.strides} but the shapes "
                    f"x_real {x_shape} -> conv_out {y_shape} imply stride {known[0]}."
                )
            return self.strides
        if not known:
            raise ValueError(
                f"ElasticLink '{self.name}': the spatial sizes of x_real {x_shape} and "
                f"conv_out {y_shape} are unknown, so the stride cannot be inferred; "
                "pass strides=<the binary convolution's stride>."
            )
        return known[0]

    def build(self, input_shape):
        x_shape, y_shape = self._check_inputs(input_shape)
        self.channels_in, self.channels_out = int(x_shape[-1]), int(y_shape[-1])
        self.pool_stride = self._resolve_stride(x_shape, y_shape)
        self.tile_factor, self.group_size = channel_factors(self.channels_in, self.channels_out)
        gamma_shape = (self.channels_out,) if self.gamma_mode == "per_channel" else ()
        self.gamma = self.add_weight(
            name="gamma",
            shape=gamma_shape,
            initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer,
            constraint=self.gamma_constraint,
            trainable=True,
        )
        super().build(input_shape)

    def _squeeze_spatial(self, x):
        return squeeze_spatial(x, self.pool_stride)

    def transform(self, x_real):
        """T(x_real): the weight-free Squeeze/Expand that matches conv_out's shape."""
        return match_channels(self._squeeze_spatial(x_real), self.channels_out)

    def call(self, inputs, training=None):
        if self.conv is not None:
            x_real, conv_out = inputs, self.conv(inputs)
        else:
            x_real, conv_out = inputs
        if self.activation_scaling:
            scale = tf.reduce_mean(tf.abs(x_real), axis=-1, keepdims=True)
            conv_out = conv_out * self._squeeze_spatial(scale)
        if training:
            # the same sum, in the form that trains fastest; inference keeps the form whose
            # TFLite ops el_zoo.fold and the converter expect
            return linked_sum_for_training(conv_out, x_real, self.gamma, self.pool_stride,
                                           self.channels_out)
        return conv_out + self.gamma * self.transform(x_real)

    def compute_output_shape(self, input_shape):
        return self._check_inputs(input_shape)[1]

    def get_config(self):
        config = {
            "gamma": self.gamma_mode,
            "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
            "activation_scaling": self.activation_scaling,
            "strides": self.strides,
            "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
        }
        if self.conv is not None:
            config["conv"] = keras.layers.serialize(self.conv)
        return {**super().get_config(), **config}


@lq.utils.register_keras_custom_object
class PooledShortcut(keras.layers.Layer):
    """A weight-free downsampling shortcut: ``T(x)`` of ``ElasticLink`` with gamma = 1.

    Average pooling with ``strides`` ('same' padding), then the channels matched to
    ``filters`` by repeating (Expand) or group-averaging (Squeeze) them, as in
    ``ElasticLink``. It replaces a ResNet's full-precision 1x1 downsampling conv where a
    model keeps every weighted conv binary.

    Arguments:
        filters: output channels.
        strides: the spatial stride of the block it bypasses.

    Example:
        ```python
        shortcut = PooledShortcut(filters=256, strides=2)(x)  # (8, 8, 64) -> (4, 4, 256)
        ```
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = int(filters), int(strides)
        if self.filters < 1 or self.strides < 1:
            raise ValueError(
                f"PooledShortcut '{self.name}': filters and strides must be positive; "
                f"got filters={filters}, strides={strides}."
            )

    def call(self, inputs):
        return match_channels(squeeze_spatial(inputs, self.strides), self.filters)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape).as_list()
        spatial = [None if s is None else math.ceil(s / self.strides) for s in shape[1:3]]
        return tf.TensorShape([shape[0], *spatial, self.filters])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@lq.utils.register_keras_custom_object
class RSign(keras.layers.Layer):
    """ReActNet's RSign: sign with a learnable per-channel threshold.

    ``out = sign(x - alpha)`` with one learnable ``alpha`` per channel, and the
    straight-through estimator of ``larq.quantizers.SteSign`` as its gradient
    (``clip_value`` bounds where the gradient passes). Outputs are +1/-1 (sign(0) = +1, as
    in Larq), so a following ``QuantConv2D`` with ``input_quantizer=None`` and a binary
    kernel quantizer is converted by Larq Compute Engine into a binary convolution.

    Arguments:
        clip_value: the straight-through estimator passes gradients where
            ``|x - alpha| <= clip_value``.
        alpha_initializer: initializer of the thresholds.

    Example:
        ```python
        y = RSign()(x)
        y = lq.layers.QuantConv2D(64, 3, padding="same", kernel_quantizer="ste_sign",
                                  kernel_constraint="weight_clip", use_bias=False)(y)
        ```

    References:
        - [Liu et al., ReActNet, ECCV 2020](https://arxiv.org/abs/2003.03488)
    """

    def __init__(self, clip_value=1.0, alpha_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.clip_value = float(clip_value)
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        self._sign = lq.quantizers.SteSign(clip_value=self.clip_value)

    def build(self, input_shape):
        self.alpha = self.add_weight(
            name="alpha", shape=(int(input_shape[-1]),), initializer=self.alpha_initializer
        )
        super().build(input_shape)

    def call(self, inputs):
        return self._sign(inputs - self.alpha)

    def get_config(self):
        config = {
            "clip_value": self.clip_value,
            "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
        }
        return {**super().get_config(), **config}


@lq.utils.register_keras_custom_object
class RPReLU(keras.layers.Layer):
    """ReActNet's RPReLU: a PReLU with learnable shifts before and after.

    ``out = PReLU(x - gamma; beta) + zeta``, with ``gamma``, ``beta`` (negative slope) and
    ``zeta`` learnable per channel.

    Arguments:
        slope_initializer: initializer of ``beta``, the slope for negative inputs
            (ReActNet starts it at 0.25, as PyTorch's PReLU does).

    Example:
        ```python
        y = RPReLU()(x)
        ```

    References:
        - [Liu et al., ReActNet, ECCV 2020](https://arxiv.org/abs/2003.03488)
    """

    def __init__(self, slope_initializer=0.25, **kwargs):
        super().__init__(**kwargs)
        if is_number(slope_initializer):
            slope_initializer = keras.initializers.Constant(float(slope_initializer))
        self.slope_initializer = keras.initializers.get(slope_initializer)

    def build(self, input_shape):
        channels = (int(input_shape[-1]),)
        self.shift_in = self.add_weight(name="shift_in", shape=channels, initializer="zeros")
        self.slope = self.add_weight(
            name="slope", shape=channels, initializer=self.slope_initializer
        )
        self.shift_out = self.add_weight(name="shift_out", shape=channels, initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        x = inputs - self.shift_in
        return tf.maximum(x, 0.0) + self.slope * tf.minimum(x, 0.0) + self.shift_out

    def get_config(self):
        config = {"slope_initializer": keras.initializers.serialize(self.slope_initializer)}
        return {**super().get_config(), **config}


# Whether ``Standardize`` adds its check of pixels scaled to [0, 1] to what it is traced in;
# off while el_zoo traces a model for a converter (``no_pixel_range_check``).
_PIXEL_RANGE_CHECKED = contextvars.ContextVar("el_zoo_pixel_range_checked", default=True)


@contextlib.contextmanager
def no_pixel_range_check():
    """Within it, ``Standardize`` traces without its check of pixels scaled to [0, 1]
    (``check_pixels_not_scaled``): ``el_zoo.convert.serving_saved_model`` traces the graph a
    converter reads in it, so a .tflite file gets the ops it had before the check, which
    belongs to Keras' calls (fit, predict, evaluate, a model called on a batch)."""
    token = _PIXEL_RANGE_CHECKED.set(False)
    try:
        yield
    finally:
        _PIXEL_RANGE_CHECKED.reset(token)


# How ``check_pixels_not_scaled`` (``_scaled_to_unit``) tells pixels divided by 255 (Keras
# tutorials' ``x / 255.``) from pixels as decoded, some of which lie in [0, 1] too (black
# frames). Whatever their count, batches of uniform images (zeros for warm-up or padding,
# ones, ``check_pixels_reach_standardize``'s probe of 0 and 255) pass. A batch of at least
# MIN_BATCH_JUDGED_BY_RANGE images is scaled when every pixel lies in [0, 1]: so many frames
# black to within 1/255 of full brightness show a model nothing. A single image is scaled
# when, besides, a pixel of it is fractional: decoded pixels are whole, so a dark frame of
# 0s and 1s (sensor noise) passes, while a photo divided by 255
# (``model.predict(image[None] / 255.)``) has fractions; a dark frame resized (interpolated
# into fractions of its 0s and 1s) is refused too, and shows a model nothing either.
# Batches are not tested for fractions: the elementwise passes over the batch cost percents
# of resnet18_el's training step (width 0.25, batch 128), where reductions cost little.
MIN_BATCH_JUDGED_BY_RANGE = 2


def scaled_pixels_message(count):
    """The error of ``check_pixels_not_scaled`` for a batch of ``count`` images: an int, or
    ``"{}"`` for the template of a batch of several that the graph's assertion formats. No
    apostrophe: the assertion escapes it."""
    images = "this image" if count == 1 else f"this batch of {count} images"
    return (
        f"el_zoo models take RGB pixels in [0, 255] and standardise them themselves; {images} "
        "has every pixel in [0, 1], so the model would see nearly uniform images and train or "
        "predict garbage without an error: remove the /255 scaling (x / 255., image / 255 in "
        "a tf.data pipeline, Rescaling(1/255) before the model) and feed the pixels as "
        "decoded."
    )


@tf.autograph.experimental.do_not_convert
def _scaled_to_unit(images):
    """Whether the batch ``images`` holds pixels scaled to [0, 1], by the rule of
    ``MIN_BATCH_JUDGED_BY_RANGE``'s comment: every pixel in [0, 1], not every image uniform
    and, for a single image, a fractional pixel. Two reductions over the batch, per image;
    the elementwise test of fractions runs only for a single image that the reductions put
    in [0, 1]."""
    pixels = tf.reshape(images, [tf.shape(images)[0], -1])  # per image; no copy
    low, high = tf.reduce_min(pixels, axis=1), tf.reduce_max(pixels, axis=1)
    in_unit = ((tf.reduce_min(low) >= 0) & (tf.reduce_max(high) <= 1)
               & tf.reduce_any(high > low))
    by_range = tf.size(low) >= MIN_BATCH_JUDGED_BY_RANGE
    return tf.cond(in_unit & tf.logical_not(by_range),
                   lambda: tf.reduce_any(tf.not_equal(pixels, tf.round(pixels))),
                   lambda: in_unit)


def check_pixels_not_scaled(images):
    """``images`` (a batch reaching ``Standardize``), or an error when its pixels were
    scaled to [0, 1] (``_scaled_to_unit``): Keras tutorials' ``x / 255.``, which an el_zoo
    model, standardising [0, 255] pixels itself, took without a word. Eagerly (a model
    called on a batch) a ValueError; in a traced call (fit, predict, evaluate, a
    ``tf.function``) an assertion in the graph, which fails as TensorFlow's
    InvalidArgumentError with that message. Integer pixels (uint8, as decoded) cannot have
    been divided, and are not checked; nor is anything traced in ``no_pixel_range_check``."""
    if not images.dtype.is_floating or not _PIXEL_RANGE_CHECKED.get():
        return images
    if tf.executing_eagerly():
        if bool(_scaled_to_unit(images)):
            raise ValueError(scaled_pixels_message(int(tf.shape(images)[0])))
        return images
    # A pixel of the first image above 1 clears the batch: the whole batch is looked at
    # only when it does not (a batch of [0, 255] pixels whose first image is black), so a
    # training step pays for one image's maximum, not two passes over the batch.
    checked = tf.cond(tf.reduce_max(images[:1]) > 1, lambda: tf.constant(True),
                      lambda: _asserted_not_scaled(images))
    with tf.control_dependencies([checked]):
        return tf.identity(images)


def _asserted_not_scaled(images):
    """True, after an assertion in the graph that ``images`` are not scaled to [0, 1]."""
    count = tf.shape(images)[0]
    message = tf.where(count == 1, scaled_pixels_message(1),
                       tf.strings.format(scaled_pixels_message("{}"), count))
    assertion = tf.debugging.Assert(tf.logical_not(_scaled_to_unit(images)), [message])
    with tf.control_dependencies([assertion]):
        return tf.constant(True)


# ImageNet's per-channel statistics of images scaled to [0, 1]: Standardize's defaults, and
# the normalisation of ImageNet and Imagenette (el_zoo.data.NORMALIZATION).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@lq.utils.register_keras_custom_object
class Standardize(keras.layers.Layer):
    """Maps RGB pixels in [0, 255] to ``(x / 255 - mean) / std`` per channel.

    ``mean`` and ``std`` are (non-trainable) weights, so they are saved with a model's
    weights and a published weight file carries the normalisation of the data set it was
    trained on; the constructor values are only the defaults (ImageNet's).

    Every el_zoo model has one at its input, which carries in its config what el_zoo
    records on the model (``el_zoo.model_record``: its published tag, class names and
    configuration), so that a model saved whole and reloaded keeps them.

    A batch of pixels already scaled to [0, 1] (``model.fit(x / 255., y)``) is an error
    naming the fix, in every Keras call (``check_pixels_not_scaled``), and no part of a
    converted file (``no_pixel_range_check``).

    Arguments:
        mean, std: per-channel statistics of images scaled to [0, 1].
        el_zoo_record: that record (a dict), or None; written by ``el_zoo.model_record``,
            not given by hand.

    Example:
        ```python
        x = Standardize(mean=(0.4913, 0.4821, 0.4465), std=(0.247, 0.243, 0.261))(images)
        ```
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, el_zoo_record=None, **kwargs):
        super().__init__(**kwargs)
        self.mean_init = [float(v) for v in mean]
        self.std_init = [float(v) for v in std]
        # object.__setattr__: Keras would track a dict attribute (and checkpoint it)
        object.__setattr__(self, LAYER_ATTRIBUTE, el_zoo_record)
        if len(self.mean_init) != len(self.std_init) or min(self.std_init) <= 0:
            raise ValueError(
                f"Standardize: mean {mean} and std {std} need one entry per channel and "
                "std must be positive."
            )

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels != len(self.mean_init):
            raise ValueError(
                f"Standardize '{self.name}': the input has {channels} channels but mean/std "
                f"have {len(self.mean_init)} entries."
            )
        self.mean = self.add_weight(
            name="mean", shape=(channels,), trainable=False,
            initializer=keras.initializers.Constant(self.mean_init),
        )
        self.std = self.add_weight(
            name="std", shape=(channels,), trainable=False,
            initializer=keras.initializers.Constant(self.std_init),
        )
        super().build(input_shape)

    def call(self, inputs):
        inputs = check_pixels_not_scaled(inputs)
        inputs = tf.cast(inputs, self.compute_dtype)  # a uint8 image input, as decoded
        return (inputs / 255.0 - self.mean) / self.std

    def get_config(self):
        config = {**super().get_config(), "mean": self.mean_init, "std": self.std_init}
        record = getattr(self, LAYER_ATTRIBUTE)
        if record is not None:  # left out otherwise: a config as before the record existed
            config[LAYER_ATTRIBUTE] = json.loads(json.dumps(record))  # a copy
        return config


# What a softmax is as an activation: Keras' ("softmax" names it), or TensorFlow's function
# (tf.nn.softmax, the same function as tf.math.softmax)
SOFTMAX_FUNCTIONS = (keras.activations.softmax, tf.nn.softmax)
# What a sigmoid is as an activation: Keras' ("sigmoid" names it), or TensorFlow's function
# (tf.nn.sigmoid, the same function as tf.math.sigmoid and tf.sigmoid)
SIGMOID_FUNCTIONS = (keras.activations.sigmoid, tf.nn.sigmoid)


def _output_call(model):
    """The layer that computes ``model``'s (first) output and the call of it (a Keras node)
    that does, in ``model``'s graph: which need not be the last of ``model.layers`` (a
    layer called twice is listed by its call farthest from the output), or of a model
    nested as that layer (``Sequential([el_zoo_model])``) that model's own, at any depth.
    A subclassed model records no graph: its last layer, as its ``call()`` most often
    ends, and no call (None)."""
    layer, call, output = model, None, 0
    while isinstance(layer, keras.Model) and layer.layers:
        if layer.outputs:  # a graph (functional, Sequential): which output of which call
            layer, node, output = layer.outputs[output]._keras_history
            call = layer.inbound_nodes[node]
        else:
            layer, call, output = layer.layers[-1], None, 0
    return layer, call


def last_layer(model):
    """The layer that computes ``model``'s (first) output: the one whose output it is in
    ``model``'s graph, which need not be the last of ``model.layers`` (a layer called twice
    is listed by its call farthest from the output), or of a model nested as that layer
    (``Sequential([el_zoo_model])``) that model's own, at any depth. A subclassed model
    records no graph: its last layer, as its ``call()`` most often ends."""
    return _output_call(model)[0]


def _over_last_axis(axis, rank):
    """Whether a softmax's ``axis`` (an int, a list of one, or None: TensorFlow's default)
    is the last of a tensor of ``rank``: one distribution per image."""
    return axis in (None, -1, rank - 1, [-1], [rank - 1])


# The activations among TensorFlow's ops, by the name a TFOpLambda layer keeps of its op
# (its ``symbol``, TensorFlow's canonical name: tf.nn.sigmoid, tf.sigmoid and
# keras.activations.sigmoid on a Keras tensor are all "math.sigmoid", tf.math.softmax is
# "nn.softmax"), not by its ``function``, which may be the op without its dispatch wrapper
# (tf.math.sigmoid.__wrapped__, not tf.math.sigmoid)
OP_ACTIVATIONS = {"math.sigmoid": tf.math.sigmoid, "nn.softmax": tf.nn.softmax}


def _op_activation(layer, call):
    """The activation that a TensorFlow op written on a Keras tensor applies, which Keras
    keeps as a ``TFOpLambda`` layer (``OP_ACTIVATIONS``): a sigmoid, or a softmax over the
    last axis (read from ``call``, its node); None for any other op."""
    function = OP_ACTIVATIONS.get(getattr(layer, "symbol", None))
    if function is tf.nn.softmax:
        args, kwargs = call.call_args, call.call_kwargs
        axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
        return function if _over_last_axis(axis, len(call.outputs.shape)) else None
    return function


def final_activation(model):
    """The activation function that ``model``'s output ends in: the ``activation`` of the
    layer that gives it (``last_layer``: ``Dense(1, activation="sigmoid")``,
    ``Activation(tf.nn.softmax)``, el_zoo's heads), or a final ``tf.nn.sigmoid(x)`` or
    ``tf.nn.softmax(x)`` (over the last axis) written as an op in a functional model, which
    Keras keeps as a ``TFOpLambda`` layer without an ``activation``; None for a layer of
    neither (a ``Lambda``, a custom layer). ``ends_in_softmax``, ``ends_in_sigmoid`` and
    ``decision_threshold`` read it.

    Example:
        ```python
        inputs = keras.Input((4,))
        final_activation(keras.Model(inputs, tf.nn.sigmoid(keras.layers.Dense(1)(inputs))))
        # tf.math.sigmoid
        ```
    """
    layer, call = _output_call(model)
    if type(layer).__name__ == "TFOpLambda" and call is not None:  # Keras' class is private
        return _op_activation(layer, call)
    return getattr(layer, "activation", None)


def ends_in_softmax(model):
    """Whether ``model``'s output is a softmax over its last axis (probabilities): the
    layer that gives it has one as its activation (``final_activation``: ``Dense(10,
    activation="softmax")``, el_zoo's heads; ``Activation(tf.nn.softmax)``; a final
    ``tf.nn.softmax(x)``), or is a ``keras.layers.Softmax()`` over that axis; a model
    nested as that layer (``Sequential([el_zoo_model])``) by its own last layer.

    Example:
        ```python
        ends_in_softmax(el_zoo.load("resnet18_el.cifar10"))  # True
        ```
    """
    layer = last_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return _over_last_axis(layer.axis, len(layer.output_shape))
    return final_activation(model) in SOFTMAX_FUNCTIONS


def ends_in_sigmoid(model):
    """Whether ``model``'s output ends in a sigmoid (``final_activation``: ``Dense(1,
    activation="sigmoid")``, ``Activation(tf.nn.sigmoid)``, el_zoo's head with
    ``classifier_activation="sigmoid"``, a final ``tf.nn.sigmoid(x)``): each output a
    probability of its own, in [0, 1]."""
    return final_activation(model) in SIGMOID_FUNCTIONS


def ends_in_probabilities(model):
    """Whether ``model``'s outputs are probabilities, each in [0, 1]: it ends in a softmax
    (``ends_in_softmax``) or a sigmoid (``ends_in_sigmoid``). Why: int8 outputs need that
    known range (``el_zoo.convert``), which logits and features have not.

    Example:
        ```python
        ends_in_probabilities(el_zoo.load("resnet18_el.cifar10"))  # True
        ```
    """
    return ends_in_softmax(model) or ends_in_sigmoid(model)


def gives_scores_per_image(model):
    """Whether ``model``'s output is one row of scores per image, of shape (batch, n), as a
    classifier's is: not a backbone's features (``include_top=False``), nor several
    outputs, nor a map (batch, height, width, channels)."""
    shape = model.output_shape
    return not (built_without_classifier(model) or isinstance(shape, list) or len(shape) != 2)


def has_single_output(model):
    """Whether ``model`` is a classifier of one output per image (batch, 1): a binary
    classifier's score, whose arg-max is always 0."""
    return gives_scores_per_image(model) and model.output_shape[-1] == 1


def decision_threshold(model):
    """The threshold of the binary decision of a model of a single output (a binary
    classifier): 0.5 when its last layer's activation is a sigmoid (a probability), 0.0
    when it is linear (a logit: ``Dense(1)``), None when it is another or the last layer
    has none (a custom layer), or the model has not a single output. ``convert`` checks
    such a model by its decisions; ``predict`` and ``evaluate`` take it as two classes,
    the negative one (output at or below the threshold) and the positive one.

    Example:
        ```python
        inputs = keras.Input((32, 32, 3))
        features = el_zoo.load("resnet18_el.cifar10", include_top=False, pooling="avg")
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
            features(inputs, training=False)))
        decision_threshold(model)  # 0.5
        ```
    """
    if not has_single_output(model):
        return None
    if ends_in_sigmoid(model):
        return 0.5
    if final_activation(model) is keras.activations.linear:
        return 0.0
    return None


def class_count(model):
    """How many classes ``model`` (a classifier) tells apart: two for a binary classifier
    of a single output whose ``decision_threshold`` is known (its negative class, then its
    positive one), else one per output."""
    return 2 if decision_threshold(model) is not None else model.output_shape[-1]


def check_class_names(model, class_names):
    """Refuses ``class_names`` that are not one name per class of ``model``
    (``class_count``): for a binary classifier of a single output, two names, its negative
    class then its positive one (``check_class_count``)."""
    check_class_count(model, class_names, binary=decision_threshold(model) is not None)


def name_classes(model, class_names):
    """Records ``class_names`` as the names of ``model``'s classes, in output order
    (``el_zoo.model_record.record_class_names``), once ``check_class_names`` has found them
    one per class: a binary classifier of a single output takes two, its negative class
    then its positive one. ``el_zoo.load`` names a model so, from its published record or
    the names ``el_zoo.save_weights`` saved with its weights."""
    check_class_names(model, class_names)
    return record_class_names(model, class_names)


def last_activation_text(model):
    """What ends ``model``, for an error message: "last layer 'L' has activation 'tanh'",
    or "... has no activation (Lambda)" for a layer without one."""
    layer, activation = last_layer(model), final_activation(model)
    if callable(activation):
        ends = f"activation {getattr(activation, '__name__', repr(activation))!r}"
    else:
        ends = f"no activation ({type(layer).__name__})"
    return f"last layer {layer.name!r} has {ends}"


def check_pixels_reach_standardize(model, use):
    """Refuses ``model`` when an el_zoo model it calls as a layer (a backbone under a new
    head), or a ``Standardize`` layer of its own, is fed anything but ``model``'s input
    pixels: a layer in front of it rescales or normalises them (``Rescaling(1 / 255)``, or
    ``keras.applications``' ``preprocess_input``: Keras' transfer-learning habits), or the
    ``call()`` of a subclassed model (or of a custom layer) that calls it does
    (``x / 255.``).

    el_zoo's models take RGB pixels in [0, 255] and standardise them themselves, so such a
    backbone computes features of images it was never trained on (pixels in [0, 1] look
    nearly uniform to it; docs/reliability.md says what it cost), and ``use``
    (``"predict"``, ``"evaluate"``, ``"convert"``), which feeds ``model`` pixels in
    [0, 255], would report its answers without a word. Probed
    with two uniform images, of pixels 0 and 255, which the layers that keep pixels as they
    are (augmentation at inference, resizing, cropping) leave at 0 and 255, in that order
    (padding: 255 with a border of 0; ``_kept_as_pixels``): along the graph of a
    functional or Sequential model, which names the layers that rescale; and for a
    ``Standardize`` layer that a ``call()`` calls, which no graph shows, by what reaches
    it when ``model`` is called on them (its ``tf.function``s run eagerly; a layer reached
    only through a trace is not checked, with a warning)."""
    _check_pixels_in_graph(model, use)
    in_graphs = _called_in_graphs(model)
    called_in_code = [layer for layer in model.submodules if isinstance(layer, Standardize)
                      and not any(layer is called for called in in_graphs)]
    if called_in_code:
        _check_pixels_reaching(model, called_in_code, use)


def _check_pixels_in_graph(model, use):
    """``check_pixels_reach_standardize`` along the graph of ``model`` and of the models
    nested in it as layers."""
    # the calls of layers in model's graph (a layer keeps its calls in other models too)
    calls = {id(node) for nodes in getattr(model, "_nodes_by_depth", {}).values()
             for node in nodes}
    for layer in getattr(model, "layers", ()):
        nested = isinstance(layer, keras.Model) and any(
            isinstance(inner, Standardize) for inner in layer.submodules)
        if not (nested or isinstance(layer, Standardize)):
            continue
        for node in layer.inbound_nodes:
            if id(node) in calls:
                _check_pixels_fed(model, layer, node.input_tensors, use)
        if nested:
            _check_pixels_in_graph(layer, use)


def _is_graph(layer):
    """Whether ``layer`` is a model whose graph Keras records (functional, Sequential): how
    it calls its layers can be read; a subclassed model's (or a layer's) ``call()`` is
    code."""
    return isinstance(layer, keras.Model) and getattr(layer, "_is_graph_network", False)


def _called_in_graphs(model):
    """The layers that ``model``'s graph calls, and those of the graphs of the models among
    them, at any depth: all of them if ``model`` is a functional or Sequential model of
    such models, none if it is a subclassed one (``_is_graph``)."""
    if not _is_graph(model):
        return []
    return [called for layer in model.layers for called in (layer, *_called_in_graphs(layer))]


def _code_calling(model, layer):
    """The layers of ``model`` (``model`` too) that hold ``layer`` and call it from their
    ``call()`` (``_is_graph``: not a graph), outermost first: what they do before calling
    it no graph shows."""
    return [outer for outer in (model, *model.submodules)
            if not _is_graph(outer) and any(inner is layer for inner in outer.submodules)]


def _probe(model):
    """Two uniform images of ``model``'s input, of pixels 0 and 255 (a side of any size:
    32)."""
    shape = [side or 32 for side in model.input_shape[1:]]
    return np.stack([np.zeros(shape), np.full(shape, 255.0)]).astype(model.input.dtype.name)


def _kept_as_pixels(dark, bright):
    """Whether the probe's images reached a layer as pixels kept, in order: ``dark`` (from
    pixels 0) all 0, and ``bright`` (from 255) 0 or 255 everywhere, 255 somewhere. A spatial
    flip, resizing or cropping of a uniform image keeps it uniform; padding
    (``ZeroPadding2D``, ``tf.image.resize_with_pad``) adds pixels 0 around the 255s. A layer
    that maps both to one value (``tf.image.per_image_standardization``: both 0,
    ``Rescaling(0)``), swaps them (``255 - x``) or scales them (``x / 255``) does not."""
    bright_kept = np.isclose(bright, 255, atol=0.5)
    return (np.allclose(dark, 0, atol=0.5) and bright_kept.any()
            and bool((bright_kept | np.isclose(bright, 0, atol=0.5)).all()))


def _first_rescaled(batches):
    """The first pair of images (dark, bright) that did not reach a layer as the probe gave
    them (``_kept_as_pixels``), or None: ``batches`` are the arrays that reached it, a batch
    each, in the order they did, whose images are the probe's pairs in order (one batch of
    the pair; a call per image; a backbone called twice, test-time augmentation). An image
    left without its pair (an odd count) is paired with NaN, which is no pixel."""
    images = [np.asarray(image, np.float64) for batch in batches for image in batch]
    if len(images) % 2:
        images.append(np.full(1, np.nan))
    return next(((dark, bright) for dark, bright in zip(images[::2], images[1::2])
                 if not _kept_as_pixels(dark, bright)), None)


def _check_pixels_fed(model, layer, fed, use):
    """``check_pixels_reach_standardize`` for the tensor ``fed`` of ``model`` that feeds
    ``layer``; nothing to check when it is ``model``'s input itself (or ``model`` has
    several inputs, which el_zoo's functions do not take)."""
    if isinstance(fed, (list, tuple)):
        if len(fed) != 1:
            return
        fed = fed[0]
    if len(model.inputs) != 1 or fed is model.inputs[0]:  # probed through one input
        return
    path = keras.Model(model.inputs, fed)
    rescaled = _first_rescaled([path(_probe(model), training=False)])
    if rescaled is None:
        return
    between = ", ".join(repr(inner.name) for inner in path.layers
                        if not isinstance(inner, keras.layers.InputLayer))
    raise _rescaled_pixels_error(
        use, model, layer, f"in layer(s) {between}", *rescaled,
        "Remove those layers (no Rescaling(1/255) nor preprocess_input before an el_zoo "
        "model)")


def _check_pixels_reaching(model, layers, use):
    """``check_pixels_reach_standardize`` for ``Standardize`` layers of ``model`` that code
    calls: by what reaches each when ``model`` is called on the probe, its ``tf.function``s
    run as Python (a traced call has no values, and a call traced before would not run
    the hook at all). A layer reached by traced tensors only (``tf.vectorized_map``) is
    not checked, with a warning; one never reached (a sub-model the call() does not
    use) says nothing."""
    if isinstance(model.input_shape, list):  # several inputs, which el_zoo's functions
        return                               # do not take
    with _inputs_recorded(layers) as recorded, _functions_run_eagerly():
        model(_probe(model), training=False)
    for layer, reached in zip(layers, recorded):
        code = ", ".join(repr(outer.name) for outer in _code_calling(model, layer))
        target = _el_zoo_model_of(model, layer)
        values = [batch for batch in reached if batch is not None]
        if reached and not values:
            warnings.warn(_unchecked_pixels_warning(use, model, target, code), stacklevel=3)
        rescaled = _first_rescaled(values)
        if rescaled is not None:
            raise _rescaled_pixels_error(
                use, model, target, f"in the call() of {code}", *rescaled,
                "Remove that rescaling (no x / 255, Rescaling(1/255) nor preprocess_input "
                "before an el_zoo model)")


# ``_functions_run_eagerly``'s hold on TensorFlow's process-wide setting: how many blocks
# (of any thread) are inside it, and the setting the first of them found, which the last to
# leave puts back. Each block saving and restoring its own would leave the process eager for
# good when two overlap (A saves False, B saves True, A restores False, B restores True):
# every later fit uncompiled, about 10x slower, without a word.
_EAGER_LOCK = threading.Lock()
_eager_hold = {"depth": 0, "before": None}


@contextlib.contextmanager
def _functions_run_eagerly():
    """Inside this block every ``tf.function`` runs as Python, eagerly (TensorFlow's
    setting, for the process); after the last of overlapping blocks (any thread) leaves,
    as before the first entered."""
    with _EAGER_LOCK:
        if not _eager_hold["depth"]:
            _eager_hold["before"] = tf.config.functions_run_eagerly()
            tf.config.run_functions_eagerly(True)
        _eager_hold["depth"] += 1
    try:
        yield
    finally:
        with _EAGER_LOCK:
            _eager_hold["depth"] -= 1
            if not _eager_hold["depth"]:
                tf.config.run_functions_eagerly(_eager_hold["before"])


@contextlib.contextmanager
def _inputs_recorded(layers):
    """Inside this block, each of ``layers`` keeps the inputs of its calls (a list per
    layer: an array per eager call, None per traced one, whose tensors have no values);
    afterwards, after an error too, it calls as before."""
    recorded = [[] for _ in layers]
    own_calls = [vars(layer).get("call") for layer in layers]  # someone's patch, put back

    def recording(call, inputs_seen):
        def call_recorded(inputs, *args, **kwargs):
            inputs_seen.append(inputs.numpy() if hasattr(inputs, "numpy") else None)
            return call(inputs, *args, **kwargs)
        return call_recorded

    # object.__setattr__: an instance attribute Keras does not track, before the class's
    # call, which deleting it uncovers again
    try:
        for layer, inputs_seen in zip(layers, recorded):
            object.__setattr__(layer, "call", recording(layer.call, inputs_seen))
        yield recorded
    finally:
        for layer, own in zip(layers, own_calls):
            if own is not None:
                object.__setattr__(layer, "call", own)
            elif "call" in vars(layer):
                object.__delattr__(layer, "call")


def _el_zoo_model_of(model, layer):
    """The el_zoo model in ``model`` whose input ``layer`` (a ``Standardize``) standardises:
    a graph model whose own layer it is; else ``layer`` itself."""
    owners = [inner for inner in model.submodules
              if _is_graph(inner) and any(own is layer for own in inner.layers)]
    return owners[0] if owners else layer


def _kind(target):
    """What ``target``, el_zoo's model or ``Standardize`` layer, is called in a message."""
    return "model" if isinstance(target, keras.Model) else "layer"


def _unchecked_pixels_warning(use, model, target, code):
    """The warning of ``check_pixels_reach_standardize`` when the probe reached ``target``
    (el_zoo's model or ``Standardize`` layer), called in the call() of ``code``, only
    through a trace, which has no values to check."""
    return (
        f"{use}: el_zoo could not check what pixels reach its {_kind(target)} {target.name!r} in "
        f"the call() of {code} (called there on traced tensors, which have no values). It "
        f"takes RGB pixels in [0, 255] and standardises them itself: make sure {model.name} "
        "does not rescale them before it (no x / 255, Rescaling(1/255) nor preprocess_input)."
    )


def _rescaled_pixels_error(use, model, target, where, dark, bright, fix):
    """The error of ``check_pixels_reach_standardize``: ``model`` rescales its pixels
    ``where`` before ``target`` (el_zoo's model or ``Standardize`` layer), which the probe's
    images of pixels 0 and 255 reach as ``dark`` and ``bright``; ``fix``: what to remove."""
    return ValueError(
        f"{use}: {model.name} rescales its input pixels before el_zoo's {_kind(target)} "
        f"{target.name!r}, {where}: pixels 0 and 255 reach it as "
        f"{np.mean(dark):.4g} and {np.mean(bright):.4g}. el_zoo's models take RGB pixels in "
        "[0, 255] and standardise them themselves, so it computes features of "
        "images it was never trained on (pixels in [0, 1] look nearly uniform to it), and "
        f"{use} feeds {model.name} pixels in [0, 255]. {fix} and train the head again."
    )
