"""ReActNet-A: ``reactnet_a`` and ``reactnet_a_el``.

The MobileNetV1 layout with every depthwise conv replaced by a full binary 3x3 conv. Each
block is two binary units, each ``RSign -> binary conv -> BN -> + shortcut -> RPReLU``:

- the 3x3 unit keeps the channels; when strided, its shortcut is a 2x2 average pool;
- the 1x1 unit keeps the channels, or, where the channels double, is two 1x1 convs on the
  same binarized input, each with the block's input as shortcut, concatenated.

There is no full-precision conv besides the stem (3x3/2 for ``"imagenet"``, 3x3/1 for
``"cifar"``) and the classifier; BN, RSign and RPReLU are full precision. With Elastic-Link
each binary conv also gets ``gamma * T(x)`` of its real-valued (pre-RSign) input.

References:
    - [Liu et al., ReActNet, ECCV 2020](https://arxiv.org/abs/2003.03488)
    - [Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022](https://arxiv.org/abs/2112.10149)
"""

from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.registry import register_model


def _reactnet(model_name, **kwargs):
    # The layers import TensorFlow: imported when a model is built, so listing stays free of it.
    from el_zoo.nets._reactnet import reactnet

    return reactnet(model_name, **kwargs)


@register_model(family="reactnet_a")
def reactnet_a(**kwargs):
    """ReActNet-A (no Elastic-Link)."""
    return _reactnet("reactnet_a", **kwargs)


# Links before BN: after BN derailed training here (docs/elastic_link.md).
@register_model(family="reactnet_a", elastic_link=ElasticLinkOptions())
def reactnet_a_el(elastic_link=True, **kwargs):
    """ReActNet-A with Elastic-Link on every binary conv."""
    return _reactnet("reactnet_a_el", elastic_link=elastic_link, **kwargs)
