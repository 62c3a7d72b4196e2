"""The layers of the binarized MobileNetV1 (``el_zoo.nets.mobilenet`` registers and documents
them)."""


from el_zoo.nets._blocks import binary_conv_bn, build, float_conv_bn, scaled

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


def conv_stem(x, *, width_multiplier, stem):
    """MobileNetV1's stem, which ReActNet-A keeps: a full-precision 3x3 conv + BN, strided
    under the "imagenet" stem."""
    strides = 2 if stem == "imagenet" else 1
    return float_conv_bn(x, scaled(STEM_WIDTH, width_multiplier), 3, strides=strides,
                         name="stem")


def _body(x, *, width_multiplier, stem, elastic_link):
    x = conv_stem(x, width_multiplier=width_multiplier, stem=stem)
    for index, (filters, strides) in enumerate(BLOCKS, start=1):
        x = separable_block(
            x, scaled(filters, width_multiplier), strides, f"block{index}", elastic_link
        )
    return x


def mobilenet(model_name, **kwargs):
    """Builds ``model_name`` (the arguments of ``el_zoo.load``: ``_blocks.build``'s)."""
    return build(model_name, _body, min_sizes={"imagenet": 32, "cifar": 16}, **kwargs)
