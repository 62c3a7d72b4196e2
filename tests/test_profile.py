"""Cost counting: published ReActNet-A figures, hand-counted nets, EL's overhead."""

import larq as lq
import pytest
import tensorflow as tf

import el_zoo
from el_zoo import ElasticLink
from tests.conftest import build_facts


def test_reactnet_a_matches_its_published_cost():
    # ReActNet (Liu et al. 2020), Table: 4.82e9 BOPs, 0.12e8 FLOPs, 0.87e8 OPs.
    cost = build_facts("reactnet_a").profile
    assert cost["bops"] == pytest.approx(4.82e9, rel=0.02)
    assert cost["flops"] == pytest.approx(0.12e8, rel=0.02)
    assert cost["ops"] == pytest.approx(0.87e8, rel=0.02)


def test_resnet18_matches_bi_real_net_18():
    # Bi-Real Net-18 (Liu et al. 2018): 1.68e9 BOPs, 1.63e8 OPs.
    cost = build_facts("resnet18").profile
    assert cost["bops"] == pytest.approx(1.68e9, rel=0.02)
    assert cost["ops"] == pytest.approx(1.63e8, rel=0.02)


def hand_counted_model(link):
    x = tf.keras.Input((8, 8, 4))
    y = lq.layers.QuantConv2D(16, 3, padding="same", input_quantizer="ste_sign",
                              kernel_quantizer="ste_sign", use_bias=False)(x)
    if link:
        y = ElasticLink()([x, y])
    y = tf.keras.layers.Conv2D(2, 1, use_bias=False)(y)
    return tf.keras.Model(x, y)


def test_hand_counted_costs():
    plain = el_zoo.profile(hand_counted_model(link=False))
    assert plain["binary_params"] == 3 * 3 * 4 * 16
    assert plain["float_params"] == 16 * 2
    assert plain["bops"] == 8 * 8 * 3 * 3 * 4 * 16
    assert plain["flops"] == 8 * 8 * 16 * 2
    assert plain["size_bits"] == 576 + 32 * 32
    linked = el_zoo.profile(hand_counted_model(link=True))
    assert linked["el_params"] == 16
    assert linked["el_flops"] == 8 * 8 * 16  # Expand 4 -> 16 by tiling, one scaled add each
    assert linked["ops"] == plain["ops"] + linked["el_flops"]


@pytest.mark.parametrize("family", el_zoo.registry.families(include_research=False))
def test_el_costs_little(family):
    plain = build_facts(family).profile
    linked = build_facts(el_zoo.registry.elastic_link_twin(family)).profile
    assert linked["bops"] == plain["bops"]
    assert 0 < linked["params"] - plain["params"] < 0.01 * plain["params"]
    assert 0 < linked["ops"] - plain["ops"] < 0.35 * plain["ops"]


def test_profile_needs_a_fixed_input_size():
    model = el_zoo.load("resnet18", include_top=False, stem="cifar")
    with pytest.raises(ValueError, match="needs a fixed input size"):
        el_zoo.profile(model)


def keras_layer_model(layer, input_shape, calls=1):
    """A plain Keras model calling ``layer`` ``calls`` times in a row."""
    x = y = tf.keras.Input(input_shape)
    for _ in range(calls):
        y = layer(y)
    return tf.keras.Model(x, y)


@pytest.mark.parametrize("layer, input_shape, calls, flops", [
    # depthwise 3x3 on 8x8x4 (36 per position), then pointwise 4 -> 8 (32 per position)
    (tf.keras.layers.SeparableConv2D(8, 3, padding="same"), (8, 8, 4), 1, 8 * 8 * (36 + 32)),
    # a transposed conv's kernel slides over its 4x4 input, not its 8x8 output
    (tf.keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same"), (4, 4, 4), 1,
     4 * 4 * 3 * 3 * 4 * 8),
    (tf.keras.layers.Conv1D(8, 3, padding="same"), (16, 4), 1, 16 * 3 * 4 * 8),
    (tf.keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2), (8, 8, 4), 1,
     8 * 8 * 3 * 3 * 4 * 2),
    # a shared layer costs once per call
    (tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False), (8, 8, 8), 2,
     2 * 8 * 8 * 3 * 3 * 8 * 8),
])
def test_keras_convs_cost_their_hand_count(layer, input_shape, calls, flops):
    cost = el_zoo.profile(keras_layer_model(layer, input_shape, calls))
    assert cost["flops"] == flops
    assert cost["params"] == layer.count_params()


def test_a_backbone_called_as_a_layer_costs_as_the_flat_model_plus_its_head():
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg", stem="cifar",
                           input_shape=(32, 32, 3), width_multiplier=0.25)
    head = tf.keras.layers.Dense(10)
    tuned = keras_layer_model(lambda x: head(backbone(x)), (32, 32, 3))
    flat, nested = el_zoo.profile(backbone), el_zoo.profile(tuned)
    assert nested["bops"] == flat["bops"]
    assert nested["flops"] == flat["flops"] + 128 * 10
    assert nested["params"] == flat["params"] + 128 * 10 + 10 == tuned.count_params()


class Subclassed(tf.keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.conv = tf.keras.layers.Conv2D(4, 3)

    def call(self, inputs):
        return self.conv(inputs)


def test_profile_refuses_what_keras_does_not_record_the_calls_and_sizes_of():
    backbone = el_zoo.load("resnet18_el", include_top=False, pooling="avg", stem="cifar",
                           input_shape=(None, None, 3), width_multiplier=0.25)
    with pytest.raises(ValueError, match="profile\\(resnet18_el\\) needs a fixed input size"):
        el_zoo.profile(keras_layer_model(backbone, (32, 32, 3)))
    with pytest.raises(ValueError, match="needs a built model"):
        el_zoo.profile(tf.keras.Sequential([tf.keras.layers.Dense(4)]))
    subclassed = Subclassed()
    subclassed(tf.keras.Input((8, 8, 3)))
    for model in subclassed, keras_layer_model(subclassed, (8, 8, 3)):
        with pytest.raises(ValueError, match="subclassed is a subclassed model"):
            el_zoo.profile(model)
