"""Binarized MobileNetV1: ``mobilenet_v1`` and ``mobilenet_v1_el``.

The MobileNetV1 layout (a 3x3 stem, then 13 depthwise-separable blocks) with both the 3x3
depthwise and the 1x1 pointwise convolutions binarized, each followed by BN. There is no
shortcut anywhere: without Elastic-Link the only path from input to output runs through
binary convolutions; with it every binary conv gets a real-valued link (Squeeze on strided
depthwise convs and on channel reductions, Expand on channel increases).

Full precision: the stem (``"imagenet"``: 3x3/2, total downsampling 32; ``"cifar"``:
3x3/1, total downsampling 16), the classifier and every BN. Note that Larq Compute Engine
runs binary *depthwise* convolutions as float depthwise convolutions on binarized inputs
(between LceQuantize/LceDequantize); only the pointwise convolutions become LceBconv2d.

References:
    - [Howard et al., MobileNets, 2017](https://arxiv.org/abs/1704.04861)
    - [Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022](https://arxiv.org/abs/2112.10149)
"""

from el_zoo.nets._blocks import (
    assemble,
    binary_conv_bn,
    check_stem,
    elastic_link_options,
    float_conv_bn,
    scaled,
)
from el_zoo.registry import register_model

STEM_WIDTH = 32
# (pointwise filters, depthwise stride) of the 13 depthwise-separable blocks.
BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def separable_block(x, filters, strides, name, elastic_link):
    x = binary_conv_bn(
        x, None, 3, strides=strides, depthwise=True, name=f"{name}_dw",
        elastic_link=elastic_link,
    )
    return binary_conv_bn(x, filters, 1, name=f"{name}_pw", elastic_link=elastic_link)


def _mobilenet(
    model_name,
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
        stem_strides = 2 if stem == "imagenet" else 1
        x = float_conv_bn(x, scaled(STEM_WIDTH, width_multiplier), 3, strides=stem_strides,
                          name="stem")
        for index, (filters, strides) in enumerate(BLOCKS, start=1):
            x = separable_block(
                x, scaled(filters, width_multiplier), strides, f"block{index}", el_options
            )
        return x

    return assemble(
        model_name, body, min_size=32 if stem == "imagenet" else 16,
        input_shape=input_shape, input_tensor=input_tensor, include_top=include_top,
        weights=weights, classes=classes, stem=stem, pooling=pooling,
        classifier_activation=classifier_activation, width_multiplier=width_multiplier,
        elastic_link=el_options,
    )


@register_model
def mobilenet_v1(**kwargs):
    """Binarized MobileNetV1 (no Elastic-Link, no shortcuts)."""
    return _mobilenet("mobilenet_v1", **kwargs)


@register_model
def mobilenet_v1_el(elastic_link=True, **kwargs):
    """Binarized MobileNetV1 with Elastic-Link on every binary conv."""
    return _mobilenet("mobilenet_v1_el", elastic_link=elastic_link, **kwargs)
