"""Binarized ResNets: ``resnet18`` (Bi-Real basic blocks) and ``resnet26`` (bottlenecks).

- ``resnet18``: basic blocks [2, 2, 2, 2], each binary 3x3 conv wrapped by its own
  real-valued shortcut, as in Bi-Real Net.
- ``resnet26``: bottleneck blocks [2, 2, 2, 2] (1x1 reduce, 3x3, 1x1 expand, all binary)
  with one shortcut per block: 1 stem + 8x3 convs + classifier = 26 layers. Its 1x1 convs
  carry no real-valued path of their own, which is what Elastic-Link adds.

Full precision besides the stem and classifier: downsampling shortcuts (2x2 average pool
when strided, then 1x1 conv + BN, as in Bi-Real Net) and every BN.

Two bottleneck variants isolate what Elastic-Link adds to ``resnet26`` (no real-valued
path of the block's own crosses a binary conv):

- ``resnet26s``: no shortcuts at all ("straight"), so in ``resnet26s_el`` the links are
  the only real-valued path through each binary conv.
- ``resnet26p``: identity shortcuts, and weight-free downsampling shortcuts
  (``PooledShortcut``: average pool + channel repeat) instead of the float 1x1 convs, so
  every weighted conv but the stem and classifier is binary. Stems: ``"imagenet"`` is
7x7/2 conv + BN + 3x3/2 max pool (total downsampling 32); ``"cifar"`` is a 3x3/1 conv + BN
(total downsampling 8).

References:
    - [Liu et al., Bi-Real Net, ECCV 2018](https://arxiv.org/abs/1808.00278)
    - [Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022](https://arxiv.org/abs/2112.10149)
"""

import functools

from el_zoo._keras import keras
from el_zoo.layers import PooledShortcut
from el_zoo.nets._blocks import (
    assemble,
    binary_conv_bn,
    check_stem,
    elastic_link_options,
    float_conv_bn,
    scaled,
)
from el_zoo.registry import register_model

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_BLOCKS = (2, 2, 2, 2)
BOTTLENECK_EXPANSION = 4


def _stem(x, filters, stem):
    if stem == "cifar":
        return float_conv_bn(x, filters, 3, name="stem")
    x = float_conv_bn(x, filters, 7, strides=2, name="stem")
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)


SHORTCUTS = ("conv", "pooled", "none")


def _shortcut(x, filters, strides, name, kind="conv"):
    """Identity, or a downsampling shortcut: (avg pool if strided) + full-precision 1x1
    conv + BN (``kind="conv"``), or the weight-free ``PooledShortcut`` (``"pooled"``)."""
    if strides == 1 and x.shape[-1] == filters:
        return x
    if kind == "pooled":
        return PooledShortcut(filters, strides, name=name)(x)
    if strides > 1:
        x = keras.layers.AveragePooling2D(strides, padding="same", name=f"{name}_pool")(x)
    return float_conv_bn(x, filters, 1, name=name)


def basic_block(x, filters, strides, name, elastic_link):
    """Two binary 3x3 convs, each with its own shortcut (Bi-Real)."""
    for unit, unit_strides in enumerate((strides, 1), start=1):
        unit_name = f"{name}_unit{unit}"
        shortcut = _shortcut(x, filters, unit_strides, f"{unit_name}_down")
        y = binary_conv_bn(
            x, filters, 3, strides=unit_strides, name=unit_name, elastic_link=elastic_link
        )
        x = keras.layers.Add(name=f"{unit_name}_add")([y, shortcut])
    return x


def bottleneck_block(x, filters, strides, name, elastic_link, shortcut="conv"):
    """Binary 1x1 reduce, 3x3 (strided), 1x1 expand; one shortcut around the block
    (``shortcut``: one of ``SHORTCUTS``; "none" leaves the block without one)."""
    out_filters = filters * BOTTLENECK_EXPANSION
    y = binary_conv_bn(x, filters, 1, name=f"{name}_reduce", elastic_link=elastic_link)
    y = binary_conv_bn(
        y, filters, 3, strides=strides, name=f"{name}_conv3x3", elastic_link=elastic_link
    )
    y = binary_conv_bn(y, out_filters, 1, name=f"{name}_expand", elastic_link=elastic_link)
    if shortcut == "none":
        return y
    shortcut = _shortcut(x, out_filters, strides, f"{name}_down", kind=shortcut)
    return keras.layers.Add(name=f"{name}_add")([y, shortcut])


_straight_bottleneck = functools.partial(bottleneck_block, shortcut="none")
_pooled_bottleneck = functools.partial(bottleneck_block, shortcut="pooled")


def _resnet(
    model_name,
    block,
    *,
    elastic_link=None,
    input_shape=None,
    include_top=True,
    weights=None,
    classes=1000,
    input_tensor=None,
    width_multiplier=1.0,
    stem="imagenet",
    pooling=None,
    classifier_activation="softmax",
):
    check_stem(stem)
    el_options = elastic_link_options(elastic_link)

    def body(x):
        x = _stem(x, scaled(STAGE_WIDTHS[0], width_multiplier), stem)
        for stage, (width, blocks) in enumerate(zip(STAGE_WIDTHS, STAGE_BLOCKS), start=1):
            for index in range(blocks):
                strides = 2 if stage > 1 and index == 0 else 1
                name = f"stage{stage}_block{index + 1}"
                x = block(x, scaled(width, width_multiplier), strides, name, el_options)
        return x

    return assemble(
        model_name, body, min_size=32 if stem == "imagenet" else 8,
        input_shape=input_shape, input_tensor=input_tensor, include_top=include_top,
        weights=weights, classes=classes, stem=stem, pooling=pooling,
        classifier_activation=classifier_activation, width_multiplier=width_multiplier,
        elastic_link=el_options,
    )


@register_model
def resnet18(**kwargs):
    """Binarized ResNet-18 with Bi-Real shortcuts (no Elastic-Link)."""
    return _resnet("resnet18", basic_block, **kwargs)


@register_model
def resnet18_el(elastic_link=True, **kwargs):
    """Binarized ResNet-18 with Bi-Real shortcuts and Elastic-Link on every binary conv."""
    return _resnet("resnet18_el", basic_block, elastic_link=elastic_link, **kwargs)


@register_model
def resnet26(**kwargs):
    """Binarized bottleneck ResNet-26 (no Elastic-Link)."""
    return _resnet("resnet26", bottleneck_block, **kwargs)


@register_model
def resnet26_el(elastic_link=True, **kwargs):
    """Binarized bottleneck ResNet-26 with Elastic-Link on every binary conv."""
    return _resnet("resnet26_el", bottleneck_block, elastic_link=elastic_link, **kwargs)


@register_model(tags=("research",))
def resnet26s(**kwargs):
    """Binarized bottleneck ResNet-26 without shortcuts (no Elastic-Link)."""
    return _resnet("resnet26s", _straight_bottleneck, **kwargs)


@register_model(tags=("research",))
def resnet26s_el(elastic_link=True, **kwargs):
    """Binarized bottleneck ResNet-26 without shortcuts, Elastic-Link on every binary conv."""
    return _resnet("resnet26s_el", _straight_bottleneck, elastic_link=elastic_link, **kwargs)


@register_model(tags=("research",))
def resnet26p(**kwargs):
    """Binarized bottleneck ResNet-26 with weight-free downsampling shortcuts (no EL)."""
    return _resnet("resnet26p", _pooled_bottleneck, **kwargs)


@register_model(tags=("research",))
def resnet26p_el(elastic_link=True, **kwargs):
    """Binarized bottleneck ResNet-26 with weight-free downsampling shortcuts and
    Elastic-Link on every binary conv."""
    return _resnet("resnet26p_el", _pooled_bottleneck, elastic_link=elastic_link, **kwargs)
