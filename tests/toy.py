"""A toy family (a float stem and two binary convs with Elastic-Link), built with the blocks
every family shares and registered only for as long as ``registered()`` lasts.

Two kinds of test use it: ``tests/test_toy_family.py`` shows that a family registered
outside ``el_zoo.nets`` is listed, built, converted and benchmarked like the zoo's own; the
tests of the training machinery (kills and resumes, workers, stage timing, a two-stage
recipe) train it where what they prove does not depend on a zoo family, at a fraction of a
zoo model's build and trace time. A fresh process sees the family through
``python -m tests.toy_cli`` (``tests/toy_cli.py``); a test, through the ``toy_family``
fixture (``tests/conftest.py``).
"""

import contextlib

import el_zoo
from el_zoo import registry

FAMILY = "toy_net"
# The family's own Elastic-Link defaults (not the global ones), as a family declares them.
TOY_ELASTIC_LINK = el_zoo.ElasticLinkOptions(position="after_bn")
# The names of its binary convs' layers (``binary_conv_bn`` names a conv NAME_conv).
BINARY_CONVS = ["unit1_conv", "unit2_conv"]


def toy_net_layers(model_name, **kwargs):
    """Builds ``model_name`` (the arguments of ``el_zoo.load``) with the blocks and the
    builder every family shares, as a family's layer module (``nets/_<family>.py``) does."""
    from el_zoo.nets._blocks import binary_conv_bn, build, float_conv_bn, scaled

    def body(x, *, width_multiplier, stem, elastic_link):
        x = float_conv_bn(x, scaled(32, width_multiplier), 3, name="stem")
        x = binary_conv_bn(x, scaled(64, width_multiplier), 3, strides=2, name="unit1",
                           elastic_link=elastic_link)
        return binary_conv_bn(x, scaled(64, width_multiplier), 1, name="unit2",
                              elastic_link=elastic_link)

    return build(model_name, body, min_sizes={"imagenet": 2, "cifar": 2}, **kwargs)


def toy_net(**kwargs):
    """The toy family without Elastic-Link."""
    return toy_net_layers("toy_net", **kwargs)


def toy_net_el(elastic_link=True, **kwargs):
    """The toy family with Elastic-Link on both binary convs."""
    return toy_net_layers("toy_net_el", elastic_link=elastic_link, **kwargs)


@contextlib.contextmanager
def registered():
    """Inside this block the toy family is registered (as a family module's decorators
    register theirs); afterwards the registry holds what it held before.

    Example:
        ```python
        with registered():
            model = el_zoo.load("toy_net_el")
        ```
    """
    with registry.temporary_models():
        registry.register_model(toy_net, family=FAMILY)
        registry.register_model(toy_net_el, family=FAMILY, elastic_link=TOY_ELASTIC_LINK)
        yield FAMILY
