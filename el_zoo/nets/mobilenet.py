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

from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.registry import register_model


def _mobilenet(model_name, **kwargs):
    # The layers import TensorFlow: imported when a model is built, so listing stays free of it.
    from el_zoo.nets._mobilenet import mobilenet

    return mobilenet(model_name, **kwargs)


@register_model(family="mobilenet_v1")
def mobilenet_v1(**kwargs):
    """Binarized MobileNetV1 (no Elastic-Link, no shortcuts)."""
    return _mobilenet("mobilenet_v1", **kwargs)


# Links after BN: in this family, whose only path runs through binary convs, they gained
# more over the plain twin than links before BN at every width and seed tried
# (docs/elastic_link.md).
@register_model(family="mobilenet_v1", elastic_link=ElasticLinkOptions(position="after_bn"))
def mobilenet_v1_el(elastic_link=True, **kwargs):
    """Binarized MobileNetV1 with Elastic-Link on every binary conv, added after each
    conv's batch norm by default."""
    return _mobilenet("mobilenet_v1_el", elastic_link=elastic_link, **kwargs)
