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
  the only real-valued path through each binary conv; its links go after BN by default.
- ``resnet26p`` (tagged "research"): identity shortcuts, and weight-free downsampling
  shortcuts (``PooledShortcut``: average pool + channel repeat) instead of the float 1x1
  convs, so every weighted conv but the stem and classifier is binary.

Stems: ``"imagenet"`` is 7x7/2 conv + BN + 3x3/2 max pool (total downsampling 32);
``"cifar"`` is a 3x3/1 conv + BN (total downsampling 8).

References:
    - [Liu et al., Bi-Real Net, ECCV 2018](https://arxiv.org/abs/1808.00278)
    - [Hu et al., Elastic-Link for Binarized Neural Network, AAAI 2022](https://arxiv.org/abs/2112.10149)
"""

from el_zoo.elastic_link import ElasticLinkOptions
from el_zoo.registry import register_model


def _resnet(model_name, block, **kwargs):
    # The layers import TensorFlow: imported when a model is built, so listing stays free of it.
    from el_zoo.nets._resnet import resnet

    return resnet(model_name, block, **kwargs)


@register_model(family="resnet18")
def resnet18(**kwargs):
    """Binarized ResNet-18 with Bi-Real shortcuts (no Elastic-Link)."""
    return _resnet("resnet18", "basic", **kwargs)


@register_model(family="resnet18", elastic_link=ElasticLinkOptions())
def resnet18_el(elastic_link=True, **kwargs):
    """Binarized ResNet-18 with Bi-Real shortcuts and Elastic-Link on every binary conv."""
    return _resnet("resnet18_el", "basic", elastic_link=elastic_link, **kwargs)


@register_model(family="resnet26")
def resnet26(**kwargs):
    """Binarized bottleneck ResNet-26 (no Elastic-Link)."""
    return _resnet("resnet26", "bottleneck", **kwargs)


@register_model(family="resnet26", elastic_link=ElasticLinkOptions())
def resnet26_el(elastic_link=True, **kwargs):
    """Binarized bottleneck ResNet-26 with Elastic-Link on every binary conv."""
    return _resnet("resnet26_el", "bottleneck", elastic_link=elastic_link, **kwargs)


@register_model(family="resnet26s")
def resnet26s(**kwargs):
    """Binarized bottleneck ResNet-26 without shortcuts (no Elastic-Link)."""
    return _resnet("resnet26s", "straight", **kwargs)


# Links after BN: they gained more over the plain twin than links before BN
# (docs/elastic_link.md). Runs with links before BN keep that meaning: their records hold
# every option (ElasticLinkOptions.from_record).
@register_model(family="resnet26s", elastic_link=ElasticLinkOptions(position="after_bn"))
def resnet26s_el(elastic_link=True, **kwargs):
    """Binarized bottleneck ResNet-26 without shortcuts, Elastic-Link on every binary conv,
    added after each conv's batch norm by default."""
    return _resnet("resnet26s_el", "straight", elastic_link=elastic_link, **kwargs)


@register_model(family="resnet26p", tags=("research",))
def resnet26p(**kwargs):
    """Binarized bottleneck ResNet-26 with weight-free downsampling shortcuts (no EL)."""
    return _resnet("resnet26p", "pooled", **kwargs)


@register_model(family="resnet26p", elastic_link=ElasticLinkOptions(), tags=("research",))
def resnet26p_el(elastic_link=True, **kwargs):
    """Binarized bottleneck ResNet-26 with weight-free downsampling shortcuts and
    Elastic-Link on every binary conv."""
    return _resnet("resnet26p_el", "pooled", elastic_link=elastic_link, **kwargs)
