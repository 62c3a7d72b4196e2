"""The layers of the binarized ResNets (``el_zoo.nets.resnet`` registers and documents
them)."""


import functools

from el_zoo._keras import keras
from el_zoo.layers import PooledShortcut
from el_zoo.nets._blocks import binary_conv_bn, build, float_conv_bn, scaled

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


# The blocks el_zoo.nets.resnet's builders name.
BLOCKS = {
    "basic": basic_block,
    "bottleneck": bottleneck_block,
    "straight": functools.partial(bottleneck_block, shortcut="none"),
    "pooled": functools.partial(bottleneck_block, shortcut="pooled"),
}


def _body(x, *, block, width_multiplier, stem, elastic_link):
    x = _stem(x, scaled(STAGE_WIDTHS[0], width_multiplier), stem)
    for stage, (width, blocks) in enumerate(zip(STAGE_WIDTHS, STAGE_BLOCKS), start=1):
        for index in range(blocks):
            strides = 2 if stage > 1 and index == 0 else 1
            name = f"stage{stage}_block{index + 1}"
            x = block(x, scaled(width, width_multiplier), strides, name, elastic_link)
    return x


def resnet(model_name, block, **kwargs):
    """Builds ``model_name`` from ``BLOCKS[block]`` (the arguments of ``el_zoo.load``:
    ``_blocks.build``'s)."""
    body = functools.partial(_body, block=BLOCKS[block])
    return build(model_name, body, min_sizes={"imagenet": 32, "cifar": 8}, **kwargs)
