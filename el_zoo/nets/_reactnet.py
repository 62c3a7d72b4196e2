"""The layers of the binarized ReActNet-A (``el_zoo.nets.reactnet`` registers and documents
them)."""


from el_zoo._keras import keras
from el_zoo.layers import RPReLU, RSign
from el_zoo.nets._blocks import binary_conv_bn, build
from el_zoo.nets._mobilenet import BLOCKS, STEM_WIDTH, conv_stem

# ReActNet-A keeps the MobileNetV1 layout: its stem and the output channels of its 13
# blocks. A block is strided where its channels grow, except the first (32 -> 64), as in the
# ReActNet-A reference code (MobileNetV1's strides).
BLOCK_WIDTHS = tuple(filters for filters, _ in BLOCKS)


def _unit(x, filters, kernel_size, strides, name, elastic_link):
    """RSign -> binary conv -> BN, returning the BN output (before the shortcut add)."""
    binary = RSign(name=f"{name}_rsign")(x)
    return binary_conv_bn(
        x, filters, kernel_size, strides=strides, name=name, elastic_link=elastic_link,
        binary_input=binary,
    )


def reactnet_block(x, out_filters, strides, name, elastic_link):
    in_filters = x.shape[-1]
    shortcut = x
    if strides > 1:
        shortcut = keras.layers.AveragePooling2D(
            strides, padding="same", name=f"{name}_pool"
        )(x)
    y = _unit(x, in_filters, 3, strides, f"{name}_3x3", elastic_link)
    x = keras.layers.Add(name=f"{name}_3x3_add")([y, shortcut])
    x = RPReLU(name=f"{name}_3x3_rprelu")(x)

    if out_filters == in_filters:
        y = _unit(x, in_filters, 1, 1, f"{name}_1x1", elastic_link)
        x = keras.layers.Add(name=f"{name}_1x1_add")([y, x])
    else:
        binary = RSign(name=f"{name}_1x1_rsign")(x)
        halves = []
        for half in (1, 2):
            y = binary_conv_bn(
                x, in_filters, 1, name=f"{name}_1x1_{half}", elastic_link=elastic_link,
                binary_input=binary,
            )
            halves.append(keras.layers.Add(name=f"{name}_1x1_{half}_add")([y, x]))
        x = keras.layers.Concatenate(name=f"{name}_1x1_concat")(halves)
    return RPReLU(name=f"{name}_1x1_rprelu")(x)


def _body(x, *, width_multiplier, stem, elastic_link):
    x = conv_stem(x, width_multiplier=width_multiplier, stem=stem)
    previous = STEM_WIDTH
    for index, width in enumerate(BLOCK_WIDTHS, start=1):
        # Channels double exactly where the layout doubles them, whatever the width
        # multiplier, so the duplicated 1x1 convs always concatenate to the right size.
        grows = width != previous
        out_filters = x.shape[-1] * 2 if grows else x.shape[-1]
        strides = 2 if grows and index > 1 else 1
        x = reactnet_block(x, out_filters, strides, f"block{index}", elastic_link)
        previous = width
    return x


def reactnet(model_name, **kwargs):
    """Builds ``model_name`` (the arguments of ``el_zoo.load``: ``_blocks.build``'s)."""
    return build(model_name, _body, min_sizes={"imagenet": 32, "cifar": 16}, **kwargs)
