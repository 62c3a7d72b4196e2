"""The layers of the binarized MobileNetV1 (``el_zoo.nets.mobilenet`` registers and documents
them)."""


from el_zoo.nets._blocks import (
    assemble,
    binary_conv_bn,
    check_stem,
    float_conv_bn,
    model_elastic_link,
    scaled,
)

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


def mobilenet(
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
    """Builds ``model_name`` (the arguments of ``el_zoo.load``)."""
    check_stem(stem)
    el_options = model_elastic_link(model_name, elastic_link)

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
