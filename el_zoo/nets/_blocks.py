"""Building blocks shared by every family: binary conv units, stems, the model frame.

Conventions shared by all families (each is documented once here):

- Binary convolutions binarize weights and activations with ``ste_sign``, clip latent
  weights to [-1, 1] (``weight_clip``), have no bias and pad 'same' convolutions with +1
  (``pad_values=1``), which Larq Compute Engine's binary kernels run natively.
- Each binary convolution is followed by batch normalisation (full precision). With
  Elastic-Link the link is added to the convolution's output before that batch
  normalisation, so the two paths are normalised together (see ``ElasticLink``), or after it
  (``ElasticLinkOptions.position``: each ``_el`` model registers its default).
- Full precision: the stem convolution, the classifier, every batch normalisation, the
  input standardisation, and the 1x1 convolutions of downsampling shortcuts (ResNets).
"""

import functools

import larq as lq
import numpy as np

from el_zoo._keras import keras
from el_zoo.arguments import check_count, is_positive
from el_zoo.builder import (BN_SUFFIX, BUILD_DEFAULTS, CLASSIFIER, CONV_SUFFIX, LINK_SUFFIX,
                            load_weights_file)
from el_zoo.model_record import record_config
from el_zoo.data import NORMALIZATION
from el_zoo.layers import ElasticLink, Standardize
from el_zoo.registry import STEMS, model_info

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

# The name of every model's input standardisation (``Standardize``, ``assemble``): trainers
# find it by this name, and weight files carry its statistics under it.
STANDARDIZE = "standardize"


def batch_norm(x, name):
    return keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name
    )(x)


def model_elastic_link(model_name, elastic_link):
    """The ``ElasticLinkOptions`` a registered model's builder builds its links with (None
    for a model without Elastic-Link): its registered defaults, or what its
    ``elastic_link`` argument asks for (``ElasticLinkOptions.resolve``).

    A model's registration says whether it has Elastic-Link; options that contradict it would
    build one architecture under the other's name (and its weights would not fit).
    """
    info = model_info(model_name)
    elastic_link = None if elastic_link is False else elastic_link
    twin = info.twin or f"a model {'without' if info.has_elastic_link else 'with'} them"
    if elastic_link is not None and not info.has_elastic_link:
        raise ValueError(
            f"{model_name} has no Elastic-Link; use {twin} for links (elastic_link=... sets "
            "their options), or drop elastic_link."
        )
    if elastic_link is None and info.has_elastic_link:
        raise ValueError(
            f"{model_name} has Elastic-Link on every binary conv; elastic_link=None or False "
            f"would build {twin} under its name: use {twin}."
        )
    return None if elastic_link is None else info.elastic_link.resolve(elastic_link)


def _linked(elastic_link, kernel_size):
    """Whether a binary conv with this kernel gets an Elastic-Link (option ``convs``)."""
    if elastic_link is None:
        return False
    return elastic_link.convs in ("all", f"{kernel_size}x{kernel_size}")


def _link(x, elastic_link, *, strides, kernel_size, depthwise, name):
    """The ElasticLink layer of one binary conv, built with ``elastic_link``'s options."""
    gamma_initializer = elastic_link.gamma_initializer
    if elastic_link.gamma_scale == "fan_in":
        fan_in = kernel_size * kernel_size * (1 if depthwise else x.shape[-1])
        gamma_initializer = gamma_initializer * fan_in**0.5
    return ElasticLink(gamma=elastic_link.gamma, gamma_initializer=gamma_initializer,
                       activation_scaling=elastic_link.activation_scaling, strides=strides,
                       name=name)


def binary_conv_bn(
    x,
    filters,
    kernel_size,
    *,
    name,
    strides=1,
    elastic_link=None,
    depthwise=False,
    binary_input=None,
):
    """sign(x) -> binary conv -> [+ gamma * T(x)] -> BN, on the real-valued input ``x``.

    ``binary_input``: an already binarized version of ``x`` (e.g. ReActNet's RSign output)
    to convolve instead of the conv's own ``ste_sign`` of ``x``; the Elastic-Link still
    adds the real-valued ``x``. ``elastic_link`` is None (no EL) or the
    ``el_zoo.ElasticLinkOptions`` of the link.
    """
    common = dict(
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        padding="same",
        pad_values=1.0,
        strides=strides,
        name=f"{name}{CONV_SUFFIX}",
    )
    input_quantizer = "ste_sign" if binary_input is None else None
    binary_in = x if binary_input is None else binary_input
    if depthwise:
        y = lq.layers.QuantDepthwiseConv2D(
            kernel_size,
            input_quantizer=input_quantizer,
            depthwise_quantizer=common.pop("kernel_quantizer"),
            depthwise_constraint=common.pop("kernel_constraint"),
            **common,
        )(binary_in)
    else:
        y = lq.layers.QuantConv2D(
            filters, kernel_size, input_quantizer=input_quantizer, **common
        )(binary_in)
    if not _linked(elastic_link, kernel_size):
        return batch_norm(y, f"{name}{BN_SUFFIX}")
    link = _link(x, elastic_link, strides=strides, kernel_size=kernel_size,
                 depthwise=depthwise, name=f"{name}{LINK_SUFFIX}")
    if elastic_link.position == "before_bn":
        return batch_norm(link([x, y]), f"{name}{BN_SUFFIX}")
    return link([x, batch_norm(y, f"{name}{BN_SUFFIX}")])


def float_conv_bn(x, filters, kernel_size, *, name, strides=1):
    """A full-precision conv + BN (stems and downsampling shortcuts)."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        name=f"{name}{CONV_SUFFIX}",
    )(x)
    return batch_norm(x, f"{name}{BN_SUFFIX}")


def check_width_multiplier(model_name, width_multiplier):
    """A positive, finite number; 0 or a negative width would build layers of 8 channels
    (``scaled``'s floor) or fail deep inside Keras."""
    if not is_positive(width_multiplier):
        raise ValueError(
            f"{model_name}: width_multiplier must be a positive number (1.0 is the full "
            f"width, 0.25 a quarter); got {width_multiplier!r}."
        )


def scaled(channels, width_multiplier):
    return max(8, int(round(channels * width_multiplier)))


POOLINGS = (None, "avg", "max")  # a backbone's pooling (include_top=False)


def check_stem(stem):
    if stem not in STEMS:
        raise ValueError(f"stem={stem!r} is not supported; use one of {STEMS}.")


def _check_input_shape(model_name, input_shape, min_size, stem):
    if len(input_shape) != 3 or input_shape[-1] != 3:
        hint = ""
        if len(input_shape) == 3 and input_shape[0] == 3:
            hint = (f" (channels last: input_shape=({input_shape[1]}, {input_shape[2]}, 3), "
                    "not channels first as PyTorch orders them)")
        elif len(input_shape) == 3 and input_shape[-1] in (1, 4):
            hint = (" (el_zoo's models take RGB images: repeat a grayscale channel, "
                    "np.repeat(images, 3, axis=-1), or drop an alpha channel; el_zoo.predict "
                    "and evaluate decode image files to RGB themselves)")
        raise ValueError(
            f"{model_name}: input_shape must be (height, width, 3) RGB; got "
            f"{input_shape}{hint}."
        )
    for size in input_shape[:2]:
        if size is not None and size < min_size:
            hint = " (use stem='cifar' for small images)" if stem == "imagenet" else ""
            raise ValueError(
                f"{model_name}: input_shape {tuple(input_shape)} is too small: with "
                f"stem='{stem}' the network downsamples by {min_size}, so height and "
                f"width must be at least {min_size}{hint}."
            )


def model_input(model_name, *, input_shape, input_tensor, include_top, stem, min_size):
    """The Input (or the given tensor) of a model, with its shape checked."""
    check_stem(stem)
    default_size = 224 if stem == "imagenet" else 32
    if input_shape is None:
        if input_tensor is not None:
            input_shape = tuple(input_tensor.shape[1:])
        elif include_top:
            input_shape = (default_size, default_size, 3)
        else:
            input_shape = (None, None, 3)
    input_shape = tuple(input_shape)
    if include_top and None in input_shape[:2]:
        raise ValueError(
            f"{model_name}: include_top=True needs a fixed input size; got {input_shape}. "
            "Pass input_shape=(H, W, 3), or include_top=False for variable sizes."
        )
    _check_input_shape(model_name, input_shape, min_size, stem)
    if input_tensor is None:
        return keras.Input(input_shape, name="image")
    if not keras.backend.is_keras_tensor(input_tensor):
        return keras.Input(tensor=input_tensor, shape=input_shape, name="image")
    return input_tensor


def finish_model(
    model_name,
    inputs,
    features,
    *,
    include_top,
    classes,
    pooling,
    classifier_activation,
):
    """Adds the classifier (or pooling) and wraps everything in a keras Model."""
    # checked with a head too (which ignores pooling, as keras.applications' do), so that a
    # misspelt value is not ignored in silence
    if pooling not in POOLINGS:
        raise ValueError(
            f"{model_name}: pooling={pooling!r} is not supported; use None, 'avg' or 'max'."
        )
    if include_top:
        check_count(classes, f"{model_name}: classes", " (a class count)")
        classes = int(classes)
        _check_single_class(model_name, classes, classifier_activation)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
        x = keras.layers.Dense(classes, name=CLASSIFIER)(x)
        if classifier_activation is not None:
            x = keras.layers.Activation(
                classifier_activation, dtype="float32", name="probabilities"
            )(x)
    elif pooling is None:
        x = features
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    else:
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(features)
    source = keras.utils.get_source_inputs(inputs)
    return keras.Model(source, x, name=model_name)


def _check_single_class(model_name, classes, classifier_activation):
    """Refuses a softmax over one class: it outputs 1.0 for every image, so such a model
    trains nothing (loss 0) and scores a top-1 of 100 %, without a word."""
    if classes == 1 and classifier_activation is not None and \
            keras.activations.get(classifier_activation) is keras.activations.softmax:
        raise ValueError(
            f"{model_name}: classes=1 with a softmax head outputs 1.0 for every image. Give "
            "one output per class (classes=2 for two), or a single score with "
            "classifier_activation='sigmoid'."
        )


def _check_some_conv_linked(model, elastic_link):
    """Refuses Elastic-Link options that link none of the model's binary convs (``convs``
    naming a kernel size it has none of: resnet18's are all 3x3): the model would be its
    plain twin under the ``_el`` name, and an EL-vs-plain comparison would compare a model
    with itself without a word."""
    if elastic_link is None:
        return
    layers = model.layers
    if any(isinstance(layer, ElasticLink) for layer in layers):
        return
    kernels = sorted({f"{layer.kernel_size[0]}x{layer.kernel_size[1]}" for layer in layers
                      if isinstance(layer, (lq.layers.QuantConv2D,
                                            lq.layers.QuantDepthwiseConv2D))})
    raise ValueError(
        f"{model.name}: Elastic-Link option convs={elastic_link.convs!r} links none of its "
        f"binary convs, whose kernels are {' and '.join(kernels)}: the model would have no "
        f"link. Use {' or '.join(f'convs={k!r}' for k in ('all', *kernels))}."
    )


def assemble(
    model_name,
    body,
    *,
    min_size,
    input_shape,
    input_tensor,
    include_top,
    weights,
    classes,
    stem,
    pooling,
    classifier_activation,
    width_multiplier,
    elastic_link,
):
    """The frame every family shares: input, standardisation, ``body``, head, weights.

    ``body(x)`` maps the standardised image to the last feature map. Model inputs are RGB
    pixels in [0, 255]; the first layer (``Standardize``) normalises them with statistics
    that are saved with the weights. ``elastic_link`` is the resolved options
    (``model_elastic_link``) or None. The model records the configuration it was built
    with (``el_zoo.model_record.built_config``), which ``el_zoo.save_weights`` stores with its
    weights and which a weights file is checked against before loading
    (``el_zoo.builder.load_weights_file``).
    """
    check_width_multiplier(model_name, width_multiplier)
    inputs = model_input(
        model_name, input_shape=input_shape, input_tensor=input_tensor,
        include_top=include_top, stem=stem, min_size=min_size,
    )
    features = body(Standardize(name=STANDARDIZE)(inputs))
    model = finish_model(
        model_name, inputs, features, include_top=include_top, classes=classes,
        pooling=pooling, classifier_activation=classifier_activation,
    )
    _check_some_conv_linked(model, elastic_link)
    record_config(model, {
        "model": model_name, "width_multiplier": width_multiplier, "stem": stem,
        "elastic_link": elastic_link and elastic_link.as_dict(), "include_top": include_top,
        "classes": classes if include_top else None,
        "input_shape": list(model.input_shape[1:]),
    })
    if weights is not None:
        load_weights_file(model, weights, include_top=include_top)
    return model


def build(
    model_name,
    body,
    *,
    min_sizes,
    elastic_link=None,
    input_shape=None,
    include_top=True,
    weights=None,
    classes=BUILD_DEFAULTS["classes"],
    input_tensor=None,
    width_multiplier=BUILD_DEFAULTS["width_multiplier"],
    stem=BUILD_DEFAULTS["stem"],
    pooling=None,
    classifier_activation="softmax",
):
    """Builds ``model_name``: what every family's builder does, with the arguments of
    ``el_zoo.load`` (their defaults are these), around the family's own layers.

    ``body(x, *, width_multiplier, stem, elastic_link)`` maps the standardised image to the
    last feature map (``elastic_link``: the resolved options of ``model_elastic_link``, or
    None); ``min_sizes``: for each stem, the smallest input side the network takes (its
    total downsampling). ``assemble`` does the rest.

    Example:
        ```python
        def mobilenet(model_name, **kwargs):
            return build(model_name, _body, min_sizes={"imagenet": 32, "cifar": 16}, **kwargs)
        ```
    """
    check_stem(stem)
    options = model_elastic_link(model_name, elastic_link)
    return assemble(
        model_name,
        functools.partial(body, width_multiplier=width_multiplier, stem=stem,
                          elastic_link=options),
        min_size=min_sizes[stem], input_shape=input_shape, input_tensor=input_tensor,
        include_top=include_top, weights=weights, classes=classes, stem=stem,
        pooling=pooling, classifier_activation=classifier_activation,
        width_multiplier=width_multiplier, elastic_link=options,
    )


def set_standardization(model, dataset):
    """Sets the statistics of ``model``'s input standardisation (its ``STANDARDIZE`` layer)
    to data set ``dataset``'s (``el_zoo.data.NORMALIZATION``), before training on it: they
    are weights, so the trained weights carry them.

    Arguments:
        model: a model ``assemble`` built (any family's), or its float twin
            (``el_zoo.binarization.strip_binarization`` keeps the layer's name).
        dataset: a key of ``el_zoo.data.NORMALIZATION`` ("cifar10", "imagenette", ...).

    Example:
        ```python
        model = el_zoo.load("resnet18_el", input_shape=(32, 32, 3), stem="cifar", classes=10)
        set_standardization(model, "cifar10")
        ```
    """
    mean, std = NORMALIZATION[dataset]
    model.get_layer(STANDARDIZE).set_weights([np.array(mean), np.array(std)])
